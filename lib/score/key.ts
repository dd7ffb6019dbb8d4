/**
 * Key estimation from notes alone: the Krumhansl–Schmuckler algorithm (Krumhansl 1990, with the Krumhansl–Kessler
 * probe-tone profiles). The piece's pitch-class distribution (each note weighted by its duration in beats, capped at
 * `maxBeats`) is correlated with the major and minor profile rotated to each of the 12 tonics; the best of the 24
 * correlations names the key. Shared by the conditioning tokens (`lib/data/conditioning.ts`) and the evaluation of
 * generated keys, so both measure keys the same way.
 *
 * @module
 */
import { type Note, PITCH_CLASS_NAMES } from "../score.ts";

/**
 * Krumhansl–Kessler major-key profile (C major), from C to B.
 *
 * @example
 * ```ts
 * import { KK_MAJOR } from "./key.ts";
 * KK_MAJOR[0] > KK_MAJOR[1]; // true: the tonic fits best, the minor second worst
 * ```
 */
export const KK_MAJOR: readonly number[] = Object.freeze([
  6.35,
  2.23,
  3.48,
  2.33,
  4.38,
  4.09,
  2.52,
  5.19,
  2.39,
  3.66,
  2.29,
  2.88,
]);
/**
 * Krumhansl–Kessler minor-key profile (C minor), from C to B.
 *
 * @example
 * ```ts
 * import { KK_MINOR } from "./key.ts";
 * KK_MINOR[3] > KK_MINOR[4]; // true: the minor third fits better than the major third
 * ```
 */
export const KK_MINOR: readonly number[] = Object.freeze([
  6.33,
  2.68,
  3.52,
  5.38,
  2.60,
  3.53,
  2.54,
  4.75,
  3.98,
  2.69,
  3.34,
  3.17,
]);

/**
 * A key: tonic pitch class (0 = C … 11 = B) and mode.
 *
 * @example
 * ```ts
 * import { type Key, keyName } from "./key.ts";
 * const k: Key = { tonic: 4, mode: "minor" };
 * keyName(k); // "E minor"
 * ```
 */
export interface Key {
  /** Pitch class of the tonic, 0 (C) … 11 (B). */
  tonic: number;
  /** Major or minor. */
  mode: "major" | "minor";
}

/**
 * What {@link estimateKey} found: the key, its correlation, and the correlation of all 24 keys (index
 * {@link keyIndex}).
 *
 * @example
 * ```ts
 * import { estimateKey } from "./key.ts";
 * const e = estimateKey([{ pitch: 60, velocity: 80, start: 0, duration: 480 }], 480);
 * e.correlations.length; // 24
 * ```
 */
export interface KeyEstimate extends Key {
  /** Pearson correlation of the piece's profile with the key's profile (−1…1). */
  correlation: number;
  /** Correlation with each of the 24 keys, by {@link keyIndex}. */
  correlations: number[];
}

/**
 * A key's index 0–23: majors C…B are 0–11, minors C…B are 12–23.
 *
 * @example
 * ```ts
 * import { keyIndex } from "./key.ts";
 * keyIndex({ tonic: 9, mode: "minor" }); // 21
 * ```
 */
export function keyIndex(k: Key): number {
  return k.tonic + (k.mode === "minor" ? 12 : 0);
}

/**
 * The key with index 0–23 ({@link keyIndex}).
 *
 * @example
 * ```ts
 * import { keyFromIndex } from "./key.ts";
 * keyFromIndex(21); // { tonic: 9, mode: "minor" }
 * ```
 */
export function keyFromIndex(i: number): Key {
  if (!Number.isInteger(i) || i < 0 || i > 23) throw new RangeError(`key index: expected 0..23, got ${i}`);
  return { tonic: i % 12, mode: i < 12 ? "major" : "minor" };
}

/**
 * A key's name with sharps: `"C major"`, `"F# minor"`.
 *
 * @example
 * ```ts
 * import { keyName } from "./key.ts";
 * keyName({ tonic: 1, mode: "major" }); // "C# major"
 * ```
 */
export function keyName(k: Key): string {
  return `${PITCH_CLASS_NAMES[k.tonic]} ${k.mode}`;
}

const LETTERS: Record<string, number> = { C: 0, D: 2, E: 4, F: 5, G: 7, A: 9, B: 11 };

/**
 * Parses a key name: a tonic letter with optional `#`/`b` (or `♯`/`♭`), then `major`/`minor` (also `maj`/`min`,
 * `m` for minor, or nothing for major), separated by a space, `:` or `_` or nothing (`"E minor"`, `"Eb major"`,
 * `"F#m"`, `"A:min"`, `"C"`). Throws a one-line error otherwise.
 *
 * @example
 * ```ts
 * import { parseKey } from "./key.ts";
 * parseKey("Eb minor"); // { tonic: 3, mode: "minor" }
 * parseKey("f#m"); // { tonic: 6, mode: "minor" }
 * ```
 */
export function parseKey(text: string): Key {
  const m = /^\s*([A-Ga-g])([#b♯♭]?)\s*[:_ ]?\s*(major|minor|maj|min|m|M)?\s*$/.exec(text);
  if (!m) {
    throw new Error(
      `key: expected a tonic and a mode such as "E minor" or "Bb major", got ${JSON.stringify(text)}`,
    );
  }
  const acc = m[2] === "#" || m[2] === "♯" ? 1 : m[2] === "b" || m[2] === "♭" ? -1 : 0;
  const tonic = (LETTERS[m[1].toUpperCase()] + acc + 12) % 12;
  const mode = m[3] === "minor" || m[3] === "min" || m[3] === "m" ? "minor" : "major";
  return { tonic, mode };
}

/**
 * The pitch-class distribution of notes: each note adds its duration in beats (at `ticksPerBeat`), capped at
 * `maxBeats` so a held pedal note does not outweigh the music, with a floor of 1/16 beat so zero-length notes count.
 *
 * @example
 * ```ts
 * import { pitchClassProfile } from "./key.ts";
 * const p = pitchClassProfile([{ pitch: 62, velocity: 80, start: 0, duration: 960 }], 480);
 * p[2]; // 2: two beats of D
 * ```
 */
export function pitchClassProfile(notes: readonly Note[], ticksPerBeat: number, maxBeats = 4): Float64Array {
  const h = new Float64Array(12);
  for (const n of notes) {
    const beats = Math.min(maxBeats, Math.max(1 / 16, n.duration / ticksPerBeat));
    h[((n.pitch % 12) + 12) % 12] += beats;
  }
  return h;
}

function pearson(x: ArrayLike<number>, y: ArrayLike<number>, rot: number): number {
  let mx = 0, my = 0;
  for (let i = 0; i < 12; i++) mx += x[i], my += y[i];
  mx /= 12, my /= 12;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < 12; i++) {
    const a = x[(i + rot) % 12] - mx, b = y[i] - my;
    sxy += a * b, sxx += a * a, syy += b * b;
  }
  return sxx === 0 || syy === 0 ? 0 : sxy / Math.sqrt(sxx * syy);
}

/**
 * The Krumhansl–Schmuckler key of notes (or of a pitch-class profile of 12 weights): the best-correlated of the 24
 * keys (ties: the lower index, so majors first). An empty or flat profile gives C major with correlation 0.
 *
 * @example
 * ```ts
 * import { estimateKey, keyName } from "./key.ts";
 * // an A harmonic-minor scale, then the tonic held
 * const notes = [57, 59, 60, 62, 64, 65, 68, 69].map((pitch, i) => ({ pitch, velocity: 80, start: i * 480, duration: 480 }));
 * notes.push({ pitch: 57, velocity: 80, start: 8 * 480, duration: 1920 });
 * keyName(estimateKey(notes, 480)); // "A minor"
 * ```
 */
export function estimateKey(notes: readonly Note[] | ArrayLike<number>, ticksPerBeat = 480): KeyEstimate {
  const h = Array.isArray(notes) && (notes.length === 0 || typeof notes[0] === "object")
    ? pitchClassProfile(notes as readonly Note[], ticksPerBeat)
    : notes as ArrayLike<number>;
  if (h.length !== 12) {
    throw new RangeError(`estimateKey: expected notes or 12 pitch-class weights, got ${h.length}`);
  }
  const correlations: number[] = [];
  for (let k = 0; k < 24; k++) correlations.push(pearson(h, k < 12 ? KK_MAJOR : KK_MINOR, k % 12));
  let best = 0;
  for (let k = 1; k < 24; k++) if (correlations[k] > correlations[best]) best = k;
  return { ...keyFromIndex(best), correlation: correlations[best], correlations };
}
