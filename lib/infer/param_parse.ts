/**
 * Numbers typed as text (CLI options, query strings, form fields) follow one rule, {@linkcode parseDecimal}: decimal
 * only (no `0x10`, no `1e3` for an integer, no spaces, `Infinity` or `NaN`), checked with the range by
 * {@linkcode checkNumber}, which every task's numeric options use too. Only `undefined` is "not given"
 * ({@linkcode isAbsent}): an empty string is a wrong value, not a default. {@linkcode allowedText} says what a
 * parameter allows, as error messages put it.
 *
 * @module
 */
import type { ParamSpec } from "./param_spec.ts";
import { GenerateParamError, MAX_ECHO_CHARS } from "./param_error.ts";

/**
 * What a parameter allows, as a phrase: `an integer in [0, 500]`, `a number in [0.01, 1]`, `true or false`.
 *
 * @example
 * ```ts
 * import { allowedText } from "./param_parse.ts";
 * import { GENERATE_PARAMS } from "./params.ts";
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
 * import { isAbsent } from "./param_parse.ts";
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
 * import { parseDecimal } from "./param_parse.ts";
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
 * import { checkNumber } from "./param_parse.ts";
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
