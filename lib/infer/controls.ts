/**
 * Hard controls as a static per-token bias: the same for every step of a sequence, added to the logits before
 * temperature by both samplers (`kernels/sampler.wgsl`, `sampleReference`). A bias of -Infinity masks a token; a
 * finite one is a log-weight. A BPE token (`+`-joined base tokens) is masked if any of its base tokens is, and
 * otherwise gets the sum of their biases.
 *
 * - `key` ("C major", "E minor", "F# minor", "Bb major"; minor is natural minor): a Pitch outside the scale gets
 *   bias ln(1 − keyStrength), i.e. its weight is multiplied by 1 − keyStrength (keyStrength 1, the default: masked;
 *   0: no effect).
 * - `pitchRange` [lo, hi] (MIDI numbers, inclusive): Pitch tokens outside are masked.
 * - `maxNoteBeats` (stuck-note guard): Duration tokens longer than it (`Duration_a.b.c` = a + b/c beats) are masked.
 * - `tempo` (BPM): every Tempo token but the nearest bin is masked.
 * - `timeSignature` ("3/4"): every other TimeSig token is masked.
 * - `density` ("low" −1.5, "medium" 0, "high" +1.5, or a number): added to every Pitch token (negative: sparser).
 *
 * A control that would leave no token of a type the vocabulary has (e.g. key + range leaving no Pitch) throws a
 * one-line RangeError naming it.
 *
 * @module
 */

/** The controls of one generation (all optional; none: no bias). */
export interface Controls {
  /** A key, "C major" … "B minor" (sharps or flats). */
  key?: string;
  /** How hard out-of-key pitches are pushed away, 0–1 (default 1 = masked). */
  keyStrength?: number;
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
}

const NOTE: Record<string, number> = { C: 0, D: 2, E: 4, F: 5, G: 7, A: 9, B: 11 };
const SCALES: Record<string, number[]> = { major: [0, 2, 4, 5, 7, 9, 11], minor: [0, 2, 3, 5, 7, 8, 10] };
const DENSITY: Record<string, number> = { low: -1.5, medium: 0, high: 1.5 };

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

/** Whether any control is set. */
export function hasControls(c: Controls | undefined): boolean {
  return !!c && Object.entries(c).some(([k, v]) => v !== undefined && k !== "keyStrength");
}

/** Beats of a `Duration_a.b.c` token value. */
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
 * const bias = controlBias(["Pitch_60", "Pitch_61", "Duration_1.0.8"], { key: "C major" });
 * // Float32Array [0, -Infinity, 0]
 * ```
 */
export function controlBias(
  vocab: readonly string[],
  controls: Controls | undefined,
): Float32Array | undefined {
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
    const pcs = new Set(keyPitchClasses(c.key));
    const out = s >= 1 ? -Infinity : Math.log(1 - s);
    apply("key", "Pitch", (v) => pcs.has(Number(v) % 12) ? 0 : out);
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
