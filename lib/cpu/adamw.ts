/**
 * AdamW over the CPU model's flat parameter buffer, with the semantics of `lib/train/adamw.ts` (PyTorch's
 * `torch.optim.AdamW`): `p ← p·(1 − lr·λ) − lr·m̂/(√v̂ + ε)`, decay on matrices only (never on norm weights), the
 * gradient first multiplied by the clipping scale. Each arithmetic step is rounded to float32 in the order tfjs
 * evaluates it, so both optimizers agree to the last bit or so.
 *
 * @module
 */
import type { ParamInfo } from "./layout.ts";

/** AdamW hyper-parameters (as `lib/train/adamw.ts`'s `AdamWOptions`). */
export interface CpuAdamWOptions {
  /** β₁. */
  beta1: number;
  /** β₂. */
  beta2: number;
  /** ε added to √v̂. */
  eps: number;
  /** Decoupled weight decay λ (matrices only). */
  weightDecay: number;
}

const f32 = Math.fround;

/**
 * AdamW on a flat buffer described by a {@link ParamInfo} layout; moments are flat too, with per-name views for
 * saving (`optimizer.safetensors` stores `m.<name>` / `v.<name>`).
 *
 * @example
 * ```ts
 * import { CpuAdamW } from "./adamw.ts";
 * const layout = [{ name: "w", shape: [2, 1], offset: 0, size: 2, decay: true }];
 * const p = new Float32Array([1, 1]), g = new Float32Array([1, -1]);
 * const opt = new CpuAdamW(layout, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 });
 * opt.apply(p, g, 1e-3); // p ≈ [0.9989, 1.0009]
 * ```
 */
export class CpuAdamW {
  /** First moments (flat). */
  readonly m: Float32Array;
  /** Second moments (flat). */
  readonly v: Float32Array;
  /** Updates applied so far (bias correction uses step + 1). */
  step = 0;
  readonly #decay: Uint8Array;

  /** Zero moments for a buffer laid out as `layout`. */
  constructor(readonly layout: ParamInfo[], readonly opts: CpuAdamWOptions) {
    const n = layout.reduce((a, p) => Math.max(a, p.offset + p.size), 0);
    this.m = new Float32Array(n);
    this.v = new Float32Array(n);
    this.#decay = new Uint8Array(layout.length);
    layout.forEach((p, i) => (this.#decay[i] = p.decay ? 1 : 0));
  }

  /** One update of `params` with `grads` (same layout), each gradient first multiplied by `gradScale` (clipping). */
  apply(params: Float32Array, grads: Float32Array, lr: number, gradScale = 1): void {
    const { beta1, beta2, eps, weightDecay } = this.opts;
    const t = this.step + 1;
    const c1 = f32(1 - Math.pow(beta1, t)), c2 = f32(1 - Math.pow(beta2, t));
    const b1 = f32(beta1), b2 = f32(beta2), a1 = f32(1 - beta1), a2 = f32(1 - beta2), e = f32(eps);
    const lr32 = f32(lr), keep = f32(1 - lr * weightDecay), sc = f32(gradScale);
    const m = this.m, v = this.v;
    for (let k = 0; k < this.layout.length; k++) {
      const { offset, size } = this.layout[k];
      const decay = this.#decay[k] === 1 && weightDecay > 0;
      const end = offset + size;
      for (let i = offset; i < end; i++) {
        const g = gradScale === 1 ? grads[i] : f32(grads[i] * sc);
        const mi = (m[i] = f32(f32(m[i] * b1) + f32(g * a1)));
        const vi = (v[i] = f32(f32(v[i] * b2) + f32(f32(g * g) * a2)));
        const u = f32(f32(mi / c1) / f32(f32(Math.sqrt(f32(vi / c2))) + e));
        const p = decay ? f32(params[i] * keep) : params[i];
        params[i] = p - f32(u * lr32);
      }
    }
    this.step = t;
  }

  /** Copies of the moments by tensor name, and the step (the shape of `lib/train/adamw.ts`'s `state()`). */
  state(): { m: Record<string, Float32Array>; v: Record<string, Float32Array>; step: number } {
    const m: Record<string, Float32Array> = {}, v: Record<string, Float32Array> = {};
    for (const p of this.layout) {
      m[p.name] = this.m.slice(p.offset, p.offset + p.size);
      v[p.name] = this.v.slice(p.offset, p.offset + p.size);
    }
    return { m, v, step: this.step };
  }

  /** Restores moments and step saved by {@link CpuAdamW.state} (or by the tfjs AdamW). */
  setState(s: { m: Record<string, Float32Array>; v: Record<string, Float32Array>; step: number }): void {
    for (const p of this.layout) {
      const m = s.m[p.name], v = s.v[p.name];
      if (!m || !v || m.length !== p.size || v.length !== p.size) {
        throw new Error(`optimizer state: missing or mis-sized moments for ${p.name}`);
      }
      this.m.set(m, p.offset);
      this.v.set(v, p.offset);
    }
    this.step = s.step;
  }
}
