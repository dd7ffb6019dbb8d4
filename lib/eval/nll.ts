/**
 * Negative log-likelihood of token shards: per token (nats), per note and per second of music, perplexity, for any
 * model given as a logits function, and for a smoothed bigram model trained on the train shard (the floor every
 * model must beat).
 *
 * Pieces are what `lib/data/shards.ts` `openShards` returns: each `BOS … EOS` (ids 0–3 are PAD, BOS, EOS, MASK).
 * Scored positions: every token after BOS up to and including EOS, given everything before it in the piece (within
 * the model's context).
 *
 * @module
 */

/**
 * A bigram language model: `logProb(prev, next)` in nats.
 *
 * @example
 * ```ts
 * import { trainBigram } from "./nll.ts";
 * const m = trainBigram([[1, 4, 5, 4, 5, 2]], 8);
 * Math.exp(m.logProb(4, 5)); // 0.6875: P(5 | 4), 5 always followed 4 in training
 * ```
 */
export interface BigramModel {
  /** Number of token ids (`logProb` is defined for ids in `[0, vocabSize)`). */
  readonly vocabSize: number;
  /** The smoothing it was trained with. */
  readonly smoothing: "add-k" | "kneser-ney";
  /** ln P(next | prev), in nats (≤ 0, finite: smoothing leaves no id at probability 0). */
  logProb(prev: number, next: number): number;
}

/**
 * Options for {@link trainBigram}.
 *
 * @example
 * ```ts
 * import { trainBigram } from "./nll.ts";
 * const addHalf = trainBigram([[1, 4, 5, 2]], 8, { smoothing: "add-k", k: 0.5 });
 * addHalf.smoothing; // "add-k"
 * ```
 */
export interface BigramOptions {
  /** `kneser-ney` (interpolated, absolute discount; default) or `add-k`. */
  smoothing?: "add-k" | "kneser-ney";
  /** Add-k constant (default 1: add-one). */
  k?: number;
  /** Kneser-Ney discount (default 0.75). */
  discount?: number;
}

/**
 * Trains a bigram model on pieces (transitions inside each piece only). Kneser-Ney: P(w|v) = max(c(v,w) − d, 0)/c(v)
 * + d·N1+(v•)/c(v) · Pcont(w), with Pcont(w) = (N1+(•w) + 1)/(N1+(••) + V) (add-one so no id has probability 0);
 * an unseen context uses Pcont. Add-k: (c(v,w) + k)/(c(v) + kV).
 *
 * @example
 * ```ts
 * import { trainBigram } from "./nll.ts";
 * const m = trainBigram([[1, 4, 5, 4, 5, 2]], 8);
 * m.logProb(4, 5) > m.logProb(4, 6); // true
 * ```
 */
export function trainBigram(
  pieces: readonly ArrayLike<number>[],
  vocabSize: number,
  opts: BigramOptions = {},
): BigramModel {
  const V = vocabSize;
  const smoothing = opts.smoothing ?? "kneser-ney";
  const counts = new Map<number, number>(); // prev * V + next
  const ctx = new Float64Array(V);
  for (const p of pieces) {
    for (let i = 1; i < p.length; i++) {
      const a = p[i - 1], b = p[i];
      if (a >= V || b >= V) throw new Error(`bigram: id ${Math.max(a, b)} outside the vocabulary of ${V}`);
      const key = a * V + b;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      ctx[a]++;
    }
  }
  if (smoothing === "add-k") {
    const k = opts.k ?? 1;
    return {
      vocabSize: V,
      smoothing,
      logProb: (a, b) => Math.log(((counts.get(a * V + b) ?? 0) + k) / (ctx[a] + k * V)),
    };
  }
  const d = opts.discount ?? 0.75;
  const followers = new Float64Array(V); // N1+(v•)
  const preceders = new Float64Array(V); // N1+(•w)
  for (const key of counts.keys()) {
    followers[Math.floor(key / V)]++;
    preceders[key % V]++;
  }
  const types = counts.size;
  const pcont = (w: number) => (preceders[w] + 1) / (types + V);
  return {
    vocabSize: V,
    smoothing,
    logProb: (a, b) => {
      const pc = pcont(b);
      if (ctx[a] === 0) return Math.log(pc);
      const c = counts.get(a * V + b) ?? 0;
      return Math.log(Math.max(c - d, 0) / ctx[a] + (d * followers[a] / ctx[a]) * pc);
    },
  };
}

/**
 * Summed NLL over scored tokens.
 *
 * @example
 * ```ts
 * import { bigramNll, trainBigram } from "./nll.ts";
 * const pieces = [[1, 4, 5, 2], [1, 5, 4, 2]];
 * const { nll, tokens } = bigramNll(trainBigram(pieces, 8), pieces);
 * nll / tokens; // mean nats per token
 * ```
 */
export interface NllTotals {
  /** Σ −log p (nats) over the scored tokens. */
  nll: number;
  /** Number of scored tokens. */
  tokens: number;
  /** Number of pieces scored. */
  pieces: number;
}

/**
 * Total bigram NLL of pieces (every token after BOS).
 *
 * @example
 * ```ts
 * import { bigramNll, trainBigram } from "./nll.ts";
 * const m = trainBigram([[1, 4, 2]], 8);
 * bigramNll(m, [[1, 4, 2]]).tokens; // 2
 * ```
 */
export function bigramNll(model: BigramModel, pieces: readonly ArrayLike<number>[]): NllTotals {
  let nll = 0, tokens = 0;
  for (const p of pieces) {
    for (let i = 1; i < p.length; i++) {
      nll -= model.logProb(p[i - 1], p[i]);
      tokens++;
    }
  }
  return { nll, tokens, pieces: pieces.length };
}

/**
 * A model as a function: logits `[ids.length × vocab]` (row t predicts token t + 1) for ids (length ≤ context).
 *
 * @example
 * ```ts
 * import { type LogitsFn, modelNll } from "./nll.ts";
 * const vocab = 8;
 * // "always predicts the next id is one more than this one"
 * const counter: LogitsFn = (ids) => {
 *   const out = new Float32Array(ids.length * vocab);
 *   ids.forEach((id, t) => (out[t * vocab + ((id + 1) % vocab)] = 10));
 *   return out;
 * };
 * const r = await modelNll(counter, [[1, 2, 3, 4]], { vocab, context: 16 }); // low NLL: the piece counts up
 * ```
 */
export type LogitsFn = (ids: readonly number[]) => Promise<Float32Array> | Float32Array;

/**
 * Log-softmax of one row, returning −log p(target).
 *
 * @example
 * ```ts
 * import { tokenNll } from "./nll.ts";
 * tokenNll(new Float32Array([0, 0, 0, 0]), 0, 4, 2); // log 4
 * ```
 */
export function tokenNll(logits: Float32Array, row: number, vocab: number, target: number): number {
  const off = row * vocab;
  let max = -Infinity;
  for (let j = 0; j < vocab; j++) max = Math.max(max, logits[off + j]);
  let s = 0;
  for (let j = 0; j < vocab; j++) s += Math.exp(logits[off + j] - max);
  return Math.log(s) + max - logits[off + target];
}

/**
 * Options for {@link modelNll}.
 *
 * @example
 * ```ts
 * import { modelNll } from "./nll.ts";
 * const uniform = (ids: readonly number[]) => new Float32Array(ids.length * 8);
 * const long = [1, ...Array.from({ length: 100 }, (_, i) => 4 + (i % 4)), 2];
 * const r = await modelNll(uniform, [long], { vocab: 8, context: 32, overlap: 8, onProgress: (n) => console.log(n) });
 * r.tokens; // 101: every token after BOS once, over overlapping windows
 * ```
 */
export interface ModelNllOptions {
  /** Vocabulary size (row width of the logits). */
  vocab: number;
  /** Longest sequence the model takes. */
  context: number;
  /** Tokens kept as context when a long piece slides to its next window (default context ÷ 2). */
  overlap?: number;
  /** Stop before the next piece once this many tokens are scored (whole pieces; default all). */
  maxTokens?: number;
  /**
   * Per piece, the first position scored (default 1: every token after BOS): the tokens before it are context only,
   * e.g. a prompt whose continuation is scored. Windows are laid out as without it; those ending before it are not run.
   */
  scoreFrom?: readonly number[];
  /** Called after each window with tokens scored so far. */
  onProgress?: (tokens: number) => void;
  /**
   * How the model's windows look (see {@link nllWindows}): a conditioning model was trained on windows that all start
   * with its lead (`BOS` and the condition ids) at a bar line. Each piece's `BOS` is then read as that lead, and every
   * later window is the lead followed by the piece from a bar line, at or before where the window would start
   * (at most a quarter context before; never scored twice; the lead is never scored). Default: plain windows (the piece as it is, cut anywhere).
   */
  windows?: NllWindows;
}

/**
 * The window format of a model, for {@link modelNll}: `lead` (empty: none) and the bar-line test.
 *
 * @example
 * ```ts
 * import type { NllWindows } from "./nll.ts";
 * const w: NllWindows = { lead: [1, 300, 301, 302, 303], isBar: (id) => id === 4 };
 * ```
 */
export interface NllWindows {
  /** Ids every window starts with (the first is `BOS`); empty for a model trained on plain windows. */
  lead: readonly number[];
  /** Whether an id starts a bar (a window starts at one). */
  isBar: (id: number) => boolean;
  /** The length of a piece's own lead (`BOS` and condition ids, data made with `--conditioning`), else 0 or 1. */
  ownLead?: (ids: readonly number[]) => number;
}

/**
 * Total model NLL over pieces. A piece longer than the context is scored in windows of `context` tokens that
 * overlap by `overlap`; each token is scored once, with at least `overlap` tokens of context after the first window.
 * The first `pieces` (returned count) are scored whole, so notes and seconds can be counted on exactly those.
 *
 * @example
 * ```ts
 * import { modelNll } from "./nll.ts";
 * const uniform = (ids: readonly number[]) => new Float32Array(ids.length * 8);
 * const r = await modelNll(uniform, [[1, 4, 5, 2]], { vocab: 8, context: 16 });
 * r.nll / r.tokens; // log 8
 * ```
 */
export async function modelNll(
  logitsFn: LogitsFn,
  pieces: readonly ArrayLike<number>[],
  opts: ModelNllOptions,
): Promise<NllTotals> {
  const { vocab, context } = opts;
  const overlap = Math.min(opts.overlap ?? Math.floor(context / 2), context - 1);
  const limit = opts.maxTokens ?? Infinity;
  const w = opts.windows, isBar = w?.isBar;
  let nll = 0, tokens = 0, scoredPieces = 0;
  for (const [k, p] of pieces.entries()) {
    if (tokens >= limit) break;
    // a piece with its own lead keeps it; else its BOS is read as the model's lead (which starts with BOS): ids[i]
    // for i ≥ L is then the piece's id i − L + 1
    let ids = Array.from(p), lead: readonly number[] = [], shift = 0;
    const own = w?.ownLead?.(ids) ?? 0;
    if (own > 1) lead = ids.slice(0, own);
    else if (w?.lead.length) {
      lead = w.lead;
      ids = [...lead, ...ids.slice(1)];
      shift = lead.length - 1;
    }
    const L = lead.length;
    if (L >= context / 2) throw new RangeError(`windows: a lead of ${L} ids in a context of ${context}`);
    // index of the last id already scored (BOS = 0 is never scored; nor is the lead, nor anything before `scoreFrom`)
    let scoredUpTo = Math.max(0, (opts.scoreFrom?.[k] ?? 1) - 1) + shift;
    // window n > 0: the lead, then ids[start …]; window 0: ids[0 …] (its lead is the piece's own)
    let start = 0, pre = 0;
    while (scoredUpTo < ids.length - 1) {
      const end = Math.min(start + context - pre, ids.length); // ids of this window: [start, end)
      if (end - 1 > scoredUpTo) {
        const win = pre ? [...lead, ...ids.slice(start, end)] : ids.slice(start, end);
        const logits = await logitsFn(win);
        if (logits.length < win.length * vocab) {
          throw new Error(`logits: expected ${win.length} × ${vocab} values, got ${logits.length}`);
        }
        for (let t = Math.max(pre - 1, 0); t < win.length - 1; t++) {
          const target = start + t + 1 - pre;
          if (target <= scoredUpTo) continue;
          nll += tokenNll(logits, t, vocab, win[t + 1]);
          tokens++;
          scoredUpTo = target;
        }
        opts.onProgress?.(tokens);
      }
      if (end >= ids.length) break;
      // the next window keeps `overlap` ids of context before the first it scores, from a bar line where one is
      let next = end - overlap;
      if (isBar) {
        for (let i = next; i > Math.max(start, L, next - Math.floor(context / 4)); i--) {
          if (isBar(ids[i])) {
            next = i;
            break;
          }
        }
      }
      start = Math.max(next, start + 1);
      pre = L;
    }
    scoredPieces++;
  }
  return { nll, tokens, pieces: scoredPieces };
}

/**
 * NLL summary in every unit `deno task eval` reports.
 *
 * @example
 * ```ts
 * import { nllReport } from "./nll.ts";
 * const r = nllReport({ nll: 2 * Math.LN2 * 100, tokens: 100, pieces: 3 }, 40, 20);
 * [r.perToken, r.perplexity, r.bitsPerToken, r.perNote]; // [1.386…, 4, 2, 3.465…]
 * ```
 */
export interface NllReport {
  /** Tokens scored. */
  tokens: number;
  /** Notes in the scored pieces (decoded). */
  notes: number;
  /** Seconds of music in the scored pieces. */
  seconds: number;
  /** nats per token. */
  perToken: number;
  /** nats per note (comparable across tokenisers). */
  perNote: number;
  /** nats per second of music. */
  perSecond: number;
  /** exp(perToken). */
  perplexity: number;
  /** bits per token. */
  bitsPerToken: number;
}

/**
 * Turns NLL totals plus the notes and seconds of music in the scored pieces into per-token/note/second figures.
 *
 * @example
 * ```ts
 * import { nllReport } from "./nll.ts";
 * nllReport({ nll: 100, tokens: 50, pieces: 1 }, 20, 10).perNote; // 5
 * ```
 */
export function nllReport(t: NllTotals, notes: number, seconds: number): NllReport {
  const perToken = t.tokens > 0 ? t.nll / t.tokens : NaN;
  return {
    tokens: t.tokens,
    notes,
    seconds,
    perToken,
    perNote: notes > 0 ? t.nll / notes : NaN,
    perSecond: seconds > 0 ? t.nll / seconds : NaN,
    perplexity: Math.exp(perToken),
    bitsPerToken: perToken / Math.LN2,
  };
}
