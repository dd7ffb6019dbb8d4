/**
 * The shape of a generation parameter's specification: {@linkcode NumberParam}, {@linkcode TextParam},
 * {@linkcode RangeParam}, {@linkcode BoolParam}, the {@linkcode ParamTable} of all of them by name, and two groups of
 * names ({@linkcode LENGTH_PARAMS}, {@linkcode CONTROL_PARAMS}). The table itself is `GENERATE_PARAMS`
 * (lib/infer/params.ts).
 *
 * @module
 */

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
   * --conditioning`; a model without it refuses the parameter (lib/infer/conditions.ts).
   */
  readonly condition?: true;
}

/**
 * An integer range parameter (a control: `pitchRange`): `LO-HI` as text, or `[lo, hi]`, both in `[min, max]`,
 * `lo <= hi`.
 *
 * @example
 * ```ts
 * import { checkGenerateParams } from "./param_check.ts";
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
 * import { GENERATE_PARAMS } from "./params.ts";
 * import { type ParamSpec } from "./param_spec.ts";
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
  /**
   * Classifier-free guidance over the learned conditions: logits = unconditional + scale × (conditional −
   * unconditional); 1 = off.
   */
  readonly guidanceScale: NumberParam;
  /**
   * The key's guidance scale: with a key asked it is guided at the larger of this and `guidanceScale`, the other
   * conditions at `guidanceScale` (composable guidance, lib/infer/guidance.ts); 1 = as `guidanceScale`.
   */
  readonly keyGuidanceScale: NumberParam;
  /** The density's guidance scale, as `keyGuidanceScale` is the key's. */
  readonly densityGuidanceScale: NumberParam;
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
  /** Control: how much the key's tonic is favoured (with `key`). */
  readonly keyTonic: NumberParam;
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
 * import { GENERATE_PARAMS } from "./params.ts";
 * import { type ParamName } from "./param_spec.ts";
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
 * import { CONTROL_PARAMS } from "./param_spec.ts";
 * CONTROL_PARAMS.includes("key"); // true
 * ```
 */
export const CONTROL_PARAMS: readonly ParamName[] = Object.freeze(
  [
    "key",
    "keyStrength",
    "keyTonic",
    "pitchRange",
    "maxNoteBeats",
    "tempo",
    "timeSignature",
    "density",
    "maxPolyphony",
    "noRepeatNgram",
  ] as const,
);
