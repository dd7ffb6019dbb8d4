/**
 * How far logits computed another way (reduced-precision weights, another backend) are from reference logits: the
 * one measure the bench reports and the tests bound.
 *
 * @module
 */

/** The error of `[T, V]` logits against reference logits. */
export interface LogitError {
  /** max |logit − reference logit| over all rows. */
  maxAbs: number;
  /** The largest max − min of a reference row. */
  range: number;
  /** ‖Δ‖ ÷ ‖reference logits‖ over all rows. */
  rms: number;
  /** Rows whose argmax equals the reference's. */
  agree: number;
  /** Rows compared. */
  positions: number;
}

/**
 * Compares `got` with `ref`, both `[T, V]` row-major logits.
 *
 * @example
 * ```ts
 * import { logitError } from "./logit_error.ts";
 * const e = logitError(new Float32Array([0, 1, 2, 0]), new Float32Array([0, 1.1, 1.9, 0]), 2);
 * // e.maxAbs ≈ 0.1, e.range === 1, e.agree === 2
 * ```
 */
export function logitError(ref: Float32Array, got: Float32Array, V: number): LogitError {
  const T = Math.floor(ref.length / V);
  let maxAbs = 0, range = 0, se = 0, sr = 0, agree = 0;
  for (let t = 0; t < T; t++) {
    let am = 0, bm = 0, lo = Infinity, hi = -Infinity;
    for (let v = 0; v < V; v++) {
      const a = ref[t * V + v], b = got[t * V + v];
      maxAbs = Math.max(maxAbs, Math.abs(a - b));
      se += (a - b) ** 2, sr += a * a;
      lo = Math.min(lo, a), hi = Math.max(hi, a);
      if (a > ref[t * V + am]) am = v;
      if (b > got[t * V + bm]) bm = v;
    }
    range = Math.max(range, hi - lo);
    if (am === bm) agree++;
  }
  return { maxAbs, range, rms: Math.sqrt(se / sr), agree, positions: T };
}
