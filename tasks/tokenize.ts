/**
 * `deno task tokenize --dataset DIR[=STYLE] [--dataset …] [--tokenizer pitch|remi|remi-bpe] [--vocab N]
 * [--remi-config default|fradet] [--conditioning] [--style classical|pop] [--name NAME] [--shifts N|all] [--seed N]
 * [--workers N] [--limit N] [--out DIR] [--tokenizer-from MODEL]`: turn one or more MIDI sources into training shards
 * (with `--tokenizer-from`, in a model's own tokens, to fine-tune it).
 *
 * @module
 */
import { numberOpt, parseCli, runMain, UsageError } from "../lib/cli/args.ts";
import { prepareDataset, type PrepareOptions } from "../lib/data/dataset.ts";
import { SPLITS } from "../lib/data/maestro.ts";
import type { TokenizerKind } from "../lib/tokenizers/tokenizer.ts";

const HELP = `usage: deno task tokenize [--dataset DIR] [options]
  --dataset DIR      MAESTRO root (with maestro-v3.0.0.csv) or any folder of .mid/.midi files
                     (default data/maestro-v3.0.0). Repeat it for several sources in one dataset, each
                     PATH[=classical|pop]: a MAESTRO root (its split), a CSV with file and split columns
                     (asap-excerpts.csv, asap-unmapped.csv), a folder (seeded split; pop909 is pop), or the
                     midi-corpus root (all four of its sources)
  --conditioning     lead every piece with its style, key, tempo-class and density tokens and add them and
                     the fill-in-the-middle sentinels to the vocabulary (remi, remi-bpe; adds -cond to the name)
  --style S          classical | pop: the style of a plain folder's pieces (default: from the source, else none)
  --tokenizer KIND   pitch | remi | remi-bpe (default remi-bpe)
  --vocab N          BPE vocabulary size (default 1024), learned on the training split only
  --bpe-sample N     BPE learns on at most N base tokens of it, whole pieces in a seeded order (default
                     8000000; 0 = all): the merges settle long before, and the cost stays bounded
  --tokenizer-from M reuse model M's tokenizer (e.g. models/default; or a prepared dataset, or a tokenizer.json):
                     no new BPE, tokenizer.json copied byte for byte, so train --init-from M can fine-tune on it
                     (default name <dataset>-from-<M>)
  --remi-config C    default | fradet (remi, remi-bpe): fradet is the BPE paper's REMI (Fradet et al. 2023:
                     16 velocities, no Tempo/TimeSig, 161 tokens; BPE 1,024 shortens held-out piano by ~43%
                     instead of ~35%); adds -fradet to the default name
  --name NAME        output folder name under --out (default <dataset>-<tokenizer>[-<vocab>][-fradet])
  --out DIR          parent folder (default data/prepared)
  --shifts N|all     random pitch shifts per training piece in [-6, +6] (default 2; 0 = none; all = 12)
  --seed N           seed for the folder split, the shifts and --limit (default 0)
  --workers N        worker threads (default 2)
  --limit N          use only N files (a proportional sample of each split)`;

if (import.meta.main) {
  await runMain(async () => {
    const { values, positionals } = parseCli(Deno.args, {
      dataset: { type: "string", multiple: true },
      conditioning: { type: "boolean" },
      style: { type: "string" },
      tokenizer: { type: "string" },
      "tokenizer-from": { type: "string" },
      vocab: { type: "string" },
      "remi-config": { type: "string" },
      name: { type: "string" },
      out: { type: "string" },
      shifts: { type: "string" },
      seed: { type: "string" },
      workers: { type: "string" },
      limit: { type: "string" },
      "bpe-sample": { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help) return console.log(HELP);
    if (positionals.length) throw new UsageError(`unexpected argument ${positionals[0]}; see --help`);
    // the tokenizer, --vocab and --remi-config values and combinations are checked by prepareDataset
    const { dir, meta } = await prepareDataset({
      dataset: (values.dataset as string[] | undefined) ?? "data/maestro-v3.0.0",
      conditioning: values.conditioning as boolean | undefined,
      style: values.style as PrepareOptions["style"],
      tokenizer: values.tokenizer as TokenizerKind | undefined,
      tokenizerFrom: values["tokenizer-from"] as string | undefined,
      vocab: values.vocab === undefined ? undefined : numberOpt(values, "vocab", 1024, 5, 65536, true),
      remiPreset: values["remi-config"] as PrepareOptions["remiPreset"],
      name: values.name as string | undefined,
      out: values.out as string | undefined,
      shifts: values.shifts === "all" ? "all" : numberOpt(values, "shifts", 2, 0, 12, true),
      seed: numberOpt(values, "seed", 0, 0, 2 ** 32 - 1, true),
      workers: numberOpt(values, "workers", 2, 0, 64, true),
      limit: values.limit === undefined ? undefined : numberOpt(values, "limit", 0, 1, Infinity, true),
      bpeSampleTokens: values["bpe-sample"] === undefined
        ? undefined
        : numberOpt(values, "bpe-sample", 0, 0, Number.MAX_SAFE_INTEGER, true),
      log: (line) => console.error(line),
    });
    for (const s of SPLITS) {
      const m = meta.splits[s];
      console.log(`${s}: ${m.sources} files, ${m.pieces} pieces, ${m.tokens} tokens, ${m.notes} notes`);
    }
    if (meta.skipped.length) {
      console.log(`skipped ${meta.skipped.length} files:`);
      for (const s of meta.skipped.slice(0, 20)) console.log(`  ${s.file}: ${s.reason}`);
      if (meta.skipped.length > 20) console.log(`  … (all listed in meta.json)`);
    }
    console.log(
      `wrote ${dir} (vocab ${meta.vocabSize}, ${meta.dtype}) in ${meta.stats.seconds} s ` +
        `(${meta.stats.filesPerSecond} files/s, ${meta.stats.tokensPerSecond} tokens/s encoding, ${meta.stats.workers} workers)`,
    );
  });
}
