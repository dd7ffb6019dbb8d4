/**
 * The copy index: "how long a run of this token sequence occurs, verbatim, somewhere in the training data?" — the
 * "too close to the training data" check of generated pieces (issue 14, item 2).
 *
 * It is an FM-index over the training split's ids (`train.bin`, every piece `BOS … EOS`, augmented copies included:
 * what the model saw): the Burrows-Wheeler transform of the ids, stored as a wavelet matrix (one bit-vector with rank
 * support per bit of an id), plus one suffix-array sample every {@link COPY_SAMPLE_RATE} text positions to say where
 * a match lies. The text itself is not stored: the index is ≈ 1.6 bytes per training token (10 bits per id for a
 * 1,024-token vocabulary, 12.5 % rank directory, the samples), less than `train.bin` (2 bytes per token), and answers
 * exactly, for runs of any length.
 *
 * Build: suffix array by SA-IS (linear time; Nong, Zhang & Chan 2009, as in the AtCoder Library), then the BWT and
 * the wavelet matrix. Query ({@link CopyIndex.longestCopy}): windows of the query are backward-searched right to
 * left, skipping every start a failed search rules out, so a query of m tokens costs about m × (typical match length)
 * rank steps, and a long verbatim copy L tokens long about L log L.
 *
 * On disk (beside the shards, then beside the model): `copy_index.bin` (the arrays, little-endian) and
 * `copy_index.json` (a small header: format, the tokenizer's sha256, sizes, the piece table, and the random `id` the
 * `.bin` also starts with, so a mismatched pair is refused), both written atomically.
 *
 * @example
 * ```ts
 * import { buildCopyIndex } from "./copy_index.ts";
 * const train = [1, 10, 11, 12, 13, 14, 2, 1, 20, 21, 22, 2]; // two pieces, BOS … EOS
 * const index = buildCopyIndex(train, { vocabSize: 32 });
 * index.longestCopy([5, 11, 12, 13, 9]).length; // 3: the run 11 12 13
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { sha256Hex } from "../util/hash.ts";
import { decodeShard, openShards } from "./shards.ts";
import { suffixArray } from "./suffix_array.ts";
import { bitWords, BLOCK, finishRank, getBit, rank1, setBit } from "./_rank_bits.ts";

export { suffixArray };

/** File name of the index's arrays. */
export const COPY_INDEX_BIN = "copy_index.bin";
/** File name of the index's JSON header. */
export const COPY_INDEX_JSON = "copy_index.json";
/**
 * One suffix-array sample per this many text positions: locating the best match walks at most this many LF steps.
 *
 * @example
 * ```ts
 * import { COPY_SAMPLE_RATE } from "./copy_index.ts";
 * COPY_SAMPLE_RATE; // 64
 * ```
 */
export const COPY_SAMPLE_RATE = 64;

const MAGIC = "ETUDECPY";
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A piece of the indexed text: where it came from and where it lies (in ids, BOS and EOS included), as
 * `meta.json`'s `ShardItem`.
 *
 * @example
 * ```ts
 * import type { CopyPiece } from "./copy_index.ts";
 * const p: CopyPiece = { source: "chopin/op10-3.mid", shift: 0, offset: 0, length: 4210 };
 * ```
 */
export interface CopyPiece {
  /** Source file, relative to the dataset root. */
  source: string;
  /** Pitch shift in semitones of this copy (0 = original). */
  shift: number;
  /** Offset of the piece's BOS in the indexed ids. */
  offset: number;
  /** Ids of the piece, BOS and EOS included. */
  length: number;
}

/**
 * The longest run of a query found in the training data.
 *
 * @example
 * ```ts
 * import { buildCopyIndex } from "./copy_index.ts";
 * const index = buildCopyIndex([1, 10, 11, 12, 2], {
 *   vocabSize: 16,
 *   pieces: [{ source: "a.mid", shift: 0, offset: 0, length: 5 }],
 * });
 * const m = index.longestCopy([11, 12, 7]);
 * [m.length, m.start, m.trainOffset, m.piece?.source, m.piece?.offsetInPiece]; // [2, 0, 2, "a.mid", 2]
 * ```
 */
export interface CopyMatch {
  /** Tokens in the longest run of the query that occurs verbatim in the training ids (0: not even one token). */
  length: number;
  /** Where the run starts in the query (−1 when `length` is 0). */
  start: number;
  /** Where one occurrence starts in the indexed ids (`train.bin`; −1 when `length` is 0). */
  trainOffset: number;
  /** How many times the run occurs in the training ids. */
  occurrences: number;
  /** The training piece holding that occurrence, when the index knows its pieces. */
  piece?: { index: number; source: string; shift: number; offsetInPiece: number };
}

/**
 * `copy_index.json`: the header of a saved index.
 *
 * @example
 * ```ts ignore
 * import { COPY_INDEX_JSON, type CopyIndexHeader } from "./copy_index.ts";
 * const h: CopyIndexHeader = JSON.parse(await Deno.readTextFile(`models/default/${COPY_INDEX_JSON}`));
 * console.log(h.tokens, h.tokenizer.sha256, h.pieces.length);
 * ```
 */
export interface CopyIndexHeader {
  /** Always `etude-copy-index`. */
  format: "etude-copy-index";
  /** Format version (1). */
  version: 1;
  /** Random hex id, also the 8 bytes after the magic in `copy_index.bin` (a mismatched pair is refused). */
  id: string;
  /** When it was built (ISO 8601, UTC). */
  createdAt: string;
  /** Seconds the build took. */
  buildSeconds: number;
  /** The tokenizer that made the ids: sha256 of its `tokenizer.json` bytes (empty when unknown). */
  tokenizer: { sha256: string };
  /** What was indexed, e.g. `{ dataset: "piano", file: "train.bin" }`. */
  source: { dataset?: string; file?: string };
  /** Ids indexed. */
  tokens: number;
  /** Every id is below it. */
  vocabSize: number;
  /** Bits per id in the wavelet matrix: ⌈log2 vocabSize⌉. */
  levels: number;
  /** One suffix-array sample per this many text positions. */
  sampleRate: number;
  /** Size of `copy_index.bin`. */
  binBytes: number;
  /** Byte offset and length of each array in `copy_index.bin`. */
  sections: Record<"zeros" | "counts" | "levels" | "marks" | "samples", [number, number]>;
  /** The pieces, in offset order (empty when unknown). */
  pieces: CopyPiece[];
}

/**
 * Options for {@link buildCopyIndex}.
 *
 * @example
 * ```ts
 * import { buildCopyIndex } from "./copy_index.ts";
 * const stages: string[] = [];
 * buildCopyIndex([1, 5, 6, 2], { vocabSize: 8, onProgress: (stage) => stages.push(stage) });
 * ```
 */
export interface BuildCopyIndexOptions {
  /** Vocabulary size: every id must be in [1, vocabSize) (0 = PAD never occurs in shards; it ends the text). */
  vocabSize: number;
  /** The pieces of the ids (for {@link CopyMatch.piece}). */
  pieces?: readonly CopyPiece[];
  /** sha256 of the tokenizer.json that made the ids (checked by {@link copyIndexInto}). */
  tokenizerSha256?: string;
  /** What the ids are, recorded in the header. */
  source?: { dataset?: string; file?: string };
  /** Called as the build moves on: stage name, done, total. */
  onProgress?: (stage: string, done: number, total: number) => void;
}

interface Arrays {
  zeros: Uint32Array; // per level, zeros in that level's bits
  counts: Uint32Array; // C: per symbol, symbols smaller than it in the text (+ the terminator), vocabSize + 1
  levels: Uint32Array; // the wavelet matrix's bit-vectors, one after the other
  marks: Uint32Array; // rows whose suffix starts at a multiple of the sample rate
  samples: Uint32Array; // their text positions, in row order
}

/**
 * An FM-index over training ids (see the module doc); build with {@link buildCopyIndex}, save with
 * {@link writeCopyIndex}, load with {@link readCopyIndex}.
 *
 * @example
 * ```ts
 * import { buildCopyIndex } from "./copy_index.ts";
 * const index = buildCopyIndex([1, 4, 5, 6, 7, 2, 1, 4, 5, 9, 2], { vocabSize: 16 });
 * index.count([4, 5]); // 2
 * index.longestCopy([8, 4, 5, 6, 3]).length; // 3
 * ```
 */
export class CopyIndex {
  /** The header (what `copy_index.json` holds). */
  readonly header: CopyIndexHeader;
  #a: Arrays;
  #n: number; // rows: tokens + 1 (the terminator)
  #L: number;
  #words: number; // Uint32 words per bit-vector
  #start: Int32Array; // per symbol, where its block starts in the wavelet matrix's last arrangement
  #offsets: Int32Array; // piece offsets, for the binary search

  /** Wraps arrays built by {@link buildCopyIndex} or read by {@link readCopyIndex}. */
  constructor(header: CopyIndexHeader, arrays: Arrays) {
    this.header = header;
    this.#a = arrays;
    this.#n = header.tokens + 1;
    this.#L = header.levels;
    this.#words = bitWords(this.#n);
    const V = header.vocabSize;
    this.#start = new Int32Array(V);
    for (let c = 0; c < V; c++) this.#start[c] = this.#descend(c, 0);
    this.#offsets = Int32Array.from(header.pieces.map((p) => p.offset));
  }

  /** Tokens indexed. */
  get tokens(): number {
    return this.header.tokens;
  }

  /** Size of the arrays, in bytes (what `copy_index.bin` takes, less its 16-byte header). */
  get bytes(): number {
    const a = this.#a;
    return a.zeros.byteLength + a.counts.byteLength + a.levels.byteLength + a.marks.byteLength +
      a.samples.byteLength;
  }

  /** Position of row i of symbol c after the wavelet matrix's levels (rank_c(i) = that − #start[c]). */
  #descend(c: number, i: number): number {
    const { levels, zeros } = this.#a;
    const L = this.#L, W = this.#words;
    for (let l = 0; l < L; l++) {
      const r = rank1(levels, l * W, i);
      i = (c >>> (L - 1 - l)) & 1 ? zeros[l] + r : i - r;
    }
    return i;
  }

  /** Backward-search step: the rows of `c·X` from the rows [lo, hi) of X; empty when lo ≥ hi. */
  #step(c: number, lo: number, hi: number): [number, number] {
    if (c <= 0 || c >= this.header.vocabSize) return [0, 0];
    const { levels, zeros, counts } = this.#a;
    const L = this.#L, W = this.#words;
    for (let l = 0; l < L; l++) {
      const off = l * W;
      const rl = rank1(levels, off, lo), rh = rank1(levels, off, hi);
      if ((c >>> (L - 1 - l)) & 1) {
        lo = zeros[l] + rl;
        hi = zeros[l] + rh;
      } else {
        lo -= rl;
        hi -= rh;
      }
      if (lo >= hi) return [0, 0];
    }
    const base = counts[c] - this.#start[c];
    return [base + lo, base + hi];
  }

  /** The text position of row `row` (LF walk to a sampled row). */
  #locate(row: number): number {
    const { levels, zeros, counts, marks, samples } = this.#a;
    const L = this.#L, W = this.#words;
    let steps = 0;
    for (;;) {
      if (getBit(marks, 0, row)) return samples[rank1(marks, 0, row)] + steps;
      // LF: the row of the suffix one position earlier
      let c = 0, i = row;
      for (let l = 0; l < L; l++) {
        const b = getBit(levels, l * W, i);
        const r = rank1(levels, l * W, i);
        c = (c << 1) | b;
        i = b ? zeros[l] + r : i - r;
      }
      if (c === 0) return steps; // the terminator precedes text position 0
      row = counts[c] + (i - this.#start[c]);
      steps++;
    }
  }

  /**
   * Rows of the training suffixes starting with `ids[from .. to]` (backward search from `to` down), or, when the
   * whole range does not occur, `{ fail: y }`: `ids[y .. to]` occurs but `ids[y − 1 .. to]` does not.
   */
  #search(ids: ArrayLike<number>, from: number, to: number): { lo: number; hi: number } | { fail: number } {
    let lo = 0, hi = this.#n;
    for (let i = to; i >= from; i--) {
      [lo, hi] = this.#step(ids[i], lo, hi);
      if (lo >= hi) return { fail: i + 1 };
    }
    return { lo, hi };
  }

  /**
   * How many times `ids` occurs in the training ids (0 for an empty or absent sequence).
   *
   * @example
   * ```ts
   * import { buildCopyIndex } from "./copy_index.ts";
   * buildCopyIndex([1, 3, 4, 3, 4, 3, 2], { vocabSize: 8 }).count([3, 4, 3]); // 2
   * ```
   */
  count(ids: ArrayLike<number>): number {
    if (ids.length === 0) return 0;
    const r = this.#search(ids, 0, ids.length - 1);
    return "fail" in r ? 0 : r.hi - r.lo;
  }

  /**
   * The longest run of `ids` (consecutive tokens) that occurs verbatim in the training ids, where, how often, and in
   * which piece. Exact: any run of any length is found.
   *
   * @example
   * ```ts
   * import { buildCopyIndex } from "./copy_index.ts";
   * const index = buildCopyIndex([1, 10, 11, 12, 13, 2], { vocabSize: 16 });
   * const m = index.longestCopy([9, 10, 11, 12, 9]);
   * [m.length, m.start, m.trainOffset]; // [3, 1, 1]
   * ```
   */
  longestCopy(ids: ArrayLike<number>): CopyMatch {
    const m = ids.length;
    let best = 0, bestStart = -1, bestLo = 0, bestHi = 0;
    let s = 0;
    // Invariant: no run longer than `best` starts before s. Try the window [s, s + best] (one longer than best).
    while (s + best < m) {
      const e = s + best;
      const r = this.#search(ids, s, e);
      if ("fail" in r) {
        // ids[r.fail − 1 .. e] occurs nowhere, so no window starting in [s, r.fail − 1] (all reach e) can match
        s = r.fail;
        continue;
      }
      // a longer run starts at s: gallop to its end, then binary-search it
      let okLen = best + 1, lo = r.lo, hi = r.hi, failLen = -1, step = okLen;
      while (s + okLen < m) {
        const len = Math.min(okLen + step, m - s);
        const t = this.#search(ids, s, s + len - 1);
        if ("fail" in t) {
          failLen = len;
          break;
        }
        okLen = len;
        lo = t.lo;
        hi = t.hi;
        step *= 2;
      }
      if (failLen > 0) {
        let a = okLen, b = failLen; // a occurs, b does not
        while (b - a > 1) {
          const mid = (a + b) >>> 1;
          const t = this.#search(ids, s, s + mid - 1);
          if ("fail" in t) b = mid;
          else {
            a = mid;
            lo = t.lo;
            hi = t.hi;
          }
        }
        okLen = a;
      }
      best = okLen;
      bestStart = s;
      bestLo = lo;
      bestHi = hi;
      s++;
    }
    if (best === 0) return { length: 0, start: -1, trainOffset: -1, occurrences: 0 };
    const trainOffset = this.#locate(bestLo);
    const out: CopyMatch = { length: best, start: bestStart, trainOffset, occurrences: bestHi - bestLo };
    const k = this.#pieceAt(trainOffset);
    if (k >= 0) {
      const p = this.header.pieces[k];
      out.piece = { index: k, source: p.source, shift: p.shift, offsetInPiece: trainOffset - p.offset };
    }
    return out;
  }

  /**
   * The text position where `ids` occurs (one occurrence), or −1.
   *
   * @example
   * ```ts
   * import { buildCopyIndex } from "./copy_index.ts";
   * buildCopyIndex([1, 7, 8, 9, 2], { vocabSize: 16 }).find([8, 9]); // 2
   * ```
   */
  find(ids: ArrayLike<number>): number {
    if (ids.length === 0) return -1;
    const r = this.#search(ids, 0, ids.length - 1);
    return "fail" in r ? -1 : this.#locate(r.lo);
  }

  #pieceAt(pos: number): number {
    const o = this.#offsets;
    let a = 0, b = o.length - 1, k = -1;
    while (a <= b) {
      const mid = (a + b) >>> 1;
      if (o[mid] <= pos) {
        k = mid;
        a = mid + 1;
      } else b = mid - 1;
    }
    if (k < 0) return -1;
    const p = this.header.pieces[k];
    return pos < p.offset + p.length ? k : -1;
  }

  /** The `copy_index.bin` bytes: magic, id, then the arrays at the header's offsets. */
  toBytes(): Uint8Array {
    if (!LITTLE_ENDIAN) throw new Error("copy index: writing needs a little-endian host");
    const h = this.header;
    const out = new Uint8Array(h.binBytes);
    out.set(new TextEncoder().encode(MAGIC), 0);
    out.set(hexBytes(h.id), 8);
    for (const k of ["zeros", "counts", "levels", "marks", "samples"] as const) {
      const a = this.#a[k];
      out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), h.sections[k][0]);
    }
    return out;
  }
}

function hexBytes(hex: string): Uint8Array {
  const b = new Uint8Array(hex.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return b;
}

function levelsFor(vocabSize: number): number {
  let L = 1;
  while (2 ** L < vocabSize) L++;
  return L;
}

/** The BWT of `ids` + terminator, the symbol counts and the suffix-array samples (the text and SA die with it). */
function bwtAndSamples(
  ids: ArrayLike<number>,
  V: number,
  progress: (stage: string, done: number, total: number) => void,
): {
  bwt: Uint16Array<ArrayBuffer> | Uint32Array<ArrayBuffer>;
  counts: Uint32Array;
  marks: Uint32Array;
  samples: Uint32Array;
} {
  const N = ids.length, n = N + 1; // + the terminator 0
  const text = new Int32Array(n);
  for (let i = 0; i < N; i++) {
    const id = ids[i];
    if (!(Number.isInteger(id) && id >= 1 && id < V)) {
      throw new RangeError(`copy index: id ${id} at ${i} is outside [1, ${V})`);
    }
    text[i] = id;
  }
  progress("suffix array", 0, 1);
  const sa = suffixArray(text, V - 1); // the terminator (0, last) sorts first
  progress("suffix array", 1, 1);
  // C: symbols smaller than c
  const counts = new Uint32Array(V + 1);
  for (let i = 0; i < n; i++) counts[text[i] + 1]++;
  for (let c = 1; c <= V; c++) counts[c] += counts[c - 1];

  // BWT (in a typed array wide enough for the vocabulary), then the text is no longer needed
  const bwt = V <= 0x10000 ? new Uint16Array(n) : new Uint32Array(n);
  for (let r = 0; r < n; r++) bwt[r] = sa[r] === 0 ? 0 : text[sa[r] - 1];

  // samples: rows whose suffix starts at a multiple of the rate
  const marks = new Uint32Array(bitWords(n));
  let nSamples = 0;
  for (let r = 0; r < n; r++) {
    if (sa[r] % COPY_SAMPLE_RATE === 0) {
      setBit(marks, r);
      nSamples++;
    }
  }
  finishRank(marks);
  const samples = new Uint32Array(nSamples);
  for (let r = 0, k = 0; r < n; r++) if (sa[r] % COPY_SAMPLE_RATE === 0) samples[k++] = sa[r];

  return { bwt, counts, marks, samples };
}

/**
 * Builds the index of `ids` (the training ids, BOS/EOS included; every id in [1, vocabSize)). Memory: about 17 bytes
 * per id while the suffix array is built.
 *
 * @example
 * ```ts
 * import { buildCopyIndex } from "./copy_index.ts";
 * const index = buildCopyIndex([1, 10, 11, 12, 2, 1, 12, 11, 2], {
 *   vocabSize: 16,
 *   pieces: [{ source: "a.mid", shift: 0, offset: 0, length: 5 }, { source: "b.mid", shift: 0, offset: 5, length: 4 }],
 * });
 * index.longestCopy([12, 11]).piece?.source; // "b.mid"
 * ```
 */
export function buildCopyIndex(ids: ArrayLike<number>, opts: BuildCopyIndexOptions): CopyIndex {
  const t0 = performance.now();
  const V = opts.vocabSize;
  if (!(Number.isInteger(V) && V >= 2)) {
    throw new RangeError(`copy index: vocabSize ${V} is not an integer ≥ 2`);
  }
  const N = ids.length;
  const n = N + 1; // + the terminator 0
  const progress = opts.onProgress ?? (() => {});
  const L = levelsFor(V);
  const { bwt, counts, marks, samples } = bwtAndSamples(ids, V, progress);
  const W = bitWords(n);
  // wavelet matrix: level l holds bit (L − 1 − l) of each symbol, in the order the levels above left them
  const levels = new Uint32Array(W * L);
  const zeros = new Uint32Array(L);
  let cur = bwt;
  let next = V <= 0x10000 ? new Uint16Array(n) : new Uint32Array(n);
  for (let l = 0; l < L; l++) {
    const shift = L - 1 - l, off = l * W;
    let z = 0;
    for (let i = 0; i < n; i++) if (!((cur[i] >>> shift) & 1)) z++;
    zeros[l] = z;
    let zi = 0, oi = z;
    for (let i = 0; i < n; i++) {
      const c = cur[i];
      if ((c >>> shift) & 1) {
        levels[off + (i >>> 8) * BLOCK + 1 + ((i >>> 5) & 7)] |= 1 << (i & 31);
        next[oi++] = c;
      } else next[zi++] = c;
    }
    finishRank(levels.subarray(off, off + W));
    [cur, next] = [next, cur];
    progress("wavelet levels", l + 1, L);
  }

  const sizes = {
    zeros: zeros.byteLength,
    counts: counts.byteLength,
    levels: levels.byteLength,
    marks: marks.byteLength,
    samples: samples.byteLength,
  };
  let at = 16;
  const sections = {} as CopyIndexHeader["sections"];
  for (const k of ["zeros", "counts", "levels", "marks", "samples"] as const) {
    sections[k] = [at, sizes[k]];
    at += Math.ceil(sizes[k] / 8) * 8;
  }
  const id = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0"))
    .join(
      "",
    );
  const header: CopyIndexHeader = {
    format: "etude-copy-index",
    version: 1,
    id,
    createdAt: new Date().toISOString(),
    buildSeconds: Math.round((performance.now() - t0) / 10) / 100,
    tokenizer: { sha256: opts.tokenizerSha256 ?? "" },
    source: opts.source ?? {},
    tokens: N,
    vocabSize: V,
    levels: L,
    sampleRate: COPY_SAMPLE_RATE,
    binBytes: at,
    sections,
    pieces: (opts.pieces ?? []).map((p) => ({
      source: p.source,
      shift: p.shift,
      offset: p.offset,
      length: p.length,
    })),
  };
  return new CopyIndex(header, { zeros, counts, levels, marks, samples });
}

/**
 * The two files of an index: `copy_index.bin` bytes and `copy_index.json` text.
 *
 * @example
 * ```ts
 * import { buildCopyIndex, copyIndexFiles } from "./copy_index.ts";
 * const { bin, json } = copyIndexFiles(buildCopyIndex([1, 5, 2], { vocabSize: 8 }));
 * [bin.length > 16, JSON.parse(json).format]; // [true, "etude-copy-index"]
 * ```
 */
export function copyIndexFiles(index: CopyIndex): { bin: Uint8Array; json: string } {
  return { bin: index.toBytes(), json: JSON.stringify(index.header) + "\n" };
}

/**
 * Writes `copy_index.bin`, then `copy_index.json`, into `dir`, each atomically (the header last: a reader that finds
 * the header finds its arrays).
 *
 * @example
 * ```ts ignore
 * import { copyIndexOfShards, writeCopyIndex } from "./copy_index.ts";
 * await writeCopyIndex("models/mine", await copyIndexOfShards("data/prepared/piano"));
 * ```
 */
export async function writeCopyIndex(dir: string, index: CopyIndex): Promise<void> {
  const { bin, json } = copyIndexFiles(index);
  await writeFileAtomic(join(dir, COPY_INDEX_BIN), bin);
  await writeFileAtomic(join(dir, COPY_INDEX_JSON), json);
}

/**
 * Reads the index in `dir` (a model or prepared-data directory), or undefined when it has none. A broken pair (bad
 * header, sizes or id that do not match) is an error naming the file, and so is an index made with another tokenizer
 * than the `tokenizer.json` beside it (when both say which).
 *
 * @example
 * ```ts ignore
 * import { readCopyIndex } from "./copy_index.ts";
 * import { generate } from "../infer/generate.ts";
 * import { loadModel } from "../infer/load.ts";
 * const index = await readCopyIndex("models/default");
 * const { ids } = await generate({ model: await loadModel("models/default"), seed: 1 });
 * if (index) console.log(index.longestCopy(ids[0]).length); // the longest run copied from the training data
 * ```
 */
export async function readCopyIndex(dir: string): Promise<CopyIndex | undefined> {
  const hp = join(dir, COPY_INDEX_JSON), bp = join(dir, COPY_INDEX_BIN);
  let text: string;
  try {
    text = await Deno.readTextFile(hp);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`${hp}: ${(e as Error).message.split("\n")[0]}`);
  }
  let h: CopyIndexHeader;
  try {
    h = JSON.parse(text);
  } catch (e) {
    throw new Error(`${hp}: ${(e as Error).message.split("\n")[0]}`);
  }
  if (h?.format !== "etude-copy-index" || h.version !== 1) {
    throw new Error(`${hp}: expected format etude-copy-index version 1`);
  }
  for (const k of ["tokens", "vocabSize", "levels", "binBytes"] as const) {
    if (!Number.isInteger(h[k]) || h[k] < 0) throw new Error(`${hp}: ${k} is not a non-negative integer`);
  }
  if (h.levels !== levelsFor(h.vocabSize)) throw new Error(`${hp}: levels ${h.levels} ≠ ⌈log2 vocabSize⌉`);
  if (!Array.isArray(h.pieces)) throw new Error(`${hp}: pieces is not a list`);
  if (!LITTLE_ENDIAN) throw new Error(`${bp}: reading needs a little-endian host`);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(bp);
  } catch (e) {
    throw new Error(`${bp}: ${(e as Error).message.split("\n")[0]}`);
  }
  if (bytes.length !== h.binBytes) {
    throw new Error(`${bp}: ${bytes.length} bytes, ${COPY_INDEX_JSON} says ${h.binBytes}`);
  }
  if (new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) throw new Error(`${bp}: not a copy index`);
  const id = Array.from(bytes.subarray(8, 16), (b) => b.toString(16).padStart(2, "0")).join("");
  if (id !== h.id) {
    throw new Error(`${bp}: id ${id} differs from ${COPY_INDEX_JSON}'s ${h.id} (a mismatched pair)`);
  }
  const n = h.tokens + 1, W = bitWords(n);
  const want = {
    zeros: 4 * h.levels,
    counts: 4 * (h.vocabSize + 1),
    levels: 4 * W * h.levels,
    marks: 4 * W,
    samples: -1,
  };
  const arrays = {} as Arrays;
  for (const k of ["zeros", "counts", "levels", "marks", "samples"] as const) {
    const [off, len] = h.sections?.[k] ?? [];
    if (
      !Number.isInteger(off) || !Number.isInteger(len) || off % 4 || len % 4 || off + len > bytes.length ||
      (want[k] >= 0 && len !== want[k])
    ) throw new Error(`${hp}: section ${k} does not fit ${COPY_INDEX_BIN}`);
    arrays[k] = new Uint32Array(bytes.buffer, bytes.byteOffset + off, len / 4);
  }
  const tp = join(dir, "tokenizer.json");
  let tokBytes: Uint8Array<ArrayBuffer> | undefined;
  try {
    tokBytes = await Deno.readFile(tp);
  } catch { /* no tokenizer beside it: nothing to check */ }
  if (tokBytes && h.tokenizer?.sha256) {
    const sha = await sha256Hex(tokBytes);
    if (sha !== h.tokenizer.sha256) {
      throw new Error(
        `${hp}: made with tokenizer ${h.tokenizer.sha256.slice(0, 12)}…, ${tp} is ${sha.slice(0, 12)}…`,
      );
    }
  }
  return new CopyIndex(h, arrays);
}

/**
 * Builds the index of a prepared dataset's training split from its `train.bin` and `meta.json` (the pieces and the
 * tokenizer hash), for datasets prepared before the index existed.
 *
 * @example
 * ```ts ignore
 * import { copyIndexOfShards } from "./copy_index.ts";
 * const index = await copyIndexOfShards("data/prepared/piano");
 * ```
 */
export async function copyIndexOfShards(
  dataDir: string,
  onProgress?: BuildCopyIndexOptions["onProgress"],
): Promise<CopyIndex> {
  const ds = await openShards(dataDir); // checks meta.json, the tokenizer hash and every piece's place
  const sm = ds.meta.splits.train;
  const ids = decodeShard(await Deno.readFile(join(dataDir, sm.file)), ds.meta.dtype);
  return buildCopyIndex(ids, {
    vocabSize: ds.meta.vocabSize,
    pieces: sm.items,
    tokenizerSha256: ds.meta.tokenizer.sha256,
    source: { dataset: ds.meta.name, file: sm.file },
    onProgress,
  });
}

/**
 * Ships a prepared dataset's copy index beside a model: copies `copy_index.{bin,json}` from `dataDir` into `modelDir`
 * (building it from `train.bin` when the dataset has none), after checking that the index was made with the model's
 * tokenizer (`modelDir/tokenizer.json`'s sha256). Returns the header written.
 *
 * @example
 * ```ts ignore
 * import { copyIndexInto } from "./copy_index.ts";
 * // at the end of training
 * const h = await copyIndexInto("data/prepared/piano", "models/mine");
 * console.log(`copy index: ${h.tokens} training tokens`);
 * ```
 */
export async function copyIndexInto(
  dataDir: string,
  modelDir: string,
  onProgress?: BuildCopyIndexOptions["onProgress"],
): Promise<CopyIndexHeader> {
  const index = await readCopyIndex(dataDir) ?? await copyIndexOfShards(dataDir, onProgress);
  const tp = join(modelDir, "tokenizer.json");
  let sha: string;
  try {
    sha = await sha256Hex(await Deno.readFile(tp));
  } catch (e) {
    throw new Error(`${tp}: ${(e as Error).message.split("\n")[0]}`);
  }
  if (index.header.tokenizer.sha256 && index.header.tokenizer.sha256 !== sha) {
    throw new Error(
      `${join(dataDir, COPY_INDEX_JSON)}: made with tokenizer ${
        index.header.tokenizer.sha256.slice(0, 12)
      }…, ` +
        `${tp} is ${sha.slice(0, 12)}…`,
    );
  }
  await writeCopyIndex(modelDir, index);
  return index.header;
}
