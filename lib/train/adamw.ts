/**
 * AdamW (Loshchilov & Hutter): Adam with *decoupled* weight decay, `p ← p − lr·(m̂/(√v̂ + ε) + λ·p)`, as PyTorch's
 * `torch.optim.AdamW`. Decay applies to matrices (rank ≥ 2: projections, embeddings, LSTM weights), never to norm
 * weights or biases. tfjs ships only Adam, so this is written on tfjs-core ops.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** AdamW hyper-parameters. */
export interface AdamWOptions {
  /** AdamW β₁. */
  beta1: number;
  /** AdamW β₂. */
  beta2: number;
  /** ε added to √v̂. */
  eps: number;
  /** Decoupled weight decay λ (matrices only). */
  weightDecay: number;
}

/**
 * AdamW over a named set of variables; moments are kept per name so they can be saved and restored.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { AdamW } from "./adamw.ts";
 * const w = { w: tf.variable(tf.ones([2, 2])) };
 * const opt = new AdamW(w, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 });
 * opt.apply({ w: tf.ones([2, 2]) }, 1e-3);
 * ```
 */
export class AdamW {
  // deno-doc-ignore private-type-ref -- a tfjs type, public in its own package (denoland/deno#27364)
  /** First moments by tensor name. */
  readonly m: Record<string, tf.Variable> = {};
  /** Second moments by tensor name. */
  readonly v: Record<string, tf.Variable> = {};
  /** Updates applied so far (bias correction uses step + 1). */
  step = 0;

  /** Zero moments for every parameter. */
  constructor(readonly params: Record<string, tf.Variable>, readonly opts: AdamWOptions) {
    for (const [k, p] of Object.entries(params)) {
      this.m[k] = tf.variable(tf.zerosLike(p), false);
      this.v[k] = tf.variable(tf.zerosLike(p), false);
    }
  }

  /** Whether a tensor gets weight decay (matrices only). */
  decays(name: string): boolean {
    return this.params[name].rank >= 2;
  }

  // deno-doc-ignore private-type-ref -- a tfjs type, public in its own package (denoland/deno#27364)
  /** One update with gradients `grads` (by name), each first multiplied by `gradScale` (clipping). */
  apply(grads: Record<string, tf.Tensor>, lr: number, gradScale = 1): void {
    const { beta1: b1, beta2: b2, eps, weightDecay } = this.opts;
    const t = this.step + 1;
    const c1 = 1 - Math.pow(b1, t), c2 = 1 - Math.pow(b2, t);
    tf.tidy(() => {
      for (const [k, p] of Object.entries(this.params)) {
        const g0 = grads[k];
        if (!g0) continue;
        const g = gradScale === 1 ? g0 : tf.mul(g0, gradScale);
        const m = tf.add(tf.mul(this.m[k], b1), tf.mul(g, 1 - b1));
        const v = tf.add(tf.mul(this.v[k], b2), tf.mul(tf.square(g), 1 - b2));
        this.m[k].assign(m);
        this.v[k].assign(v);
        const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), eps));
        const decayed = this.decays(k) && weightDecay > 0 ? tf.mul(p, 1 - lr * weightDecay) : p;
        p.assign(tf.sub(decayed, tf.mul(update, lr)));
      }
    });
    this.step = t;
  }

  /** Copies of the moments and the step, for `optimizer.safetensors`. */
  async state(): Promise<{ m: Record<string, Float32Array>; v: Record<string, Float32Array>; step: number }> {
    const m: Record<string, Float32Array> = {}, v: Record<string, Float32Array> = {};
    for (const k of Object.keys(this.params)) {
      m[k] = (await this.m[k].data()) as Float32Array;
      v[k] = (await this.v[k].data()) as Float32Array;
    }
    return { m, v, step: this.step };
  }

  /** Restores moments and step saved by {@link AdamW.state}. */
  setState(s: { m: Record<string, Float32Array>; v: Record<string, Float32Array>; step: number }): void {
    for (const [k, p] of Object.entries(this.params)) {
      if (!s.m[k] || !s.v[k]) throw new Error(`optimizer state: missing moments for ${k}`);
      this.m[k].assign(tf.tensor(s.m[k], p.shape, "float32"));
      this.v[k].assign(tf.tensor(s.v[k], p.shape, "float32"));
    }
    this.step = s.step;
  }

  /** Frees the moment variables. */
  dispose(): void {
    for (const k of Object.keys(this.m)) {
      this.m[k].dispose();
      this.v[k].dispose();
    }
  }
}
