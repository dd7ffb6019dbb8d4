/**
 * Memory copy bandwidth from Deno (a large TypedArray `set`), and the batch-1 decode limit it implies: every
 * generated token reads all weights once, so tokens/s ≤ bandwidth ÷ weight bytes.
 *
 * @module
 */

/** Result of {@link measureCopyBandwidth}. */
export interface BandwidthResult {
  bytes: number;
  /** Best of the repetitions. */
  seconds: number;
  /** Bytes read + written per second ÷ 1e9. */
  gbPerSecond: number;
}

/**
 * Copies `mb` MiB between two Float64Arrays `reps` times and reports the best time (read + write bytes counted, as
 * STREAM's copy does).
 *
 * @example
 * ```ts
 * import { measureCopyBandwidth } from "./bandwidth.ts";
 * const { gbPerSecond } = measureCopyBandwidth(16, 3);
 * ```
 */
export function measureCopyBandwidth(mb = 256, reps = 5): BandwidthResult {
  const n = (mb * 1024 * 1024) / 8;
  const src = new Float64Array(n);
  for (let i = 0; i < n; i += 512) src[i] = i; // touch every page
  const dst = new Float64Array(n);
  dst.set(src); // first touch of dst
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    dst.set(src);
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  if (dst[512] !== 512) throw new Error("copy check failed");
  const bytes = n * 8;
  return { bytes, seconds: best, gbPerSecond: (2 * bytes) / best / 1e9 };
}

/**
 * Batch-1 decode ceiling in tokens/s: bandwidth ÷ weight bytes. With the copy figure (read + write bytes counted)
 * this is the optimistic ceiling: a decode step only reads the weights, and reading alone is at most that fast.
 *
 * @example
 * ```ts
 * import { decodeLimit } from "./bandwidth.ts";
 * decodeLimit(30, 136e6); // ≈ 220 tokens/s for v8 fp32 at 30 GB/s
 * ```
 */
export function decodeLimit(gbPerSecond: number, weightBytes: number): number {
  return gbPerSecond * 1e9 / weightBytes;
}
