/**
 * `deno task generate`: sample piano music from a model into .mid (and .wav) files. See `--help`.
 *
 * @module
 */
import { runMain } from "../lib/cli.ts";
import { generateCli } from "../lib/generate_cli.ts";

if (import.meta.main) {
  await runMain(async () => {
    await generateCli(Deno.args);
  });
}
