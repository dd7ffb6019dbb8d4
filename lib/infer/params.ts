/**
 * The one source of truth for generation parameters: each one's kind, range, default, slider step, CLI flag, HTTP
 * field names and a one-line doc, in {@linkcode GENERATE_PARAMS} (after transformers.js' `GenerationConfig`). Every
 * face derives from it: `generate()` checks its options with {@linkcode checkGenerateParams}, the CLI builds its
 * options, usage text and errors from it, the server validates against a {@linkcode narrowParams narrowed} copy
 * and serves that copy at `GET /api/params`, and the page builds its sliders from that answer.
 *
 * Ranges are the library's (what `generate()` accepts). A face may only narrow them, and says so explicitly:
 * the server narrows `maxTokens` to 4,096, `bars` to 128, `seconds` to 600 and `batch` to 1.
 *
 * The hard controls (lib/infer/controls.ts: `key`, `keyStrength`, `pitchRange`, `maxNoteBeats`, `tempo`,
 * `timeSignature`, `density`, `maxPolyphony`, `noRepeatNgram`) are rows of the same table, marked `control`: each
 * is off unless given (its `default` is what a face suggests when it is turned on; `keyStrength` applies only with
 * a `key` and then defaults to 1), and {@linkcode checkGenerateParams} returns the ones given, checked and
 * normalised, as `controls` (the `generate()` option). Besides numbers they have two kinds: `text` (a key, a time
 * signature, a density word) and `range` (`pitchRange`, `48-84` as text or `[48, 84]`). Their numeric ranges are the
 * library's (`CONTROL_RANGES` in lib/infer/controls.ts; a test keeps them equal); `density` takes its three words only
 * (the library also takes a number).
 *
 * Two more text rows are off unless given, for models trained with `tokenize --conditioning` (a model without those
 * tokens refuses them with a one-line error naming the field): `style` (`classical` | `pop`, a learned condition,
 * returned in `conditions`; the `key`, `tempo` and `density` controls also set their learned condition token on such
 * a model, see lib/infer/generate.ts) and `infill` (`FROM:TO` bars of the prompt to regenerate, or `{from, to}`,
 * returned as `infill: {from, to}`; its length is those bars: `bars` and `seconds` conflict with it, `maxTokens`
 * caps the middle's tokens).
 *
 * Numbers typed as text (CLI options, query strings, form fields) follow one rule, {@linkcode parseDecimal}: decimal
 * only (no `0x10`, no `1e3` for an integer, no spaces, `Infinity` or `NaN`), checked with the range by
 * {@linkcode checkNumber}, which every task's numeric options use too. Only `undefined` is "not given": an empty
 * string is a wrong value, not a default. Error messages echo at most 64 characters of what was given.
 *
 * @module
 */
import type { Controls } from "./controls.ts";

/**
 * A numeric parameter: an integer or a float within `[min, max]`.
 *
 * @example
 * ```ts
 * import { GENERATE_PARAMS } from "./params.ts";
 * const { min, max, step, cli } = GENERATE_PARAMS.topK; // 0, 500, 1, { flag: "top-k", metavar: "K" }
 * ```
 */
export interface NumberParam {
  /** `int`: whole numbers only; `float`: any finite number. */
  readonly kind: "int" | "float";
  /** Smallest accepted value (inclusive). */
  readonly min: number;
  /** Largest accepted value (inclusive). */
  readonly max: number;
  /**
   * The value used when the parameter is absent. For `bars` and `seconds` (which are never applied unasked: only
   * one length unit is used, and `maxTokens` is the default one) it is the value a face suggests when that unit is
   * picked. For `seed`, faces draw a random seed instead (see `random`); the library uses this one.
   */
  readonly default: number;
  /** Slider / number-box step. */
  readonly step: number;
  /** Faces draw a random value (within the range) when the parameter is absent, and report it. */
  readonly random?: boolean;
  /** The CLI option (`flag` without dashes, `metavar` as shown in `--help`); absent: not a CLI option. */
  readonly cli?: { readonly flag: string; readonly metavar: string; readonly doc?: string };
  /** HTTP / JSON field names, the canonical one first (the rest are accepted aliases); empty: not over HTTP. */
  readonly http: readonly string[];
  /** One line of documentation. */
  readonly doc: string;
  /** A hard control: off unless given, returned in `controls` (see the module doc). */
  readonly control?: true;
  /** A control that applies only with this one (given without it: an error; absent with it: its default). */
  readonly requires?: ParamName;
}

/**
 * A text parameter: a control (a key, a time signature, a density word), a learned condition (`style`) or the bars
 * to infill (`infill`, `5:8`). `normalize` reads what a user typed into the canonical form (`"e MIN"` →
 * `"E minor"`), or undefined when it is not allowed. Every text parameter is off unless given.
 *
 * @example
 * ```ts
 * import { GENERATE_PARAMS } from "./params.ts";
 * GENERATE_PARAMS.key.normalize(" f# min "); // "F# minor"
 * GENERATE_PARAMS.density.choices; // ["low", "medium", "high"]
 * ```
 */
export interface TextParam {
  /** Always `text`. */
  readonly kind: "text";
  /** What a face suggests when the control is turned on. */
  readonly default: string;
  /** Values a face offers in a picker (all of the allowed ones when `exhaustive`, else common examples). */
  readonly choices: readonly string[];
  /** Whether `choices` are all the allowed values. */
  readonly exhaustive: boolean;
  /** What is allowed, as a phrase (`a key like "E minor"`). */
  readonly allowed: string;
  /** The canonical form of `text`, or undefined when it is not allowed. */
  readonly normalize: (text: string) => string | undefined;
  /** The CLI option. */
  readonly cli?: { readonly flag: string; readonly metavar: string; readonly doc?: string };
  /** HTTP / JSON field names, the canonical one first. */
  readonly http: readonly string[];
  /** One line of documentation. */
  readonly doc: string;
  /** A hard control (returned in `controls`). */
  readonly control?: true;
  /**
   * A learned condition (returned in `conditions`): a leading token of a model trained with `tokenize
   * --conditioning`; a model without it refuses the parameter (lib/infer/generate.ts).
   */
  readonly condition?: true;
}

/**
 * An integer range parameter (a control: `pitchRange`): `LO-HI` as text, or `[lo, hi]`, both in `[min, max]`,
 * `lo <= hi`.
 *
 * @example
 * ```ts
 * import { checkGenerateParams } from "./params.ts";
 * checkGenerateParams({ pitchRange: "48-84" }).controls?.pitchRange; // [48, 84]
 * ```
 */
export interface RangeParam {
  /** Always `range`. */
  readonly kind: "range";
  /** Smallest accepted bound (inclusive). */
  readonly min: number;
  /** Largest accepted bound (inclusive). */
  readonly max: number;
  /** What a face suggests when the control is turned on. */
  readonly default: readonly [number, number];
  /** Number-box step. */
  readonly step: number;
  /** The CLI option. */
  readonly cli?: { readonly flag: string; readonly metavar: string; readonly doc?: string };
  /** HTTP / JSON field names, the canonical one first. */
  readonly http: readonly string[];
  /** One line of documentation. */
  readonly doc: string;
  /** Always a control. */
  readonly control: true;
}

/**
 * A boolean parameter.
 *
 * @example
 * ```ts
 * import { GENERATE_PARAMS } from "./params.ts";
 * GENERATE_PARAMS.grammar.default; // true
 * GENERATE_PARAMS.grammar.cli?.flag; // "no-grammar": the flag sets the opposite of the default
 * ```
 */
export interface BoolParam {
  /** Always `bool`. */
  readonly kind: "bool";
  /** The value used when the parameter is absent. */
  readonly default: boolean;
  /**
   * The CLI flag (without dashes) and its doc. A flag *sets* the opposite of the default (`--no-grammar`).
   */
  readonly cli?: { readonly flag: string; readonly doc?: string };
  /** HTTP / JSON field names, the canonical one first; empty: not over HTTP. */
  readonly http: readonly string[];
  /** One line of documentation. */
  readonly doc: string;
  /** Booleans are never controls. */
  readonly control?: undefined;
}

/**
 * One parameter's specification.
 *
 * @example
 * ```ts
 * import { GENERATE_PARAMS, type ParamSpec } from "./params.ts";
 * const range = (s: ParamSpec) => (s.kind === "bool" || s.kind === "text" ? "" : `${s.min}…${s.max}`);
 * range(GENERATE_PARAMS.temperature); // "0.1…2"
 * ```
 */
export type ParamSpec = NumberParam | BoolParam | TextParam | RangeParam;

/**
 * Every generation parameter (the keys are `GenerateOptions` names).
 *
 * @example
 * ```ts
 * import { GENERATE_PARAMS } from "./params.ts";
 * for (const [name, spec] of Object.entries(GENERATE_PARAMS)) console.log(name, spec.default, spec.doc);
 * ```
 */
export interface ParamTable {
  /** Length in tokens (the default length unit). */
  readonly maxTokens: NumberParam;
  /** Length in bars. */
  readonly bars: NumberParam;
  /** Length in seconds of music. */
  readonly seconds: NumberParam;
  /** Sampling temperature: logits are divided by it before softmax. */
  readonly temperature: NumberParam;
  /** Sample among the K likeliest tokens (0 = off). */
  readonly topK: NumberParam;
  /** Nucleus sampling: the likeliest tokens up to this cumulative probability. */
  readonly topP: NumberParam;
  /** Sampling seed: same seed, same piece. */
  readonly seed: NumberParam;
  /** Pieces generated at once. */
  readonly batch: NumberParam;
  /** Mask the tokens the REMI grammar forbids after the previous one. */
  readonly grammar: BoolParam;
  /** Control: a key (out-of-key pitches masked, or down-weighted by `keyStrength`). */
  readonly key: TextParam;
  /** Control: how hard out-of-key pitches are pushed away (with `key`). */
  readonly keyStrength: NumberParam;
  /** Control: lowest and highest MIDI pitch. */
  readonly pitchRange: RangeParam;
  /** Control: the longest note, in beats (stuck-note guard). */
  readonly maxNoteBeats: NumberParam;
  /** Control: a fixed tempo, BPM. */
  readonly tempo: NumberParam;
  /** Control: a fixed time signature. */
  readonly timeSignature: TextParam;
  /** Control: note density. */
  readonly density: TextParam;
  /** Control: most notes sounding at once. */
  readonly maxPolyphony: NumberParam;
  /** Control: no repeated n-gram of this many tokens. */
  readonly noRepeatNgram: NumberParam;
  /** Learned condition: the style (a model trained with conditioning). */
  readonly style: TextParam;
  /** Infilling: regenerate bars FROM..TO of the prompt (a model trained with FIM). */
  readonly infill: TextParam;
  /** Tokens sampled per GPU readback (speed only). */
  readonly chunk: NumberParam;
}

/**
 * A parameter's name (its `GenerateOptions` key).
 *
 * @example
 * ```ts
 * import { GENERATE_PARAMS, type ParamName } from "./params.ts";
 * const units: ParamName[] = ["maxTokens", "bars", "seconds"];
 * units.map((n) => GENERATE_PARAMS[n].doc); // ["length in tokens", "length in bars", "length in seconds of music"]
 * ```
 */
export type ParamName = keyof ParamTable;

/** The length units: at most one of them is given; `maxTokens` (at its default) when none is. */
export const LENGTH_PARAMS: readonly ["maxTokens", "bars", "seconds"] = Object.freeze(
  ["maxTokens", "bars", "seconds"] as const,
);

/**
 * The hard controls, in table order: the parameters `checkGenerateParams` returns in `controls`.
 *
 * @example
 * ```ts
 * import { CONTROL_PARAMS } from "./params.ts";
 * CONTROL_PARAMS.includes("key"); // true
 * ```
 */
export const CONTROL_PARAMS: readonly ParamName[] = Object.freeze(
  [
    "key",
    "keyStrength",
    "pitchRange",
    "maxNoteBeats",
    "tempo",
    "timeSignature",
    "density",
    "maxPolyphony",
    "noRepeatNgram",
  ] as const,
);

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

const KEY_RE = /^\s*([A-Ga-g])([#b]?)\s*(major|minor|maj|min)\s*$/i;
const KEY_ROOTS = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"];

/** `"e MIN"` → `"E minor"` (the grammar of lib/infer/controls.ts `keyPitchClasses`), else undefined. */
function normalizeKey(text: string): string | undefined {
  const m = KEY_RE.exec(text);
  if (!m) return undefined;
  return `${m[1].toUpperCase()}${m[2]} ${m[3].toLowerCase().startsWith("maj") ? "major" : "minor"}`;
}

/** The most bars an infill range may name. */
const INFILL_MAX_BAR = 4096;

/** `" 5 : 8 "` → `"5:8"`, `"3"` → `"3:3"`: bars 1 <= FROM <= TO <= 4096, else undefined. */
function normalizeInfill(text: string): string | undefined {
  const m = /^\s*([0-9]{1,4})\s*(?::\s*([0-9]{1,4}))?\s*$/.exec(text);
  if (!m) return undefined;
  const from = Number(m[1]), to = Number(m[2] ?? m[1]);
  return from >= 1 && from <= to && to <= INFILL_MAX_BAR ? `${from}:${to}` : undefined;
}

/** `" 6 / 8"` → `"6/8"`: a numerator 1–32 over a power of two up to 64, else undefined. */
function normalizeTimeSignature(text: string): string | undefined {
  const m = /^\s*([0-9]{1,2})\s*\/\s*([0-9]{1,2})\s*$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]), d = Number(m[2]);
  return n >= 1 && n <= 32 && [1, 2, 4, 8, 16, 32, 64].includes(d) ? `${n}/${d}` : undefined;
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
 * The checked parameters: defaults filled in, exactly one length unit set.
 *
 * @example
 * ```ts
 * import { checkGenerateParams } from "./params.ts";
 * const v = checkGenerateParams({});
 * [v.maxTokens, v.temperature, v.topK, v.topP, v.grammar]; // [512, 0.8, 50, 0.95, true]
 * ```
 */
export interface GenerateParamValues {
  /** Set when given, or (at its default) when no length unit is. */
  maxTokens?: number;
  /** Length in bars; set only when given. */
  bars?: number;
  /** Length in seconds of music; set only when given. */
  seconds?: number;
  /** Sampling temperature, in [0.1, 2] (default 0.8). */
  temperature: number;
  /** Top-k cut-off, in [0, 500], 0 = off (default 50). */
  topK: number;
  /** Top-p cut-off, in [0.01, 1] (default 0.95). */
  topP: number;
  /** Sampling seed, a 32-bit unsigned integer (default 0). */
  seed: number;
  /** Pieces generated at once, in [1, 64] (default 1). */
  batch: number;
  /** Grammar-constrained decoding (default true). */
  grammar: boolean;
  /** Tokens sampled per GPU readback, in [1, 1024] (default 32). */
  chunk: number;
  /** The controls given, checked and normalised (absent when none is): the `generate()` option. */
  controls?: Controls;
  /** The learned conditions given (`style`; absent when none is): the `generate()` option. */
  conditions?: { style?: "classical" | "pop" };
  /**
   * Bars `from..to` (1-based, inclusive) of the prompt to regenerate; set only when given. Then no length unit is
   * set unless `maxTokens` is given (the cap on the middle's tokens); `bars` and `seconds` conflict with it.
   */
  infill?: { from: number; to: number };
}

/**
 * Raw parameters by `GenerateOptions` name. Numbers may be numbers or decimal text (CLI and HTTP text, read by
 * {@linkcode parseDecimal}); booleans may be booleans or `true`/`1`/`on`/`false`/`0`/`off`. Only `undefined` means
 * absent: `""` (an empty form field or `--seed ""`) is a value, and a wrong one.
 *
 * @example
 * ```ts
 * import { checkGenerateParams, type GenerateParamInput } from "./params.ts";
 * const fromForm: GenerateParamInput = { bars: "16", grammar: "off", seed: undefined };
 * checkGenerateParams(fromForm).grammar; // false
 * ```
 */
export type GenerateParamInput = { readonly [K in ParamName]?: unknown };

/**
 * An out-of-range (or conflicting) generation parameter; `field` names it (its `GenerateOptions` name).
 *
 * @example
 * ```ts
 * import { checkGenerateParams, GenerateParamError } from "./params.ts";
 * try {
 *   checkGenerateParams({ temperature: 5 });
 * } catch (e) {
 *   if (e instanceof GenerateParamError) console.log(e.field, e.allowed); // "temperature", "a number in [0.1, 2]"
 * }
 * ```
 */
export class GenerateParamError extends Error {
  /** Always `GenerateParamError`. */
  override name = "GenerateParamError";
  /** The parameter, by its `GenerateOptions` name (`topK`, `maxTokens`). */
  readonly field: string;
  /** What is allowed (`an integer in [0, 500]`), for `allowed` in the server's 400 answer. */
  readonly allowed: string;
  /** The rejected value, as given. */
  readonly value: unknown;
  /** For "only one of" errors: the parameters of which only one may be given. */
  readonly conflicts?: readonly string[];
  /** A note after the value (`decimal digits only` for `"0x10"`, which JavaScript would have read as 16). */
  readonly hint?: string;
  /** For a control given without the one it needs (`keyStrength` without `key`): that one. */
  readonly requires?: string;
  /** For a value the model cannot honour: why (`this model was not trained with conditioning …`). */
  readonly reason?: string;
  /**
   * A range error (`allowed`, `value`, an optional `hint`), or, with `conflicts`, a "give only one of" error, or,
   * with `requires`, a "applies only with" error, or, with `reason`, `field: reason`.
   */
  constructor(
    field: string,
    allowed: string,
    value?: unknown,
    conflicts?: readonly string[],
    hint?: string,
    requires?: string,
    reason?: string,
  ) {
    super("");
    this.field = field;
    this.allowed = allowed;
    this.value = value;
    if (conflicts) this.conflicts = conflicts;
    if (hint) this.hint = hint;
    if (requires) this.requires = requires;
    if (reason) this.reason = reason;
    this.message = this.describe().message;
  }

  /**
   * The message and `allowed` text with every parameter named by `name` — a face's own spelling (`--top-p`,
   * `top_p`); the default keeps `GenerateOptions` names.
   *
   * @example
   * ```ts
   * import { GenerateParamError } from "./params.ts";
   * const e = new GenerateParamError("topP", "a number in [0.01, 1]", "2");
   * e.describe((f) => f === "topP" ? "--top-p" : f).message; // '--top-p: expected a number in [0.01, 1], got "2"'
   * ```
   */
  describe(name: (field: string) => string = (f) => f): { message: string; allowed: string } {
    if (this.reason) return { message: `${name(this.field)}: ${this.reason}`, allowed: this.allowed };
    if (this.conflicts) {
      const names = this.conflicts.map(name).join(", ");
      return { message: `${name(this.field)}: give only one of ${names}`, allowed: `one of ${names}` };
    }
    if (this.requires) {
      const needs = name(this.requires);
      return {
        message: `${name(this.field)}: applies only with ${needs}, got ${showValue(this.value)} without it`,
        allowed: `${this.allowed}, with ${needs}`,
      };
    }
    return {
      message: `${name(this.field)}: expected ${this.allowed}, got ${showValue(this.value)}${
        this.hint ? ` (${this.hint})` : ""
      }`,
      allowed: this.allowed,
    };
  }
}

/**
 * The longest echo of a user's value or key in an error message (see {@linkcode clipText}).
 *
 * @example
 * ```ts
 * import { MAX_ECHO_CHARS } from "./params.ts";
 * MAX_ECHO_CHARS; // 64
 * ```
 */
export const MAX_ECHO_CHARS = 64;

/**
 * `text` cut to at most `max` characters (default {@linkcode MAX_ECHO_CHARS}), the cut marked with `…`: how error
 * messages echo what a user sent, so a 1 MB value costs a short line, not a 1 MB answer.
 *
 * @example
 * ```ts
 * import { clipText } from "./params.ts";
 * clipText("a".repeat(100)).length; // 64 (63 characters and "…")
 * clipText("short"); // "short"
 * ```
 */
export function clipText(text: string, max: number = MAX_ECHO_CHARS): string {
  if (text.length <= max) return text;
  // Never cut a surrogate pair in two.
  let end = max - 1;
  const c = text.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

/**
 * A value as an error message shows it: numbers as is, anything else as JSON (strings quoted), clipped by
 * {@linkcode clipText}.
 *
 * @example
 * ```ts
 * import { showValue } from "./params.ts";
 * showValue("0x10"); // '"0x10"'
 * showValue(2.5); // "2.5"
 * ```
 */
export function showValue(v: unknown): string {
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  if (typeof v === "string" && v.length > 4 * MAX_ECHO_CHARS) v = v.slice(0, 4 * MAX_ECHO_CHARS);
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return clipText(s);
}

/**
 * What a parameter allows, as a phrase: `an integer in [0, 500]`, `a number in [0.01, 1]`, `true or false`.
 *
 * @example
 * ```ts
 * import { allowedText, GENERATE_PARAMS } from "./params.ts";
 * allowedText(GENERATE_PARAMS.topK); // "an integer in [0, 500]"
 * ```
 */
export function allowedText(spec: ParamSpec | NumberRange): string {
  if (spec.kind === "bool") return "true or false";
  if (spec.kind === "text") return spec.allowed;
  if (spec.kind === "range") return `LO-HI, two integers in [${spec.min}, ${spec.max}] with LO <= HI`;
  return `${spec.kind === "int" ? "an integer" : "a number"} in [${spec.min}, ${spec.max}]`;
}

/**
 * Only `undefined` means "not given". An empty string is a value (and no number, nor a boolean): a face that wants
 * a default leaves the field out.
 *
 * @example
 * ```ts
 * import { isAbsent } from "./params.ts";
 * [isAbsent(undefined), isAbsent(""), isAbsent(0)]; // [true, false, false]
 * ```
 */
export function isAbsent(v: unknown): boolean {
  return v === undefined;
}

/** Decimal integer text: digits, an optional sign. */
const INT_TEXT = /^[+-]?[0-9]+$/;
/** Decimal number text: digits with an optional fraction and exponent, an optional sign. */
const FLOAT_TEXT = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;

/**
 * THE rule for numbers typed as text, on every face (CLI options, query strings, form fields, JSON strings): decimal
 * only. An integer is digits with an optional sign (`42`, `-3`); a number may also have a fraction and an exponent
 * (`0.5`, `.5`, `2e-3`). Anything else is `NaN`: hex and other radixes (`0x10`, `0b1`), an exponent for an integer
 * (`1e3`), spaces (` 5`), trailing text (`5abc`), `Infinity`, `NaN`, the empty string. (JavaScript's `Number()`
 * reads most of those.) Range checks are the caller's.
 *
 * @example
 * ```ts
 * import { parseDecimal } from "./params.ts";
 * parseDecimal("42", "int"); // 42
 * parseDecimal("2e-3", "float"); // 0.002
 * parseDecimal("0x10", "int"); // NaN
 * parseDecimal("1e3", "int"); // NaN
 * ```
 */
export function parseDecimal(text: string, kind: "int" | "float"): number {
  return (kind === "int" ? INT_TEXT : FLOAT_TEXT).test(text) ? Number(text) : NaN;
}

/**
 * The hint for text that is not decimal but that JavaScript would read as a finite number (`0x10`, `1e3` for an
 * integer, ` 5`): saying the range alone would puzzle whoever typed `0x10` for 16.
 */
function decimalHint(raw: unknown, kind: "int" | "float"): string | undefined {
  if (typeof raw !== "string" || raw.length > MAX_ECHO_CHARS || raw.trim() === "") return undefined;
  const js = Number(raw);
  const ok = kind === "int" ? Number.isInteger(js) : Number.isFinite(js);
  return ok ? `decimal digits only, e.g. ${js}` : undefined;
}

/** A numeric range, as {@linkcode checkNumber} and {@linkcode allowedText} take it. */
export interface NumberRange {
  /** `int`: whole numbers only; `float`: any finite number. */
  readonly kind: "int" | "float";
  /** Smallest accepted value (inclusive). */
  readonly min: number;
  /** Largest accepted value (inclusive). */
  readonly max: number;
}

/**
 * THE check of one number, on every face: `raw` is a number, or text read by {@linkcode parseDecimal}; it must be
 * finite, an integer for `int`, and within `[min, max]`. Otherwise a {@linkcode GenerateParamError} naming `field`,
 * with what is allowed (and, for text like `0x10`, the hint `decimal digits only`). The CLI's `numberOpt` and the
 * generation parameters (CLI and server) both use it.
 *
 * @example
 * ```ts
 * import { checkNumber } from "./params.ts";
 * checkNumber("port", { kind: "int", min: 0, max: 65535 }, "8080"); // 8080
 * // checkNumber("port", { kind: "int", min: 0, max: 65535 }, "0x1f90") throws
 * // port: expected an integer in [0, 65535], got "0x1f90" (decimal digits only)
 * ```
 */
export function checkNumber(field: string, spec: NumberRange, raw: unknown): number {
  const v = typeof raw === "number" ? raw : typeof raw === "string" ? parseDecimal(raw, spec.kind) : NaN;
  if (!Number.isFinite(v) || (spec.kind === "int" && !Number.isInteger(v)) || v < spec.min || v > spec.max) {
    const hint = Number.isNaN(v) ? decimalHint(raw, spec.kind) : undefined;
    throw new GenerateParamError(field, allowedText(spec), raw, undefined, hint);
  }
  return v;
}

function toBool(v: unknown): boolean | undefined {
  if (typeof v === "boolean") return v;
  if (v === "true" || v === "1" || v === "on") return true;
  if (v === "false" || v === "0" || v === "off") return false;
  return undefined;
}

/**
 * Checks one value against its spec (absent → the default) and returns it normalised, or throws a
 * {@linkcode GenerateParamError} naming `field`.
 */
function checkOne(field: string, spec: ParamSpec, raw: unknown): unknown {
  if (isAbsent(raw)) return spec.kind === "range" ? [...spec.default] : spec.default;
  if (spec.kind === "bool") {
    const b = toBool(raw);
    if (b === undefined) throw new GenerateParamError(field, allowedText(spec), raw);
    return b;
  }
  if (spec.kind === "text") {
    const t = typeof raw === "string" && raw.length <= 64 ? spec.normalize(raw) : undefined;
    if (t === undefined) throw new GenerateParamError(field, allowedText(spec), raw);
    return t;
  }
  if (spec.kind === "range") return checkRange(field, spec, raw);
  return checkNumber(field, spec, raw);
}

/** `"48-84"` (decimal integers) or `[48, 84]` → `[48, 84]`, both in the range and in order, else an error. */
function checkRange(field: string, spec: RangeParam, raw: unknown): [number, number] {
  let pair: unknown[] | undefined;
  if (typeof raw === "string") {
    const m = /^([0-9]+)-([0-9]+)$/.exec(raw);
    if (m) pair = [Number(m[1]), Number(m[2])];
  } else if (Array.isArray(raw) && raw.length === 2) pair = raw;
  const ok = pair?.every((v) =>
    typeof v === "number" && Number.isInteger(v) && v >= spec.min && v <= spec.max
  );
  if (!pair || !ok || (pair[0] as number) > (pair[1] as number)) {
    throw new GenerateParamError(field, allowedText(spec), raw);
  }
  return [pair[0] as number, pair[1] as number];
}

/**
 * Checks raw generation parameters against `table` (default {@linkcode GENERATE_PARAMS}) and returns them with
 * defaults filled in. Throws a {@linkcode GenerateParamError} for the first bad one: a value out of its range or of
 * the wrong kind, or more than one of `maxTokens`, `bars`, `seconds`. When none of those is given, `maxTokens` is
 * set to its default. Keys that are not parameters are ignored (so `GenerateOptions` can be passed as is).
 *
 * @example
 * ```ts
 * import { checkGenerateParams } from "./params.ts";
 * const p = checkGenerateParams({ temperature: "1.1", bars: 4 });
 * p.temperature; // 1.1
 * p.topK; // 50
 * p.maxTokens; // undefined (bars is the length)
 * ```
 */
export function checkGenerateParams(
  input: GenerateParamInput,
  table: ParamTable = GENERATE_PARAMS,
): GenerateParamValues {
  const given = LENGTH_PARAMS.filter((k) => !isAbsent(input[k]));
  if (given.length > 1) {
    throw new GenerateParamError(
      given[1],
      `one of ${LENGTH_PARAMS.join(", ")}`,
      input[given[1]],
      LENGTH_PARAMS,
    );
  }
  // Infilling: the length is the bars regenerated (`maxTokens` may cap the middle's tokens).
  const infilling = !isAbsent(input.infill);
  if (infilling && given.length && given[0] !== "maxTokens") {
    throw new GenerateParamError(given[0], "one of infill, maxTokens", input[given[0]], ["infill", given[0]]);
  }
  const out: Record<string, unknown> = {};
  const controls: Record<string, unknown> = {};
  const conditions: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(table) as [ParamName, ParamSpec][]) {
    if ((LENGTH_PARAMS as readonly string[]).includes(name)) {
      if (isAbsent(input[name]) && !(name === "maxTokens" && given.length === 0 && !infilling)) continue;
    }
    if (spec.kind === "text" && !spec.control) {
      // A condition or the infill range: off unless given.
      let raw = input[name];
      if (isAbsent(raw)) continue;
      if (name === "infill" && typeof raw === "object" && raw !== null && !Array.isArray(raw)) {
        const r = raw as { from?: unknown; to?: unknown };
        const ok = [r.from, r.to].every((v) => typeof v === "number" && Number.isInteger(v));
        raw = ok ? `${r.from}:${r.to}` : "";
        if (!ok || spec.normalize(raw as string) === undefined) {
          throw new GenerateParamError(name, allowedText(spec), input[name]);
        }
      }
      const v = checkOne(name, spec, raw) as string;
      if (name === "infill") {
        const [from, to] = v.split(":").map(Number);
        out.infill = { from, to };
      } else conditions[name] = v;
      continue;
    }
    if (spec.control) {
      // A control is off unless given; one that `requires` another takes its default when that one is given.
      const needs = spec.kind !== "text" && spec.kind !== "range" ? spec.requires : undefined;
      if (needs && isAbsent(input[needs])) {
        if (!isAbsent(input[name])) {
          throw new GenerateParamError(name, allowedText(spec), input[name], undefined, undefined, needs);
        }
        continue;
      }
      if (!needs && isAbsent(input[name])) continue;
      controls[name] = checkOne(name, spec, input[name]);
      continue;
    }
    out[name] = checkOne(name, spec, input[name]);
  }
  if (Object.keys(controls).length) out.controls = controls;
  if (Object.keys(conditions).length) out.conditions = conditions;
  return out as unknown as GenerateParamValues;
}

/**
 * A library error about a control (a `RangeError` from lib/infer/controls.ts whose message starts with the control's
 * name, like `timeSignature: 13/16 is not in this tokenizer's vocabulary`) as a {@linkcode GenerateParamError}
 * naming it, so that each face reports it as it reports a bad parameter (the CLI by its flag, the server as a 400
 * naming the field). Anything else: undefined.
 *
 * @example
 * ```ts
 * import { controlError } from "./params.ts";
 * const e = controlError(new RangeError("timeSignature: 13/16 is not in this tokenizer's vocabulary"), {
 *   timeSignature: "13/16",
 * });
 * e?.field; // "timeSignature"
 * e?.message; // 'timeSignature: expected a time signature like 3/4 or 6/8, got "13/16" (13/16 is not in …)'
 * ```
 */
export function controlError(
  e: unknown,
  controls: Readonly<Record<string, unknown>> | undefined,
  table: ParamTable = GENERATE_PARAMS,
): GenerateParamError | undefined {
  if (!(e instanceof RangeError) || !controls) return undefined;
  const m = /^([A-Za-z]+): (.*)$/.exec(e.message.split("\n")[0]);
  if (!m || !CONTROL_PARAMS.includes(m[1] as ParamName)) return undefined;
  const name = m[1] as ParamName;
  return new GenerateParamError(
    name,
    allowedText(table[name]),
    controls[name],
    undefined,
    clipText(m[2], 200),
  );
}

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
