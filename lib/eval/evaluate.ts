/**
 * `deno task eval` as a library: how good a checkpoint is, in one report.
 *
 * - NLL of the validation and test shards per token, per note and per second of music (perplexity too), with the
 *   model's own forward (the WebGPU engine on a real GPU, tfjs otherwise, or the plain-TS reference), next to a
 *   Kneser-Ney bigram trained on the train shard: the floor.
 * - N seeded samples through `lib/infer/generate.ts`; MusPy-style metrics on them and on the reference corpus (the
 *   test split decoded, or a MIDI folder) side by side with the relative difference; token syntax errors per 1,000
 *   tokens with and without the grammar mask.
 * - With a MIDI folder (lib/eval/midi_folder.ts): the model's NLL per token / note / second on its files (tokenised
 *   with the model's own tokenizer; bad files listed and skipped), and the MIREX-2025-style continuation test: 4 bars
 *   of each piece as the prompt, 12 bars generated, their metrics against the real next 12 bars, and the NLL of those
 *   real bars given the prompt.
 *
 * A part that cannot run (no data, a model the engine does not load…) is reported as skipped with the reason.
 *
 * @module
 */
import { nllWindows } from "./windows.ts";
import { formatTable } from "../util/table.ts";
import { openShards, type PreparedDataset } from "../data/shards.ts";
import { type Checkpoint, readCheckpoint } from "../model/checkpoint.ts";
import { type Score, scoreEndTick, ticksToSeconds } from "../score.ts";
import { loadTokenizer } from "../tokenizers/load.ts";
import type { Tokenizer, TokenizerJson } from "../tokenizers/tokenizer.ts";
import {
  computeMetrics,
  meanMetrics,
  METRIC_NAMES,
  type Metrics,
  pitchClassDistribution,
  relativeDifference,
} from "./metrics.ts";
import { bigramNll, modelNll, type NllReport, nllReport, type NllWindows, trainBigram } from "./nll.ts";
import { cropFolder, readMidiSplit } from "./split.ts";
import {
  type ContinuationReport,
  continuationTest,
  type FolderNll,
  folderNll,
  type MidiFolder,
  readMidiFolder,
} from "./midi_folder.ts";
import type { LoadedModel } from "../infer/load.ts";
import { type EvalBackend, type Logits, makeLogits } from "./logits.ts";
import { resolveSampling } from "../infer/generation_config.ts";

export type { EvalBackend } from "./logits.ts";

/**
 * Options for {@link evaluate}.
 *
 * @example
 * ```ts ignore
 * import { evaluate } from "./evaluate.ts";
 * const r = await evaluate({
 *   modelDir: "models/default",
 *   midiDir: "midi/reference", // compare the samples with these pieces instead of the test split
 *   samples: 16,
 *   sampleTokens: 1024,
 *   temperature: 1.0,
 *   log: () => {}, // quiet
 * });
 * ```
 */
export interface EvalOptions {
  /** The checkpoint folder to evaluate (`models/<name>`, with `tokenizer.json`). */
  modelDir: string;
  /** A prepared dataset (`data/prepared/<name>`) for NLL and the reference corpus. */
  dataDir?: string;
  /** A folder of MIDI files as the reference corpus (default: the data's test split). */
  midiDir?: string;
  /**
   * Only this split of `midiDir` (`train`, `validation`, `test`), by the MAESTRO CSV in it (lib/eval/split.ts); a
   * folder without one is an error naming `--split`.
   */
  split?: string;
  /** Each `midiDir` piece cut to its first this many seconds (NLL, reference metrics, continuation test). */
  cropSeconds?: number;
  /** Samples to generate (default 8; 0 = none). */
  samples?: number;
  /** Sampling seed of the first sample (default 1). */
  seed?: number;
  /** Tokens per sample (default 512). */
  sampleTokens?: number;
  /**
   * Seconds of music per sample instead of a token count (`generate`'s `seconds`; `sampleTokens` is then not used):
   * samples as long as the reference pieces (e.g. `cropSeconds`), whatever each model's tokens per second.
   */
  sampleSeconds?: number;
  /** Sampling temperature (default: the model's `generation_config.json`, else `GENERATE_PARAMS`' 0.8). */
  temperature?: number;
  /** Top-k cut-off, 0 = off (default: the model's, else 50). */
  topK?: number;
  /** Top-p (nucleus) cut-off in (0, 1] (default: the model's, else 0.95). */
  topP?: number;
  /** Classifier-free guidance over `style` (default: the model's, else 1 = off; lib/infer/guidance.ts). */
  guidanceScale?: number;
  /**
   * The samples' learned style condition (e.g. `classical` against MAESTRO), on a model trained with conditions; a
   * model without them samples unconditioned (its report says so).
   */
  style?: "classical" | "pop";
  /** Tokens scored per split, whole pieces (default 16,384; 0 = all). */
  nllMaxTokens?: number;
  /** The forward used for NLL (default `auto`). */
  backend?: EvalBackend;
  /** Reference pieces used for the corpus metrics (default 200). */
  referenceLimit?: number;
  /** Continuation test on the `midiDir` pieces: bars of prompt (default 4). */
  promptBars?: number;
  /** Continuation test: bars generated and compared with the real ones (default 12). */
  continuationBars?: number;
  /** Continuation test: pieces tested at most (default 8; 0 = no continuation test). */
  continuationPieces?: number;
  /** Progress lines (default: `console.error`). */
  log?: (line: string) => void;
}

/**
 * NLL of one split: the model and the bigram floor on the same pieces.
 *
 * @example
 * ```ts ignore
 * import { evaluate } from "./evaluate.ts";
 * const { nll } = await evaluate({ modelDir: "models/default", dataDir: "data/prepared/piano", samples: 0 });
 * if (!("skipped" in nll)) {
 *   const t = nll.splits.test;
 *   console.log(`${t.pieces} pieces: model ${t.model.perNote} vs bigram ${t.bigram.perNote} nats/note`);
 * }
 * ```
 */
export interface SplitNll {
  /** Whole pieces scored (the first ones of the split, up to `nllMaxTokens`). */
  pieces: number;
  /** The checkpoint's NLL. */
  model: NllReport;
  /** The Kneser-Ney bigram's NLL on the same pieces (the floor). */
  bigram: NllReport;
}

/**
 * Syntax errors per 1,000 generated tokens.
 *
 * @example
 * ```ts ignore
 * import { evaluate } from "./evaluate.ts";
 * const { syntaxErrors } = await evaluate({ modelDir: "models/default", samples: 8 });
 * if (!("skipped" in syntaxErrors)) console.log(syntaxErrors.withoutGrammar.typePer1k); // the mask makes it ~0
 * ```
 */
export interface SyntaxErrorRates {
  /** Generated tokens checked (the denominator of the rates). */
  tokens: number;
  /** The same tokens with BPE merges expanded to base tokens (equals `tokens` without BPE). */
  baseTokens: number;
  /** Tokens whose type cannot follow the previous one, per 1,000 tokens. */
  typePer1k: number;
  /** Positions not after the previous one in the bar, or past the bar's end, per 1,000 tokens. */
  timePer1k: number;
  /** Pitches repeated at one time step, per 1,000 tokens. */
  dupnPer1k: number;
}

/**
 * A section that could not run.
 *
 * @example
 * ```ts ignore
 * import { evaluate } from "./evaluate.ts";
 * const r = await evaluate({ modelDir: "models/default", samples: 0 }); // no data, no samples
 * if ("skipped" in r.nll) console.log(r.nll.skipped); // "no --data"
 * ```
 */
export interface Skipped {
  /** Why it was skipped (`no --data`, `generation failed: …`). */
  skipped: string;
}

/**
 * The eval report (`eval.json`).
 *
 * @example
 * ```ts ignore
 * import { evaluate } from "./evaluate.ts";
 * const r = await evaluate({ modelDir: "models/default", dataDir: "data/prepared/piano" });
 * await Deno.writeTextFile("eval.json", JSON.stringify(r, null, 2));
 * console.log(r.model.params, r.relativeDifference?.pitchClassEntropy);
 * ```
 */
export interface EvalReport {
  /** When the evaluation ran (ISO 8601, UTC). */
  date: string;
  /** Wall-clock time of the whole evaluation, in seconds. */
  seconds: number;
  /** The checkpoint: folder, architecture, preset, parameter count, vocabulary size and tokenizer summary. */
  model: { dir: string; arch: string; preset: string; params: number; vocab: number; tokenizer: string };
  /** The prepared dataset used, or `null` without `dataDir`. */
  data: { dir: string; name: string; tokenizer: string } | null;
  /** The `midiDir` files used (its split, the crop), or `null` without `midiDir`. */
  folder: {
    dir: string;
    split: string | null;
    cropSeconds: number | null;
    found: number;
    files: string[];
  } | null;
  /** NLL per split (`validation`, `test`) of the model and the bigram floor, and which forward computed it. */
  nll: {
    backend: string;
    splits: Record<string, SplitNll>;
    bigram: { smoothing: string; trainTokens: number };
  } | Skipped;
  /** The generated samples: sampling settings, speed, note count, mean metrics and pitch-class shares. */
  samples:
    | {
      count: number;
      tokensEach: number;
      /** Seconds of music asked per sample (null: `tokensEach` tokens). */
      secondsEach: number | null;
      seed: number;
      temperature: number;
      topK: number;
      topP: number;
      /** Classifier-free guidance scale over the style (1: off; absent in reports made before it existed). */
      guidanceScale?: number;
      /** The learned style asked (null: unconditioned). */
      style: string | null;
      adapter: string;
      tokensPerSecond: number;
      notes: number;
      /** Mean length of a sample in seconds (to set against the reference's). */
      seconds: number;
      metrics: Metrics;
      pitchClasses: number[];
    }
    | Skipped;
  /** The reference corpus (a MIDI folder or the test split): where from, how many pieces, mean length, mean metrics. */
  reference:
    | { source: string; pieces: number; seconds: number; metrics: Metrics; pitchClasses: number[] }
    | Skipped;
  /** Per metric, (samples − reference) ÷ |reference|; `null` when either side was skipped. */
  relativeDifference: Metrics | null;
  /** Token syntax errors of the samples, sampled with and without the grammar mask (same seed). */
  syntaxErrors: { withGrammar: SyntaxErrorRates; withoutGrammar: SyntaxErrorRates } | Skipped;
  /** The model's NLL on the `--midi` files (and the files left out, with why). */
  midiNll: FolderNll | Skipped;
  /** The continuation test on the `--midi` pieces: generated vs real bars, NLL of the real bars given the prompt. */
  continuation: ContinuationReport | Skipped;
}

function isSkipped(x: unknown): x is Skipped {
  return typeof x === "object" && x !== null && "skipped" in x;
}

function why(e: unknown): string {
  return (e as Error).message?.split("\n")[0] ?? String(e);
}

function sameTokenizer(a: TokenizerJson, b: TokenizerJson): boolean {
  return a.kind === b.kind && JSON.stringify(a.vocab) === JSON.stringify(b.vocab) &&
    JSON.stringify(a.merges ?? []) === JSON.stringify(b.merges ?? []);
}

function scoreSeconds(s: Score): number {
  return ticksToSeconds(s, scoreEndTick(s));
}

async function nllSection(
  o: EvalOptions,
  ds: PreparedDataset,
  tok: Tokenizer,
  lm: Logits,
  log: (s: string) => void,
  windows: NllWindows | undefined,
): Promise<EvalReport["nll"]> {
  {
    const t0 = performance.now();
    const bigram = trainBigram(ds.splits.train, lm.vocab, { smoothing: "kneser-ney" });
    const trainTokens = ds.splits.train.reduce((a, p) => a + p.length - 1, 0);
    log(
      `bigram floor: Kneser-Ney on ${trainTokens.toLocaleString("en-US")} train tokens (${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s)`,
    );
    const limit = o.nllMaxTokens === 0 ? Infinity : o.nllMaxTokens ?? 16_384;
    const splits: Record<string, SplitNll> = {};
    for (const split of ["validation", "test"] as const) {
      const pieces = ds.splits[split];
      if (pieces.length === 0) continue;
      const ts = performance.now();
      const m = await modelNll(lm.fn, pieces, {
        vocab: lm.vocab,
        context: lm.context,
        maxTokens: limit,
        windows,
      });
      const scored = pieces.slice(0, m.pieces);
      let notes = 0, seconds = 0;
      for (const p of scored) {
        const s = tok.decode(Array.from(p));
        notes += s.notes.length;
        seconds += scoreSeconds(s);
      }
      const b = bigramNll(bigram, scored);
      splits[split] = {
        pieces: m.pieces,
        model: nllReport(m, notes, seconds),
        bigram: nllReport(b, notes, seconds),
      };
      log(
        `${split}: ${m.tokens.toLocaleString("en-US")} tokens of ${m.pieces}/${pieces.length} pieces, model ${
          (m.nll / m.tokens).toFixed(3)
        } vs bigram ${(b.nll / b.tokens).toFixed(3)} nats/token (${
          ((performance.now() - ts) / 1000).toFixed(1)
        } s)`,
      );
    }
    return { backend: lm.name, splits, bigram: { smoothing: "kneser-ney (d = 0.75)", trainTokens } };
  }
}

function syntaxRates(
  grammarErrors: (
    ids: readonly number[],
    t: TokenizerJson,
  ) => { type: number; time: number; dupn: number; tokens: number },
  ids: number[][],
  tj: TokenizerJson,
): SyntaxErrorRates {
  let type = 0, time = 0, dupn = 0, base = 0, tokens = 0;
  for (const seq of ids) {
    const e = grammarErrors(seq, tj);
    type += e.type;
    time += e.time;
    dupn += e.dupn;
    base += e.tokens;
    tokens += seq.length;
  }
  const per = (n: number) => (tokens > 0 ? (1000 * n) / tokens : NaN);
  return { tokens, baseTokens: base, typePer1k: per(type), timePer1k: per(time), dupnPer1k: per(dupn) };
}

/**
 * Evaluates a checkpoint; see the module doc for what is measured.
 *
 * @example
 * ```ts ignore
 * import { evaluate, formatEvalReport } from "./evaluate.ts";
 * const r = await evaluate({ modelDir: "models/default", dataDir: "data/prepared/piano", samples: 4, seed: 1 });
 * console.log(formatEvalReport(r));
 * ```
 */
export async function evaluate(o: EvalOptions): Promise<EvalReport> {
  const log = o.log ?? ((s: string) => console.error(s));
  const t0 = performance.now();
  // the one read of the checkpoint: the NLL forward and the sampler are built from it
  const ck = await readCheckpoint(o.modelDir);
  const arch = ck.config.arch;
  if (!ck.tokenizerJson) {
    throw new Error(`${o.modelDir}/tokenizer.json: missing (needed to decode and score)`);
  }
  const tj = ck.tokenizerJson;
  const tok = loadTokenizer(tj);
  const params = Object.values(ck.weights).reduce((a, w) => a + w.length, 0);
  const report: EvalReport = {
    date: new Date().toISOString(),
    seconds: 0,
    model: {
      dir: o.modelDir,
      arch,
      preset: ck.config.preset,
      params,
      vocab: ck.config.vocabSize,
      tokenizer: `${tj.kind}, ${tj.vocab.length} tokens`,
    },
    data: null,
    folder: null,
    nll: { skipped: "no --data" },
    samples: { skipped: "--samples 0" },
    reference: { skipped: "no --data and no --midi" },
    relativeDifference: null,
    syntaxErrors: { skipped: "--samples 0" },
    midiNll: { skipped: "no --midi" },
    continuation: { skipped: "no --midi" },
  };

  // The NLL forward and the generation model are each built once, when first needed, and freed at the end.
  let lmP: Promise<Logits> | undefined, modelP: Promise<LoadedModel> | undefined;
  const logits = () => (lmP ??= makeLogits(ck, o.backend ?? "auto"));
  const loaded = () => (modelP ??= import("../infer/load.ts").then((m) => m.loadModel(ck)));
  try {
    await sections(o, report, { ck, tok, tj, logits, loaded, log });
  } finally {
    await lmP?.then((lm) => lm.dispose(), () => {});
    await modelP?.then((m) => m.dispose(), () => {});
  }
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}

/** What the sections of `evaluate` share. */
interface Ctx {
  ck: Checkpoint;
  tok: Tokenizer;
  tj: TokenizerJson;
  logits: () => Promise<Logits>;
  loaded: () => Promise<LoadedModel>;
  log: (line: string) => void;
}

async function sections(o: EvalOptions, report: EvalReport, c: Ctx): Promise<void> {
  const { tok, tj, log } = c;
  const windows = nllWindows(tj); // the model's NLL windows, for both NLL sections
  let ds: PreparedDataset | undefined;
  if (o.dataDir) {
    ds = await openShards(o.dataDir);
    if (!sameTokenizer(ds.tokenizer, tj)) {
      throw new Error(
        `${o.dataDir}/tokenizer.json differs from ${o.modelDir}/tokenizer.json: evaluate on data made with the model's tokenizer`,
      );
    }
    report.data = { dir: o.dataDir, name: ds.meta.name, tokenizer: ds.meta.tokenizer.kind };
    try {
      report.nll = await nllSection(o, ds, tok, await c.logits(), log, windows);
    } catch (e) {
      report.nll = { skipped: `NLL failed: ${why(e)}` };
      log(`NLL skipped: ${why(e)}`);
    }
  }

  // The MIDI folder, read once.
  let folder: MidiFolder | undefined;
  if (o.midiDir) {
    try {
      folder = o.split ? await readMidiSplit(o.midiDir, o.split) : await readMidiFolder(o.midiDir);
      if (o.cropSeconds !== undefined) folder = cropFolder(folder, o.cropSeconds);
      report.folder = {
        dir: o.midiDir,
        split: o.split ?? null,
        cropSeconds: o.cropSeconds ?? null,
        found: folder.found,
        files: folder.pieces.map((p) => p.file),
      };
      log(
        `${o.midiDir}: ${folder.pieces.length} of ${folder.found} MIDI files read (${folder.skipped.length} skipped)`,
      );
    } catch (e) {
      if (o.split) throw e; // a folder that is not a MAESTRO root: the user's error, not a skipped part
      for (const k of ["reference", "midiNll", "continuation"] as const) report[k] = { skipped: why(e) };
    }
  }

  // Reference corpus.
  let refScores: Score[] | undefined;
  const refLimit = o.referenceLimit ?? 200;
  try {
    if (folder) {
      refScores = folder.pieces.slice(0, refLimit).map((p) => p.score);
      if (!refScores.length) throw new Error(`${o.midiDir}: no readable MIDI file with notes`);
      report.reference = {
        source: folder.dir,
        pieces: 0,
        seconds: 0,
        metrics: {} as Metrics,
        pitchClasses: [],
      };
    } else if (ds) {
      const pieces = ds.splits.test.length ? ds.splits.test : ds.splits.validation;
      refScores = pieces.slice(0, refLimit).map((p) => tok.decode(Array.from(p))).filter((s) =>
        s.notes.length > 0
      );
      report.reference = {
        source: `${o.dataDir} (${ds.splits.test.length ? "test" : "validation"} split)`,
        pieces: 0,
        seconds: 0,
        metrics: {} as Metrics,
        pitchClasses: [],
      };
    }
    if (refScores && !isSkipped(report.reference)) {
      report.reference.pieces = refScores.length;
      report.reference.seconds = refScores.reduce((a, s) => a + scoreSeconds(s), 0) / refScores.length;
      report.reference.metrics = meanMetrics(refScores.map((s) => computeMetrics(s)));
      report.reference.pitchClasses = pitchClassDistribution(refScores);
    }
  } catch (e) {
    report.reference = { skipped: why(e) };
  }

  // NLL on the MIDI files.
  if (folder) {
    try {
      const lm = await c.logits();
      // a cropped piece does not end where it stops: its EOS is not scored
      const eos = o.cropSeconds === undefined;
      report.midiNll = await folderNll(folder, tok, lm, {
        maxTokens: o.nllMaxTokens,
        log,
        eos,
        windows,
      });
    } catch (e) {
      report.midiNll = { skipped: `NLL failed: ${why(e)}` };
      log(`NLL on ${o.midiDir} skipped: ${why(e)}`);
    }
  }

  // Samples.
  const n = o.samples ?? 8;
  if (n > 0) {
    const { GENERATE_PARAMS: D } = await import("../infer/params.ts");
    const seed = o.seed ?? 1, tokensEach = o.sampleTokens ?? D.maxTokens.default;
    try {
      const { generate } = await import("../infer/generate.ts");
      const { grammarErrors } = await import("../infer/grammar.ts");
      const model = await c.loaded();
      // left out: the model's own sampling defaults (generation_config.json), then the table's
      const { temperature, topK, topP, guidanceScale } = resolveSampling(o, model.sampling);
      {
        const ts = performance.now();
        const { modelSupports } = await import("../infer/conditions.ts");
        const style = o.style && modelSupports(model).conditioning ? o.style : undefined;
        if (o.style && !style) log(`samples: ${o.modelDir}: no learned conditions, sampled without --style`);
        const run = (grammar: boolean, length: { seconds: number } | { maxTokens: number }) =>
          generate({
            model,
            ...length,
            temperature,
            topK,
            topP,
            guidanceScale,
            seed,
            grammar,
            batch: Math.min(n, 64),
            ...(style ? { conditions: { style } } : {}),
          });
        const on = await run(
          true,
          o.sampleSeconds ? { seconds: o.sampleSeconds } : { maxTokens: tokensEach },
        );
        log(
          `samples: ${n} × ${o.sampleSeconds ? `${o.sampleSeconds} s` : `${tokensEach} tokens`} at ${
            on.tokensPerSecond.toFixed(1)
          } tokens/s on ${on.adapter} (${((performance.now() - ts) / 1000).toFixed(1)} s)`,
        );
        // without the mask, time may never reach `seconds`: the same token budget as the masked samples took
        const off = await run(false, { maxTokens: Math.max(1, ...on.ids.map((x) => x.length)) });
        const scores = on.scores.slice(0, n);
        report.samples = {
          count: scores.length,
          tokensEach,
          secondsEach: o.sampleSeconds ?? null,
          seed,
          temperature,
          topK,
          topP,
          guidanceScale,
          style: style ?? null,
          adapter: on.adapter,
          tokensPerSecond: on.tokensPerSecond,
          notes: scores.reduce((a, s) => a + s.notes.length, 0),
          seconds: scores.reduce((a, s) => a + scoreSeconds(s), 0) / Math.max(1, scores.length),
          metrics: meanMetrics(scores.map((s) => computeMetrics(s))),
          pitchClasses: pitchClassDistribution(scores),
        };
        report.syntaxErrors = {
          withGrammar: syntaxRates(grammarErrors, on.ids.slice(0, n), tj),
          withoutGrammar: syntaxRates(grammarErrors, off.ids.slice(0, n), tj),
        };
      }
    } catch (e) {
      report.samples = { skipped: `generation failed: ${why(e)}` };
      report.syntaxErrors = { skipped: `generation failed: ${why(e)}` };
      log(`samples skipped: ${why(e)}`);
    }
  }
  if (!isSkipped(report.samples) && !isSkipped(report.reference)) {
    report.relativeDifference = relativeDifference(report.samples.metrics, report.reference.metrics);
  }

  // Continuation test on the MIDI pieces.
  const pieces = o.continuationPieces ?? 8;
  if (folder && pieces === 0) report.continuation = { skipped: "--pieces 0" };
  else if (folder) {
    try {
      report.continuation = await continuationTest(folder, await c.loaded(), await c.logits(), {
        promptBars: o.promptBars,
        bars: o.continuationBars,
        maxPieces: pieces,
        seed: o.seed,
        temperature: o.temperature,
        topK: o.topK,
        topP: o.topP,
        log,
      });
    } catch (e) {
      report.continuation = { skipped: why(e) };
      log(`continuation test skipped: ${why(e)}`);
    }
  }
}

function f(v: number | undefined, digits = 3): string {
  return v === undefined || !Number.isFinite(v) ? "—" : v.toFixed(digits);
}

/**
 * The printed tables of a report.
 *
 * @example
 * ```ts ignore
 * import { evaluate, formatEvalReport } from "./evaluate.ts";
 * console.log(formatEvalReport(await evaluate({ modelDir: "models/default" })));
 * ```
 */
export function formatEvalReport(r: EvalReport): string {
  const table = formatTable;
  const lines: string[] = [];
  lines.push(
    `etude eval ${r.date.slice(0, 16).replace("T", " ")} UTC, ${r.seconds.toFixed(0)} s`,
    `model: ${r.model.dir} (${r.model.arch} ${r.model.preset}, ${
      r.model.params.toLocaleString("en-US")
    } params, ${r.model.tokenizer})`,
    `data: ${r.data ? `${r.data.dir}` : "none"}`,
    "",
  );
  if (isSkipped(r.nll)) lines.push(`NLL: SKIPPED (${r.nll.skipped})`);
  else {
    lines.push(`NLL (nats; model forward: ${r.nll.backend}; floor: bigram ${r.nll.bigram.smoothing})`);
    const rows = [["split", "who", "tokens", "per token", "perplexity", "per note", "per second"]];
    for (const [split, s] of Object.entries(r.nll.splits)) {
      for (const [who, x] of [["model", s.model], ["bigram", s.bigram]] as const) {
        rows.push([
          split,
          who,
          String(x.tokens),
          f(x.perToken),
          f(x.perplexity, 2),
          f(x.perNote),
          f(x.perSecond, 2),
        ]);
      }
    }
    lines.push(table(rows));
  }
  lines.push("");
  if (isSkipped(r.samples) || isSkipped(r.reference)) {
    if (isSkipped(r.samples)) lines.push(`samples: SKIPPED (${r.samples.skipped})`);
    if (isSkipped(r.reference)) lines.push(`reference corpus: SKIPPED (${r.reference.skipped})`);
  }
  const s = isSkipped(r.samples) ? undefined : r.samples;
  const ref = isSkipped(r.reference) ? undefined : r.reference;
  if (s || ref) {
    lines.push(
      `Metrics: ${
        s
          ? `${s.count} samples × ${
            s.secondsEach ? `${s.secondsEach} s` : `${s.tokensEach} tokens`
          } (seed ${s.seed}, T ${s.temperature}, top-k ${s.topK}, top-p ${s.topP}${
            s.guidanceScale && s.guidanceScale !== 1 ? `, guidance ${s.guidanceScale}` : ""
          })`
          : "no samples"
      } vs ${ref ? `${ref.pieces} reference pieces from ${ref.source}` : "no reference"}`,
    );
    lines.push(
      `mean length: samples ${s ? `${f(s.seconds, 1)} s` : "—"}, reference ${
        ref ? `${f(ref.seconds, 1)} s` : "—"
      }`,
    );
    const rows = [["metric", "samples", "reference", "rel. diff"]];
    for (const k of METRIC_NAMES) {
      const rd = r.relativeDifference?.[k];
      rows.push([
        k,
        f(s?.metrics[k]),
        f(ref?.metrics[k]),
        rd === undefined || !Number.isFinite(rd) ? "—" : `${rd >= 0 ? "+" : ""}${(100 * rd).toFixed(1)}%`,
      ]);
    }
    lines.push(table(rows));
  }
  lines.push("");
  if (isSkipped(r.syntaxErrors)) lines.push(`token syntax errors: SKIPPED (${r.syntaxErrors.skipped})`);
  else {
    lines.push("Token syntax errors per 1,000 generated tokens");
    const rows = [["grammar mask", "tokens", "type", "time", "dupn"]];
    for (
      const [name, x] of [["on", r.syntaxErrors.withGrammar], ["off", r.syntaxErrors.withoutGrammar]] as const
    ) {
      rows.push([name, String(x.tokens), f(x.typePer1k, 2), f(x.timePer1k, 2), f(x.dupnPer1k, 2)]);
    }
    lines.push(table(rows));
  }
  lines.push(...formatMidiSections(r));
  return lines.join("\n");
}

/** The `--midi` sections: NLL on the files, the continuation test. Nothing without `--midi`. */
function formatMidiSections(r: EvalReport): string[] {
  const lines: string[] = [];
  const m = r.midiNll, c = r.continuation;
  const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : "—");
  const skippedFiles = (list: { file: string; reason: string }[], what: string) => {
    if (!list.length) return;
    lines.push(`${list.length} file(s) ${what}:`);
    for (const s of list.slice(0, 5)) lines.push(`  ${s.file}: ${s.reason}`);
    if (list.length > 5) lines.push(`  … (all in the JSON report)`);
  };
  if (m && !(isSkipped(m) && m.skipped === "no --midi")) {
    lines.push("");
    if (isSkipped(m)) lines.push(`NLL on the --midi files: SKIPPED (${m.skipped})`);
    else {
      lines.push(
        `NLL on the --midi files (nats, the model's own tokenizer): ${m.pieces} of ${m.scorable} scorable file(s)`,
      );
      const x = m.model;
      lines.push(formatTable([
        ["tokens", "notes", "seconds", "per token", "perplexity", "per note", "per second"],
        [
          String(x.tokens),
          String(x.notes),
          f(x.seconds, 1),
          f(x.perToken),
          f(x.perplexity, 2),
          f(x.perNote),
          f(
            x.perSecond,
            2,
          ),
        ],
      ]));
      skippedFiles(m.leftOut, "left out");
    }
  }
  if (c && !(isSkipped(c) && c.skipped === "no --midi")) {
    lines.push("");
    if (isSkipped(c)) lines.push(`continuation test: SKIPPED (${c.skipped})`);
    else {
      lines.push(
        `Continuation test (MIREX 2025 style): ${c.pieces} piece(s), ${c.promptBars} bars of prompt → ${c.bars} bars ` +
          `generated (seed ${c.seed}, T ${c.temperature}, top-k ${c.topK}, top-p ${c.topP}) vs the real next ${c.bars}`,
      );
      const rows = [["metric", "generated", "real", "mean |diff|", "mean |rel. diff|"]];
      for (const k of METRIC_NAMES) {
        rows.push([
          k,
          f(c.generated[k]),
          f(c.real[k]),
          f(c.absoluteDifference[k]),
          pct(c.relativeDifference[k]),
        ]);
      }
      lines.push(formatTable(rows));
      const x = c.nll;
      lines.push(
        `NLL of the real next ${c.bars} bars given the prompt (lower is better): ${
          f(x.perToken)
        } nats/token, ` +
          `${f(x.perNote)} nats/note, ${f(x.perSecond, 2)} nats/s (${x.tokens} tokens, ${x.notes} notes)`,
      );
      skippedFiles(
        c.leftOut.filter((s) => !m || isSkipped(m) || !m.leftOut.some((t) => t.file === s.file)),
        "not tested",
      );
    }
  }
  return lines;
}
