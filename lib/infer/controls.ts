/**
 * Hard controls: the one place that documents every control. Most are a static per-token bias, the same for every
 * step of a sequence, added to the logits before temperature by both samplers (`kernels/sampler.wgsl`,
 * `sampleReference`); a bias of -Infinity masks a token, a finite one is a log-weight. A BPE token (`+`-joined base
 * tokens) is masked if any of its base tokens is, and otherwise gets the sum of their biases.
 *
 * - `key` ("C major", "E minor", "F# minor", "Bb major"; minor is natural minor): a Pitch outside the scale gets
 *   bias ln(1 − keyStrength), i.e. its weight is multiplied by 1 − keyStrength (keyStrength 1, the default: masked;
 *   0: no effect), and a Pitch of the key's tonic (any octave) gets bias `keyTonic` ({@linkcode KEY_TONIC_DEFAULT},
 *   0.25, by default: 1.28× as likely; 0: off). The scale alone cannot tell a key from its relative (A minor and
 *   C major share their seven pitch classes; of `models/default`'s 320 8-bar samples asked for 4 keys, 83 missed
 *   the key by an independent Krumhansl–Schmuckler estimate, 48 of them into the relative key); favouring the
 *   tonic makes it the music's home: 36 missed at 0.25 (README, "Learned conditioning").
 * - `pitchRange` [lo, hi] (MIDI numbers 0–127, inclusive): Pitch tokens outside are masked.
 * - `maxNoteBeats` (stuck-note guard, > 0): Duration tokens longer than it (`Duration_a.b.c` = a + b/c beats) are
 *   masked.
 * - `tempo` (BPM, 1–1000): every Tempo token but the nearest bin is masked, and the written piece's tempo map is that
 *   one tempo, exactly as asked (`generate` sets it; the prompt's own tempo changes are replaced).
 * - `timeSignature` ("3/4"): every other TimeSig token is masked.
 * - `density` ("low" −1.5, "medium" 0, "high" +1.5, or a number in [−10, 10]): added to every Pitch token (negative:
 *   sparser).
 *
 * Controls that need state while decoding (lib/infer/constraints.ts; per-step masks on both decoders):
 *
 * - `maxPolyphony` (an integer 1–16): no Pitch at an onset where that many notes already sound (ticks as the
 *   tokenizer decodes them; a note sounds from its start to start + duration), and no Position where they do.
 * - `noRepeatNgram` (an integer 2–256; off by default, and off changes nothing): Hugging Face's
 *   `no_repeat_ngram_size` over token ids: a token that would complete an n-gram already present in the piece
 *   (prompt included) is masked; on a step where that would leave no token, the block is lifted for that step.
 * - The length in `bars` (not a control field: `generate({ bars })`) is exact: no End before bar N, a Bar past bar N
 *   ends the piece, no note sounds past bar N's end (Durations that would cross it are masked, not clipped), and the
 *   written file's end-of-track is at bar N's end. A reader counts bars as the end-of-track tick in measures (e.g.
 *   @tonejs/midi's `header.ticksToMeasures(track.endOfTrackTicks)`); every note ends at or before it.
 *
 * A control that would leave no token of a type the vocabulary has (e.g. key + range leaving no Pitch) throws a
 * one-line RangeError naming it; so does a value outside its range (`checkControls`).
 *
 * @module
 */

/** The controls of one generation (all optional; none: no bias). */
export interface Controls {
  /** A key, "C major" … "B minor" (sharps or flats). */
  key?: string;
  /** How hard out-of-key pitches are pushed away, 0–1 (default 1 = masked). */
  keyStrength?: number;
  /** With `key`: a log-weight added to its tonic's Pitch tokens, 0–5 (default {@linkcode KEY_TONIC_DEFAULT}; 0: off). */
  keyTonic?: number;
  /** Lowest and highest MIDI pitch allowed. */
  pitchRange?: [number, number];
  /** Longest note allowed, in beats. */
  maxNoteBeats?: number;
  /** Fixed tempo in BPM (nearest tempo bin). */
  tempo?: number;
  /** Fixed time signature, like "3/4". */
  timeSignature?: string;
  /** Note density: "low" | "medium" | "high" or a bias on Pitch tokens. */
  density?: "low" | "medium" | "high" | number;
  /** Most notes sounding at once, 1–16 (a Pitch is masked at an onset where that many sound). */
  maxPolyphony?: number;
  /** Block repeated n-grams of token ids, n = 2–256 (off by default). */
  noRepeatNgram?: number;
}

/**
 * The tonic weight a `key` gets when `keyTonic` is not given: the tonic's pitches are e^0.25 ≈ 1.28× as likely.
 *
 * @example
 * ```ts
 * import { controlBias, KEY_TONIC_DEFAULT } from "./controls.ts";
 * controlBias(["Pitch_57", "Pitch_60"], { key: "A minor" })![0] === KEY_TONIC_DEFAULT; // true: A is the tonic
 * ```
 */
export const KEY_TONIC_DEFAULT = 0.25;

const NOTE: Record<string, number> = { C: 0, D: 2, E: 4, F: 5, G: 7, A: 9, B: 11 };
const SCALES: Record<string, number[]> = { major: [0, 2, 4, 5, 7, 9, 11], minor: [0, 2, 3, 5, 7, 8, 10] };
const DENSITY: Record<string, number> = { low: -1.5, medium: 0, high: 1.5 };

/**
 * The numeric ranges `checkControls` enforces (inclusive), for the faces' parameter table.
 *
 * @example
 * ```ts
 * import { CONTROL_RANGES } from "./controls.ts";
 * CONTROL_RANGES.maxPolyphony; // { min: 1, max: 16, integer: true }
 * ```
 */
export const CONTROL_RANGES: Readonly<
  Record<
    | "keyStrength"
    | "keyTonic"
    | "maxNoteBeats"
    | "tempo"
    | "density"
    | "maxPolyphony"
    | "noRepeatNgram"
    | "pitch",
    {
      min: number;
      max: number;
      integer: boolean;
    }
  >
> = Object.freeze({
  keyStrength: { min: 0, max: 1, integer: false },
  keyTonic: { min: 0, max: 5, integer: false },
  maxNoteBeats: { min: 1 / 64, max: 64, integer: false },
  tempo: { min: 1, max: 1000, integer: false },
  density: { min: -10, max: 10, integer: false },
  maxPolyphony: { min: 1, max: 16, integer: true },
  noRepeatNgram: { min: 2, max: 256, integer: true },
  pitch: { min: 0, max: 127, integer: true },
});

/**
 * Checks every field of `c` against its range and form (vocabulary-independent; `controlBias` also checks what the
 * vocabulary can do). Throws a one-line RangeError naming the field.
 *
 * @example
 * ```ts
 * import { checkControls } from "./controls.ts";
 * checkControls({ maxPolyphony: 4, key: "D minor" }); // fine
 * try {
 *   checkControls({ maxPolyphony: 0 });
 * } catch (e) {
 *   (e as Error).message; // "maxPolyphony: expected an integer in 1–16, got 0"
 * }
 * ```
 */
export function checkControls(c: Controls | undefined): void {
  if (!c) return;
  const num = (field: keyof typeof CONTROL_RANGES, v: unknown, name: string = field) => {
    const r = CONTROL_RANGES[field];
    if (
      typeof v !== "number" || !Number.isFinite(v) || v < r.min || v > r.max ||
      (r.integer && !Number.isInteger(v))
    ) {
      throw new RangeError(
        `${name}: expected ${r.integer ? "an integer" : "a number"} in ${r.min}–${r.max}, got ${String(v)}`,
      );
    }
  };
  if (c.key !== undefined) keyPitchClasses(c.key);
  if (c.keyStrength !== undefined) num("keyStrength", c.keyStrength);
  if (c.keyTonic !== undefined) num("keyTonic", c.keyTonic);
  if (c.pitchRange !== undefined) {
    if (!Array.isArray(c.pitchRange) || c.pitchRange.length !== 2) {
      throw new RangeError(`pitchRange: expected [lo, hi], got ${JSON.stringify(c.pitchRange)}`);
    }
    num("pitch", c.pitchRange[0], "pitchRange");
    num("pitch", c.pitchRange[1], "pitchRange");
    if (!(c.pitchRange[0] <= c.pitchRange[1])) {
      throw new RangeError(`pitchRange: expected lo <= hi, got ${c.pitchRange[0]}-${c.pitchRange[1]}`);
    }
  }
  if (c.maxNoteBeats !== undefined) num("maxNoteBeats", c.maxNoteBeats);
  if (c.tempo !== undefined) num("tempo", c.tempo);
  if (c.timeSignature !== undefined && !/^\s*\d+\/\d+\s*$/.test(String(c.timeSignature))) {
    throw new RangeError(`timeSignature: expected like "3/4", got "${c.timeSignature}"`);
  }
  if (c.density !== undefined && typeof c.density !== "number" && !(c.density in DENSITY)) {
    throw new RangeError(`density: expected low, medium, high or a number, got ${c.density}`);
  }
  if (typeof c.density === "number") num("density", c.density);
  if (c.maxPolyphony !== undefined) num("maxPolyphony", c.maxPolyphony);
  if (c.noRepeatNgram !== undefined) num("noRepeatNgram", c.noRepeatNgram);
}

/**
 * The pitch classes of a key name.
 *
 * @example
 * ```ts
 * import { keyPitchClasses } from "./controls.ts";
 * keyPitchClasses("E minor"); // [4, 6, 7, 9, 11, 0, 2]
 * ```
 */
export function keyPitchClasses(key: string): number[] {
  const m = /^\s*([A-Ga-g])([#b]?)\s*(major|minor|maj|min)\s*$/i.exec(key);
  if (!m) throw new RangeError(`key: expected like "C major" or "E minor", got "${key}"`);
  const root = (NOTE[m[1].toUpperCase()] + (m[2] === "#" ? 1 : m[2] === "b" ? -1 : 0) + 12) % 12;
  const mode = m[3].toLowerCase().startsWith("maj") ? "major" : "minor";
  return SCALES[mode].map((i) => (root + i) % 12);
}

/** The controls a static bias carries (`keyStrength`, `keyTonic` only refine `key`; the dynamic ones are per step). */
const STATIC: readonly (keyof Controls)[] = [
  "key",
  "pitchRange",
  "maxNoteBeats",
  "tempo",
  "timeSignature",
  "density",
];

/**
 * Whether any control of the static bias is set (`maxPolyphony` and `noRepeatNgram` alone: no bias).
 *
 * @example
 * ```ts
 * import { hasControls } from "./controls.ts";
 * hasControls({ key: "C major" }); // true
 * hasControls({ maxPolyphony: 2 }); // false
 * ```
 */
export function hasControls(c: Controls | undefined): boolean {
  return !!c && STATIC.some((k) => c[k] !== undefined);
}

/**
 * Beats of a `Duration_a.b.c` token value.
 *
 * @example
 * ```ts
 * import { durationBeats } from "./controls.ts";
 * durationBeats("1.4.8"); // 1.5
 * ```
 */
export function durationBeats(value: string): number {
  const [a, b, c] = value.split(".").map(Number);
  return a + b / c;
}

/**
 * The bias of `controls` over a vocabulary (token names; BPE tokens `+`-joined), or undefined when none is set.
 *
 * @example
 * ```ts
 * import { controlBias } from "./controls.ts";
 * const bias = controlBias(["Pitch_60", "Pitch_61", "Pitch_62", "Duration_1.0.8"], { key: "C major" });
 * // Float32Array [0.25, -Infinity, 0, 0]: C is the tonic
 * ```
 */
export function controlBias(
  vocab: readonly string[],
  controls: Controls | undefined,
): Float32Array | undefined {
  checkControls(controls);
  if (!hasControls(controls)) return undefined;
  const c = controls!;
  const base = new Map<string, number>();
  const names = new Set(vocab.flatMap((t) => t.split("+")));
  const byType = new Map<string, string[]>();
  for (const n of names) {
    const t = n.split("_")[0];
    if (!byType.has(t)) byType.set(t, []);
    byType.get(t)!.push(n);
  }
  const val = (n: string) => n.slice(n.indexOf("_") + 1);
  const apply = (control: string, type: string, f: (value: string) => number) => {
    const toks = byType.get(type) ?? [];
    for (const n of toks) base.set(n, (base.get(n) ?? 0) + f(val(n)));
    if (toks.length && toks.every((n) => base.get(n) === -Infinity)) {
      throw new RangeError(`${control}: leaves no ${type} token allowed`);
    }
  };
  if (c.key !== undefined) {
    const s = c.keyStrength ?? 1;
    if (!(s >= 0 && s <= 1)) throw new RangeError(`keyStrength: must lie in [0, 1], got ${s}`);
    const scale = keyPitchClasses(c.key), pcs = new Set(scale);
    const out = s >= 1 ? -Infinity : Math.log(1 - s);
    apply("key", "Pitch", (v) => pcs.has(Number(v) % 12) ? 0 : out);
    const tonic = scale[0], w = c.keyTonic ?? KEY_TONIC_DEFAULT;
    if (w !== 0) apply("keyTonic", "Pitch", (v) => Number(v) % 12 === tonic ? w : 0);
  }
  if (c.pitchRange) {
    const [lo, hi] = c.pitchRange;
    if (!(lo <= hi)) throw new RangeError(`pitchRange: expected lo <= hi, got ${lo}-${hi}`);
    apply("pitchRange", "Pitch", (v) => Number(v) >= lo && Number(v) <= hi ? 0 : -Infinity);
  }
  if (c.maxNoteBeats !== undefined) {
    apply("maxNoteBeats", "Duration", (v) => durationBeats(v) <= c.maxNoteBeats! + 1e-9 ? 0 : -Infinity);
  }
  if (c.tempo !== undefined) {
    const bins = (byType.get("Tempo") ?? []).map((n) => Number(val(n)));
    if (!bins.length) throw new RangeError("tempo: this tokenizer has no Tempo tokens");
    const best = bins.reduce((a, b) => Math.abs(b - c.tempo!) < Math.abs(a - c.tempo!) ? b : a);
    apply("tempo", "Tempo", (v) => Number(v) === best ? 0 : -Infinity);
  }
  if (c.timeSignature !== undefined) {
    const ts = c.timeSignature.trim();
    if (!byType.get("TimeSig")?.includes(`TimeSig_${ts}`)) {
      throw new RangeError(`timeSignature: ${ts} is not in this tokenizer's vocabulary`);
    }
    apply("timeSignature", "TimeSig", (v) => v === ts ? 0 : -Infinity);
  }
  if (c.density !== undefined) {
    const d = typeof c.density === "number" ? c.density : DENSITY[c.density];
    if (!Number.isFinite(d)) {
      throw new RangeError(`density: expected low, medium, high or a number, got ${c.density}`);
    }
    apply("density", "Pitch", () => d);
  }
  return Float32Array.from(vocab, (t) => t.split("+").reduce((s, n) => s + (base.get(n) ?? 0), 0));
}
