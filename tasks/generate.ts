/**
 * `deno task generate`: sample piano music from a model into .mid (and .wav) files. See `--help`.
 *
 * @module
 */
import { runMain } from "../lib/cli/args.ts";
import { generateCli } from "../lib/cli/generate.ts";

if (import.meta.main) {
  await runMain(async () => {
    await generateCli(Deno.args);
  });
}
