/**
 * Conditioning tokens: what a piece is (style, key, tempo class, note density), written as four leading tokens after
 * `BOS` (`BOS Style_pop Key_E:min TempoClass_fast Density_high Bar …`) when a dataset is prepared with
 * `tokenize --conditioning`, so a model learns P(music | conditions) and `generate` can ask for them.
 *
 * - **style**: from the source (`Style_classical` for MAESTRO/ASAP performances, `Style_pop` for POP909), `--style`
 *   for a folder, else `Style_none`;
 * - **key**: the Krumhansl–Schmuckler estimate of the notes (`lib/score/key.ts`, 24 keys: `Key_C:maj` … `Key_B:min`),
 *   transposed with each pitch-shifted copy;
 * - **tempo class**: the tick-weighted mean bpm of the tempo map against the corpus tertiles (`slow`, `medium`,
 *   `fast`); a map that is one 120-bpm tempo (the MIDI default, what every MAESTRO/ASAP performance carries: their
 *   timing is in the ticks, not the map) says nothing about the tempo and gives `TempoClass_none`;
 * - **density**: notes per bar (bars from the meter map) against the corpus tertiles (`low`, `medium`, `high`).
 *
 * The tertiles are those of the training split's pieces, stored in `meta.json` (`conditioning`). Each category also
 * has a `_none` token: what a dropped condition becomes at training time (`dropConditions`, so the model still
 * generates without it) and what a prompt uses for a condition not asked for. The three fill-in-the-middle sentinels
 * (`FIM_PRE`, `FIM_SUF`, `FIM_MID`: `lib/data/fim.ts`) are added with them. All these tokens are appended to the REMI
 * vocabulary (`RemiConfig.extraTokens`, before any BPE merge), so a tokenizer without them is unchanged.
 *
 * @module
 */
import type { Score } from "../score.ts";
import { estimateKey, type Key, keyFromIndex, parseKey as parseKeyName } from "../score/key.ts";
import { estimateTempo } from "../score/tempo.ts";
import { PITCH_CLASS_NAMES } from "../score.ts";

/**
 * The styles a piece can carry.
 *
 * @example
 * ```ts
 * import { STYLES } from "./conditioning.ts";
 * STYLES.includes("pop"); // true
 * ```
 */
export const STYLES = ["classical", "pop"] as const;
/**
 * A style name.
 *
 * @example
 * ```ts
 * import type { Style } from "./conditioning.ts";
 * const s: Style = "pop";
 * ```
 */
export type Style = typeof STYLES[number];
/**
 * Class names of the tempo and density conditions.
 *
 * @example
 * ```ts
 * import { CLASSES } from "./conditioning.ts";
 * CLASSES[0]; // "low"
 * ```
 */
export const CLASSES = ["low", "medium", "high"] as const;
/**
 * Tempo class names.
 *
 * @example
 * ```ts
 * import { TEMPO_CLASSES } from "./conditioning.ts";
 * TEMPO_CLASSES[2]; // "fast"
 * ```
 */
export const TEMPO_CLASSES = ["slow", "medium", "fast"] as const;

/**
 * A key's token name: `Key_C:maj`, `Key_F#:min`.
 *
 * @example
 * ```ts
 * import { keyToken } from "./conditioning.ts";
 * keyToken({ tonic: 4, mode: "minor" }); // "Key_E:min"
 * ```
 */
export function keyToken(k: Key): string {
  return `Key_${PITCH_CLASS_NAMES[k.tonic]}:${k.mode === "major" ? "maj" : "min"}`;
}

/**
 * The fill-in-the-middle sentinels, in PSM order.
 *
 * @example
 * ```ts
 * import { FIM_TOKENS } from "./conditioning.ts";
 * FIM_TOKENS.join(" "); // "FIM_PRE FIM_SUF FIM_MID"
 * ```
 */
export const FIM_TOKENS = ["FIM_PRE", "FIM_SUF", "FIM_MID"] as const;

/**
 * Every token `--conditioning` adds, in vocabulary order: styles, keys, tempo classes, densities (each category
 * ending with its `_none`), then the FIM sentinels.
 *
 * @example
 * ```ts
 * import { CONDITIONING_TOKENS } from "./conditioning.ts";
 * CONDITIONING_TOKENS.length; // 39
 * ```
 */
export const CONDITIONING_TOKENS: readonly string[] = Object.freeze([
  ...STYLES.map((s) => `Style_${s}`),
  "Style_none",
  ...Array.from({ length: 24 }, (_, i) => keyToken(keyFromIndex(i))),
  "Key_none",
  ...TEMPO_CLASSES.map((c) => `TempoClass_${c}`),
  "TempoClass_none",
  ...CLASSES.map((c) => `Density_${c}`),
  "Density_none",
  ...FIM_TOKENS,
]);

/**
 * The four condition categories, in the order their tokens follow `BOS`.
 *
 * @example
 * ```ts
 * import { CATEGORIES } from "./conditioning.ts";
 * CATEGORIES.indexOf("Key"); // 1: a piece's second token after BOS
 * ```
 */
export const CATEGORIES = ["Style", "Key", "TempoClass", "Density"] as const;

/**
 * The ids of the conditioning and FIM tokens in one vocabulary.
 *
 * @example
 * ```ts
 * import { conditioningIds } from "./conditioning.ts";
 * const ids = conditioningIds(["PAD_None", "Style_pop"]);
 * ids; // undefined: not every conditioning token is in that vocabulary
 * ```
 */
export interface ConditioningIds {
  /** Token name → id. */
  byName: Map<string, number>;
  /** Per category (`CATEGORIES` order), the id of its `_none` token. */
  none: [number, number, number, number];
  /** `FIM_PRE`, `FIM_SUF`, `FIM_MID`. */
  fim: { pre: number; suf: number; mid: number };
  /** id → category index (0–3) for condition tokens (values and `_none`), −1 for any other id. */
  category: Int8Array;
}

/**
 * The conditioning ids of a vocabulary, or undefined when it lacks any of `CONDITIONING_TOKENS` (a tokenizer made
 * without `--conditioning`).
 *
 * @example
 * ```ts
 * import { CONDITIONING_TOKENS, conditioningIds } from "./conditioning.ts";
 * const ids = conditioningIds(["PAD_None", "BOS_None", ...CONDITIONING_TOKENS])!;
 * ids.byName.get("Style_pop"); // 3
 * ```
 */
export function conditioningIds(vocab: readonly string[]): ConditioningIds | undefined {
  const byName = new Map<string, number>();
  const want = new Set(CONDITIONING_TOKENS);
  vocab.forEach((name, i) => {
    if (want.has(name)) byName.set(name, i);
  });
  if (byName.size !== want.size) return undefined;
  const category = new Int8Array(vocab.length).fill(-1);
  for (const [name, id] of byName) {
    const c = CATEGORIES.indexOf(name.slice(0, name.indexOf("_")) as typeof CATEGORIES[number]);
    category[id] = c;
  }
  const g = (n: string) => byName.get(n)!;
  return {
    byName,
    none: CATEGORIES.map((c) => g(`${c}_none`)) as [number, number, number, number],
    fim: { pre: g("FIM_PRE"), suf: g("FIM_SUF"), mid: g("FIM_MID") },
    category,
  };
}

/**
 * What a piece's conditions are measured from.
 *
 * @example
 * ```ts
 * import { pieceFeatures } from "./conditioning.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 80, start: 0, duration: 480 });
 * pieceFeatures(s).notesPerBar; // 1
 * ```
 */
export interface PieceFeatures {
  /** The Krumhansl–Schmuckler key of the notes. */
  key: Key;
  /**
   * Tick-weighted mean bpm of the tempo map up to the last note's end; for a map that says nothing (none, or a lone
   * 120 bpm: a recorded performance, as all of MAESTRO), the beat estimated from the onsets (lib/score/tempo.ts);
   * undefined when neither exists (fewer than 16 onsets).
   */
  bpm: number | undefined;
  /** Where `bpm` came from. */
  bpmFrom?: "map" | "onsets";
  /** Notes per bar (bars from the meter map, up to the last note's end; at least one bar). */
  notesPerBar: number;
}

/**
 * Measures a score: its key, mean tempo and notes per bar.
 *
 * @example
 * ```ts
 * import { pieceFeatures } from "./conditioning.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * s.tempos = [{ tick: 0, bpm: 60 }, { tick: 1920, bpm: 180 }];
 * for (let i = 0; i < 8; i++) s.notes.push({ pitch: 60 + (i % 3) * 4, velocity: 80, start: i * 480, duration: 480 });
 * const f = pieceFeatures(s); // f.bpm: 120 (half the ticks at 60, half at 180); f.notesPerBar: 4
 * ```
 */
export function pieceFeatures(score: Score): PieceFeatures {
  let end = 0;
  for (const n of score.notes) end = Math.max(end, n.start + Math.max(0, n.duration), n.start + 1);
  // tempo: tick-weighted mean over [0, end)
  const tempos = score.tempos.length ? [...score.tempos].sort((a, b) => a.tick - b.tick) : [];
  let bpm: number | undefined;
  const placeholder = tempos.length === 0 || tempos.every((t) => Math.abs(t.bpm - 120) < 1e-6);
  if (!placeholder) {
    let acc = 0;
    for (let i = 0; i < tempos.length; i++) {
      const a = Math.max(0, i === 0 ? 0 : tempos[i].tick),
        b = i + 1 < tempos.length ? tempos[i + 1].tick : end;
      if (b > a) acc += (Math.min(b, end) - a) * tempos[i].bpm;
    }
    bpm = end > 0 ? acc / end : tempos[0].bpm;
  } else bpm = estimateTempo(score);
  // bars: by the meter map
  const tpb = score.ticksPerBeat;
  const sigs = score.timeSignatures.length
    ? [...score.timeSignatures].sort((a, b) => a.tick - b.tick)
    : [{ tick: 0, numerator: 4, denominator: 4 }];
  let bars = 0;
  for (let i = 0; i < sigs.length; i++) {
    const a = i === 0 ? 0 : sigs[i].tick, b = Math.min(end, i + 1 < sigs.length ? sigs[i + 1].tick : end);
    if (b <= a) continue;
    const barTicks = Math.max(1, sigs[i].numerator * tpb * 4 / Math.max(1, sigs[i].denominator));
    bars += (b - a) / barTicks;
  }
  const k = estimateKey(score.notes, tpb);
  return {
    key: { tonic: k.tonic, mode: k.mode },
    bpm,
    ...(bpm === undefined ? {} : { bpmFrom: placeholder ? "onsets" as const : "map" as const }),
    notesPerBar: score.notes.length / Math.max(1, bars),
  };
}

/**
 * The class of a value against two ascending thresholds: 0 below the first, 2 at or above the second, else 1.
 *
 * @example
 * ```ts
 * import { classOf } from "./conditioning.ts";
 * [classOf(3, [5, 9]), classOf(5, [5, 9]), classOf(9, [5, 9])]; // [0, 1, 2]
 * ```
 */
export function classOf(x: number, t: readonly [number, number]): 0 | 1 | 2 {
  return x < t[0] ? 0 : x >= t[1] ? 2 : 1;
}

/**
 * The tertile boundaries of values (the values at ranks n/3 and 2n/3 of the sorted list), e.g. the density
 * thresholds of a training split; `[0, 0]`-free: needs at least one value.
 *
 * @example
 * ```ts
 * import { tertiles } from "./conditioning.ts";
 * tertiles([1, 2, 3, 4, 5, 6]); // [3, 5]
 * ```
 */
export function tertiles(values: readonly number[]): [number, number] {
  if (!values.length) throw new RangeError("tertiles: expected at least one value");
  const v = [...values].sort((a, b) => a - b);
  return [v[Math.floor(v.length / 3)], v[Math.floor(2 * v.length / 3)]];
}

/**
 * What `meta.json` stores under `conditioning`: the thresholds the classes were cut at, and the training-time dropout
 * defaults.
 *
 * @example
 * ```ts
 * import type { ConditioningMeta } from "./conditioning.ts";
 * const m: ConditioningMeta = { tokens: [], tempoBpm: [90, 120], notesPerBar: [12, 24], counts: {} };
 * ```
 */
export interface ConditioningMeta {
  /** The tokens added to the vocabulary (`CONDITIONING_TOKENS`). */
  tokens: readonly string[];
  /** Tempo-class thresholds in bpm (tertiles of the training pieces with a tempo map). */
  tempoBpm: [number, number];
  /** Density-class thresholds in notes per bar (tertiles of the training pieces). */
  notesPerBar: [number, number];
  /** How many pieces (all splits, augmented copies included) carry each condition token. */
  counts: Record<string, number>;
}

/**
 * The four condition token names of a piece, shifted by `shift` semitones (the key moves with it).
 *
 * @example
 * ```ts
 * import { conditionTokens } from "./conditioning.ts";
 * const f = { key: { tonic: 0, mode: "major" as const }, bpm: 140, notesPerBar: 30 };
 * conditionTokens(f, { style: "pop", tempoBpm: [90, 120], notesPerBar: [12, 24] }, 2);
 * // ["Style_pop", "Key_D:maj", "TempoClass_fast", "Density_high"]
 * ```
 */
export function conditionTokens(
  f: PieceFeatures,
  o: { style?: Style; tempoBpm: readonly [number, number]; notesPerBar: readonly [number, number] },
  shift = 0,
): [string, string, string, string] {
  const key = { tonic: (((f.key.tonic + shift) % 12) + 12) % 12, mode: f.key.mode };
  return [
    o.style ? `Style_${o.style}` : "Style_none",
    keyToken(key),
    f.bpm === undefined ? "TempoClass_none" : `TempoClass_${TEMPO_CLASSES[classOf(f.bpm, o.tempoBpm)]}`,
    `Density_${CLASSES[classOf(f.notesPerBar, o.notesPerBar)]}`,
  ];
}

/**
 * What a generation prompt asks for; a condition left out is `_none`.
 *
 * @example
 * ```ts
 * import type { ConditionRequest } from "./conditioning.ts";
 * const r: ConditionRequest = { style: "pop", key: "E minor", density: "high" };
 * ```
 */
export interface ConditionRequest {
  /** `classical` or `pop`. */
  style?: Style;
  /** A key name `parseKey` reads (`"E minor"`, `"Bb major"`), or a `Key`. */
  key?: string | Key;
  /** `slow`, `medium` or `fast`. */
  tempo?: typeof TEMPO_CLASSES[number];
  /** `low`, `medium` or `high`. */
  density?: typeof CLASSES[number];
}

/**
 * The four condition ids a prompt starts with after `BOS` (the order of the training data), `_none` for a condition
 * not asked; throws a one-line error naming a bad value.
 *
 * @example
 * ```ts
 * import { conditionIds, conditioningIds, CONDITIONING_TOKENS } from "./conditioning.ts";
 * const vocab = ["PAD_None", "BOS_None", "EOS_None", "MASK_None", ...CONDITIONING_TOKENS];
 * const ids = conditionIds(conditioningIds(vocab)!, { style: "pop", key: "E minor" });
 * ids.map((i) => vocab[i]); // ["Style_pop", "Key_E:min", "TempoClass_none", "Density_none"]
 * ```
 */
export function conditionIds(c: ConditioningIds, r: ConditionRequest): [number, number, number, number] {
  const pick = (cat: number, field: string, name: string | undefined, allowed: readonly string[]) => {
    if (name === undefined) return c.none[cat];
    if (!allowed.includes(name)) {
      throw new Error(`${field}: expected ${allowed.join(", ")}, got ${JSON.stringify(name)}`);
    }
    return c.byName.get(`${CATEGORIES[cat]}_${name}`)!;
  };
  let key = c.none[1];
  if (r.key !== undefined) {
    const k = typeof r.key === "string" ? parseKeyName(r.key) : r.key;
    key = c.byName.get(keyToken(k))!;
  }
  return [
    pick(0, "style", r.style, STYLES),
    key,
    pick(2, "tempo", r.tempo, TEMPO_CLASSES),
    pick(3, "density", r.density, CLASSES),
  ];
}

/**
 * Training-time condition dropout on one window (in place): each condition value token among `row[0..len)` becomes
 * its category's `_none` token with probability `p`, and with probability `all` every one of them does (so the
 * model also sees prompts with no condition at all). Draws one random number for `all` at the first condition token
 * found, then one per condition token, so a window's outcome depends only on the generator's state. Returns how many tokens were replaced.
 *
 * @example
 * ```ts
 * import { conditioningIds, CONDITIONING_TOKENS, dropConditions } from "./conditioning.ts";
 * import { mulberry32 } from "../util/rng.ts";
 * const vocab = ["PAD_None", "BOS_None", "EOS_None", "MASK_None", ...CONDITIONING_TOKENS];
 * const c = conditioningIds(vocab)!;
 * const row = Int32Array.from([1, c.byName.get("Style_pop")!, c.byName.get("Key_C:maj")!]);
 * dropConditions(row, row.length, c, mulberry32(1), 1, 0); // 2: both dropped (p = 1)
 * ```
 */
export function dropConditions(
  row: Int32Array,
  len: number,
  c: ConditioningIds,
  rng: () => number,
  p: number,
  all: number,
): number {
  let dropAll: boolean | undefined;
  let n = 0;
  for (let i = 0; i < len; i++) {
    const cat = row[i] >= 0 && row[i] < c.category.length ? c.category[row[i]] : -1;
    if (cat < 0) continue;
    dropAll ??= rng() < all;
    const drop = rng() < p;
    if (row[i] !== c.none[cat] && (dropAll || drop)) {
      row[i] = c.none[cat];
      n++;
    }
  }
  return n;
}

/**
 * Measures every piece and cuts the class thresholds at the tertiles of the training pieces (tempo: of those with a
 * tempo, from their map or their onsets; [90, 130] bpm when none has one).
 *
 * @example
 * ```ts
 * import { planConditions } from "./conditioning.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 80, start: 0, duration: 480 });
 * planConditions([{ score: s, train: true }]).notesPerBar; // [1, 1]
 * ```
 */
export function planConditions(
  pieces: readonly { score: Score; train: boolean }[],
): { features: PieceFeatures[]; tempoBpm: [number, number]; notesPerBar: [number, number] } {
  const features = pieces.map((p) => pieceFeatures(p.score));
  const train = features.filter((_, i) => pieces[i].train);
  const dens = train.map((f) => f.notesPerBar);
  const bpms = train.flatMap((f) => f.bpm === undefined ? [] : [f.bpm]);
  return {
    features,
    tempoBpm: bpms.length ? tertiles(bpms) : [90, 130],
    notesPerBar: dens.length ? tertiles(dens) : tertiles(features.map((f) => f.notesPerBar).concat([0])),
  };
}
