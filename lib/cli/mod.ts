/**
 * The command-line faces' shared parts: option parsing with decimal-only numbers and one-line usage errors
 * (`args.ts`), and the `deno task generate` command (`generate.ts`), which the single-file bundle also runs.
 *
 * @example
 * ```ts ignore
 * import { generateCli } from "./mod.ts";
 * const r = await generateCli(["--bars", "4", "--seed", "1", "--out", "four-bars.mid"]);
 * console.log(r?.midiFiles);
 * ```
 *
 * @module
 */
export * from "./args.ts";
export * from "./generate.ts";
