/**
 * Fill-in-the-middle (Bavarian et al. 2022, "Efficient Training of Language Models to Fill in the Middle") for REMI
 * windows: a window's content is cut at two bar lines into prefix · middle · suffix and reordered in PSM order,
 * `FIM_PRE prefix FIM_SUF suffix FIM_MID middle`, so the model learns to write bars that fit both what comes before
 * and what comes after; at generation, the prompt is the same layout up to `FIM_MID` (`lib/infer/infill.ts`).
 *
 * Windows are reordered at training time as they are drawn (`windowTransform`), with a generator seeded by (seed,
 * epoch, batch index), so a run is reproducible and `--resume` exact. A window's leading `BOS` and condition tokens
 * stay in front (`BOS Style_pop … FIM_PRE …`); its last three ids make room for the three sentinels (they are the
 * next window's targets anyway). The middle always starts at a bar line and ends at one or at the window's end; the
 * prefix may be empty (a middle from the first bar line) and so may the suffix.
 *
 * @module
 */
import { mixSeed, mulberry32 } from "../util/rng.ts";
import { type ConditioningIds, conditioningIds, dropConditions } from "./conditioning.ts";
import { BOS_ID, PAD_ID } from "../tokenizers/tokenizer.ts";
import { withLead } from "./lead.ts";
import { keyProfileTable, relabelKey } from "./local_key.ts";

/**
 * By token id: 1 where the token starts a bar (`Bar_None`, or a BPE token whose first base token is `Bar_None`).
 *
 * @example
 * ```ts
 * import { barStartTable } from "./fim.ts";
 * const t = barStartTable(["PAD_None", "BOS_None", "EOS_None", "MASK_None", "Bar_None", "Position_0"], [[4, 5]]);
 * Array.from(t); // [0, 0, 0, 0, 1, 0, 1]: Bar_None and the merged Bar_None+Position_0
 * ```
 */
export function barStartTable(
  vocab: readonly string[],
  merges: readonly (readonly [number, number])[] = [],
): Uint8Array {
  const nBase = vocab.length - merges.length;
  const first = new Int32Array(vocab.length);
  for (let i = 0; i < nBase; i++) first[i] = i;
  merges.forEach(([a], r) => first[nBase + r] = first[a]);
  const t = new Uint8Array(vocab.length);
  for (let i = 0; i < vocab.length; i++) t[i] = vocab[first[i]] === "Bar_None" ? 1 : 0;
  return t;
}

/**
 * The three sentinel ids.
 *
 * @example
 * ```ts
 * import type { FimIds } from "./fim.ts";
 * const f: FimIds = { pre: 340, suf: 341, mid: 342 };
 * ```
 */
export interface FimIds {
  /** `FIM_PRE`. */
  pre: number;
  /** `FIM_SUF`. */
  suf: number;
  /** `FIM_MID`. */
  mid: number;
}

/**
 * PSM order: `lead FIM_PRE prefix FIM_SUF suffix FIM_MID middle`.
 *
 * @example
 * ```ts
 * import { toPsm } from "./fim.ts";
 * toPsm([1], [10, 11], [12], [13], { pre: 90, suf: 91, mid: 92 }); // [1, 90, 10, 11, 91, 13, 92, 12]
 * ```
 */
export function toPsm(
  lead: ArrayLike<number>,
  prefix: ArrayLike<number>,
  middle: ArrayLike<number>,
  suffix: ArrayLike<number>,
  f: FimIds,
): number[] {
  return [
    ...Array.from(lead),
    f.pre,
    ...Array.from(prefix),
    f.suf,
    ...Array.from(suffix),
    f.mid,
    ...Array.from(middle),
  ];
}

/**
 * Undoes {@link toPsm}: `lead prefix middle suffix` from a PSM sequence (throws unless it holds each sentinel once,
 * in order).
 *
 * @example
 * ```ts
 * import { fromPsm } from "./fim.ts";
 * fromPsm([1, 90, 10, 11, 91, 13, 92, 12], { pre: 90, suf: 91, mid: 92 }); // [1, 10, 11, 12, 13]
 * ```
 */
export function fromPsm(ids: ArrayLike<number>, f: FimIds): number[] {
  const a = Array.from(ids);
  const p = a.indexOf(f.pre), s = a.indexOf(f.suf), m = a.indexOf(f.mid);
  if (
    !(p >= 0 && s > p && m > s) || a.lastIndexOf(f.pre) !== p || a.lastIndexOf(f.suf) !== s ||
    a.lastIndexOf(f.mid) !== m
  ) {
    throw new Error("fromPsm: expected FIM_PRE, FIM_SUF and FIM_MID once each, in that order");
  }
  return [...a.slice(0, p), ...a.slice(p + 1, s), ...a.slice(m + 1), ...a.slice(s + 1, m)];
}

/**
 * Reorders one window in place as PSM (see the module doc): `row[0..len)` are its real ids, `w` its capacity.
 * Returns the new real length (`min(len, w − 3) + 3`; ids after it become PAD), or `len` unchanged when the window
 * has no bar line after its leading `BOS` and condition tokens. Draws two random numbers when it reorders.
 *
 * @example
 * ```ts
 * import { fimWindow } from "./fim.ts";
 * // ids 4 are bar lines; 90–92 the sentinels
 * const row = Int32Array.from([7, 4, 8, 4, 9, 4, 5, 6, 0, 0, 0]);
 * const isBar = new Uint8Array(100);
 * isBar[4] = 1;
 * const n = fimWindow(row, 8, 11, { pre: 90, suf: 91, mid: 92 }, isBar, undefined, () => 0.5);
 * // row[0..n) is now FIM_PRE … FIM_SUF … FIM_MID …, cut at bar lines
 * ```
 */
export function fimWindow(
  row: Int32Array,
  len: number,
  w: number,
  f: FimIds,
  isBarStart: Uint8Array,
  cond: ConditioningIds | undefined,
  rng: () => number,
): number {
  let lead = 0;
  if (len > 0 && row[0] === BOS_ID) {
    lead = 1;
    while (lead < len && cond && row[lead] < cond.category.length && cond.category[row[lead]] >= 0) lead++;
  }
  const end = Math.min(len, w - 3);
  const bars: number[] = [];
  for (let i = lead; i < end; i++) if (row[i] < isBarStart.length && isBarStart[row[i]]) bars.push(i);
  if (!bars.length) return len;
  // the middle: from a bar line to a later bar line or the end
  const a = bars[Math.floor(rng() * bars.length)];
  const later = bars.filter((i) => i > a);
  const k = Math.floor(rng() * (later.length + 1));
  const b = k < later.length ? later[k] : end;
  const out = toPsm(
    row.subarray(0, lead),
    row.subarray(lead, a),
    row.subarray(a, b),
    row.subarray(b, end),
    f,
  );
  row.set(out);
  row.fill(PAD_ID, out.length, w);
  return out.length;
}

/**
 * Training-time window options: the share of windows reordered as FIM, and the condition dropout.
 *
 * @example
 * ```ts
 * import { DEFAULT_WINDOW_TRANSFORM, type WindowTransformOptions } from "./fim.ts";
 * const o: WindowTransformOptions = { ...DEFAULT_WINDOW_TRANSFORM, fimRate: 0.3 };
 * ```
 */
export interface WindowTransformOptions {
  /** Share of training windows reordered as fill-in-the-middle (default 0.5). */
  fimRate: number;
  /** Probability that each condition token is replaced by its `_none` token (default 0.3). */
  conditionDropout: number;
  /** Probability that all of a window's condition tokens are (default 0.1). */
  conditionDropAll: number;
  /**
   * Repeat a piece's `BOS` and condition tokens at the start of every window drawn from it, realigned to a bar line
   * (default true; `lib/data/lead.ts`). Needs the batch's window positions (`windows`, `pieces`).
   */
  repeatLead: boolean;
  /**
   * Label each window's key with the key of its first `keyBars` bars instead of its piece's (default 8; 0: the
   * piece's label as prepared; `lib/data/local_key.ts`): `--key` then asks for the key of the bars generated, not
   * of a whole piece around them.
   */
  keyBars: number;
}

/**
 * The defaults: half the windows FIM (as code models train), each condition dropped with probability 0.3 and all of
 * them with 0.1 (so ≈ 11% of piece starts carry no condition at all: unconditional generation stays trained), the
 * lead repeated per window and its key that of the window's first 8 bars.
 *
 * @example
 * ```ts
 * import { DEFAULT_WINDOW_TRANSFORM } from "./fim.ts";
 * DEFAULT_WINDOW_TRANSFORM.fimRate; // 0.5
 * ```
 */
export const DEFAULT_WINDOW_TRANSFORM: Readonly<WindowTransformOptions> = Object.freeze({
  fimRate: 0.5,
  conditionDropout: 0.3,
  conditionDropAll: 0.1,
  repeatLead: true,
  keyBars: 8,
});

/**
 * Changes a batch of windows in place (`tokens`: `rows` windows of `w` ids, PAD after each window's real ids).
 *
 * @example
 * ```ts
 * import { windowTransform } from "./fim.ts";
 * import { windowBatches } from "./windows.ts";
 * import { CONDITIONING_TOKENS } from "./conditioning.ts";
 * import { RemiTokenizer } from "../tokenizers/remi.ts";
 * const tok = new RemiTokenizer({ extraTokens: [...CONDITIONING_TOKENS] });
 * const t = windowTransform(tok.toJSON(), { seed: 1 })!;
 * const pieces = [Int32Array.from({ length: 100 }, (_, i) => (i % 9 ? 20 + i : 4))]; // 4: Bar_None
 * for (const [i, batch] of [...windowBatches(pieces, { seqLen: 32, batchSize: 2, seed: 1 })].entries()) {
 *   t(batch.tokens, batch.rows, 0, i); // epoch 0, batch i: about half the rows become FIM_PRE … FIM_SUF … FIM_MID …
 * }
 * ```
 */
export type WindowTransform = (
  tokens: Int32Array,
  rows: number,
  epoch: number,
  batchIndex: number,
  drawn?: { windows: readonly { piece: number; start: number }[]; pieces: readonly ArrayLike<number>[] },
) => void;

/**
 * The training-time window transform for a tokenizer (its `tokenizer.json` object or text): condition dropout where
 * it has conditioning tokens, FIM where it has the sentinels; undefined when it has neither (a tokenizer made
 * without `--conditioning`: windows stay exactly as drawn). Each batch draws from a generator seeded by
 * (`seed`, epoch, batch index): the same batch changes the same way in a resumed run.
 *
 * @example
 * ```ts
 * import { windowTransform } from "./fim.ts";
 * import { RemiTokenizer } from "../tokenizers/remi.ts";
 * windowTransform(new RemiTokenizer().toJSON(), { seed: 0 }); // undefined: no conditioning tokens
 * ```
 */
export function windowTransform(
  tokenizerJson: unknown,
  opts: Partial<WindowTransformOptions> & { seed: number },
): WindowTransform | undefined {
  const j = (typeof tokenizerJson === "string" ? JSON.parse(tokenizerJson) : tokenizerJson) as
    | { vocab?: unknown; merges?: [number, number][] }
    | undefined;
  if (!j || !Array.isArray(j.vocab)) return undefined;
  const vocab = j.vocab as string[];
  const cond = conditioningIds(vocab);
  if (!cond) return undefined;
  const o = { ...DEFAULT_WINDOW_TRANSFORM, ...opts };
  for (const k of ["fimRate", "conditionDropout", "conditionDropAll"] as const) {
    if (!(o[k] >= 0 && o[k] <= 1)) throw new RangeError(`${k}: expected a number in [0, 1], got ${o[k]}`);
  }
  const isBar = barStartTable(vocab, j.merges ?? []);
  if (!(Number.isInteger(o.keyBars) && o.keyBars >= 0)) {
    throw new RangeError(`keyBars: expected a whole number ≥ 0, got ${o.keyBars}`);
  }
  const keys = o.keyBars > 0 ? keyProfileTable(vocab, j.merges ?? []) : undefined;
  return (tokens, rows, epoch, batchIndex, drawn) => {
    const w = tokens.length / rows;
    const rng = mulberry32(mixSeed(o.seed, "window-transform", epoch, batchIndex));
    for (let r = 0; r < rows; r++) {
      const row = tokens.subarray(r * w, (r + 1) * w);
      let len = w;
      const at = o.repeatLead ? drawn?.windows[r] : undefined;
      const led = at ? withLead(row, w, drawn!.pieces[at.piece], at.start, cond, isBar) : -1;
      if (led >= 0) len = led;
      else while (len > 0 && row[len - 1] === PAD_ID) len--;
      if (keys) relabelKey(row, len, cond, keys, o.keyBars);
      dropConditions(row, len, cond, rng, o.conditionDropout, o.conditionDropAll);
      if (rng() < o.fimRate) fimWindow(row, len, w, cond.fim, isBar, cond, rng);
    }
  };
}
