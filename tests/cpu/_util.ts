/** Shared helpers for the CPU backend tests: the BLAS variants to run, tiny configs, gradient checks. */
import { type Blas, fallbackBlas, loadBlas } from "../../lib/cpu/blas.ts";
import type { CpuModelConfig, CpuTransformer } from "../../lib/cpu/model.ts";
import { Rng } from "../../lib/util/rng.ts";

const native = loadBlas().blas;

/** The native BLAS when this machine has one, and always the TypeScript fallback. */
export const BLASES: Blas[] = native ? [native, fallbackBlas] : [fallbackBlas];

/** A tiny Transformer for gradient checks. */
export const TINY: CpuModelConfig = {
  vocabSize: 11,
  dim: 8,
  layers: 2,
  heads: 2,
  ffn: 12,
  maxPositions: 16,
  ropeTheta: 10000,
  normEps: 1e-5,
};

/** `n` normal samples × `std` from a seeded generator. */
export function randn(n: number, seed: number, std = 1): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => r.normal() * std);
}

/** max |a − b| and max |b| over two arrays of equal length. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): { diff: number; scale: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} ≠ ${b.length}`);
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return { diff, scale };
}

/** Σ out ⊙ r in float64: a scalar whose gradient with respect to `out` is `r`. */
export function dotF64(out: ArrayLike<number>, r: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < r.length; i++) s += out[i] * r[i];
  return s;
}

/**
 * Central finite differences of `f` with respect to `x` (perturbed in place and restored) at `indices` (all when
 * omitted); returns the worst |numeric − analytic| relative to max |analytic| over the checked entries.
 */
export function fdError(
  x: Float32Array,
  analytic: ArrayLike<number>,
  f: () => number,
  h = 1e-2,
  indices?: number[],
): { err: number; scale: number } {
  const idx = indices ?? Array.from({ length: x.length }, (_, i) => i);
  let diff = 0, scale = 0;
  for (const i of idx) {
    const x0 = x[i];
    x[i] = x0 + h;
    const up = x[i], fu = f();
    x[i] = x0 - h;
    const dn = x[i], fd = f();
    x[i] = x0;
    const num = (fu - fd) / (up - dn);
    diff = Math.max(diff, Math.abs(num - analytic[i]));
    scale = Math.max(scale, Math.abs(analytic[i]));
  }
  return { err: diff / Math.max(scale, 1e-12), scale };
}

/** The reference's inputs built from the CPU model's own views (same numbers, independent code path). */
export function referenceInputs(m: CpuTransformer): { config: never; weights: never } {
  const c = m.config, v = m.w.byName;
  // both config shapes the reference has taken (lib/model's TransformerConfig; the engine's LlamaConfig)
  const config = {
    arch: "transformer",
    preset: "test",
    tokenizer: "remi",
    seqLen: c.maxPositions,
    ...c,
    hidden: c.dim,
    eps: c.normEps,
    maxPos: c.maxPositions,
    bosId: 1,
    eosId: 2,
    raw: {},
  } as never;
  const weights = {
    embed: v["model.embed_tokens.weight"],
    norm: v["model.norm.weight"],
    layers: Array.from({ length: c.layers }, (_, i) => {
      const p = `model.layers.${i}.`;
      return {
        q: v[p + "self_attn.q_proj.weight"],
        k: v[p + "self_attn.k_proj.weight"],
        v: v[p + "self_attn.v_proj.weight"],
        o: v[p + "self_attn.o_proj.weight"],
        gate: v[p + "mlp.gate_proj.weight"],
        up: v[p + "mlp.up_proj.weight"],
        down: v[p + "mlp.down_proj.weight"],
        ln1: v[p + "input_layernorm.weight"],
        ln2: v[p + "post_attention_layernorm.weight"],
      };
    }),
  } as never;
  return { config, weights };
}
