/**
 * Byte-pair encoding over REMI (Fradet et al., EMNLP 2023; MidiTok's scheme). A base id sequence is split into words
 * at every `Bar_None` (each bar is one word and starts with its Bar token; tokens before the first Bar form a word of
 * their own), so a merged token never spans a bar line and `Bar_None` can only be the first base token of a merged
 * token. Merges are learned on the training corpus only, most frequent pair first; encoding applies them by rank
 * inside each word (with a cache of encoded words), decoding expands each id back to its base ids: lossless.
 *
 * A merged token is named by joining its base tokens with `+` (`Pitch_60+Velocity_95+Duration_1.0.8`);
 * `tokenizer.json` stores the base config, the full vocabulary and the ordered `merges` (pairs of ids in the growing
 * vocabulary; merge i creates id `baseVocabSize + i`).
 *
 * @module
 */
import type { Score } from "../score.ts";
import type { StreamDecoder, Tokenizer, TokenizerJson } from "./tokenizer.ts";
import { checkVocab, type RemiDecodeOptions, type RemiEncodeOptions, RemiTokenizer } from "./remi.ts";
import { learnMerges, pairKey } from "./_bpe_train.ts";

/**
 * Options for `trainBpe`.
 *
 * @example
 * ```ts
 * import { trainBpe } from "./bpe.ts";
 * import { RemiTokenizer } from "./remi.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * for (let i = 0; i < 32; i++) s.notes.push({ pitch: 60 + (i % 4), velocity: 95, start: i * 480, duration: 480 });
 * const base = new RemiTokenizer();
 * const bpe = trainBpe(base, [s], { vocabSize: base.vocab.length + 8, minFrequency: 4, onProgress: () => {} });
 * bpe.merges.length; // at most 8: merges stop when no pair occurs 4 times
 * ```
 */
export interface BpeTrainOptions {
  /** Target vocabulary size, base tokens included (e.g. 512 or 1,024). */
  vocabSize: number;
  /** Stop early when the best pair occurs fewer times than this (default 2). */
  minFrequency?: number;
  /** Called after each merge with (merges done, merges wanted). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Base ids that all of a vocabulary's merges may expand to together: far above any learned vocabulary (65,536 ids
 * of 32 base ids on average), far below what a hostile `tokenizer.json` whose every merge doubles the last would
 * cost (2^40 ids after 40 merges).
 */
export const MAX_MERGE_EXPANSION = 2 ** 21;

/**
 * The base ids each id of a BPE vocabulary stands for: `nBase` base ids (each itself), then merge `r` (id
 * `nBase + r`) as its two parts' expansions end to end. Throws unless each merge refers to earlier ids, or when the
 * expansions would hold more than {@linkcode MAX_MERGE_EXPANSION} base ids in all (`what` names the source in the
 * message).
 *
 * @example
 * ```ts
 * import { mergeExpansion } from "./bpe.ts";
 * mergeExpansion(3, [[0, 1], [3, 2]]); // [[0], [1], [2], [0, 1], [0, 1, 2]]
 * ```
 */
export function mergeExpansion(
  nBase: number,
  merges: readonly (readonly [number, number])[],
  what = "merges",
): number[][] {
  const base: number[][] = [];
  for (let i = 0; i < nBase; i++) base.push([i]);
  let total = 0;
  merges.forEach(([a, b], j) => {
    if (!(a < nBase + j && b < nBase + j && a >= 0 && b >= 0)) {
      throw new Error(`${what}[${j}]: ids [${a}, ${b}] must refer to earlier tokens`);
    }
    total += base[a].length + base[b].length;
    if (total > MAX_MERGE_EXPANSION) {
      throw new Error(
        `${what}[${j}]: the merges expand to more than ${MAX_MERGE_EXPANSION} base tokens in all`,
      );
    }
    base.push([...base[a], ...base[b]]);
  });
  return base;
}

/**
 * Splits base ids into words: a new word starts at each `barId`.
 *
 * @example
 * ```ts
 * import { splitWords } from "./bpe.ts";
 * splitWords([7, 4, 8, 4, 9], 4); // [[7], [4, 8], [4, 9]]
 * ```
 */
export function splitWords(ids: readonly number[], barId: number): number[][] {
  const out: number[][] = [];
  let cur: number[] = [];
  for (const id of ids) {
    if (id === barId && cur.length) {
      out.push(cur);
      cur = [];
    }
    cur.push(id);
  }
  if (cur.length) out.push(cur);
  return out;
}

/**
 * Learns BPE merges over REMI on a training corpus (scores, or base id sequences).
 *
 * @example
 * ```ts
 * import { RemiTokenizer } from "./remi.ts";
 * import { trainBpe } from "./bpe.ts";
 * import { readMidiFile } from "../midi/mod.ts";
 * const base = new RemiTokenizer();
 * const bpe = trainBpe(base, [await readMidiFile("a.mid")], { vocabSize: 1024 });
 * console.log(bpe.vocab.length, bpe.merges.length);
 * ```
 */
export function trainBpe(
  base: RemiTokenizer,
  corpus: readonly Score[] | readonly (readonly number[])[],
  opts: BpeTrainOptions,
): BpeTokenizer {
  const n0 = base.vocab.length;
  if (!Number.isInteger(opts.vocabSize) || opts.vocabSize < n0 || opts.vocabSize > 65536) {
    throw new Error(`trainBpe: vocabSize: expected an integer in ${n0}..65536, got ${opts.vocabSize}`);
  }
  const index = new Map<string, number>();
  const words: Int32Array[] = [];
  const freqs: number[] = [];
  const barId = base.tables.bar;
  for (const item of corpus) {
    const ids = Array.isArray(item) ? item as readonly number[] : base.encode(item as Score);
    for (const w of splitWords(ids, barId)) {
      const key = String.fromCharCode(...w);
      const i = index.get(key);
      if (i !== undefined) freqs[i]++;
      else {
        index.set(key, words.length);
        words.push(Int32Array.from(w));
        freqs.push(1);
      }
    }
  }
  const merges = learnMerges(words, freqs, {
    numMerges: opts.vocabSize - n0,
    firstId: n0,
    minFrequency: opts.minFrequency,
    onProgress: opts.onProgress,
  });
  return new BpeTokenizer(base, merges);
}

/**
 * REMI + BPE.
 *
 * @example
 * ```ts
 * import { BpeTokenizer } from "./bpe.ts";
 * import { RemiTokenizer } from "./remi.ts";
 * const base = new RemiTokenizer();
 * const pv = [base.tokenId("Pitch_60")!, base.tokenId("Velocity_95")!] as [number, number];
 * const bpe = new BpeTokenizer(base, [pv]);
 * bpe.vocab[bpe.vocab.length - 1]; // "Pitch_60+Velocity_95"
 * bpe.tokenBaseIds(base.vocab.length); // [pv[0], pv[1]]
 * ```
 */
export class BpeTokenizer implements Tokenizer {
  /** Always `"remi-bpe"`. */
  readonly kind = "remi-bpe" as const;
  readonly vocab: readonly string[];
  /** The REMI tokenizer underneath. */
  readonly baseTokenizer: RemiTokenizer;
  /** Ordered merges: merge i joins ids [a, b] into id `baseVocabSize + i`. */
  readonly merges: readonly (readonly [number, number])[];
  #expand: (readonly number[])[];
  #rank: Map<number, number>;
  #cache = new Map<string, number[]>();

  /**
   * A BPE tokenizer from a base and an ordered merge list (validated: each merge joins two earlier ids and never puts
   * a Bar inside a token).
   *
   * @example
   * ```ts
   * import { BpeTokenizer } from "./bpe.ts";
   * import { RemiTokenizer } from "./remi.ts";
   * const bpe = new BpeTokenizer(new RemiTokenizer(), []); // no merges: plain REMI ids
   * ```
   */
  constructor(base: RemiTokenizer, merges: readonly (readonly [number, number])[]) {
    this.baseTokenizer = base;
    const n0 = base.vocab.length;
    const first = base.vocab.map((_, i) => i); // each id's first base id
    this.#rank = new Map();
    merges.forEach(([a, b], r) => {
      const id = n0 + r;
      if (!(Number.isInteger(a) && Number.isInteger(b) && a >= 0 && b >= 0 && a < id && b < id)) {
        throw new Error(`BPE merges[${r}]: expected two ids below ${id}, got ${JSON.stringify([a, b])}`);
      }
      if (first[b] === base.tables.bar) {
        throw new Error(`BPE merges[${r}]: its second part starts with Bar_None, which would cross a bar`);
      }
      const k = pairKey(a, b);
      if (this.#rank.has(k)) throw new Error(`BPE merges[${r}]: pair ${a},${b} is already merged`);
      this.#rank.set(k, r);
      first.push(first[a]);
    });
    const expand = mergeExpansion(n0, merges, "BPE merges");
    this.merges = merges.map(([a, b]) => [a, b] as const);
    this.#expand = expand;
    this.vocab = Object.freeze(expand.map((ids) => ids.map((i) => base.vocab[i]).join("+")));
  }

  /**
   * Rebuilds a tokenizer from `tokenizer.json`, checking the stored vocabulary.
   *
   * @example
   * ```ts
   * import { BpeTokenizer } from "./bpe.ts";
   * import { RemiTokenizer } from "./remi.ts";
   * const json = new BpeTokenizer(new RemiTokenizer(), []).toJSON();
   * BpeTokenizer.fromJSON(json).vocab.length;
   * ```
   */
  static fromJSON(json: TokenizerJson): BpeTokenizer {
    if (json.kind !== "remi-bpe") {
      throw new Error(`tokenizer.json: kind: expected "remi-bpe", got ${JSON.stringify(json.kind)}`);
    }
    const baseConfig = (json.config as { base?: unknown }).base;
    if (typeof baseConfig !== "object" || baseConfig === null) {
      throw new Error("tokenizer.json: config.base: expected the REMI configuration object");
    }
    if (!Array.isArray(json.merges)) {
      throw new Error("tokenizer.json: merges: expected an array of [id, id] pairs");
    }
    const tok = new BpeTokenizer(new RemiTokenizer(baseConfig), json.merges);
    checkVocab(tok.vocab, json.vocab);
    return tok;
  }

  /** Number of base (REMI) tokens; ids from here on are merged tokens. */
  get baseVocabSize(): number {
    return this.baseTokenizer.vocab.length;
  }

  /** The base ids an id stands for (itself for a base id, [] for an unknown id). */
  tokenBaseIds(id: number): readonly number[] {
    return this.#expand[id] ?? [];
  }

  /**
   * Encodes a score: REMI, then merges. The base tokenizer's cap applies (`RemiTokenizer.tokenCap`, or
   * `opts.maxTokens` on the REMI ids): over it, `TokenLimitError`. Merging only shortens, so BPE ids never exceed it.
   *
   * @example
   * ```ts
   * import { BpeTokenizer } from "./bpe.ts";
   * import { RemiTokenizer } from "./remi.ts";
   * import { emptyScore } from "../score.ts";
   * const s = emptyScore(480);
   * s.notes.push({ pitch: 60, velocity: 95, start: 0, duration: 480 });
   * new BpeTokenizer(new RemiTokenizer(), []).encode(s).length; // 7
   * ```
   */
  encode(score: Score, opts?: RemiEncodeOptions): number[] {
    return this.encodeBase(this.baseTokenizer.encode(score, opts));
  }

  /** Decodes ids (merged or base) to a score; never throws. */
  decode(ids: readonly number[], opts?: RemiDecodeOptions): Score {
    return this.baseTokenizer.decode(this.decodeToBase(ids), opts);
  }

  /**
   * An incremental decoder: each pushed id is expanded to its base ids and fed to the REMI stream decoder.
   *
   * @example
   * ```ts
   * import { BpeTokenizer } from "./bpe.ts";
   * import { RemiTokenizer } from "./remi.ts";
   * const base = new RemiTokenizer();
   * const id = (n: string) => base.tokenId(n)!;
   * const bpe = new BpeTokenizer(base, [[id("Pitch_60"), id("Velocity_95")]]);
   * const d = bpe.streamDecoder();
   * d.push([id("Bar_None"), id("Position_0"), base.vocab.length]); // [] (Pitch_60+Velocity_95: no duration yet)
   * d.push([id("Duration_1.0.8")]); // [{ pitch: 60, velocity: 95, start: 0, duration: 480 }]
   * ```
   */
  streamDecoder(opts?: RemiDecodeOptions): StreamDecoder {
    const base = this.baseTokenizer.streamDecoder(opts);
    return {
      ticksPerBeat: base.ticksPerBeat,
      get tempos() {
        return base.tempos;
      },
      tempoChangedFrom: () => base.tempoChangedFrom(),
      push: (ids: readonly number[]) => base.push(this.decodeToBase(ids)),
      score: () => base.score(),
    };
  }

  /** Applies the merges to base ids, bar by bar. */
  encodeBase(baseIds: readonly number[]): number[] {
    const out: number[] = [];
    const bar = this.baseTokenizer.tables.bar;
    let start = 0;
    for (let i = 1; i <= baseIds.length; i++) {
      if (i === baseIds.length || baseIds[i] === bar) {
        for (const id of this.#encodeWord(baseIds, start, i)) out.push(id);
        start = i;
      }
    }
    return out;
  }

  /** Expands merged ids back to base ids (unknown ids are kept as they are). */
  decodeToBase(ids: readonly number[]): number[] {
    const out: number[] = [];
    for (const id of ids) {
      const e = this.#expand[id];
      if (e) { for (const b of e) out.push(b); }
      else out.push(id);
    }
    return out;
  }

  #encodeWord(ids: readonly number[], from: number, to: number): number[] {
    const n = to - from;
    if (n < 2 || this.#rank.size === 0) return ids.slice(from, to) as number[];
    let key = "";
    for (let i = from; i < to; i++) {
      const id = ids[i];
      if (!(id >= 0 && id < 65536 && Number.isInteger(id))) return ids.slice(from, to) as number[];
      key += String.fromCharCode(id);
    }
    const hit = this.#cache.get(key);
    if (hit) return hit;
    const word = mergeWord(ids.slice(from, to) as number[], this.#rank, this.baseVocabSize);
    if (this.#cache.size > 100_000) this.#cache.clear();
    this.#cache.set(key, word);
    return word;
  }

  /**
   * The `tokenizer.json` form: base config, vocabulary, merges.
   *
   * @example
   * ```ts
   * import { BpeTokenizer } from "./bpe.ts";
   * import { RemiTokenizer } from "./remi.ts";
   * JSON.stringify(new BpeTokenizer(new RemiTokenizer(), []).toJSON());
   * ```
   */
  toJSON(): TokenizerJson {
    return {
      kind: "remi-bpe",
      config: { base: this.baseTokenizer.toJSON().config, baseVocabSize: this.baseVocabSize },
      vocab: [...this.vocab],
      merges: this.merges.map(([a, b]) => [a, b]),
    };
  }
}

/**
 * Applies merges by rank to one word: a heap of (rank, position) over a linked list, lowest rank first and, within a
 * rank, leftmost first — the same segmentation as training produced.
 */
function mergeWord(sym: number[], rank: Map<number, number>, n0: number): number[] {
  const n = sym.length;
  const next = new Int32Array(n), prev = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1;
    prev[i] = i - 1;
  }
  const heap: number[] = []; // rank * P + position
  const push = (v: number) => {
    heap.push(v);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (heap[p] <= heap[i]) break;
      [heap[p], heap[i]] = [heap[i], heap[p]];
      i = p;
    }
  };
  const pop = (): number => {
    const top = heap[0], last = heap.pop()!;
    if (heap.length) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < heap.length && heap[l] < heap[m]) m = l;
        if (r < heap.length && heap[r] < heap[m]) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i], heap[m]];
        i = m;
      }
    }
    return top;
  };
  const P = 2 ** Math.max(20, Math.ceil(Math.log2(n + 1))); // positions < P, so rank * P + position is unique
  const consider = (i: number) => {
    const j = next[i];
    if (i < 0 || j >= n) return;
    const r = rank.get(pairKey(sym[i], sym[j]));
    if (r !== undefined) push(r * P + i);
  };
  for (let i = 0; i + 1 < n; i++) consider(i);
  while (heap.length) {
    const v = pop();
    const r = Math.floor(v / P), i = v % P;
    const j = next[i];
    if (sym[i] < 0 || j >= n || rank.get(pairKey(sym[i], sym[j])) !== r) continue;
    sym[i] = n0 + r;
    sym[j] = -1;
    next[i] = next[j];
    if (next[j] < n) prev[next[j]] = i;
    consider(prev[i]);
    consider(i);
  }
  const out: number[] = [];
  for (let i = 0; i < n; i = next[i]) out.push(sym[i]);
  return out;
}
