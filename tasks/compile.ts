/**
 * `deno task compile [--model models/default] [--out-dir dist] [--no-binary]`: the generator CLI as one file with
 * the model and kernels embedded — `dist/etude-bundle.js` (`deno bundle`; run it with `deno run -A`) and the
 * `dist/etude` executable (`deno compile`; needs dl.deno.land or `DENORT_BIN`).
 *
 * @module
 */
import { parseCli, runMain, UsageError } from "../lib/cli/args.ts";
import { buildDist } from "../lib/bundle/compile.ts";

const USAGE = "usage: deno task compile [--model models/default] [--out-dir dist] [--no-binary]";

if (import.meta.main) {
  await runMain(async () => {
    const { values, positionals } = parseCli(Deno.args, {
      model: { type: "string" },
      "out-dir": { type: "string" },
      "no-binary": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    });
    if (positionals.length) {
      throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}; ${USAGE}`);
    }
    if (values.help) return console.log(USAGE);
    await buildDist({
      modelDir: typeof values.model === "string" ? values.model : undefined,
      outDir: typeof values["out-dir"] === "string" ? values["out-dir"] : undefined,
      binary: !values["no-binary"],
    });
  });
}
