/**
 * The Llama block as named ops on `Float32Array`s, llm.c style: each op has a forward and a backward, sizes are
 * explicit, outputs are preallocated by the caller and nothing is allocated inside. Layouts are row-major; `N` is the
 * number of rows (batch × time), weights use Hugging Face's `nn.Linear` layout [out, in].
 *
 * Gradient conventions: weight gradients (`dw`) are always *accumulated* (`+=`), so micro-batches add up and the
 * caller zeroes them once per step; activation gradients are *written* unless the op's doc says `+=` (rmsnorm's
 * `dx` and the residual's accumulate: they sit on the residual stream).
 *
 * RoPE is in `rope.ts`, attention in `attention.ts`, the loss and the gradient norm in `loss.ts`, the matrix products
 * in `blas.ts`.
 *
 * @module
 */
import type { Blas } from "./blas.ts";

const POW2 = new Float64Array(2048).map((_, i) => 2 ** (i - 1023));

/**
 * eˣ to ≈ 1e-8 relative (far below float32 rounding), 2–4× faster than V8's built-in exp: x = k·ln 2 + r with
 * |r| ≤ ln 2 / 2, a degree-7 Taylor polynomial for eʳ, 2ᵏ from a table. 0 below −708, ∞ above 709, NaN for NaN.
 *
 * @example
 * ```ts
 * import { fastExp } from "./ops.ts";
 * fastExp(1); // 2.718281828…
 * ```
 */
export function fastExp(x: number): number {
  if (x < -708) return 0;
  if (x > 709) return Infinity;
  const idx = (x * Math.LOG2E + 1023.5) | 0;
  const r = x - (idx - 1023) * Math.LN2;
  return (1 +
    r * (1 + r * (0.5 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720 + r * (1 / 5040)))))))) *
    POW2[idx];
}

/**
 * Embedding lookup: `out[n] = table[ids[n]]` for `N` ids, rows of width `d`.
 *
 * @example
 * ```ts
 * import { embeddingForward } from "./ops.ts";
 * const out = new Float32Array(2);
 * embeddingForward(out, new Int32Array([1]), new Float32Array([0, 0, 5, 6]), 1, 2); // out = [5, 6]
 * ```
 */
export function embeddingForward(
  out: Float32Array,
  ids: ArrayLike<number>,
  table: Float32Array,
  N: number,
  d: number,
): void {
  for (let n = 0; n < N; n++) {
    const src = ids[n] * d, dst = n * d;
    for (let i = 0; i < d; i++) out[dst + i] = table[src + i];
  }
}

/**
 * Embedding backward (scatter-add): `dtable[ids[n]] += dout[n]`.
 *
 * @example
 * ```ts
 * import { embeddingBackward } from "./ops.ts";
 * const dt = new Float32Array(4);
 * embeddingBackward(dt, new Float32Array([1, 2, 3, 4]), new Int32Array([1, 1]), 2, 2); // dt = [0, 0, 4, 6]
 * ```
 */
export function embeddingBackward(
  dtable: Float32Array,
  dout: Float32Array,
  ids: ArrayLike<number>,
  N: number,
  d: number,
): void {
  for (let n = 0; n < N; n++) {
    const dst = ids[n] * d, src = n * d;
    for (let i = 0; i < d; i++) dtable[dst + i] += dout[src + i];
  }
}

/**
 * RMSNorm over rows: `out = x / √(mean(x²) + eps) · w`; stores each row's `1/√(mean(x²)+eps)` in `rstd` [N] for the
 * backward.
 *
 * @example
 * ```ts
 * import { rmsnormForward } from "./ops.ts";
 * const out = new Float32Array(2), rstd = new Float32Array(1);
 * rmsnormForward(out, rstd, new Float32Array([3, 4]), new Float32Array([1, 1]), 1, 2, 0); // out ≈ [0.85, 1.13]
 * ```
 */
export function rmsnormForward(
  out: Float32Array,
  rstd: Float32Array,
  x: Float32Array,
  w: Float32Array,
  N: number,
  d: number,
  eps: number,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * d;
    let ss = 0;
    for (let i = 0; i < d; i++) ss += x[o + i] * x[o + i];
    const r = 1 / Math.sqrt(ss / d + eps);
    rstd[n] = r;
    for (let i = 0; i < d; i++) out[o + i] = x[o + i] * r * w[i];
  }
}

/**
 * RMSNorm backward: `dx += ∂/∂x`, `dw += ∂/∂w` given `dout`, the forward input `x` and the saved `rstd`.
 *
 * @example
 * ```ts
 * import { rmsnormBackward } from "./ops.ts";
 * const dx = new Float32Array(2), dw = new Float32Array(2);
 * rmsnormBackward(dx, dw, new Float32Array([1, 0]), new Float32Array([3, 4]), new Float32Array([1, 1]), new Float32Array([1 / Math.sqrt(12.5)]), 1, 2);
 * ```
 */
export function rmsnormBackward(
  dx: Float32Array,
  dw: Float32Array,
  dout: Float32Array,
  x: Float32Array,
  w: Float32Array,
  rstd: Float32Array,
  N: number,
  d: number,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * d, r = rstd[n];
    let dot = 0;
    for (let i = 0; i < d; i++) dot += dout[o + i] * w[i] * x[o + i];
    const c = r * r * r * dot / d;
    for (let i = 0; i < d; i++) {
      const xi = x[o + i], gi = dout[o + i];
      dx[o + i] += gi * w[i] * r - c * xi;
      dw[i] += gi * xi * r;
    }
  }
}

/**
 * Linear layer `out = x·Wᵀ` for x [N, inDim] and W [outDim, inDim] (HF layout); with `accumulate`, `out += x·Wᵀ`
 * (a residual add fused into the product).
 *
 * @example
 * ```ts
 * import { fallbackBlas } from "./blas.ts";
 * import { matmulForward } from "./ops.ts";
 * const out = new Float32Array(1);
 * matmulForward(fallbackBlas, out, new Float32Array([1, 2]), new Float32Array([3, 4]), 1, 2, 1); // out = [11]
 * ```
 */
export function matmulForward(
  blas: Blas,
  out: Float32Array,
  x: Float32Array,
  w: Float32Array,
  N: number,
  inDim: number,
  outDim: number,
  accumulate = false,
): void {
  blas.sgemm(false, true, N, outDim, inDim, 1, x, inDim, w, inDim, accumulate ? 1 : 0, out, outDim);
}

/**
 * Linear layer backward: `dx = dout·W` (written; skipped when `dx` is null) and `dw += doutᵀ·x`.
 *
 * @example
 * ```ts
 * import { fallbackBlas } from "./blas.ts";
 * import { matmulBackward } from "./ops.ts";
 * const dx = new Float32Array(2), dw = new Float32Array(2);
 * matmulBackward(fallbackBlas, dx, dw, new Float32Array([1]), new Float32Array([1, 2]), new Float32Array([3, 4]), 1, 2, 1);
 * // dx = [3, 4], dw = [1, 2]
 * ```
 */
export function matmulBackward(
  blas: Blas,
  dx: Float32Array | null,
  dw: Float32Array,
  dout: Float32Array,
  x: Float32Array,
  w: Float32Array,
  N: number,
  inDim: number,
  outDim: number,
): void {
  if (dx) blas.sgemm(false, false, N, inDim, outDim, 1, dout, outDim, w, inDim, 0, dx, inDim);
  blas.sgemm(true, false, outDim, inDim, N, 1, dout, outDim, x, inDim, 1, dw, inDim);
}

/**
 * SwiGLU: `out[n, i] = silu(gu[n, i]) · gu[n, f + i]` where each row of `gu` [N, 2f] holds the gate then the up
 * projection (one fused product with the stacked `[gate; up]` weight). With `sig` [N, f], the gate's sigmoid is
 * kept there so the backward needs no exponentials.
 *
 * @example
 * ```ts
 * import { swigluForward } from "./ops.ts";
 * const out = new Float32Array(1);
 * swigluForward(out, new Float32Array([1, 2]), 1, 1); // silu(1) · 2 ≈ 1.462
 * ```
 */
export function swigluForward(
  out: Float32Array,
  gu: Float32Array,
  N: number,
  f: number,
  sig?: Float32Array,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * 2 * f, q = n * f;
    if (sig) {
      for (let i = 0; i < f; i++) {
        const g = gu[o + i], s = 1 / (1 + fastExp(-g));
        sig[q + i] = s;
        out[q + i] = g * s * gu[o + f + i];
      }
    } else {
      for (let i = 0; i < f; i++) {
        const g = gu[o + i];
        out[q + i] = g / (1 + fastExp(-g)) * gu[o + f + i];
      }
    }
  }
}

/**
 * SwiGLU backward: writes `dgu` [N, 2f] (gate gradient, then up gradient per row); `sig` is the sigmoid kept by
 * the forward (recomputed when omitted).
 *
 * @example
 * ```ts
 * import { swigluBackward } from "./ops.ts";
 * const dgu = new Float32Array(2);
 * swigluBackward(dgu, new Float32Array([1]), new Float32Array([0, 2]), 1, 1); // [1, 0]: silu'(0) = ½, silu(0) = 0
 * ```
 */
export function swigluBackward(
  dgu: Float32Array,
  dout: Float32Array,
  gu: Float32Array,
  N: number,
  f: number,
  sig?: Float32Array,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * 2 * f, q = n * f;
    for (let i = 0; i < f; i++) {
      const g = gu[o + i], u = gu[o + f + i], d = dout[q + i];
      const s = sig ? sig[q + i] : 1 / (1 + fastExp(-g));
      dgu[o + i] = d * u * s * (1 + g * (1 - s));
      dgu[o + f + i] = d * g * s;
    }
  }
}

/**
 * Residual add `out = a + b` over `n` values (`out` may alias `a`).
 *
 * @example
 * ```ts
 * import { residualForward } from "./ops.ts";
 * const out = new Float32Array(1);
 * residualForward(out, new Float32Array([1]), new Float32Array([2]), 1); // [3]
 * ```
 */
export function residualForward(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/**
 * Residual backward: `da += dout`, `db += dout`. (In the model the residual stream's gradient buffer is shared, so
 * this reduces to passing `dout` on; the op is here for backends that keep them apart.)
 *
 * @example
 * ```ts
 * import { residualBackward } from "./ops.ts";
 * const da = new Float32Array(1), db = new Float32Array(1);
 * residualBackward(da, db, new Float32Array([2]), 1); // da = db = [2]
 * ```
 */
export function residualBackward(da: Float32Array, db: Float32Array, dout: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    da[i] += dout[i];
    db[i] += dout[i];
  }
}
