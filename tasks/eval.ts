/**
 * `deno task eval --model DIR [--data DIR] [--midi DIR [--split S] [--crop SEC]] [--samples N] [--seed N] [--out eval.json]`:
 * NLL per token / note / second against a bigram floor, MusPy-style metrics of seeded samples vs the reference corpus,
 * token syntax errors with and without the grammar mask; with `--midi`, also the NLL on those files and the
 * continuation test (`--prompt-bars`, `--bars`, `--pieces`). Writes eval.json and eval.svg; prints the tables.
 * `--compare DIR` (or a second `--model`): the models side by side on the same files (lib/eval/compare.ts);
 * `--conditioning`: the conditioning check (lib/eval/conditioning.ts); `--infill FROM:TO`: the infill check
 * (lib/eval/infill_eval.ts).
 *
 * @module
 */
import { numberOpt, parseCli, runMain, UsageError } from "../lib/cli/args.ts";
import { type KeyReference, referenceKeyAgreement } from "../lib/eval/key_reference.ts";
import { DEFAULT_WINDOW_TRANSFORM } from "../lib/data/fim.ts";
import { type EvalBackend, evaluate, formatEvalReport } from "../lib/eval/evaluate.ts";
import { writeEvalReport } from "../lib/eval/report.ts";
import { compareModels, formatComparison } from "../lib/eval/compare.ts";
import { conditioningCheck, formatConditioningReport } from "../lib/eval/conditioning.ts";
import { formatInfillReport, infillCheck } from "../lib/eval/infill_eval.ts";
import { cropFolder, readMidiSplit } from "../lib/eval/split.ts";
import { readMidiFolder } from "../lib/eval/midi_folder.ts";
import { makeLogits } from "../lib/eval/logits.ts";
import { parseInfillRange } from "../lib/infer/infill.ts";
import { SAMPLING_NAMES, type SamplingName } from "../lib/infer/generation_config.ts";
import { GENERATE_PARAMS } from "../lib/infer/params.ts";
import type { NumberParam } from "../lib/infer/param_spec.ts";
import { writeFileAtomic } from "../lib/util/atomic.ts";

const USAGE = `usage: deno task eval --model DIR [options]
  --model DIR        checkpoint directory (default models/default); given twice, the same as --compare
  --compare DIR      also evaluate DIR (repeatable) with the same options: NLL per token / note / second, the sample
                     metrics vs the reference (within 10%), grammar errors, side by side; the first model is judged
  --data DIR         prepared shards (data/prepared/<name>): NLL on validation/test + bigram floor, test split as
                     the reference corpus; with --conditioning: the density class thresholds
  --midi DIR         a folder of MIDI files: the reference corpus instead, the model's NLL on them, and the
                     continuation test (MIREX 2025 style): each piece's first bars as the prompt, bars generated,
                     their metrics vs the real next bars, NLL of the real bars given the prompt
  --split S          only split S (train, validation, test) of --midi, a MAESTRO root with its maestro-v*.csv
  --crop SEC         each --midi piece cut to its first SEC seconds (bounds the NLL cost; every file still counts)
  --prompt-bars N    continuation test: bars of prompt (default 4)   --bars N  bars generated (default 12)
  --pieces N         continuation (default 8, 0 = none) or infill check (default 20): pieces at most
  --samples N        samples to generate (default 8, 0 = none; --conditioning: per value, default 20)
  --tokens N         tokens per sample (default 512)   --sample-seconds S  S seconds of music per sample instead
  --seed N           sampling seed (default 1)   --temperature T --top-k K --top-p P (default: each model's
                     generation_config.json, else 0.8, 50, 0.95)   --guidance-scale G  classifier-free guidance
                     over the asked conditions (--style, --conditioning; default the model's, else 1 = off)
                     --key-guidance-scale G, --density-guidance-scale G  the key's, the density's
                     (--conditioning; default the model's, else 1 = as --guidance-scale)
  --style S          the samples' learned style (classical | pop) on a model trained with conditions
  --max-tokens N     tokens scored per split, whole pieces (default 16384, 0 = all)
  --backend B        NLL forward: auto (WebGPU engine on a real GPU, else the CPU backend with a BLAS, else tfjs) |
                     engine | cpu | tfjs | reference
  --conditioning     the conditioning check instead: --samples per style / key / density value and with none,
                     --bars per sample (default 8), --keys "C major,A minor,Eb major,F# minor";
                     --hard-controls: key and density samples also get the hard control (the out-of-key mask,
                     the density bias), as generate --key/--density applies it: what a user gets; --style S:
                     every key, density and baseline group also asks style S; --key-tonic W: the key samples'
                     tonic weight (generate --key-tonic; default 0.25, 0 = the scale mask alone)
  --infill FROM:TO   the infill check instead, on the --midi pieces: bars FROM..TO infilled vs written from the left
                     alone, each scored given both sides; --after N bars of right side (default 4)
  --out FILE         report (default eval.json; the SVG goes beside it as .svg)`;

/** Reads --midi (its --split, its --crop) for the checks that take the folder themselves. */
async function readFolder(values: Record<string, unknown>) {
  const dir = values.midi as string | undefined;
  if (!dir) throw new UsageError("--infill: needs --midi DIR (the pieces to infill)");
  const folder = values.split ? await readMidiSplit(dir, values.split as string) : await readMidiFolder(dir);
  return values.crop === undefined ? folder : cropFolder(folder, numberOpt(values, "crop", 60, 1, 86400));
}

async function writeJson(out: string, report: unknown): Promise<void> {
  await writeFileAtomic(out, JSON.stringify(report, null, 2) + "\n");
  console.log(`\nwrote ${out}`);
}

if (import.meta.main) {
  await runMain(async () => {
    const { values, positionals } = parseCli(Deno.args, {
      model: { type: "string", multiple: true },
      compare: { type: "string", multiple: true },
      data: { type: "string" },
      midi: { type: "string" },
      split: { type: "string" },
      crop: { type: "string" },
      samples: { type: "string" },
      tokens: { type: "string" },
      "sample-seconds": { type: "string" },
      seed: { type: "string" },
      ...Object.fromEntries(
        SAMPLING_NAMES.map((k) => [GENERATE_PARAMS[k].cli!.flag, { type: "string" as const }]),
      ),
      style: { type: "string" },
      "max-tokens": { type: "string" },
      "prompt-bars": { type: "string" },
      bars: { type: "string" },
      pieces: { type: "string" },
      backend: { type: "string" },
      conditioning: { type: "boolean" },
      "hard-controls": { type: "boolean" },
      "key-tonic": { type: "string" },
      keys: { type: "string" },
      infill: { type: "string" },
      after: { type: "string" },
      out: { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help) return console.log(USAGE);
    if (positionals.length) {
      throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}\n${USAGE}`);
    }
    const backend = (values.backend ?? "auto") as string;
    if (!["auto", "engine", "cpu", "tfjs", "reference"].includes(backend)) {
      throw new UsageError(
        `--backend: expected auto, engine, cpu, tfjs or reference, got ${JSON.stringify(backend)}`,
      );
    }
    if (values.split !== undefined && values.midi === undefined) {
      throw new UsageError("--split: needs --midi DIR (a MAESTRO root with its maestro-v*.csv)");
    }
    if (values.crop !== undefined && values.midi === undefined) {
      throw new UsageError("--crop: needs --midi DIR");
    }
    const models = [
      ...((values.model as string[] | undefined) ?? ["models/default"]),
      ...((values.compare as string[]) ?? []),
    ];
    for (const dir of models) {
      try {
        await Deno.stat(`${dir}/config.json`);
      } catch {
        throw new UsageError(`--model ${dir}: no config.json there (train one with deno task train)`);
      }
    }
    const out = typeof values.out === "string" ? values.out : "eval.json";
    // a numeric option of the parameter table, by its flag and range; undefined when not given
    const tableOpt = (k: SamplingName | "keyTonic") => {
      const s = GENERATE_PARAMS[k] as NumberParam, flag = s.cli!.flag;
      return values[flag] === undefined
        ? undefined
        : numberOpt(values, flag, s.default as number, s.min, s.max, s.kind === "int");
    };
    const sampling = {
      seed: numberOpt(values, "seed", 1, 0, Number.MAX_SAFE_INTEGER, true),
      // left out: each model's own sampling defaults (generation_config.json), else the table's; given: its range
      ...Object.fromEntries(SAMPLING_NAMES.map((k) => [k, tableOpt(k)])) as Partial<
        Record<SamplingName, number>
      >,
    };
    const log = (s: string) => console.error(s);
    if (values["hard-controls"] && !values.conditioning) {
      throw new UsageError(
        "--hard-controls: only with --conditioning (the key and density samples' controls)",
      );
    }
    if (values["key-tonic"] !== undefined && !values["hard-controls"]) {
      throw new UsageError(
        "--key-tonic: only with --conditioning --hard-controls (the key samples' control)",
      );
    }
    if (values.conditioning || values.infill !== undefined) {
      if (models.length > 1) throw new UsageError("--conditioning / --infill: one --model at a time");
      if (values.conditioning && values.infill !== undefined) {
        throw new UsageError("--conditioning and --infill: one check at a time");
      }
      const { loadModel } = await import("../lib/infer/load.ts");
      const model = await loadModel(models[0]);
      try {
        if (values.conditioning) {
          let densityThresholds: [number, number] | undefined;
          if (values.data) {
            const meta = JSON.parse(await Deno.readTextFile(`${values.data}/meta.json`));
            densityThresholds = meta.conditioning?.notesPerBar;
            if (!densityThresholds) {
              throw new UsageError(`--data ${values.data}: meta.json has no conditioning`);
            }
          }
          const bars = numberOpt(values, "bars", 8, 1, 128, true);
          const r = await conditioningCheck(model, {
            ...sampling,
            samples: numberOpt(values, "samples", 20, 1, 256, true),
            bars,
            keys: typeof values.keys === "string" ? values.keys.split(",").map((k) => k.trim()) : undefined,
            style: styleOpt(values.style),
            densityThresholds,
            hardControls: Boolean(values["hard-controls"]),
            keyTonic: tableOpt("keyTonic"),
            log,
          });
          console.log(formatConditioningReport(r));
          // the reference: real test pieces' opening bars against their own key labels
          let keyReference: KeyReference | undefined;
          if (values.data) {
            const { openShards } = await import("../lib/data/shards.ts");
            const { loadTokenizer } = await import("../lib/tokenizers/mod.ts");
            const ds = await openShards(values.data as string);
            const labelBars = DEFAULT_WINDOW_TRANSFORM.keyBars;
            keyReference = referenceKeyAgreement(
              ds.splits.test,
              loadTokenizer(ds.tokenizer),
              bars,
              labelBars,
            );
            console.log(
              `reference: the first ${bars} bars of ${keyReference.pieces} real test pieces agree with their ` +
                `piece's key label in ${
                  (100 * keyReference.agreement).toFixed(0)
                }%, with the key of their first ` +
                `${labelBars} bars (the label of a model trained with window keys) in ${
                  (100 * keyReference.windowAgreement!).toFixed(0)
                }%: what imitating either kind of label gives; ${
                  (100 * keyReference.tonicShare).toFixed(0)
                }% of their notes are on their key's tonic (the key samples' "on tonic")`,
            );
          }
          return await writeJson(out, keyReference ? { ...r, keyReference } : r);
        }
        const { readCheckpoint } = await import("../lib/model/checkpoint.ts");
        const lm = await makeLogits(await readCheckpoint(models[0]), backend as EvalBackend);
        try {
          const r = await infillCheck(await readFolder(values), model, lm, {
            ...sampling,
            range: parseInfillRange(values.infill as string),
            after: numberOpt(values, "after", 4, 0, 64, true),
            pieces: numberOpt(values, "pieces", 20, 1, 10000, true),
            log,
          });
          console.log(formatInfillReport(r));
          return await writeJson(out, r);
        } finally {
          lm.dispose();
        }
      } finally {
        model.dispose();
      }
    }
    const options = {
      dataDir: values.data as string | undefined,
      midiDir: values.midi as string | undefined,
      split: values.split as string | undefined,
      cropSeconds: values.crop === undefined ? undefined : numberOpt(values, "crop", 60, 1, 86400),
      samples: numberOpt(values, "samples", 8, 0, 64, true),
      sampleTokens: numberOpt(values, "tokens", 512, 1, 65536, true),
      sampleSeconds: values["sample-seconds"] === undefined
        ? undefined
        : numberOpt(values, "sample-seconds", 30, 1, 3600),
      ...sampling,
      style: styleOpt(values.style),
      nllMaxTokens: numberOpt(values, "max-tokens", 16384, 0, Number.MAX_SAFE_INTEGER, true),
      backend: backend as EvalBackend,
      promptBars: numberOpt(values, "prompt-bars", 4, 1, 64, true),
      continuationBars: numberOpt(values, "bars", 12, 1, 128, true),
      continuationPieces: numberOpt(values, "pieces", 8, 0, 10000, true),
      log,
    };
    if (models.length > 1) {
      const c = await compareModels(options, models);
      console.log(formatComparison(c));
      return await writeJson(out, c);
    }
    const report = await evaluate({ modelDir: models[0], ...options });
    console.log(formatEvalReport(report));
    const { json, svg } = await writeEvalReport(report, out);
    console.log(
      svg ? `\nwrote ${json} and ${svg}` : `\nwrote ${json} (no SVG: neither samples nor a reference corpus)`,
    );
  });
}

function styleOpt(v: unknown): "classical" | "pop" | undefined {
  if (v === undefined) return undefined;
  if (v === "classical" || v === "pop") return v;
  throw new UsageError(`--style: expected classical or pop, got ${JSON.stringify(String(v).slice(0, 40))}`);
}
