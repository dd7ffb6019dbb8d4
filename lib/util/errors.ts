/**
 * The error a bad option or argument raises, wherever it is checked: the library functions a task calls check their
 * own options (one check, in the library) and throw this, so the task prints its one-line message and exits 2
 * (`runMain` in lib/cli/args.ts, which re-exports it).
 *
 * @module
 */

/**
 * A usage error (a bad option value or combination): the task prints its message (one line) and exits 2.
 *
 * @example
 * ```ts
 * import { UsageError } from "./errors.ts";
 * const e = new UsageError("--vocab applies to remi-bpe only");
 * e.name; // "UsageError"
 * ```
 */
export class UsageError extends Error {
  /** The error's name. */
  override name = "UsageError";
}
