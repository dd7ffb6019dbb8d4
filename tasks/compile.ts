/**
 * `deno task compile [--model models/default] [--out-dir dist] [--no-binary]`: the generator CLI as one file with
 * the model and kernels embedded — `dist/etude-bundle.js` (`deno bundle`; run it with `deno run -A`) and the
 * `dist/etude` executable (`deno compile`; needs dl.deno.land or `DENORT_BIN`).
 *
 * @module
 */
import { isAbsolute, join } from "node:path";
import { parseCli, runMain, UsageError } from "../lib/cli/args.ts";
import { bundle, compileBinary, writeEntry } from "../lib/bundle/compile.ts";
import { MODEL_FILES } from "../lib/bundle/embed.ts";

if (import.meta.main) {
  await runMain(async () => {
    const { values, positionals } = parseCli(Deno.args, {
      model: { type: "string" },
      "out-dir": { type: "string" },
      "no-binary": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help || positionals.length) {
      const usage = "usage: deno task compile [--model models/default] [--out-dir dist] [--no-binary]";
      if (positionals.length) {
        throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}; ${usage}`);
      }
      return console.log(usage);
    }
    const modelDir = typeof values.model === "string" ? values.model : join("models", "default");
    const outDir = typeof values["out-dir"] === "string" ? values["out-dir"] : "dist";
    for (const f of MODEL_FILES) {
      try {
        Deno.statSync(join(modelDir, f));
      } catch {
        throw new UsageError(
          `${join(modelDir, f)} not found: train the default model with \`deno task train\` ` +
            `(README, "The default model") or pass --model DIR`,
        );
      }
    }
    const t0 = performance.now();
    const entry = await writeEntry(join(outDir, ".build"), modelDir);
    const bundlePath = join(outDir, "etude-bundle.js");
    await bundle(entry, bundlePath);
    const mb = (Deno.statSync(bundlePath).size / 1e6).toFixed(1);
    console.log(
      `wrote ${bundlePath} (${mb} MB, model ${modelDir} and kernels embedded): deno run -A ${bundlePath}`,
    );
    if (!values["no-binary"]) {
      const binPath = join(outDir, "etude");
      const r = await compileBinary(entry, binPath);
      const run = isAbsolute(binPath) ? binPath : `./${binPath}`;
      if (r.ok) {
        console.log(`wrote ${binPath} (${(Deno.statSync(binPath).size / 1e6).toFixed(1)} MB): ${run}`);
      } else console.error(`warning: ${r.message}`);
    }
    console.log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  });
}
