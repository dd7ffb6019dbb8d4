/**
 * How a bad generation parameter is reported on every face: {@linkcode GenerateParamError} (the field, what is
 * allowed, the value given), and how an error message echoes what a user sent ({@linkcode showValue},
 * {@linkcode clipText}: at most {@linkcode MAX_ECHO_CHARS} characters).
 *
 * @module
 */

/**
 * An out-of-range (or conflicting) generation parameter; `field` names it (its `GenerateOptions` name).
 *
 * @example
 * ```ts
 * import { checkGenerateParams } from "./param_check.ts";
 * import { GenerateParamError } from "./param_error.ts";
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
   * import { GenerateParamError } from "./param_error.ts";
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
 * import { MAX_ECHO_CHARS } from "./param_error.ts";
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
 * import { clipText } from "./param_error.ts";
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
 * import { showValue } from "./param_error.ts";
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
