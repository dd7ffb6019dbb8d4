/**
 * The argument-parsing seam for `tasks/*.ts`: `node:util` `parseArgs` here (JSR is unreachable on these machines),
 * with numbers validated into one-line errors. Swap the body for `jsr:@std/cli` where it is reachable.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** One option: `string` (values are parsed by the task) or `boolean`. */
export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  default?: string | boolean;
  multiple?: boolean;
}

/** A CLI usage error: the task prints its message (one line) and exits 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * Parses `args` against `options`; unknown options are a `UsageError`.
 *
 * @example
 * ```ts
 * import { parseCli } from "./args.ts";
 * const { values } = parseCli(["--seed", "7"], { seed: { type: "string" } });
 * values.seed; // "7"
 * ```
 */
export function parseCli(
  args: string[],
  options: Record<string, OptionSpec>,
): { values: Record<string, string | boolean | string[] | boolean[] | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message.split("\n")[0]);
  }
}

/**
 * Reads a numeric option, checking it is finite and within [min, max].
 *
 * @example
 * ```ts
 * import { numberOpt } from "./args.ts";
 * numberOpt({ temperature: "0.9" }, "temperature", 0.8, 0.1, 2); // 0.9
 * ```
 */
export function numberOpt(
  values: Record<string, unknown>,
  name: string,
  fallback: number,
  min = -Infinity,
  max = Infinity,
  integer = false,
): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min || v > max) {
    throw new UsageError(
      `--${name}: expected ${integer ? "an integer" : "a number"} in [${min}, ${max}], got ${
        JSON.stringify(raw)
      }`,
    );
  }
  return v;
}

/**
 * Runs a task's `main`, turning expected errors into one-line messages and exit codes (2 usage, 1 failure).
 *
 * @example
 * ```ts
 * import { runMain } from "./args.ts";
 * if (import.meta.main) await runMain(async () => console.log("hello"));
 * ```
 */
export async function runMain(main: () => Promise<void> | void): Promise<void> {
  try {
    await main();
  } catch (e) {
    const err = e as Error;
    console.error(`error: ${err.message ?? String(e)}`);
    if (Deno.env.get("ETUDE_DEBUG")) console.error(err.stack);
    Deno.exit(e instanceof UsageError ? 2 : 1);
  }
}
