/**
 * Causal multi-head attention on the CPU: per (sequence, head), the scores QKᵀ and the weighted sum PV are BLAS
 * products on strided views of the fused `qkv` rows ([N, 3d]: q, k, v side by side, each `H` heads of `hd`), with
 * the softmax in a tight loop. Rows go in blocks of `block` (64): a block of rows r0…r1 only needs columns 0…r1, so
 * the products skip most of the masked upper triangle (≈ 38% fewer attention FLOPs at T = 256). The probabilities
 * are kept ([B, H, T, T]) for the backward.
 *
 * @module
 */
import type { Blas } from "./blas.ts";
import { fastExp } from "./ops.ts";

/** Rows per block in {@link attentionForward} / {@link attentionBackward}. */
export const ATTENTION_BLOCK = 64;

/**
 * Row-wise causal softmax in place over `rows` rows of `cols` score columns (row stride `stride`, first row at
 * `base`), where row i may see columns `0 … off + i` (`off` = positions before this block); masked columns below
 * `cols` become 0.
 *
 * @example
 * ```ts
 * import { causalSoftmax } from "./attention.ts";
 * const s = new Float32Array([0, 9, 0, 0]);
 * causalSoftmax(s, 2, 2, 0); // [1, 0, 0.5, 0.5]
 * ```
 */
export function causalSoftmax(
  s: Float32Array,
  rows: number,
  cols: number,
  off: number,
  base = 0,
  stride = cols,
): void {
  for (let i = 0; i < rows; i++) {
    const o = base + i * stride, n = Math.min(cols, off + i + 1);
    let m = -Infinity;
    for (let j = 0; j < n; j++) if (s[o + j] > m) m = s[o + j];
    let sum = 0;
    for (let j = 0; j < n; j++) {
      const e = fastExp(s[o + j] - m);
      s[o + j] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let j = 0; j < n; j++) s[o + j] *= inv;
    for (let j = n; j < cols; j++) s[o + j] = 0;
  }
}

/**
 * Attention forward for B sequences of T rows: `out` [B·T, d] ← softmax(QKᵀ/√hd + causal mask)·V per head, from
 * `qkv` [B·T, 3d] (RoPE already applied to q and k). `probs` [B, H, T, T] receives the attention weights: row i
 * holds them in columns 0…i and zeros up to the end of its row block; columns past the block are not written.
 *
 * @example
 * ```ts
 * import { fallbackBlas } from "./blas.ts";
 * import { attentionForward } from "./attention.ts";
 * const qkv = new Float32Array([0, 0, 1, 0, 0, 3]); // B 1, T 2, one head of width 1 → out = [1, 2]
 * const out = new Float32Array(2), probs = new Float32Array(4);
 * attentionForward(fallbackBlas, out, probs, qkv, 1, 2, 1, 1);
 * ```
 */
export function attentionForward(
  blas: Blas,
  out: Float32Array,
  probs: Float32Array,
  qkv: Float32Array,
  B: number,
  T: number,
  H: number,
  hd: number,
  block = ATTENTION_BLOCK,
): void {
  const d = H * hd, d3 = 3 * d, scale = 1 / Math.sqrt(hd), TT = T * T;
  for (let b = 0; b < B; b++) {
    const rows = b * T * d3;
    for (let h = 0; h < H; h++) {
      const P = probs.subarray((b * H + h) * TT, (b * H + h + 1) * TT);
      const k = qkv.subarray(rows + d + h * hd), v = qkv.subarray(rows + 2 * d + h * hd);
      for (let r0 = 0; r0 < T; r0 += block) {
        const r1 = Math.min(T, r0 + block), R = r1 - r0, Pb = P.subarray(r0 * T);
        const q = qkv.subarray(rows + r0 * d3 + h * hd);
        blas.sgemm(false, true, R, r1, hd, scale, q, d3, k, d3, 0, Pb, T);
        causalSoftmax(Pb, R, r1, r0, 0, T);
        blas.sgemm(false, false, R, hd, r1, 1, Pb, T, v, d3, 0, out.subarray((b * T + r0) * d + h * hd), d);
      }
    }
  }
}

/**
 * Attention backward: writes `dqkv` [B·T, 3d] (dQ, dK, dV, all heads) from `dout` [B·T, d], the saved `probs` and
 * `qkv`; `scratch` holds one [T, T] block. `block` must be the forward's.
 *
 * @example
 * ```ts
 * import { fallbackBlas } from "./blas.ts";
 * import { attentionBackward, attentionForward } from "./attention.ts";
 * const qkv = new Float32Array([0, 0, 1, 0, 0, 3]), out = new Float32Array(2), probs = new Float32Array(4);
 * attentionForward(fallbackBlas, out, probs, qkv, 1, 2, 1, 1);
 * const dqkv = new Float32Array(6);
 * attentionBackward(fallbackBlas, dqkv, new Float32Array(4), new Float32Array([1, 1]), probs, qkv, 1, 2, 1, 1);
 * ```
 */
export function attentionBackward(
  blas: Blas,
  dqkv: Float32Array,
  scratch: Float32Array,
  dout: Float32Array,
  probs: Float32Array,
  qkv: Float32Array,
  B: number,
  T: number,
  H: number,
  hd: number,
  block = ATTENTION_BLOCK,
): void {
  const d = H * hd, d3 = 3 * d, scale = 1 / Math.sqrt(hd), TT = T * T;
  const last = Math.floor((T - 1) / block) * block;
  for (let b = 0; b < B; b++) {
    const rows = b * T * d3;
    for (let h = 0; h < H; h++) {
      const P = probs.subarray((b * H + h) * TT, (b * H + h + 1) * TT);
      const k = qkv.subarray(rows + d + h * hd), v = qkv.subarray(rows + 2 * d + h * hd);
      const dk = dqkv.subarray(rows + d + h * hd), dv = dqkv.subarray(rows + 2 * d + h * hd);
      // last block first: it sees every column, so it writes all of dK and dV (β = 0); earlier blocks add to theirs
      for (let r0 = last; r0 >= 0; r0 -= block) {
        const r1 = Math.min(T, r0 + block), R = r1 - r0, beta = r0 === last ? 0 : 1;
        const Pb = P.subarray(r0 * T), dS = scratch.subarray(r0 * T);
        const dO = dout.subarray((b * T + r0) * d + h * hd), q = qkv.subarray(rows + r0 * d3 + h * hd);
        // dP = dO·Vᵀ and dV += Pᵀ·dO
        blas.sgemm(false, true, R, r1, hd, 1, dO, d, v, d3, 0, dS, T);
        blas.sgemm(true, false, r1, hd, R, 1, Pb, T, dO, d, beta, dv, d3);
        // dS = P ⊙ (dP − rowsum(dP ⊙ P)), zero where masked
        for (let i = 0; i < R; i++) {
          const o = i * T, n = r0 + i + 1;
          let dot = 0;
          for (let j = 0; j < n; j++) dot += dS[o + j] * Pb[o + j];
          for (let j = 0; j < n; j++) dS[o + j] = Pb[o + j] * (dS[o + j] - dot);
          for (let j = n; j < r1; j++) dS[o + j] = 0;
        }
        // dQ = scale·dS·K, dK += scale·dSᵀ·Q
        blas.sgemm(
          false,
          false,
          R,
          hd,
          r1,
          scale,
          dS,
          T,
          k,
          d3,
          0,
          dqkv.subarray(rows + r0 * d3 + h * hd),
          d3,
        );
        blas.sgemm(true, false, r1, hd, R, scale, dS, T, q, d3, beta, dk, d3);
      }
    }
  }
}
