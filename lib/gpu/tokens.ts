/**
 * The step's token ids as the GPU reads them: one buffer of 32-bit words holding, per micro-batch, the input ids,
 * the targets, and the inputs counting-sorted by id (CSR: `start` [V + 1] and positions), which lets the embedding
 * backward reduce per token id without atomics.
 *
 * @module
 */

/**
 * Words per micro-batch in the token buffer for `cap` tokens and vocabulary `V` (a multiple of 64).
 *
 * @example
 * ```ts
 * import { chunkWords } from "./tokens.ts";
 * chunkWords(8, 5); // 3 · 8 + 5 + 1 = 30, rounded up to 64
 * ```
 */
export function chunkWords(cap: number, V: number): number {
  return Math.ceil((3 * cap + V + 1) / 64) * 64;
}

/**
 * The positions of `ids` grouped by id (a stable counting sort): positions `pos[start[v]] … pos[start[v + 1] − 1]`
 * hold id v, in increasing order — what the embedding backward reduces over, one workgroup per id, without atomics.
 *
 * @example
 * ```ts
 * import { countingSort } from "./tokens.ts";
 * countingSort([2, 0, 2], 3); // { start: [0, 1, 1, 3], pos: [1, 0, 2] }
 * ```
 */
export function countingSort(ids: ArrayLike<number>, V: number): { start: Uint32Array; pos: Uint32Array } {
  const start = new Uint32Array(V + 1), pos = new Uint32Array(ids.length);
  for (let i = 0; i < ids.length; i++) start[ids[i] + 1]++;
  for (let v = 0; v < V; v++) start[v + 1] += start[v];
  const next = start.slice(0, V);
  for (let i = 0; i < ids.length; i++) pos[next[ids[i]]++] = i;
  return { start, pos };
}

/** Where micro-batch `c`'s token data sits in the token buffer (words). */
export interface TokenOffsets {
  /** Input ids. */
  ids: number;
  /** Targets. */
  targets: number;
  /** CSR start [V + 1]. */
  start: number;
  /** CSR positions. */
  pos: number;
}

/**
 * Word offsets of micro-batch `c`'s token data in a buffer laid out for micro-batches of `cap` tokens.
 *
 * @example
 * ```ts
 * import { tokenOffsets } from "./tokens.ts";
 * tokenOffsets(0, 8, 5); // { ids: 0, targets: 8, start: 16, pos: 22 }
 * ```
 */
export function tokenOffsets(c: number, cap: number, V: number): TokenOffsets {
  const ids = c * chunkWords(cap, V);
  return { ids, targets: ids + cap, start: ids + 2 * cap, pos: ids + 2 * cap + V + 1 };
}

/**
 * The token buffer's words for `batch` windows of T + 1 ids split in micro-batches of `micro` rows (inputs the first
 * T ids of a window, targets the last T), laid out for micro-batches of `cap` ≥ micro·T tokens.
 *
 * @example
 * ```ts
 * import { packTokens, tokenOffsets } from "./tokens.ts";
 * const w = packTokens(new Int32Array([1, 3, 2, 1, 4, 2]), 2, 2, 4, 5);
 * w.subarray(0, 4); // the inputs [1, 3, 1, 4]
 * ```
 */
export function packTokens(
  windows: Int32Array,
  batch: number,
  micro: number,
  cap: number,
  V: number,
): Uint32Array<ArrayBuffer> {
  const w = windows.length / batch, T = w - 1, chunks = Math.ceil(batch / micro);
  const words = new Uint32Array(chunks * chunkWords(cap, V));
  for (let c = 0; c < chunks; c++) {
    const o = tokenOffsets(c, cap, V), r0 = c * micro, n = Math.min(micro, batch - r0);
    for (let r = 0; r < n; r++) {
      for (let t = 0; t < T; t++) {
        const id = windows[(r0 + r) * w + t], tg = windows[(r0 + r) * w + t + 1];
        if (!(id >= 0 && id < V)) throw new RangeError(`token id ${id} outside the vocabulary (${V})`);
        if (!(tg >= 0 && tg < V)) throw new RangeError(`target ${tg} outside the vocabulary`);
        words[o.ids + r * T + t] = id;
        words[o.targets + r * T + t] = tg;
      }
    }
    const { start, pos } = countingSort(words.subarray(o.ids, o.ids + n * T), V);
    words.set(start, o.start);
    words.set(pos, o.pos);
  }
  return words;
}
