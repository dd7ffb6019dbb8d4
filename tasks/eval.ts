/**
 * `deno task eval --model DIR [--data DIR] [--midi DIR] [--samples N] [--seed N] [--out eval.json]`: NLL per
 * token / note / second against a bigram floor, MusPy-style metrics of seeded samples vs the reference corpus, token
 * syntax errors with and without the grammar mask; with `--midi`, also the NLL on those files and the continuation
 * test (`--prompt-bars`, `--bars`, `--pieces`). Writes eval.json and eval.svg; prints the tables.
 *
 * @module
 */
import { numberOpt, parseCli, runMain, UsageError } from "../lib/cli/args.ts";
import { type EvalBackend, evaluate, formatEvalReport } from "../lib/eval/evaluate.ts";
import { writeEvalReport } from "../lib/eval/report.ts";

const USAGE = `usage: deno task eval --model DIR [options]
  --model DIR        checkpoint directory (default models/default)
  --data DIR         prepared shards (data/prepared/<name>): NLL on validation/test + bigram floor, test split as
                     the reference corpus
  --midi DIR         a folder of MIDI files: the reference corpus instead, the model's NLL on them, and the
                     continuation test (MIREX 2025 style): each piece's first bars as the prompt, bars generated,
                     their metrics vs the real next bars, NLL of the real bars given the prompt
  --prompt-bars N    continuation test: bars of prompt (default 4)   --bars N  bars generated (default 12)
  --pieces N         continuation test: pieces at most (default 8, 0 = no continuation test)
  --samples N        samples to generate (default 8, 0 = none)   --tokens N  tokens per sample (default 512)
  --seed N           sampling seed (default 1)   --temperature T --top-k K --top-p P (defaults 0.8, 50, 0.95)
  --max-tokens N     tokens scored per split for NLL, whole pieces (default 16384, 0 = all)
  --backend B        NLL forward: auto (WebGPU engine on a real GPU, else tfjs) | engine | tfjs | reference
  --out FILE         report (default eval.json; the SVG goes beside it as .svg)`;

if (import.meta.main) {
  await runMain(async () => {
    const { values, positionals } = parseCli(Deno.args, {
      model: { type: "string" },
      data: { type: "string" },
      midi: { type: "string" },
      samples: { type: "string" },
      tokens: { type: "string" },
      seed: { type: "string" },
      temperature: { type: "string" },
      "top-k": { type: "string" },
      "top-p": { type: "string" },
      "max-tokens": { type: "string" },
      "prompt-bars": { type: "string" },
      bars: { type: "string" },
      pieces: { type: "string" },
      backend: { type: "string" },
      out: { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help) return console.log(USAGE);
    if (positionals.length) {
      throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}\n${USAGE}`);
    }
    const backend = (values.backend ?? "auto") as string;
    if (!["auto", "engine", "tfjs", "reference"].includes(backend)) {
      throw new UsageError(
        `--backend: expected auto, engine, tfjs or reference, got ${JSON.stringify(backend)}`,
      );
    }
    const modelDir = typeof values.model === "string" ? values.model : "models/default";
    try {
      await Deno.stat(`${modelDir}/config.json`);
    } catch {
      throw new UsageError(`--model ${modelDir}: no config.json there (train one with deno task train)`);
    }
    const out = typeof values.out === "string" ? values.out : "eval.json";
    const report = await evaluate({
      modelDir,
      dataDir: values.data as string | undefined,
      midiDir: values.midi as string | undefined,
      samples: numberOpt(values, "samples", 8, 0, 64, true),
      sampleTokens: numberOpt(values, "tokens", 512, 1, 65536, true),
      seed: numberOpt(values, "seed", 1, 0, Number.MAX_SAFE_INTEGER, true),
      temperature: numberOpt(values, "temperature", 0.8, 0.1, 2),
      topK: numberOpt(values, "top-k", 50, 0, 500, true),
      topP: numberOpt(values, "top-p", 0.95, 0.01, 1),
      nllMaxTokens: numberOpt(values, "max-tokens", 16384, 0, Number.MAX_SAFE_INTEGER, true),
      backend: backend as EvalBackend,
      promptBars: numberOpt(values, "prompt-bars", 4, 1, 64, true),
      continuationBars: numberOpt(values, "bars", 12, 1, 128, true),
      continuationPieces: numberOpt(values, "pieces", 8, 0, 10000, true),
    });
    console.log(formatEvalReport(report));
    const { json, svg } = await writeEvalReport(report, out);
    console.log(
      svg ? `\nwrote ${json} and ${svg}` : `\nwrote ${json} (no SVG: neither samples nor a reference corpus)`,
    );
  });
}
