/**
 * Learning-rate schedules: linear warmup then cosine decay (Transformer), or plain cosine annealing (LSTM:
 * warmup 0).
 *
 * @module
 */

/**
 * The learning rate at optimizer step `step` (0-based): linear warmup over `warmup` steps to `lr`, then a cosine
 * from `lr` down to `lr · minLrFrac` at `total` steps (held there after).
 *
 * @example
 * ```ts
 * import { learningRate } from "./schedule.ts";
 * learningRate(0, { lr: 1e-3, warmup: 10, total: 100, minLrFrac: 0.1 }); // 1e-4
 * ```
 */
export function learningRate(
  step: number,
  s: { lr: number; warmup: number; total: number; minLrFrac: number },
): number {
  if (s.warmup > 0 && step < s.warmup) return (s.lr * (step + 1)) / s.warmup;
  const span = Math.max(1, s.total - s.warmup);
  const p = Math.min(1, Math.max(0, (step - s.warmup) / span));
  const min = s.lr * s.minLrFrac;
  return min + (s.lr - min) * 0.5 * (1 + Math.cos(Math.PI * p));
}
