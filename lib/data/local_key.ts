/**
 * The key a training window is labelled with: the Krumhansl–Schmuckler estimate of the bars right after its
 * condition tokens, not of the whole piece it was cut from.
 *
 * `tokenize --conditioning` writes one `Key_…` token per piece, the estimate over all its notes. A performance
 * modulates: the first 8 bars of a real MAESTRO test piece name its whole-piece key only 54% of the time (67% for the
 * key of the whole 513-id window they open, ≈ 17 bars), so a model trained on whole-piece labels learns "somewhere
 * around here the music is in E minor", and `--key "E minor"` can at best steer 8 bars as often as the data did.
 * Labelled with the key of the window's first bars (`bars`, 8 by default: what `generate --bars 8` writes), the token
 * means "the music that follows is in E minor", which is what a musician asks for; further on, as the window slides
 * past them, the music may modulate as it does in the data.
 *
 * The profile is read from token ids directly (a table per id of the pitch classes, durations and bar lines its base
 * tokens carry, BPE merges expanded): each `Pitch_p` followed by its `Duration_d` adds d beats to p mod 12, capped
 * and floored as `pitchClassProfile` (lib/score/key.ts) does for notes, so the two agree on any stretch of ids
 * (tested against the decoded notes).
 *
 * @module
 */
import { estimateKey, type Key } from "../score/key.ts";
import { BOS_ID } from "../tokenizers/tokenizer.ts";
import { mergeExpansion } from "../tokenizers/bpe.ts";
import { CATEGORIES, type ConditioningIds, keyToken } from "./conditioning.ts";

/**
 * Per base token of a vocabulary: its pitch class (−1 when not a `Pitch_…`), its duration in beats (−1 when not a
 * `Duration_…`), and per id the base tokens it stands for.
 *
 * @example
 * ```ts
 * import { keyProfileTable } from "./local_key.ts";
 * // four base tokens, then one merge (a BPE vocabulary lists merged tokens after the base ones)
 * const t = keyProfileTable(["PAD_None", "Pitch_61", "Velocity_80", "Duration_1.4.8", "m0"], [[1, 2]]);
 * t.pitchClass[1]; // 1: C♯
 * t.beats[3]; // 1.5
 * Array.from(t.base[4]); // [1, 2]: the merged Pitch_61 + Velocity_80
 * ```
 */
export interface KeyProfileTable {
  /** Pitch class by base id, or −1. */
  pitchClass: Int8Array;
  /** Beats by base id, or −1. */
  beats: Float64Array;
  /** 1 for the `Bar_None` base id. */
  bar: Uint8Array;
  /** Base ids by id (a base id: itself; `mergeExpansion`). */
  base: readonly (readonly number[])[];
}

/**
 * Builds the {@link KeyProfileTable} of a vocabulary (`vocab`: base tokens then one per merge, as a tokenizer JSON
 * stores them).
 *
 * @example
 * ```ts
 * import { keyProfileTable } from "./local_key.ts";
 * keyProfileTable(["Pitch_60", "Duration_2.0.8"], []).beats[1]; // 2
 * ```
 */
export function keyProfileTable(
  vocab: readonly string[],
  merges: readonly (readonly [number, number])[] = [],
): KeyProfileTable {
  const nBase = vocab.length - merges.length;
  const pitchClass = new Int8Array(nBase).fill(-1);
  const beats = new Float64Array(nBase).fill(-1);
  const bar = new Uint8Array(nBase);
  for (let i = 0; i < nBase; i++) {
    if (vocab[i] === "Bar_None") bar[i] = 1;
    const p = /^Pitch_(\d+)$/.exec(vocab[i]);
    if (p) pitchClass[i] = Number(p[1]) % 12;
    const d = /^Duration_(\d+)\.(\d+)\.(\d+)$/.exec(vocab[i]);
    if (d) beats[i] = Number(d[1]) + Number(d[2]) / Number(d[3]);
  }
  return { pitchClass, beats, bar, base: mergeExpansion(nBase, merges, "keyProfileTable merges") };
}

/**
 * The pitch-class profile of `ids[from, to)`, up to the bar line that would start bar `bars + 1` (bar lines counted
 * from `from`; default: no limit): each pitch adds the beats of the next duration token (at most 4, at least 1/16),
 * the profile `pitchClassProfile` gives the decoded notes. Ids outside the table add nothing.
 *
 * @example
 * ```ts
 * import { idsPitchProfile, keyProfileTable } from "./local_key.ts";
 * const t = keyProfileTable(["Bar_None", "Pitch_62", "Velocity_80", "Duration_2.0.8"]);
 * idsPitchProfile([0, 1, 2, 3], t)[2]; // 2: two beats of D
 * idsPitchProfile([0, 1, 2, 3, 0, 1, 2, 3], t, 0, 8, 1)[2]; // 2: the second bar is not read
 * ```
 */
export function idsPitchProfile(
  ids: ArrayLike<number>,
  t: KeyProfileTable,
  from = 0,
  to = ids.length,
  bars = Infinity,
): Float64Array {
  const h = new Float64Array(12);
  let pc = -1, seen = 0;
  for (let i = from; i < to; i++) {
    const seq = t.base[ids[i]];
    if (!seq) continue;
    for (const b of seq) {
      if (t.bar[b] && ++seen > bars) return h;
      if (t.pitchClass[b] >= 0) pc = t.pitchClass[b];
      else if (t.beats[b] >= 0 && pc >= 0) {
        h[pc] += Math.min(4, Math.max(1 / 16, t.beats[b]));
        pc = -1;
      }
    }
  }
  return h;
}

/**
 * The key of `ids[from, to)`, of its first `bars` bars when given (see {@link idsPitchProfile}), or undefined when
 * they hold no note.
 *
 * @example
 * ```ts
 * import { idsKey, keyProfileTable } from "./local_key.ts";
 * const vocab = ["Pitch_57", "Pitch_60", "Pitch_64", "Pitch_69", "Duration_1.0.8", "Duration_4.0.4"];
 * const t = keyProfileTable(vocab);
 * idsKey([0, 5, 1, 4, 2, 4, 3, 5], t); // { tonic: 9, mode: "minor" }: A minor
 * ```
 */
export function idsKey(
  ids: ArrayLike<number>,
  t: KeyProfileTable,
  from = 0,
  to = ids.length,
  bars = Infinity,
): Key | undefined {
  const h = idsPitchProfile(ids, t, from, to, bars);
  if (!h.some((x) => x > 0)) return undefined;
  const { tonic, mode } = estimateKey(h);
  return { tonic, mode };
}

const KEY = CATEGORIES.indexOf("Key");

/**
 * Relabels one window in place (`row[0..len)`: `BOS`, its condition tokens, then music from a bar line): a `Key_…`
 * token among the conditions becomes the key of the first `bars` bars after them ({@link idsKey}; default 8). A
 * `Key_none`, a window without `BOS` in front, or music without a note is left as it is. Returns whether the token
 * changed.
 *
 * @example
 * ```ts
 * import { keyProfileTable, relabelKey } from "./local_key.ts";
 * import { CONDITIONING_TOKENS, conditioningIds } from "./conditioning.ts";
 * const vocab = ["PAD_None", "BOS_None", "Pitch_64", "Duration_2.0.8", ...CONDITIONING_TOKENS];
 * const c = conditioningIds(vocab)!;
 * const row = Int32Array.from([1, c.byName.get("Key_C:maj")!, 2, 3]);
 * relabelKey(row, row.length, c, keyProfileTable(vocab)); // true: row[1] is now Key_E:maj
 * ```
 */
export function relabelKey(
  row: Int32Array,
  len: number,
  c: ConditioningIds,
  t: KeyProfileTable,
  bars = 8,
): boolean {
  if (len === 0 || row[0] !== BOS_ID) return false;
  let lead = 1, at = -1;
  while (lead < len && row[lead] >= 0 && row[lead] < c.category.length && c.category[row[lead]] >= 0) {
    if (c.category[row[lead]] === KEY && row[lead] !== c.none[KEY]) at = lead;
    lead++;
  }
  if (at < 0) return false;
  const k = idsKey(row, t, lead, len, bars);
  if (!k) return false;
  const id = c.byName.get(keyToken(k))!;
  if (id === row[at]) return false;
  row[at] = id;
  return true;
}
