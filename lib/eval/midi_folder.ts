/**
 * `deno task eval --midi DIR` beyond sample metrics: any folder of MIDI files, read with lib/midi and tokenised with
 * the model's own tokenizer, gives
 *
 * - the model's NLL per token / note / second on those files ({@link folderNll}; unreadable or untokenisable files
 *   are listed with the reason and skipped), and
 * - a continuation test in the MIREX 2025 style ({@link continuationTest}): for each piece the first 4 bars are the
 *   prompt, the model generates 12 bars (`generate` with `prompt` and `bars`), and the generated bars' metrics are
 *   set against the real next 12 bars' (mean absolute and relative difference per metric over the pieces), next to
 *   the NLL of the real next 12 bars given the prompt (lower is better: comparable across models through its per-note
 *   and per-second figures).
 *
 * Bars follow the score's time signatures from tick 0 (4/4 before the first; a change takes effect at the first bar
 * line at or after its tick), the rule of the REMI tokenizer and of lib/eval/metrics.ts.
 *
 * @module
 */
import { relative } from "node:path";
import { readMidi } from "../midi/mod.ts";
import { type Score, scoreEndTick, sortNotes, ticksToSeconds } from "../score.ts";
import { listMidiFiles } from "../util/fs.ts";
import { BOS_ID, EOS_ID, type Tokenizer } from "../tokenizers/tokenizer.ts";
import { computeMetrics, meanMetrics, METRIC_NAMES, type Metrics } from "./metrics.ts";
import { type LogitsFn, modelNll, type NllReport, nllReport, type NllWindows } from "./nll.ts";
import { nllWindows } from "./windows.ts";
import type { LoadedModel } from "../infer/load.ts";
import { resolveSampling } from "../infer/generation_config.ts";

/**
 * A file that was left out, and why.
 *
 * @example
 * ```ts
 * import type { SkippedFile } from "./midi_folder.ts";
 * const s: SkippedFile = { file: "broken.mid", reason: "MIDI: bad header chunk" };
 * ```
 */
export interface SkippedFile {
  /** Path relative to the folder. */
  file: string;
  /** One line: why. */
  reason: string;
}

/**
 * A folder of MIDI files, read.
 *
 * @example
 * ```ts ignore
 * import { readMidiFolder } from "./midi_folder.ts";
 * const folder = await readMidiFolder("midi/");
 * console.log(`${folder.pieces.length} of ${folder.found} files read; ${folder.skipped.length} skipped`);
 * ```
 */
export interface MidiFolder {
  /** The folder. */
  dir: string;
  /** `.mid` / `.midi` files found (recursively). */
  found: number;
  /** The files read that hold notes, sorted by path. */
  pieces: { file: string; score: Score }[];
  /** The unreadable ones and those without notes. */
  skipped: SkippedFile[];
}

function why(e: unknown): string {
  return String((e as Error)?.message ?? e).split("\n")[0];
}

/**
 * Reads every `.mid` / `.midi` file under `dir`; a file that does not read, or has no notes, is listed in `skipped`
 * (never an error). Throws only when `dir` itself cannot be listed.
 *
 * @example
 * ```ts ignore
 * import { readMidiFolder } from "./midi_folder.ts";
 * const { pieces, skipped } = await readMidiFolder("tests/testdata/midi");
 * for (const s of skipped) console.log(`${s.file}: ${s.reason}`);
 * ```
 */
export async function readMidiFolder(dir: string): Promise<MidiFolder> {
  let files: string[];
  try {
    files = listMidiFiles(dir);
  } catch (e) {
    throw new Error(`${dir}: ${why(e)}`);
  }
  const pieces: MidiFolder["pieces"] = [];
  const skipped: SkippedFile[] = [];
  for (const path of files) {
    const file = relative(dir, path);
    try {
      const score = readMidi(await Deno.readFile(path));
      if (score.notes.length) pieces.push({ file, score });
      else skipped.push({ file, reason: "no notes" });
    } catch (e) {
      skipped.push({ file, reason: why(e) });
    }
  }
  return { dir, found: files.length, pieces, skipped };
}

/**
 * The first `count` + 1 bar lines of a score, in ticks (bar b spans `[lines[b], lines[b + 1])`), and the meter of
 * each of those bars.
 *
 * @example
 * ```ts
 * import { barLines } from "./midi_folder.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * s.timeSignatures.push({ tick: 1920, numerator: 3, denominator: 4 }); // 3/4 from bar 2
 * barLines(s, 3).lines; // [0, 1920, 3360, 4800]
 * ```
 */
export function barLines(
  score: Score,
  count: number,
): { lines: number[]; meters: { numerator: number; denominator: number }[] } {
  const sigs = [...score.timeSignatures].sort((a, b) => a.tick - b.tick);
  let num = 4, den = 4, si = 0, t = 0;
  const lines = [0], meters: { numerator: number; denominator: number }[] = [];
  for (let b = 0; b < count; b++) {
    while (si < sigs.length && sigs[si].tick <= t) ({ numerator: num, denominator: den } = sigs[si++]);
    meters.push({ numerator: num, denominator: den });
    t += Math.max(1, Math.round(score.ticksPerBeat * num * 4 / den));
    lines.push(t);
  }
  return { lines, meters };
}

/**
 * Bars `[from, to)` of a score as a score of their own, starting at tick 0: the notes whose onsets lie in them (with
 * `clip`, cut at the last bar's end), the tempo in force at the first bar and the changes inside, and one time
 * signature per change of meter at a bar line (so the slice's bars are the original's).
 *
 * @example
 * ```ts
 * import { sliceBars } from "./midi_folder.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(4); // bars of 16 ticks
 * for (let bar = 0; bar < 4; bar++) s.notes.push({ pitch: 60 + bar, velocity: 80, start: bar * 16, duration: 20 });
 * const mid = sliceBars(s, 1, 3, { clip: true });
 * mid.notes.map((n) => [n.pitch, n.start, n.duration]); // [[61, 0, 20], [62, 16, 16]]
 * ```
 */
export function sliceBars(score: Score, from: number, to: number, opts: { clip?: boolean } = {}): Score {
  const { lines, meters } = barLines(score, to);
  const t0 = lines[from], t1 = lines[to];
  const notes = score.notes
    .filter((n) => n.start >= t0 && n.start < t1)
    .map((n) => ({
      ...n,
      start: n.start - t0,
      duration: opts.clip ? Math.min(n.duration, t1 - n.start) : n.duration,
    }));
  const tempos = [...score.tempos].sort((a, b) => a.tick - b.tick);
  let bpm = 120;
  for (const tc of tempos) if (tc.tick <= t0) bpm = tc.bpm;
  const outTempos = [{ tick: 0, bpm }];
  for (const tc of tempos) {
    if (tc.tick > t0 && tc.tick < t1) outTempos.push({ tick: tc.tick - t0, bpm: tc.bpm });
  }
  const timeSignatures = [];
  for (let b = from; b < to; b++) {
    const m = meters[b], prev = timeSignatures[timeSignatures.length - 1];
    if (!prev || prev.numerator !== m.numerator || prev.denominator !== m.denominator) {
      timeSignatures.push({ tick: lines[b] - t0, ...m });
    }
  }
  return { ticksPerBeat: score.ticksPerBeat, notes: sortNotes(notes), tempos: outTempos, timeSignatures };
}

/**
 * The NLL machinery `evaluate` builds once: the logits function, its vocabulary and its context.
 *
 * @example
 * ```ts
 * import type { NllModel } from "./midi_folder.ts";
 * // a stand-in that finds every id equally likely: NLL ln 8 per token
 * const uniform: NllModel = { fn: (ids) => new Float32Array(ids.length * 8), vocab: 8, context: 512 };
 * ```
 */
export interface NllModel {
  /** Logits of a window of ids. */
  fn: LogitsFn;
  /** Row width of the logits. */
  vocab: number;
  /** Longest window. */
  context: number;
}

/**
 * The model's NLL on a MIDI folder.
 *
 * @example
 * ```ts ignore
 * import { evaluate } from "./evaluate.ts";
 * const { midiNll } = await evaluate({ modelDir: "models/default", midiDir: "midi/" });
 * if (!("skipped" in midiNll)) console.log(midiNll.model.perNote, midiNll.leftOut.length);
 * ```
 */
export interface FolderNll {
  /** Files scored, whole (the first ones, up to the token budget). */
  pieces: number;
  /** Files that could be scored (read and tokenised). */
  scorable: number;
  /** Per token / note / second of the scored files (notes and seconds as the tokenizer renders them). */
  model: NllReport;
  /** Files left out: unreadable, without notes, or not tokenisable (e.g. over the REMI token cap). */
  leftOut: SkippedFile[];
}

/**
 * NLL of the model on a folder's pieces, each tokenised as the shards are (`BOS ids… EOS`) with the model's
 * tokenizer; a piece the tokenizer refuses is skipped with the reason. `maxTokens` caps the tokens scored (whole
 * pieces, in path order; 0 = all); `eos: false` leaves the `EOS` out (pieces cut short, which do not end there).
 *
 * @example
 * ```ts ignore
 * import { folderNll, readMidiFolder } from "./midi_folder.ts";
 * import { readEngineModel } from "../infer/model_loader.ts";
 * import { referenceLogits } from "../infer/reference.ts";
 * import { readCheckpoint } from "../model/checkpoint.ts";
 * import { loadTokenizer } from "../tokenizers/load.ts";
 * const { config, weights } = await readEngineModel("models/default");
 * const tokenizer = loadTokenizer((await readCheckpoint("models/default")).tokenizerJson!);
 * const fn = (ids: readonly number[]) => referenceLogits(config, weights, ids);
 * const r = await folderNll(await readMidiFolder("midi/"), tokenizer, { fn, vocab: 1024, context: 512 });
 * console.log(`${r.pieces} files: ${r.model.perToken.toFixed(3)} nats/token`);
 * ```
 */
export async function folderNll(
  folder: MidiFolder,
  tok: Tokenizer,
  lm: NllModel,
  opts: { maxTokens?: number; log?: (line: string) => void; eos?: boolean; windows?: NllWindows } = {},
): Promise<FolderNll> {
  const skipped = [...folder.skipped];
  const seqs: number[][] = [];
  const rendered: Score[] = [];
  for (const p of folder.pieces) {
    try {
      const ids = tok.encode(p.score);
      if (!ids.length) throw new Error("no tokens (no note in the tokenizer's range)");
      const bad = ids.find((id) => !(id >= 0 && id < lm.vocab));
      if (bad !== undefined) throw new Error(`token id ${bad} outside the model's vocabulary of ${lm.vocab}`);
      seqs.push(opts.eos === false ? [BOS_ID, ...ids] : [BOS_ID, ...ids, EOS_ID]);
      rendered.push(tok.decode(ids));
    } catch (e) {
      skipped.push({ file: p.file, reason: why(e) });
    }
  }
  if (!seqs.length) throw new Error(`${folder.dir}: no file the model's tokenizer can encode`);
  const limit = opts.maxTokens === 0 ? Infinity : opts.maxTokens ?? 16_384;
  const ts = performance.now();
  const m = await modelNll(lm.fn, seqs, {
    vocab: lm.vocab,
    context: lm.context,
    maxTokens: limit,
    windows: opts.windows,
  });
  let notes = 0, seconds = 0;
  for (const s of rendered.slice(0, m.pieces)) {
    notes += s.notes.length;
    seconds += ticksToSeconds(s, scoreEndTick(s));
  }
  opts.log?.(
    `${folder.dir}: ${m.tokens.toLocaleString("en-US")} tokens of ${m.pieces}/${seqs.length} files, ${
      (m.nll / m.tokens).toFixed(3)
    } nats/token (${((performance.now() - ts) / 1000).toFixed(1)} s)`,
  );
  return { pieces: m.pieces, scorable: seqs.length, model: nllReport(m, notes, seconds), leftOut: skipped };
}

/**
 * Options for {@link continuationTest}.
 *
 * @example
 * ```ts ignore
 * import { continuationTest, type NllModel, readMidiFolder } from "./midi_folder.ts";
 * import { loadModel } from "../infer/load.ts";
 * import { referenceLogits } from "../infer/reference.ts";
 * import { readEngineModel } from "../infer/model_loader.ts";
 * const model = await loadModel("models/default");
 * const { config, weights } = await readEngineModel("models/default");
 * const lm: NllModel = { fn: (ids) => referenceLogits(config, weights, ids), vocab: 1024, context: 512 };
 * const opts = { promptBars: 2, bars: 8, maxPieces: 4, seed: 7, temperature: 1, topK: 0, topP: 1 };
 * const r = await continuationTest(await readMidiFolder("midi/"), model, lm, opts);
 * ```
 */
export interface ContinuationOptions {
  /** Bars of each piece given as the prompt (default 4). */
  promptBars?: number;
  /** Bars generated and compared with the real ones that follow (default 12). */
  bars?: number;
  /** Pieces tested, the first long enough ones in path order (default 8). */
  maxPieces?: number;
  /** Seed of the first piece's generation; piece i uses seed + i (default 1). */
  seed?: number;
  /** Sampling temperature (default `GENERATE_PARAMS`'). */
  temperature?: number;
  /** Top-k, 0 = off (default `GENERATE_PARAMS`'). */
  topK?: number;
  /** Top-p (default `GENERATE_PARAMS`'). */
  topP?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/**
 * One piece of the continuation test.
 *
 * @example
 * ```ts ignore
 * import { evaluate } from "./evaluate.ts";
 * const { continuation } = await evaluate({ modelDir: "models/default", midiDir: "midi/" });
 * if (!("skipped" in continuation)) for (const p of continuation.perPiece) console.log(p.file, p.nllPerToken);
 * ```
 */
export interface ContinuationPiece {
  /** The file, relative to the folder. */
  file: string;
  /** Sampling seed used. */
  seed: number;
  /** Tokens of the prompt (its first bars, as the model's tokenizer renders them). */
  promptTokens: number;
  /** Tokens of the real continuation bars. */
  realTokens: number;
  /** Tokens generated. */
  generatedTokens: number;
  /** Notes in the real continuation bars. */
  realNotes: number;
  /** Notes in the generated continuation bars. */
  generatedNotes: number;
  /** NLL of the real continuation given the prompt, nats per token. */
  nllPerToken: number;
  /** Metrics of the generated bars. */
  generated: Metrics;
  /** Metrics of the real bars. */
  real: Metrics;
}

/**
 * The continuation test's result.
 *
 * @example
 * ```ts ignore
 * import { evaluate } from "./evaluate.ts";
 * const { continuation: c } = await evaluate({ modelDir: "models/default", midiDir: "midi/" });
 * if (!("skipped" in c)) console.log(c.nll.perNote, c.relativeDifference.pitchClassEntropy);
 * ```
 */
export interface ContinuationReport {
  /** Bars of prompt. */
  promptBars: number;
  /** Bars generated and compared. */
  bars: number;
  /** Seed of the first piece. */
  seed: number;
  /** Sampling settings. */
  temperature: number;
  /** Top-k (0 = off). */
  topK: number;
  /** Top-p. */
  topP: number;
  /** Pieces tested. */
  pieces: number;
  /** Pieces left out (unreadable, too short, no notes in the prompt, not tokenisable, generation failed). */
  leftOut: SkippedFile[];
  /** Mean metrics of the generated bars. */
  generated: Metrics;
  /** Mean metrics of the real bars. */
  real: Metrics;
  /** Per metric, the mean over pieces of |generated − real|. */
  absoluteDifference: Metrics;
  /** Per metric, the mean over pieces of |generated − real| ÷ |real| (pieces where real is 0 or undefined left out). */
  relativeDifference: Metrics;
  /** NLL of the real continuation bars given the prompt, over all pieces (lower is better). */
  nll: NllReport;
  /** Each piece. */
  perPiece: ContinuationPiece[];
}

/** Indices of the ids that open a bar (their first base token is `Bar`). */
function barTokenIndices(ids: readonly number[], isBar: (id: number) => boolean): number[] {
  const out: number[] = [];
  ids.forEach((id, i) => {
    if (isBar(id)) out.push(i);
  });
  return out;
}

function meanOver(
  pieces: readonly ContinuationPiece[],
  f: (p: ContinuationPiece, k: keyof Metrics) => number,
) {
  const out = {} as Metrics;
  for (const k of METRIC_NAMES) {
    let s = 0, n = 0;
    for (const p of pieces) {
      const v = f(p, k);
      if (Number.isFinite(v)) {
        s += v;
        n++;
      }
    }
    out[k] = n ? s / n : NaN;
  }
  return out;
}

/**
 * The continuation test (see the module doc) on a read folder, with a loaded model (generation) and its logits
 * function (NLL). Pieces shorter than prompt + continuation bars, or without a note in the prompt bars, are skipped
 * with the reason; throws when no piece can be tested.
 *
 * @example
 * ```ts ignore
 * import { continuationTest, type NllModel, readMidiFolder } from "./midi_folder.ts";
 * import { loadModel } from "../infer/load.ts";
 * import { referenceLogits } from "../infer/reference.ts";
 * import { readEngineModel } from "../infer/model_loader.ts";
 * const model = await loadModel("models/default");
 * const { config, weights } = await readEngineModel("models/default");
 * const lm: NllModel = { fn: (ids) => referenceLogits(config, weights, ids), vocab: 1024, context: 512 };
 * const r = await continuationTest(await readMidiFolder("midi/"), model, lm, { maxPieces: 4 });
 * console.log(r.nll.perNote, r.absoluteDifference.pitchRange);
 * ```
 */
export async function continuationTest(
  folder: MidiFolder,
  model: LoadedModel,
  lm: NllModel,
  opts: ContinuationOptions = {},
): Promise<ContinuationReport> {
  const P = opts.promptBars ?? 4, C = opts.bars ?? 12;
  const maxPieces = opts.maxPieces ?? 8, seed0 = opts.seed ?? 1;
  if (!(Number.isInteger(P) && P >= 1)) throw new RangeError(`promptBars: expected an integer ≥ 1, got ${P}`);
  if (!(Number.isInteger(C) && C >= 1)) throw new RangeError(`bars: expected an integer ≥ 1, got ${C}`);
  const { generate } = await import("../infer/generate.ts");
  const { TokenType } = await import("../infer/grammar.ts");
  // left out: the model's own sampling defaults (generation_config.json), then the table's
  const { temperature, topK, topP } = resolveSampling(opts, model.sampling);
  const tok = model.tokenizer, g = model.grammar;
  if (!g.remi) throw new Error(`the ${model.tokenizerJson.kind} tokenizer has no bars`);
  const isBar = (id: number) => (g.base[id] ?? []).some((b) => g.baseType[b] === TokenType.Bar);
  const log = opts.log ?? (() => {});
  const windows = nllWindows(model.tokenizerJson, model.grammar);

  const skipped: SkippedFile[] = [...folder.skipped];
  const perPiece: ContinuationPiece[] = [];
  let realNotes = 0, realSeconds = 0, nllSum = 0, nllTokens = 0;
  for (const { file, score } of folder.pieces) {
    if (perPiece.length >= maxPieces) break;
    const skip = (reason: string) => skipped.push({ file, reason });
    const { lines } = barLines(score, P + C);
    const lastOnset = score.notes.reduce((m, n) => Math.max(m, n.start), 0);
    if (lastOnset < lines[P + C - 1]) {
      skip(`shorter than ${P + C} bars`);
      continue;
    }
    // the first P + C bars as the tokenizer renders them; the continuation starts at the P-th bar token
    let ids: number[];
    try {
      ids = tok.encode(sliceBars(score, 0, P + C));
    } catch (e) {
      skip(why(e));
      continue;
    }
    const bars = barTokenIndices(ids, isBar);
    if (bars.length <= P) {
      skip(`${bars.length} bars once tokenised`);
      continue;
    }
    const promptIds = ids.slice(0, bars[P]), realIds = ids.slice(bars[P]);
    const prompt = tok.decode(promptIds);
    if (!prompt.notes.length) {
      skip(`no notes in the first ${P} bars`);
      continue;
    }
    // the prompt's trailing empty bars are not encoded again: generate one more bar per missing one
    const promptBars = barTokenIndices(tok.encode(prompt), isBar).length;
    const seed = seed0 + perPiece.length;
    const t0 = performance.now();
    let gen;
    try {
      gen = await generate({ model, prompt, bars: C + P - promptBars, seed, temperature, topK, topP });
    } catch (e) {
      skip(`generation failed: ${why(e)}`);
      continue;
    }
    const rendered = tok.decode(ids);
    const real = sliceBars(rendered, P, P + C, { clip: true });
    const generated = sliceBars(gen.scores[0], P, P + C, { clip: true });
    const { lines: rl } = barLines(rendered, P + C);
    realNotes += real.notes.length;
    realSeconds += ticksToSeconds(rendered, rl[P + C]) - ticksToSeconds(rendered, rl[P]);
    // NLL of the real continuation given the prompt (BOS first: the real bars start at 1 + bars[P])
    const nll = await modelNll(lm.fn, [[BOS_ID, ...ids]], {
      vocab: lm.vocab,
      context: lm.context,
      scoreFrom: [1 + bars[P]],
      windows,
    });
    nllSum += nll.nll;
    nllTokens += nll.tokens;
    perPiece.push({
      file,
      seed,
      promptTokens: promptIds.length,
      realTokens: realIds.length,
      generatedTokens: gen.ids[0].length,
      realNotes: real.notes.length,
      generatedNotes: generated.notes.length,
      nllPerToken: nll.nll / nll.tokens,
      generated: computeMetrics(generated),
      real: computeMetrics(real),
    });
    log(
      `continuation ${perPiece.length}/${maxPieces} ${file}: ${gen.ids[0].length} tokens generated, ` +
        `real bars ${(nll.nll / nll.tokens).toFixed(3)} nats/token (${
          ((performance.now() - t0) / 1000).toFixed(1)
        } s)`,
    );
  }
  if (!perPiece.length) {
    throw new Error(`${folder.dir}: no piece of ${P + C} bars or more with notes in its first ${P} bars`);
  }
  return {
    promptBars: P,
    bars: C,
    seed: seed0,
    temperature,
    topK,
    topP,
    pieces: perPiece.length,
    leftOut: skipped,
    generated: meanMetrics(perPiece.map((p) => p.generated)),
    real: meanMetrics(perPiece.map((p) => p.real)),
    absoluteDifference: meanOver(perPiece, (p, k) => Math.abs(p.generated[k] - p.real[k])),
    relativeDifference: meanOver(
      perPiece,
      (p, k) => (p.real[k] !== 0 ? Math.abs(p.generated[k] - p.real[k]) / Math.abs(p.real[k]) : NaN),
    ),
    nll: nllReport({ nll: nllSum, tokens: nllTokens, pieces: perPiece.length }, realNotes, realSeconds),
    perPiece,
  };
}
