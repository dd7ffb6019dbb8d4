/**
 * Sliding windows over tokenised pieces for training: windows of `seqLen + 1` ids (inputs are the first `seqLen`,
 * targets the last `seqLen`), a configurable stride, seeded shuffling per epoch, and batches as typed arrays.
 *
 * Rules:
 * - windows start at 0, stride, 2·stride, … inside one piece and never span two pieces, unless `crossPieces` (then
 *   the pieces, each `BOS … EOS`, are concatenated into one stream);
 * - the tail of a piece that no full window reaches, and a piece shorter than a window, become one *partial* window,
 *   padded with PAD (0) and marked in `mask` (`partial: "pad"`, the default), or are dropped (`partial: "drop"`);
 *   a partial window still starts on the stride grid, so with `stride = seqLen` every id after a piece's first is
 *   a target exactly once per epoch;
 * - the window order is a Fisher–Yates shuffle with mulberry32 seeded by (`seed`, `epoch`): the same pair gives the
 *   same order on every machine, another epoch another order.
 *
 * @module
 */
import { mixSeed, mulberry32, shuffleInPlace } from "../util/rng.ts";
import { PAD_ID } from "./shards.ts";

/**
 * How windows are cut.
 *
 * @example
 * ```ts
 * import { windowIndex } from "./windows.ts";
 * const pieces = [new Uint16Array(10), new Uint16Array(3)];
 * windowIndex(pieces, { seqLen: 4 }).count; // 4: two full windows and a padded tail of the first, the short second
 * windowIndex(pieces, { seqLen: 4, stride: 2, partial: "drop" }).count; // 3: full windows at 0, 2, 4 of the first
 * ```
 */
export interface WindowOptions {
  /** Model sequence length; windows hold `seqLen + 1` ids (256 for the Transformer, 100 for the LSTM). */
  seqLen: number;
  /** Distance between window starts (default `seqLen`). */
  stride?: number;
  /** Let windows run across piece boundaries (default false). */
  crossPieces?: boolean;
  /** What to do with windows shorter than `seqLen + 1`: pad (default) or drop. */
  partial?: "pad" | "drop";
}

/**
 * Windows as parallel arrays: window `i` is `pieces[piece[i]]`, ids `start[i] … start[i] + length[i] - 1`.
 *
 * @example
 * ```ts
 * import { windowIndex } from "./windows.ts";
 * const idx = windowIndex([Uint16Array.of(1, 5, 6, 7, 8, 2)], { seqLen: 3 });
 * for (let i = 0; i < idx.count; i++) {
 *   const p = idx.pieces[idx.piece[i]];
 *   console.log(Array.from({ length: idx.length[i] }, (_, k) => p[idx.start[i] + k])); // [1, 5, 6, 7], then [7, 8, 2]
 * }
 * ```
 */
export interface WindowIndex {
  /** Per window, the index of its piece in `pieces`. */
  piece: Uint32Array;
  /** Per window, the offset of its first id in that piece. */
  start: Uint32Array;
  /** Real ids in the window (≤ seqLen + 1; less for a padded partial window). */
  length: Uint32Array;
  /** The pieces the index refers to (with `crossPieces`, one concatenated stream). */
  pieces: readonly ArrayLike<number>[];
  /** Number of windows (the length of each array). */
  count: number;
}

function checkOpts(o: WindowOptions): { w: number; stride: number } {
  if (!Number.isInteger(o.seqLen) || o.seqLen < 1) {
    throw new RangeError(`seqLen: expected an integer >= 1, got ${o.seqLen}`);
  }
  const stride = o.stride ?? o.seqLen;
  if (!Number.isInteger(stride) || stride < 1) {
    throw new RangeError(`stride: expected an integer >= 1, got ${stride}`);
  }
  return { w: o.seqLen + 1, stride };
}

/**
 * Lists every window (before shuffling).
 *
 * @example
 * ```ts
 * import { windowIndex } from "./windows.ts";
 * const idx = windowIndex([new Uint16Array(10)], { seqLen: 4 });
 * Array.from(idx.start); // [0, 4, 8]: two full windows of 5 ids, then a padded tail of 2
 * ```
 */
export function windowIndex(pieces: readonly ArrayLike<number>[], opts: WindowOptions): WindowIndex {
  const { w, stride } = checkOpts(opts);
  let src = pieces;
  if (opts.crossPieces) {
    let n = 0;
    for (const p of pieces) n += p.length;
    const all = new Int32Array(n);
    let o = 0;
    for (const p of pieces) {
      for (let i = 0; i < p.length; i++) all[o + i] = p[i];
      o += p.length;
    }
    src = [all];
  }
  const piece: number[] = [], start: number[] = [], length: number[] = [];
  const pad = (opts.partial ?? "pad") === "pad";
  src.forEach((p, pi) => {
    const L = p.length;
    let s = 0;
    for (; s + w <= L; s += stride) {
      piece.push(pi);
      start.push(s);
      length.push(w);
    }
    // Partial window on the stride grid: a tail no full window reached, or a piece shorter than a window.
    const lastEnd = s === 0 ? 0 : s - stride + w;
    if (pad && s + 1 < L && lastEnd < L) {
      piece.push(pi);
      start.push(s);
      length.push(L - s);
    }
  });
  return {
    piece: Uint32Array.from(piece),
    start: Uint32Array.from(start),
    length: Uint32Array.from(length),
    pieces: src,
    count: piece.length,
  };
}

/**
 * Options for {@link windowBatches}.
 *
 * @example
 * ```ts
 * import { windowBatches } from "./windows.ts";
 * const pieces = [Uint16Array.from({ length: 100 }, (_, i) => i % 50)];
 * // validation: every window once, in order, the last batch possibly short
 * const batches = [...windowBatches(pieces, { seqLen: 16, batchSize: 4, shuffle: false })];
 * ```
 */
export interface BatchOptions extends WindowOptions {
  /** Windows (rows) per batch, ≥ 1. */
  batchSize: number;
  /** Shuffle seed (default 0). */
  seed?: number;
  /** Epoch number, mixed into the seed (default 0). */
  epoch?: number;
  /** Shuffle the windows (default true; false keeps piece order, e.g. for validation). */
  shuffle?: boolean;
  /** Drop a last batch with fewer than `batchSize` rows (default false). */
  dropLast?: boolean;
}

/**
 * One batch: `rows` windows of `seqLen + 1` ids, row-major.
 *
 * @example
 * ```ts
 * import { windowBatches } from "./windows.ts";
 * const [b] = windowBatches([Uint16Array.of(1, 5, 6, 2)], { seqLen: 4, batchSize: 1 });
 * Array.from(b.tokens); // [1, 5, 6, 2, 0]: one row of seqLen + 1, padded
 * Array.from(b.mask); // [1, 1, 1, 1, 0]
 * ```
 */
export interface WindowBatch {
  /** `[rows, seqLen + 1]` ids; positions past a partial window's end hold PAD (0). */
  tokens: Int32Array;
  /** `[rows, seqLen + 1]`: 1 for a real id, 0 for padding. */
  mask: Uint8Array;
  /** Windows in this batch (`batchSize`, or fewer in the last one). */
  rows: number;
  /** The model sequence length; each row holds `seqLen + 1` ids. */
  seqLen: number;
  /** Which window each row is: index into the pieces, start id, real length. */
  windows: { piece: number; start: number; length: number }[];
}

/**
 * The windows in (shuffled) order, cut into batches. Each batch's arrays are fresh (safe to keep or transfer).
 *
 * @example
 * ```ts
 * import { windowBatches } from "./windows.ts";
 * const pieces = [Uint16Array.from({ length: 40 }, (_, i) => i)];
 * for (const b of windowBatches(pieces, { seqLen: 8, batchSize: 2, seed: 1, epoch: 0 })) {
 *   b.tokens.length; // b.rows * 9
 * }
 * ```
 */
export function* windowBatches(
  pieces: readonly ArrayLike<number>[],
  opts: BatchOptions,
): Generator<WindowBatch> {
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) {
    throw new RangeError(`batchSize: expected an integer >= 1, got ${opts.batchSize}`);
  }
  const idx = windowIndex(pieces, opts);
  const order = new Uint32Array(idx.count);
  for (let i = 0; i < order.length; i++) order[i] = i;
  if (opts.shuffle ?? true) {
    shuffleInPlace(order, mulberry32(mixSeed(opts.seed ?? 0, "windows", opts.epoch ?? 0)));
  }
  const w = opts.seqLen + 1;
  for (let b = 0; b < order.length; b += opts.batchSize) {
    const rows = Math.min(opts.batchSize, order.length - b);
    if (rows < opts.batchSize && opts.dropLast) return;
    const tokens = new Int32Array(rows * w);
    const mask = new Uint8Array(rows * w);
    const windows: WindowBatch["windows"] = [];
    for (let r = 0; r < rows; r++) {
      const k = order[b + r];
      const p = idx.pieces[idx.piece[k]];
      const s = idx.start[k], len = idx.length[k];
      for (let j = 0; j < len; j++) tokens[r * w + j] = p[s + j];
      if (PAD_ID !== 0) tokens.fill(PAD_ID, r * w + len, (r + 1) * w);
      mask.fill(1, r * w, r * w + len);
      windows.push({ piece: idx.piece[k], start: s, length: len });
    }
    yield { tokens, mask, rows, seqLen: opts.seqLen, windows };
  }
}

/**
 * Batches per epoch for these options (for schedules and progress bars).
 *
 * @example
 * ```ts
 * import { batchesPerEpoch } from "./windows.ts";
 * batchesPerEpoch([new Uint16Array(10)], { seqLen: 4, batchSize: 2 }); // 2 (3 windows)
 * ```
 */
export function batchesPerEpoch(pieces: readonly ArrayLike<number>[], opts: BatchOptions): number {
  const n = windowIndex(pieces, opts).count;
  return opts.dropLast ? Math.floor(n / opts.batchSize) : Math.ceil(n / opts.batchSize);
}

/**
 * Splits a batch into model inputs, next-token targets and loss weights, each `[rows, seqLen]`: inputs are ids
 * 0…seqLen−1 of each window, targets ids 1…seqLen, weight 1 where the target is a real id (0 on padding).
 *
 * @example
 * ```ts
 * import { inputsAndTargets, windowBatches } from "./windows.ts";
 * const [b] = windowBatches([Uint16Array.of(1, 5, 6, 2)], { seqLen: 3, batchSize: 1 });
 * const { inputs, targets } = inputsAndTargets(b); // inputs [1,5,6], targets [5,6,2]
 * ```
 */
export function inputsAndTargets(
  b: WindowBatch,
): { inputs: Int32Array; targets: Int32Array; weights: Float32Array } {
  const t = b.seqLen, w = t + 1;
  const inputs = new Int32Array(b.rows * t), targets = new Int32Array(b.rows * t);
  const weights = new Float32Array(b.rows * t);
  for (let r = 0; r < b.rows; r++) {
    inputs.set(b.tokens.subarray(r * w, r * w + t), r * t);
    targets.set(b.tokens.subarray(r * w + 1, r * w + w), r * t);
    for (let j = 0; j < t; j++) weights[r * t + j] = b.mask[r * w + j + 1];
  }
  return { inputs, targets, weights };
}
