/**
 * The check of a generation's parameters against `GENERATE_PARAMS` (lib/infer/params.ts) or a face's narrowed copy:
 * {@linkcode checkGenerateParams} fills in defaults, picks the one length unit and returns the controls and
 * conditions given; {@linkcode controlError} reports a library error about a control as a bad parameter.
 *
 * @module
 */
import type { Controls } from "./controls.ts";
import {
  CONTROL_PARAMS,
  LENGTH_PARAMS,
  type ParamName,
  type ParamSpec,
  type ParamTable,
  type RangeParam,
} from "./param_spec.ts";
import { GENERATE_PARAMS } from "./params.ts";
import { clipText, GenerateParamError } from "./param_error.ts";
import { allowedText, checkNumber, isAbsent } from "./param_parse.ts";

/**
 * The checked parameters: defaults filled in, exactly one length unit set.
 *
 * @example
 * ```ts
 * import { checkGenerateParams } from "./param_check.ts";
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
  /** Classifier-free guidance scale over the learned conditions, in [1, 10] (default 1 = off). */
  guidanceScale: number;
  /** The key's guidance scale (the larger of it and `guidanceScale` applies), in [1, 10] (default 1). */
  keyGuidanceScale: number;
  /** The density's guidance scale (the larger of it and `guidanceScale` applies), in [1, 10] (default 1). */
  densityGuidanceScale: number;
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
 * `parseDecimal`, lib/infer/param_parse.ts); booleans may be booleans or `true`/`1`/`on`/`false`/`0`/`off`. Only
 * `undefined` means absent: `""` (an empty form field or `--seed ""`) is a value, and a wrong one.
 *
 * @example
 * ```ts
 * import { checkGenerateParams, type GenerateParamInput } from "./param_check.ts";
 * const fromForm: GenerateParamInput = { bars: "16", grammar: "off", seed: undefined };
 * checkGenerateParams(fromForm).grammar; // false
 * ```
 */
export type GenerateParamInput = { readonly [K in ParamName]?: unknown };

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
 * import { checkGenerateParams } from "./param_check.ts";
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
 * import { controlError } from "./param_check.ts";
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
