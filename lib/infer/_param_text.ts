/**
 * The text grammars of the text parameters of `GENERATE_PARAMS` (lib/infer/params.ts): a key, a time signature, an
 * infill range, each read into its canonical form.
 *
 * @module
 */

/**
 * The key roots a face offers, one per pitch class.
 *
 * @example
 * ```ts
 * import { KEY_ROOTS } from "./_param_text.ts";
 * KEY_ROOTS.map((r) => `${r} minor`); // ["C minor", "C# minor", …, "B minor"]
 * ```
 */
export const KEY_ROOTS: string[] = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"];

const KEY_RE = /^\s*([A-Ga-g])([#b]?)\s*(major|minor|maj|min)\s*$/i;

/**
 * `"e MIN"` → `"E minor"` (the grammar of lib/infer/controls.ts `keyPitchClasses`), else undefined.
 *
 * @example
 * ```ts
 * import { normalizeKey } from "./_param_text.ts";
 * [normalizeKey(" f# min "), normalizeKey("H major")]; // ["F# minor", undefined]
 * ```
 */
export function normalizeKey(text: string): string | undefined {
  const m = KEY_RE.exec(text);
  if (!m) return undefined;
  return `${m[1].toUpperCase()}${m[2]} ${m[3].toLowerCase().startsWith("maj") ? "major" : "minor"}`;
}

/**
 * The most bars an infill range may name.
 *
 * @example
 * ```ts
 * import { INFILL_MAX_BAR } from "./_param_text.ts";
 * INFILL_MAX_BAR; // 4096
 * ```
 */
export const INFILL_MAX_BAR = 4096;

/**
 * `" 5 : 8 "` → `"5:8"`, `"3"` → `"3:3"`: bars 1 <= FROM <= TO <= 4096, else undefined.
 *
 * @example
 * ```ts
 * import { normalizeInfill } from "./_param_text.ts";
 * [normalizeInfill(" 5 : 8 "), normalizeInfill("3"), normalizeInfill("8:5")]; // ["5:8", "3:3", undefined]
 * ```
 */
export function normalizeInfill(text: string): string | undefined {
  const m = /^\s*([0-9]{1,4})\s*(?::\s*([0-9]{1,4}))?\s*$/.exec(text);
  if (!m) return undefined;
  const from = Number(m[1]), to = Number(m[2] ?? m[1]);
  return from >= 1 && from <= to && to <= INFILL_MAX_BAR ? `${from}:${to}` : undefined;
}

/**
 * `" 6 / 8"` → `"6/8"`: a numerator 1–32 over a power of two up to 64, else undefined.
 *
 * @example
 * ```ts
 * import { normalizeTimeSignature } from "./_param_text.ts";
 * [normalizeTimeSignature(" 6 / 8"), normalizeTimeSignature("7/6")]; // ["6/8", undefined]
 * ```
 */
export function normalizeTimeSignature(text: string): string | undefined {
  const m = /^\s*([0-9]{1,2})\s*\/\s*([0-9]{1,2})\s*$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]), d = Number(m[2]);
  return n >= 1 && n <= 32 && [1, 2, 4, 8, 16, 32, 64].includes(d) ? `${n}/${d}` : undefined;
}
