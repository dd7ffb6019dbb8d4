/**
 * The one source of truth for generation parameters: each one's kind, range, default, slider step, CLI flag, HTTP
 * field names and a one-line doc, in {@linkcode GENERATE_PARAMS} (after transformers.js' `GenerationConfig`). Every
 * face derives from it: `generate()` checks its options with `checkGenerateParams` (lib/infer/param_check.ts), the
 * CLI builds its options, usage text and errors from it, the server validates against a
 * {@linkcode narrowParams narrowed} copy and serves that copy at `GET /api/params`, and the page builds its sliders
 * from that answer.
 *
 * Ranges are the library's (what `generate()` accepts). A face may only narrow them, and says so explicitly:
 * the server narrows `maxTokens` to 4,096, `bars` to 128, `seconds` to 600 and `batch` to 1.
 *
 * The hard controls (lib/infer/controls.ts: `key`, `keyStrength`, `keyTonic`, `pitchRange`, `maxNoteBeats`,
 * `tempo`, `timeSignature`, `density`, `maxPolyphony`, `noRepeatNgram`) are rows of the same table, marked
 * `control`: each is off unless given (its `default` is what a face suggests when it is turned on; `keyStrength` and
 * `keyTonic` apply only with a `key` and then default to 1 and 0.25), and `checkGenerateParams` returns the ones given, checked and normalised, as
 * `controls` (the `generate()` option). Besides numbers they have two kinds: `text` (a key, a time
 * signature, a density word) and `range` (`pitchRange`, `48-84` as text or `[48, 84]`). Their numeric ranges are the
 * library's (`CONTROL_RANGES` in lib/infer/controls.ts; a test keeps them equal); `density` takes its three words only
 * (the library also takes a number).
 *
 * Two more text rows are off unless given, for models trained with `tokenize --conditioning` (a model without those
 * tokens refuses them with a one-line error naming the field): `style` (`classical` | `pop`, a learned condition,
 * returned in `conditions`; the `key`, `tempo` and `density` controls also set their learned condition token on such
 * a model, see lib/infer/conditions.ts) and `infill` (`FROM:TO` bars of the prompt to regenerate, or `{from, to}`,
 * returned as `infill: {from, to}`; its length is those bars: `bars` and `seconds` conflict with it, `maxTokens`
 * caps the middle's tokens).
 *
 * The spec types are in lib/infer/param_spec.ts. Numbers typed as text (CLI options, query strings, form fields)
 * follow one rule, `parseDecimal`, checked with the range by `checkNumber` (lib/infer/param_parse.ts). Only
 * `undefined` is "not given": an empty string is a wrong value, not a default. Error messages
 * (`GenerateParamError`, lib/infer/param_error.ts) echo at most 64 characters of what was given.
 *
 * @module
 */
import type { ParamName, ParamSpec, ParamTable } from "./param_spec.ts";
import {
  INFILL_MAX_BAR,
  KEY_ROOTS,
  normalizeInfill,
  normalizeKey,
  normalizeTimeSignature,
} from "./_param_text.ts";
import { CONTROL_RANGES, KEY_TONIC_DEFAULT } from "./controls.ts";

function freezeTable(t: ParamTable): ParamTable {
  for (const s of Object.values(t) as ParamSpec[]) {
    Object.freeze(s.http);
    if (s.cli) Object.freeze(s.cli);
    if (s.kind === "text") Object.freeze(s.choices);
    if (s.kind === "range") Object.freeze(s.default);
    Object.freeze(s);
  }
  return Object.freeze(t);
}

/**
 * Every generation parameter, its default, range and documentation. Table order is check order (the first bad
 * parameter is the one reported).
 *
 * @example
 * ```ts
 * import { GENERATE_PARAMS } from "./params.ts";
 * GENERATE_PARAMS.temperature.default; // 0.8
 * GENERATE_PARAMS.topP.max; // 1
 * ```
 */
export const GENERATE_PARAMS: ParamTable = freezeTable({
  maxTokens: {
    kind: "int",
    min: 1,
    max: 65536,
    default: 512,
    step: 1,
    cli: { flag: "tokens", metavar: "N" },
    http: ["tokens", "maxTokens"],
    doc: "length in tokens",
  },
  bars: {
    kind: "int",
    min: 1,
    max: 1024,
    default: 8,
    step: 1,
    cli: { flag: "bars", metavar: "N" },
    http: ["bars"],
    doc: "length in bars",
  },
  seconds: {
    kind: "float",
    min: 1,
    max: 3600,
    default: 30,
    step: 1,
    cli: { flag: "seconds", metavar: "S" },
    http: ["seconds"],
    doc: "length in seconds of music",
  },
  temperature: {
    kind: "float",
    min: 0.1,
    max: 2,
    default: 0.8,
    step: 0.05,
    cli: { flag: "temperature", metavar: "T" },
    http: ["temperature"],
    doc: "sampling temperature, lower is safer, higher is wilder",
  },
  topK: {
    kind: "int",
    min: 0,
    max: 500,
    default: 50,
    step: 1,
    cli: { flag: "top-k", metavar: "K" },
    http: ["topK", "top_k"],
    doc: "sample among the K likeliest tokens, 0 = off",
  },
  topP: {
    kind: "float",
    min: 0.01,
    max: 1,
    default: 0.95,
    step: 0.01,
    cli: { flag: "top-p", metavar: "P" },
    http: ["topP", "top_p"],
    doc: "sample among the likeliest tokens up to this probability",
  },
  guidanceScale: {
    kind: "float",
    min: 1,
    max: 10,
    default: 1,
    step: 0.5,
    cli: { flag: "guidance-scale", metavar: "G" },
    http: ["guidanceScale", "guidance_scale"],
    doc: "with learned conditions: above 1 follows them more closely (twice the compute), 1 = as trained",
  },
  keyGuidanceScale: {
    kind: "float",
    min: 1,
    max: 10,
    default: 1,
    step: 0.5,
    cli: { flag: "key-guidance-scale", metavar: "G" },
    http: ["keyGuidanceScale", "key_guidance_scale"],
    doc: "with a learned key: guide the key at least this much, the other conditions stay at guidance-scale",
  },
  densityGuidanceScale: {
    kind: "float",
    min: 1,
    max: 10,
    default: 1,
    step: 0.5,
    cli: { flag: "density-guidance-scale", metavar: "G" },
    http: ["densityGuidanceScale", "density_guidance_scale"],
    doc: "with a learned density: guide it at least this much, the other conditions stay at guidance-scale",
  },
  seed: {
    kind: "int",
    min: 0,
    // 32 bits: what every face can type, store and print. (The Philox key would take 64.)
    max: 2 ** 32 - 1,
    default: 0,
    step: 1,
    random: true,
    cli: { flag: "seed", metavar: "N" },
    http: ["seed"],
    doc: "sampling seed: same seed, same piece",
  },
  batch: {
    kind: "int",
    min: 1,
    max: 64,
    default: 1,
    step: 1,
    cli: { flag: "batch", metavar: "N" },
    http: ["batch"],
    doc: "pieces generated at once",
  },
  grammar: {
    kind: "bool",
    default: true,
    cli: { flag: "no-grammar", doc: "sample without the token-grammar mask" },
    http: ["grammar"],
    doc: "grammar-constrained decoding: mask the tokens that cannot follow the previous one",
  },
  key: {
    kind: "text",
    default: "C major",
    choices: KEY_ROOTS.flatMap((r) => [`${r} major`, `${r} minor`]),
    exhaustive: false,
    allowed: 'a key like "C major" or "F# minor" (natural minor)',
    normalize: normalizeKey,
    cli: { flag: "key", metavar: "KEY" },
    http: ["key"],
    doc: 'keep to a key, like "E minor" (out-of-key pitches masked)',
    control: true,
  },
  keyStrength: {
    kind: "float",
    min: 0,
    max: 1,
    default: 1,
    step: 0.05,
    cli: { flag: "key-strength", metavar: "S" },
    http: ["keyStrength", "key_strength"],
    doc: "with a key: 1 masks out-of-key pitches, less down-weights them",
    control: true,
    requires: "key",
  },
  keyTonic: {
    kind: "float",
    min: CONTROL_RANGES.keyTonic.min,
    max: CONTROL_RANGES.keyTonic.max,
    default: KEY_TONIC_DEFAULT,
    step: 0.05,
    cli: { flag: "key-tonic", metavar: "W" },
    http: ["keyTonic", "key_tonic"],
    doc: "with a key: how much its tonic is favoured (a log-weight on the tonic's pitches; 0 = off)",
    control: true,
    requires: "key",
  },
  pitchRange: {
    kind: "range",
    min: 0,
    max: 127,
    default: [36, 96],
    step: 1,
    cli: { flag: "pitch-range", metavar: "LO-HI" },
    http: ["pitchRange", "pitch_range"],
    doc: "lowest-highest MIDI pitch (60 = middle C)",
    control: true,
  },
  maxNoteBeats: {
    kind: "float",
    min: 1 / 64,
    max: 64,
    default: 4,
    step: 1 / 64,
    cli: { flag: "max-note-beats", metavar: "B" },
    http: ["maxNoteBeats", "max_note_beats"],
    doc: "longest note, in beats (no stuck notes)",
    control: true,
  },
  tempo: {
    kind: "float",
    min: 1,
    max: 1000,
    default: 120,
    step: 1,
    cli: { flag: "tempo", metavar: "BPM" },
    http: ["tempo"],
    doc: "fixed tempo, beats per minute",
    control: true,
  },
  timeSignature: {
    kind: "text",
    default: "4/4",
    choices: ["2/4", "3/4", "4/4", "5/4", "6/8", "7/8", "9/8", "12/8", "2/2", "3/2"],
    exhaustive: false,
    allowed: "a time signature like 3/4 or 6/8",
    normalize: normalizeTimeSignature,
    cli: { flag: "time-signature", metavar: "N/D" },
    http: ["timeSignature", "time_signature"],
    doc: "fixed time signature, like 3/4",
    control: true,
  },
  density: {
    kind: "text",
    default: "medium",
    choices: ["low", "medium", "high"],
    exhaustive: true,
    allowed: "one of low, medium, high",
    normalize: (t) => {
      const w = t.trim().toLowerCase();
      return ["low", "medium", "high"].includes(w) ? w : undefined;
    },
    cli: { flag: "density", metavar: "D" },
    http: ["density"],
    doc: "note density",
    control: true,
  },
  maxPolyphony: {
    kind: "int",
    min: 1,
    max: 16,
    default: 4,
    step: 1,
    cli: { flag: "max-polyphony", metavar: "N" },
    http: ["maxPolyphony", "max_polyphony"],
    doc: "most notes sounding at once",
    control: true,
  },
  noRepeatNgram: {
    kind: "int",
    min: 2,
    max: 256,
    default: 8,
    step: 1,
    cli: { flag: "no-repeat-ngram", metavar: "N" },
    http: ["noRepeatNgram", "no_repeat_ngram"],
    doc: "never repeat a run of N tokens (loop guard)",
    control: true,
  },
  style: {
    kind: "text",
    default: "classical",
    choices: ["classical", "pop"],
    exhaustive: true,
    allowed: "one of classical, pop",
    normalize: (t) => {
      const w = t.trim().toLowerCase();
      return ["classical", "pop"].includes(w) ? w : undefined;
    },
    cli: { flag: "style", metavar: "S" },
    http: ["style"],
    doc: "learned style, on a model trained with conditioning",
    condition: true,
  },
  infill: {
    kind: "text",
    default: "1:4",
    choices: ["1:4", "5:8"],
    exhaustive: false,
    allowed: `bars FROM:TO of the prompt, 1 <= FROM <= TO <= ${INFILL_MAX_BAR} (like 5:8)`,
    normalize: normalizeInfill,
    cli: { flag: "infill", metavar: "FROM:TO" },
    http: ["infill"],
    doc: "regenerate bars FROM..TO of the prompt, keep the rest (a model trained with infilling)",
  },
  chunk: {
    kind: "int",
    min: 1,
    max: 1024,
    default: 32,
    step: 1,
    http: [],
    doc: "tokens sampled per GPU readback (speed only: the result does not depend on it)",
  },
});

/**
 * How a face narrows one parameter: a smaller range, and/or another default (within the range).
 *
 * @example
 * ```ts
 * import { narrowParams, type ParamNarrowing } from "./params.ts";
 * const shortPieces: ParamNarrowing = { max: 64, default: 16 };
 * narrowParams({ bars: shortPieces }).bars.default; // 16
 * ```
 */
export interface ParamNarrowing {
  /** New lower bound (numbers only; ≥ the base's `min`). */
  readonly min?: number;
  /** New upper bound (numbers only; ≤ the base's `max`). */
  readonly max?: number;
  /** New default, within the narrowed range (a boolean for `grammar`, text or `[lo, hi]` for those controls). */
  readonly default?: number | boolean | string | readonly [number, number];
}

/**
 * A copy of `base` (default {@linkcode GENERATE_PARAMS}) with some parameters' ranges narrowed — a face's explicit,
 * visible policy (the server's GPU-time limits). Widening a range, or a default outside the result, is an error:
 * what a face accepts the library must accept too.
 *
 * @example
 * ```ts
 * import { narrowParams } from "./params.ts";
 * const server = narrowParams({ maxTokens: { max: 4096 }, batch: { max: 1 } });
 * server.maxTokens.max; // 4096
 * server.temperature.max; // 2 (untouched)
 * ```
 */
export function narrowParams(
  narrowing: { readonly [K in ParamName]?: ParamNarrowing },
  base: ParamTable = GENERATE_PARAMS,
): ParamTable {
  const out = { ...base } as Record<ParamName, ParamSpec>;
  for (const [name, n] of Object.entries(narrowing) as [ParamName, ParamNarrowing][]) {
    const spec = base[name];
    if (!spec) throw new Error(`narrowParams: unknown parameter ${name}`);
    if (spec.kind === "text") {
      if (n.min !== undefined || n.max !== undefined) throw new Error(`narrowParams: ${name} has no range`);
      const def = n.default === undefined
        ? spec.default
        : typeof n.default === "string"
        ? spec.normalize(n.default)
        : undefined;
      if (def === undefined) throw new Error(`narrowParams: ${name}: default must be ${spec.allowed}`);
      out[name] = { ...spec, default: def };
      continue;
    }
    if (spec.kind === "range") {
      const min = n.min ?? spec.min, max = n.max ?? spec.max;
      const def = (n.default ?? spec.default) as readonly number[];
      if (min < spec.min || max > spec.max || min > max) {
        throw new Error(
          `narrowParams: ${name}: [${min}, ${max}] is not within [${spec.min}, ${spec.max}] (narrow only)`,
        );
      }
      if (!Array.isArray(def) || def.length !== 2 || def[0] < min || def[1] > max || def[0] > def[1]) {
        throw new Error(`narrowParams: ${name}: default ${def} is not within [${min}, ${max}]`);
      }
      out[name] = { ...spec, min, max, default: [def[0], def[1]] as const };
      continue;
    }
    if (spec.kind === "bool") {
      if (n.min !== undefined || n.max !== undefined) throw new Error(`narrowParams: ${name} has no range`);
      if (n.default !== undefined && typeof n.default !== "boolean") {
        throw new Error(`narrowParams: ${name}: default must be true or false`);
      }
      out[name] = { ...spec, default: (n.default as boolean | undefined) ?? spec.default };
      continue;
    }
    const min = n.min ?? spec.min, max = n.max ?? spec.max;
    const def = n.default ?? spec.default;
    if (min < spec.min || max > spec.max || min > max) {
      throw new Error(
        `narrowParams: ${name}: [${min}, ${max}] is not within [${spec.min}, ${spec.max}] (narrow only)`,
      );
    }
    if (typeof def !== "number" || def < min || def > max) {
      throw new Error(`narrowParams: ${name}: default ${def} is not in [${min}, ${max}]`);
    }
    out[name] = { ...spec, min, max, default: def };
  }
  return freezeTable(out as unknown as ParamTable);
}

/**
 * A random integer within `spec`'s range (default the seed's): what faces use for a `random` parameter (the seed)
 * that is not given.
 *
 * @example
 * ```ts
 * import { randomSeed } from "./params.ts";
 * const s = randomSeed(); // an integer in [0, 4294967295]
 * ```
 */
export function randomSeed(
  spec: { readonly min: number; readonly max: number } = GENERATE_PARAMS.seed,
): number {
  const min = Math.ceil(spec.min), span = Math.floor(spec.max) - min + 1;
  const u = crypto.getRandomValues(new Uint32Array(2));
  // 53 random bits, scaled: uniform for any span up to 2^53 (exactly so for powers of two, like the seed's 2^32).
  const r = (u[0] * 2 ** 21 + (u[1] >>> 11)) / 2 ** 53;
  return min + Math.floor(r * span);
}
