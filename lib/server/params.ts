/**
 * Validation of generation parameters arriving over HTTP (JSON body, form fields or a query string). The ranges,
 * defaults and field names are `GENERATE_PARAMS` (lib/infer/params.ts), narrowed here, explicitly, by the server's
 * own limits ({@linkcode SERVER_PARAMS}); the same narrowed table is served at `GET /api/params`. The first bad
 * field becomes a {@linkcode ParamError} naming the field (as the client spelled it) and what is allowed, which the
 * app turns into a 400 `{error, field, allowed}`.
 *
 * @module
 */
import { SAMPLING_NAMES } from "../infer/generation_config.ts";
import { allowedText, isAbsent } from "../infer/param_parse.ts";
import { checkGenerateParams } from "../infer/param_check.ts";
import { clipText, GenerateParamError, showValue } from "../infer/param_error.ts";
import { narrowParams, randomSeed } from "../infer/params.ts";
import { type ParamName, type ParamSpec, type ParamTable } from "../infer/param_spec.ts";
import { decodeBase64 as decodeBytes, encodeBase64 } from "../util/base64.ts";
import type { Controls } from "../infer/controls.ts";

/**
 * A rejected parameter: `field` and a human-readable `allowed` range or set.
 *
 * @example
 * ```ts
 * import { ParamError, parseGenerateParams } from "./params.ts";
 * try {
 *   parseGenerateParams({ topK: "9000" });
 * } catch (e) {
 *   if (e instanceof ParamError) console.log(e.field, e.allowed); // the server answers 400 with both
 * }
 * ```
 */
export class ParamError extends Error {
  /** The error's name. */
  override name = "ParamError";
  /** `field`: the parameter; `allowed`: its range or set, for the 400 answer. */
  constructor(readonly field: string, readonly allowed: string, message: string) {
    super(message);
  }
}

/**
 * The generation parameters as the server accepts them: `GENERATE_PARAMS` narrowed to what one request may cost
 * (shorter pieces, one sequence per request).
 */
export const SERVER_PARAMS: ParamTable = narrowParams({
  maxTokens: { max: 4096 },
  bars: { max: 128 },
  seconds: { max: 600 },
  batch: { max: 1 },
});

/**
 * Validated generation parameters (exactly one length unit is set). Ranges and defaults: {@linkcode SERVER_PARAMS}.
 *
 * @example
 * ```ts
 * import { parseGenerateParams } from "./params.ts";
 * const p = parseGenerateParams({ model: "default", bars: "8", top_k: "40" }); // query or JSON fields
 * [p.model, p.bars, p.topK, p.maxTokens]; // ["default", 8, 40, undefined]
 * ```
 */
export interface GenerateParams {
  /** Model directory name under the models dir. */
  model: string;
  /** Sampling temperature. */
  temperature: number;
  /** Top-k, 0 = off. */
  topK: number;
  /** Top-p (nucleus). */
  topP: number;
  /** Classifier-free guidance over the learned conditions (1 = off). */
  guidanceScale: number;
  /** The key's guidance scale (the larger of it and `guidanceScale` guides a key; 1 = as `guidanceScale`). */
  keyGuidanceScale: number;
  /** The density's guidance scale (as `keyGuidanceScale` is the key's). */
  densityGuidanceScale: number;
  /** Sampling seed (random when not given). */
  seed: number;
  /** Grammar-constrained decoding. */
  grammar: boolean;
  /** Length in tokens (the default length unit). */
  maxTokens?: number;
  /** Length in bars. */
  bars?: number;
  /** Length in seconds. */
  seconds?: number;
  /** Base64 MIDI prompt (JSON / query) — decoded by the app. */
  promptBase64?: string;
  /** The hard controls given (key, pitch range, …), checked and normalised; absent when none is. */
  controls?: Controls;
  /** The learned conditions given (`style`); absent when none is (the model must have been trained with them). */
  conditions?: { style?: "classical" | "pop" };
  /** Infilling: bars `from..to` of the prompt regenerated (`"5:8"` or `{from, to}`); absent when not given. */
  infill?: { from: number; to: number };
  /**
   * The sampling fields left out (filled from the table here): the app sets them from the model's own defaults
   * (`generation_config.json`) once it is loaded.
   */
  defaulted?:
    ("temperature" | "topK" | "topP" | "guidanceScale" | "keyGuidanceScale" | "densityGuidanceScale")[];
}

/**
 * One parameter as `GET /api/params` describes it (to clients and the page's sliders).
 *
 * @example
 * ```ts
 * import { PARAM_LIMITS } from "./params.ts";
 * const t = PARAM_LIMITS.temperature;
 * [t.kind, t.min, t.max, t.step, t.default]; // ["float", 0.1, 2, 0.05, 0.8]
 * ```
 */
export interface ParamLimit {
  /** `int`, `float`, `bool`, `text` (a control's word: a key, a time signature) or `range` (`[lo, hi]`). */
  kind: ParamSpec["kind"];
  /** Smallest accepted value, inclusive (numbers and ranges). */
  min?: number;
  /** Largest accepted value, inclusive (numbers and ranges). */
  max?: number;
  /** Slider step (numbers and ranges). */
  step?: number;
  /**
   * The value used when absent (none for the seed: a random one is drawn, see `random`); for a control, the value
   * a client suggests when the control is turned on.
   */
  default?: number | boolean | string | [number, number];
  /** True when a random value is drawn when absent (the seed). */
  random?: true;
  /** True for a hard control: off unless given. */
  control?: true;
  /** True for a learned condition (`style`): off unless given, only for a model trained with conditioning. */
  condition?: true;
  /** A control that applies only with this field (its canonical name) given. */
  requires?: string;
  /** Text controls: the values to offer (`exhaustive`: all that are allowed; else common examples). */
  choices?: string[];
  /** Text controls: whether `choices` are all the allowed values. */
  exhaustive?: boolean;
  /** What is allowed, as in a 400 answer's `allowed`. */
  allowed: string;
  /** Accepted field names, the canonical one (this entry's key) first. */
  fields: string[];
  /** One line of documentation. */
  doc: string;
}

/**
 * The `GET /api/params` answer for a table: each HTTP-visible parameter under its canonical field name.
 *
 * @example
 * ```ts
 * import { paramLimits, SERVER_PARAMS } from "./params.ts";
 * paramLimits(SERVER_PARAMS).tokens.max; // 4096
 * paramLimits(SERVER_PARAMS).topP.default; // 0.95
 * ```
 */
export function paramLimits(table: ParamTable): Record<string, ParamLimit> {
  const out: Record<string, ParamLimit> = {};
  for (const spec of Object.values(table) as ParamSpec[]) {
    if (!spec.http.length) continue;
    const common = { allowed: allowedText(spec), fields: [...spec.http], doc: spec.doc };
    const control = spec.control ? { control: true as const } : {};
    let e: ParamLimit;
    if (spec.kind === "bool") e = { kind: "bool", default: spec.default, ...common };
    else if (spec.kind === "text") {
      e = {
        kind: "text",
        default: spec.default,
        choices: [...spec.choices],
        exhaustive: spec.exhaustive,
        ...control,
        ...(spec.condition ? { condition: true as const } : {}),
        ...common,
      };
    } else if (spec.kind === "range") {
      e = {
        kind: "range",
        min: spec.min,
        max: spec.max,
        step: spec.step,
        default: [spec.default[0], spec.default[1]],
        ...control,
        ...common,
      };
    } else {
      e = {
        kind: spec.kind,
        min: spec.min,
        max: spec.max,
        step: spec.step,
        ...(spec.random ? { random: true as const } : { default: spec.default }),
        ...control,
        ...(spec.requires ? { requires: table[spec.requires].http[0] } : {}),
        ...common,
      };
    }
    out[spec.http[0]] = e;
  }
  return out;
}

/**
 * Ranges and defaults as served at `/api/params` (and read by the page): {@linkcode SERVER_PARAMS}'s.
 *
 * @example
 * ```ts
 * import { PARAM_LIMITS } from "./params.ts";
 * PARAM_LIMITS.tokens.max; // 4096 (the library allows 65536)
 * PARAM_LIMITS.temperature.allowed; // "a number in [0.1, 2]"
 * ```
 */
export const PARAM_LIMITS: Readonly<Record<string, ParamLimit>> = Object.freeze(paramLimits(SERVER_PARAMS));

/** Fields that are not generation parameters. */
const OTHER_FIELDS = ["model", "prompt", "format"];

const KNOWN = new Set([
  ...(Object.values(SERVER_PARAMS) as ParamSpec[]).flatMap((s) => s.http),
  ...OTHER_FIELDS,
]);

/** The fields an unknown one is answered with: each parameter's first name (its aliases are accepted too). */
const KNOWN_TEXT = `${
  [...(Object.values(SERVER_PARAMS) as ParamSpec[]).flatMap((s) => s.http.slice(0, 1)), ...OTHER_FIELDS].join(
    ", ",
  )
} (or their aliases: snake_case, maxTokens)`;

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * A {@linkcode GenerateParamError} (its `field` a `GenerateOptions` name) as a {@linkcode ParamError} naming the
 * field as the client spelled it (`used`), else by its canonical HTTP name.
 *
 * @example
 * ```ts
 * import { toParamError } from "./params.ts";
 * import { GenerateParamError } from "../infer/param_error.ts";
 * toParamError(new GenerateParamError("maxTokens", "an integer in [1, 4096]", 0)).field; // "tokens"
 * ```
 */
export function toParamError(
  e: GenerateParamError,
  used: Partial<Record<string, string>> = {},
  table: ParamTable = SERVER_PARAMS,
): ParamError {
  const name = (f: string) => used[f] ?? table[f as ParamName]?.http[0] ?? f;
  const d = e.describe(name);
  return new ParamError(name(e.field), d.allowed, d.message);
}

/**
 * Validates raw parameters. Unknown fields are rejected too (a typo must not silently fall back to a default), and
 * so is an empty value (`?seed=`, `"temperature": ""`, `"prompt": ""`): only a field left out takes its default.
 * Numbers given as text must be decimal (`"0x10"` is refused). Messages echo at most 64 characters of what was sent.
 * `randomSeed` supplies the seed when none is given.
 *
 * @example
 * ```ts
 * import { parseGenerateParams } from "./params.ts";
 * const p = parseGenerateParams({ temperature: "1.1", bars: 4 });
 * p.temperature; // 1.1
 * p.topK; // 50
 * ```
 */
export function parseGenerateParams(
  raw: Record<string, unknown>,
  drawSeed: () => number = () => randomSeed(SERVER_PARAMS.seed),
): GenerateParams {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new ParamError("body", "a JSON object", "body: expected a JSON object of parameters");
  }
  for (const k of Object.keys(raw)) {
    if (!KNOWN.has(k)) {
      const key = clipText(k);
      throw new ParamError(key, KNOWN_TEXT, `${key}: unknown parameter`);
    }
  }
  const model = raw.model === undefined ? "default" : raw.model;
  if (typeof model !== "string" || !MODEL_NAME.test(model)) {
    throw new ParamError(
      "model",
      "a model name ([A-Za-z0-9._-], ≤ 64 chars)",
      `model: expected a model name, got ${showValue(model)}`,
    );
  }
  // Each parameter under its GenerateOptions name, from the first of its field names that is given.
  const input: Record<string, unknown> = {};
  const used: Record<string, string> = {};
  for (const [name, spec] of Object.entries(SERVER_PARAMS) as [ParamName, ParamSpec][]) {
    const f = spec.http.find((n) => !isAbsent(raw[n]));
    if (f === undefined) continue;
    input[name] = raw[f];
    used[name] = f;
  }
  if (isAbsent(input.seed)) input.seed = drawSeed();
  let p;
  try {
    p = checkGenerateParams(input, SERVER_PARAMS);
  } catch (e) {
    if (e instanceof GenerateParamError) throw toParamError(e, used);
    throw e;
  }
  const out: GenerateParams = {
    model,
    temperature: p.temperature,
    topK: p.topK,
    topP: p.topP,
    guidanceScale: p.guidanceScale,
    keyGuidanceScale: p.keyGuidanceScale,
    densityGuidanceScale: p.densityGuidanceScale,
    seed: p.seed,
    grammar: p.grammar,
  };
  if (p.maxTokens !== undefined) out.maxTokens = p.maxTokens;
  if (p.bars !== undefined) out.bars = p.bars;
  if (p.seconds !== undefined) out.seconds = p.seconds;
  if (p.controls) out.controls = p.controls;
  if (p.conditions) out.conditions = p.conditions;
  if (p.infill) out.infill = p.infill;
  const defaulted = SAMPLING_NAMES.filter((k) => used[k] === undefined);
  if (defaulted.length) out.defaulted = [...defaulted];
  const prompt = raw.prompt;
  if (prompt !== undefined) {
    if (typeof prompt !== "string" || !/^[A-Za-z0-9+/=\s]+$/.test(prompt) || prompt.trim() === "") {
      const got = typeof prompt === "string"
        ? (prompt.trim() === "" ? ", got an empty string" : "")
        : `, got ${showValue(prompt)}`;
      throw new ParamError(
        "prompt",
        "a base64-encoded MIDI file",
        `prompt: expected a base64-encoded MIDI file${got}`,
      );
    }
    out.promptBase64 = prompt;
  }
  return out;
}

/**
 * Decodes base64 to bytes, or throws a {@linkcode ParamError} for `field`.
 *
 * @example
 * ```ts
 * import { decodeBase64 } from "./params.ts";
 * decodeBase64("TVRoZA==", "prompt"); // Uint8Array [77, 84, 104, 100]
 * ```
 */
export function decodeBase64(b64: string, field: string): Uint8Array {
  try {
    return decodeBytes(b64);
  } catch {
    throw new ParamError(field, "base64", `${field}: not valid base64`);
  }
}

/** Encodes bytes as base64 (lib/util/base64.ts's, re-exported for the app and its tests). */
export { encodeBase64 };
