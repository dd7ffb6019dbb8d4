/**
 * The training loss (fused softmax + cross-entropy over the vocabulary, PAD ignored, mean over counted positions)
 * and the global gradient norm used for clipping.
 *
 * @module
 */
import { fastExp } from "./ops.ts";

/**
 * Fused softmax + cross-entropy over `V` logits for `N` rows: returns the mean of `logsumexp(row) − row[target]`
 * over rows whose target is not `ignoreIndex` (PAD = 0 by default, as `lib/model/model.ts`'s `crossEntropy`; −1
 * ignores nothing), and the number of such rows. Stores each row's log-sum-exp in `lse` [N] for the backward.
 * With no counted rows the loss is 0.
 *
 * @example
 * ```ts
 * import { crossEntropyForward } from "./loss.ts";
 * const lse = new Float32Array(1);
 * crossEntropyForward(lse, new Float32Array(4), new Int32Array([2]), 1, 4); // { loss: ln 4, count: 1 }
 * ```
 */
export function crossEntropyForward(
  lse: Float32Array,
  logits: Float32Array,
  targets: ArrayLike<number>,
  N: number,
  V: number,
  ignoreIndex = 0,
): { loss: number; count: number } {
  let total = 0, count = 0;
  for (let n = 0; n < N; n++) {
    const o = n * V;
    let m = -Infinity;
    for (let v = 0; v < V; v++) if (logits[o + v] > m) m = logits[o + v];
    let s = 0;
    for (let v = 0; v < V; v++) s += fastExp(logits[o + v] - m);
    const l = m + Math.log(s);
    lse[n] = l;
    const t = targets[n];
    if (t !== ignoreIndex) {
      total += l - logits[o + t];
      count++;
    }
  }
  return { loss: count ? total / count : 0, count };
}

/**
 * Cross-entropy backward: `dlogits = (softmax(logits) − onehot(target)) · dloss / count` on counted rows, 0 on
 * ignored ones (`dloss` is the gradient of the mean loss, 1 for plain training; a micro-batch's share when
 * accumulating). `dlogits` may be `logits` itself (in place).
 *
 * @example
 * ```ts
 * import { crossEntropyBackward, crossEntropyForward } from "./loss.ts";
 * const logits = new Float32Array(2), lse = new Float32Array(1), t = new Int32Array([1]);
 * const { count } = crossEntropyForward(lse, logits, t, 1, 2);
 * crossEntropyBackward(logits, logits, lse, t, 1, 2, count); // [0.5, −0.5]
 * ```
 */
export function crossEntropyBackward(
  dlogits: Float32Array,
  logits: Float32Array,
  lse: Float32Array,
  targets: ArrayLike<number>,
  N: number,
  V: number,
  count: number,
  dloss = 1,
  ignoreIndex = 0,
): void {
  const scale = count ? dloss / count : 0;
  for (let n = 0; n < N; n++) {
    const o = n * V, t = targets[n];
    if (t === ignoreIndex) {
      dlogits.fill(0, o, o + V);
      continue;
    }
    const l = lse[n];
    for (let v = 0; v < V; v++) dlogits[o + v] = fastExp(logits[o + v] - l) * scale;
    dlogits[o + t] -= scale;
  }
}

/**
 * Global L2 norm of a gradient buffer (float64 accumulation), for clipping.
 *
 * @example
 * ```ts
 * import { gradNorm } from "./loss.ts";
 * gradNorm(new Float32Array([3, 4])); // 5
 * ```
 */
export function gradNorm(g: Float32Array): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const n = g.length, n4 = n - (n % 4);
  for (let i = 0; i < n4; i += 4) {
    s0 += g[i] * g[i];
    s1 += g[i + 1] * g[i + 1];
    s2 += g[i + 2] * g[i + 2];
    s3 += g[i + 3] * g[i + 3];
  }
  for (let i = n4; i < n; i++) s0 += g[i] * g[i];
  return Math.sqrt(s0 + s1 + s2 + s3);
}
