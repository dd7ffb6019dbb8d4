/**
 * The argument-parsing seam for `tasks/*.ts`: `node:util` `parseArgs` here (JSR is unreachable on these machines),
 * with numbers validated into one-line errors. Swap the body for `jsr:@std/cli` where it is reachable.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { UsageError } from "../util/errors.ts";
import {
  checkGenerateParams,
  type GenerateParamInput,
  type GenerateParamValues,
} from "../infer/param_check.ts";
import { checkNumber, isAbsent } from "../infer/param_parse.ts";
import { GENERATE_PARAMS, randomSeed } from "../infer/params.ts";
import { GenerateParamError } from "../infer/param_error.ts";
import { LENGTH_PARAMS, type ParamName, type ParamSpec, type ParamTable } from "../infer/param_spec.ts";

/** One option: `string` (values are parsed by the task) or `boolean`. */
export interface OptionSpec {
  /** `string`: takes a value; `boolean`: a flag. */
  type: "string" | "boolean";
  /** A one-letter alias (`-h`). */
  short?: string;
  /** The value when the option is absent. */
  default?: string | boolean;
  /** Whether the option may repeat (values collected in an array). */
  multiple?: boolean;
}

/**
 * A CLI usage error: the task prints its message (one line) and exits 2. Defined in lib/util/errors.ts, so that the
 * libraries the tasks call can check their own options.
 */
export { UsageError };

/** Text that reads as a negative number (`-1`, `-0.5`, `-.5`, `-1e3`, `-0x10`): a value, not an option. */
const NEGATIVE = /^-\.?[0-9]/;

/**
 * `--opt -1` → `--opt=-1` for string options (and `-o -1` → `-o-1`): `parseArgs` takes an argument starting with a
 * dash for an option and calls the value ambiguous, so the value's own check (and its allowed range) never ran.
 * No option of these tasks looks like a negative number, so none is lost.
 */
function joinNegativeValues(args: string[], options: Record<string, OptionSpec>): string[] {
  const takesValue = (a: string) => {
    if (a.startsWith("--")) return !a.includes("=") && options[a.slice(2)]?.type === "string";
    if (a.length !== 2 || a[0] !== "-") return false;
    return Object.values(options).some((o) => o.short === a[1] && o.type === "string");
  };
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") {
      out.push(...args.slice(i));
      break;
    }
    if (takesValue(a) && i + 1 < args.length && NEGATIVE.test(args[i + 1])) {
      out.push(a.startsWith("--") ? `${a}=${args[i + 1]}` : `${a}${args[i + 1]}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/**
 * Parses `args` against `options`; unknown options are a `UsageError`. A string option's value may be a negative
 * number (`--temperature -1`), so that its own check says what is allowed.
 *
 * @example
 * ```ts
 * import { parseCli } from "./args.ts";
 * const { values } = parseCli(["--seed", "7"], { seed: { type: "string" } });
 * values.seed; // "7"
 * parseCli(["--temperature", "-1"], { temperature: { type: "string" } }).values.temperature; // "-1"
 * ```
 */
export function parseCli(
  args: string[],
  options: Record<string, OptionSpec>,
): { values: Record<string, string | boolean | string[] | boolean[] | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({
      args: joinNegativeValues(args, options),
      options,
      allowPositionals: true,
      strict: true,
    });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message.split("\n")[0]);
  }
}

/**
 * Reads a numeric option, checking it is decimal text (`parseDecimal`, lib/infer/param_parse.ts: no hex, no
 * `Infinity`, no exponent for an integer) within [min, max]; otherwise a one-line {@linkcode UsageError} naming the
 * option and the range.
 *
 * @example
 * ```ts
 * import { numberOpt } from "./args.ts";
 * numberOpt({ port: "8080" }, "port", 8000, 0, 65535, true); // 8080
 * // numberOpt({ port: "0x1f90" }, "port", 8000, 0, 65535, true) throws
 * // --port: expected an integer in [0, 65535], got "0x1f90" (decimal digits only)
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
  try {
    return checkNumber(`--${name}`, { kind: integer ? "int" : "float", min, max }, raw);
  } catch (e) {
    if (e instanceof GenerateParamError) throw new UsageError(e.message);
    throw e;
  }
}

/** Which generation parameters a task offers as options, and how. */
export interface CliParamOptions {
  /** The table (default `GENERATE_PARAMS`; a task may narrow it, e.g. another default seed). */
  table?: ParamTable;
  /** Only these parameters (default: every one with a CLI flag), in table order. */
  only?: readonly ParamName[];
  /** Draw a random value for an absent `random` parameter (the seed), and say so in `--help` (default true). */
  draw?: boolean;
}

type CliSpec = ParamSpec & { cli: { flag: string } };

/** The table's parameters that have a CLI flag (and are in `only`), in table order. */
function cliParams(o: CliParamOptions): [ParamName, CliSpec][] {
  return (Object.entries(o.table ?? GENERATE_PARAMS) as [ParamName, ParamSpec][]).filter((e): e is [
    ParamName,
    CliSpec,
  ] => e[1].cli !== undefined && (!o.only || o.only.includes(e[0])));
}

/**
 * The `parseCli` options of the generation parameters (from `GENERATE_PARAMS`, or a narrowed table).
 *
 * @example
 * ```ts
 * import { paramOptions } from "./args.ts";
 * paramOptions()["top-p"]; // { type: "string" }
 * paramOptions()["no-grammar"]; // { type: "boolean" }
 * ```
 */
export function paramOptions(o: CliParamOptions = {}): Record<string, OptionSpec> {
  const out: Record<string, OptionSpec> = {};
  for (const [, spec] of cliParams(o)) {
    out[spec.cli.flag] = { type: spec.kind === "bool" ? "boolean" : "string" };
  }
  return out;
}

/**
 * The `--help` lines of the generation parameters: flag, doc, range and default, from the table.
 *
 * @example
 * ```ts
 * import { paramUsage } from "./args.ts";
 * paramUsage().includes("--top-p P            sample among"); // true
 * ```
 */
export function paramUsage(o: CliParamOptions = {}): string {
  const lines: string[] = [];
  const entries = cliParams(o);
  const lengths = entries.filter(([n]) => (LENGTH_PARAMS as readonly string[]).includes(n));
  for (const [name, spec] of entries) {
    let head: string, text: string;
    if (spec.kind === "bool") {
      head = `--${spec.cli.flag}`;
      text = spec.cli.doc ?? spec.doc;
    } else if (spec.kind === "text" || spec.kind === "range") {
      // Controls: off unless given.
      const cli = spec.cli as NonNullable<typeof spec.cli>;
      head = `--${cli.flag} ${cli.metavar}`;
      const what = spec.kind === "range"
        ? `, ${spec.min}–${spec.max}`
        : spec.exhaustive
        ? `: ${spec.choices.join(" | ")}`
        : "";
      text = `${cli.doc ?? spec.doc}${what} (default: off)`;
    } else {
      const cli = spec.cli as NonNullable<typeof spec.cli>;
      head = `--${cli.flag} ${cli.metavar}`;
      // Of the length units, only the default one (maxTokens) is applied unasked.
      const isLength = (LENGTH_PARAMS as readonly string[]).includes(name);
      const def = spec.random && o.draw !== false
        ? " (default: random, printed)"
        : isLength && name !== LENGTH_PARAMS[0]
        ? ""
        : spec.requires
        ? ` (default ${spec.default}, with --${(o.table ?? GENERATE_PARAMS)[spec.requires].cli?.flag})`
        : spec.control
        ? " (default: off)"
        : ` (default ${spec.default})`;
      text = `${cli.doc ?? spec.doc}, ${spec.min}–${spec.max}${def}`;
    }
    lines.push(`  ${head.padEnd(20)} ${text}`);
    if (lengths.length > 1 && name === lengths.at(-1)![0]) {
      lines.push(
        `  ${"".padEnd(20)} (give at most one of ${lengths.map(([, s]) => `--${s.cli.flag}`).join(", ")})`,
      );
    }
  }
  return lines.join("\n");
}

/**
 * Reads and checks the generation parameters from parsed CLI `values` against the table: defaults filled in, a
 * random seed drawn when none is given (unless `draw` is false), and any bad value a one-line
 * {@linkcode UsageError} naming its flag (`--top-p: expected a number in [0.01, 1], got "2"`).
 *
 * @example
 * ```ts
 * import { paramsFromCli } from "./args.ts";
 * const p = paramsFromCli({ "top-k": "10", "no-grammar": true });
 * [p.topK, p.grammar, p.maxTokens]; // [10, false, 512]
 * ```
 */
export function paramsFromCli(values: Record<string, unknown>, o: CliParamOptions = {}): GenerateParamValues {
  const raw: Record<string, unknown> = {};
  for (const [name, spec] of cliParams(o)) {
    const v = values[spec.cli.flag];
    // A boolean flag sets the opposite of the default (`--no-grammar`).
    raw[name] = spec.kind === "bool" ? (v ? !spec.default : undefined) : v;
    if (
      o.draw !== false && (spec.kind === "int" || spec.kind === "float") && spec.random && isAbsent(raw[name])
    ) {
      raw[name] = randomSeed(spec);
    }
  }
  try {
    return checkGenerateParams(raw as GenerateParamInput, o.table);
  } catch (e) {
    if (e instanceof GenerateParamError) throw new UsageError(cliParamMessage(e, o.table));
    throw e;
  }
}

/**
 * A {@linkcode GenerateParamError}'s message with each parameter named by its CLI flag (`--top-p`).
 *
 * @example
 * ```ts
 * import { cliParamMessage } from "./args.ts";
 * import { GenerateParamError } from "../infer/param_error.ts";
 * cliParamMessage(new GenerateParamError("topK", "an integer in [0, 500]", "9999"));
 * // '--top-k: expected an integer in [0, 500], got "9999"'
 * ```
 */
export function cliParamMessage(e: GenerateParamError, table: ParamTable = GENERATE_PARAMS): string {
  const flag = (f: string) => {
    const cli = table[f as ParamName]?.cli;
    return cli ? `--${cli.flag}` : f;
  };
  return e.describe(flag).message.split("\n")[0];
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
