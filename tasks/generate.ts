/**
 * `deno task generate`: sample piano music from a model into .mid (and .wav) files. See `--help`.
 *
 * @module
 */
import { runMain } from "../lib/cli/args.ts";
import { generateCli } from "../lib/cli/generate.ts";

if (import.meta.main) {
  await runMain(async () => {
    const r = await generateCli(Deno.args);
    if (r?.refused.length) Deno.exit(3); // --max-copy refused a piece
  });
}
