/**
 * `deno task eval --infill FROM:TO`: do infilled bars fit their right side better than bars written from the left
 * alone? On each of N pieces (the `--midi` files in path order; a piece is its first `TO + after` bars as the model's
 * tokenizer renders them, from its first bar line):
 *
 * 1. **infilled**: bars FROM..TO sampled after the FIM prompt `BOS conditions FIM_PRE prefix FIM_SUF suffix FIM_MID`
 *    (lib/infer/infill.ts), until the middle holds its bars;
 * 2. **left only**: the same bars sampled as a plain continuation of `BOS conditions prefix` (same seed);
 * 3. **real**: the piece's own bars, as the reference.
 *
 * Each middle is cut to exactly TO − FROM + 1 bars with the original meter and tempo by `spliceInfill`, so the piece
 * around it is byte-identical (checked: `restIdentical`). Each is then scored by the same model (sums over pieces,
 * divided by the tokens, so a piece weighs by its length):
 *
 * - **middle | both sides** (the figure): NLL per token of the middle's tokens after the FIM prompt, i.e.
 *   −log p(middle | prefix, suffix) ÷ middle tokens; lower = the model finds the bars fit both sides;
 * - **suffix | prefix + middle**: NLL per token of the suffix's tokens read left to right after `BOS conditions prefix
 *   middle`; the suffix is the same tokens for all three middles, so this compares them exactly: lower = the right
 *   side follows better from those bars. It does not use the FIM layout, so it does not favour the FIM sampler.
 *
 * Conditions are the four `_none` tokens (as every piece can be asked without them). Condition, FIM and EOS tokens
 * are never sampled in a middle. Bars far from the middle are dropped whole (the prefix from its start, the suffix
 * from its end, the longer first) until the prompt leaves room for the middle in the context; a piece whose middle
 * alone would take more than half the context is left out, with why.
 *
 * @module
 */
import { nllWindows } from "./windows.ts";
import { formatTable } from "../util/table.ts";
import { BOS_ID } from "../tokenizers/tokenizer.ts";
import type { LoadedModel } from "../infer/load.ts";
import { barStarts, buildInfillPrompt, middleComplete, spliceInfill, splitAtBars } from "../infer/infill.ts";
import { conditioningIds } from "../data/conditioning.ts";
import { modelNll } from "./nll.ts";
import type { NllModel } from "./midi_folder.ts";
import type { MidiFolder, SkippedFile } from "./midi_folder.ts";
import { sliceBars } from "./midi_folder.ts";
import { resolveSampling } from "../infer/generation_config.ts";

/**
 * Options of {@link infillCheck}.
 *
 * @example
 * ```ts
 * import type { InfillCheckOptions } from "./infill_eval.ts";
 * const o: InfillCheckOptions = { range: { from: 5, to: 6 }, after: 4, pieces: 20, seed: 1 };
 * ```
 */
export interface InfillCheckOptions {
  /** Bars regenerated, 1-based inclusive (default 5:6). */
  range?: { from: number; to: number };
  /** Bars after the middle kept as its right side (default 4). */
  after?: number;
  /** Pieces at most (default 20). */
  pieces?: number;
  /** Seed of the first piece; piece i uses seed + i (default 1). */
  seed?: number;
  /** Sampling temperature (default `GENERATE_PARAMS`'). */
  temperature?: number;
  /** Top-k (default `GENERATE_PARAMS`'). */
  topK?: number;
  /** Top-p (default `GENERATE_PARAMS`'). */
  topP?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/**
 * NLL totals of one kind of middle over the pieces.
 *
 * @example
 * ```ts ignore
 * import { infillCheck } from "./infill_eval.ts";
 * import type { LoadedModel } from "../infer/load.ts";
 * import type { MidiFolder, NllModel } from "./midi_folder.ts";
 * declare const folder: MidiFolder, model: LoadedModel, lm: NllModel; // see infillCheck's example
 * const r = await infillCheck(folder, model, lm, { pieces: 20 });
 * console.log(r.infilled.middleGivenBoth.perToken, r.leftOnly.middleGivenBoth.perToken);
 * ```
 */
export interface MiddleScores {
  /** Middle tokens in all; notes in all. */
  middleTokens: number;
  /** Notes in the middles. */
  middleNotes: number;
  /** −log p(middle | prefix, suffix) (FIM layout): nats in all, per token, per note. */
  middleGivenBoth: { nll: number; perToken: number; perNote: number };
  /** −log p(suffix | prefix, middle) (left to right): nats in all, per suffix token. */
  suffixGivenMiddle: { nll: number; perToken: number; tokens: number };
}

/**
 * One piece of the infill check.
 *
 * @example
 * ```ts ignore
 * import { infillCheck } from "./infill_eval.ts";
 * import type { LoadedModel } from "../infer/load.ts";
 * import type { MidiFolder, NllModel } from "./midi_folder.ts";
 * declare const folder: MidiFolder, model: LoadedModel, lm: NllModel; // see infillCheck's example
 * const r = await infillCheck(folder, model, lm);
 * for (const p of r.perPiece) console.log(p.file, p.infilled.middleGivenBoth, p.leftOnly.middleGivenBoth);
 * ```
 */
export interface InfillPiece {
  /** The file, relative to the folder. */
  file: string;
  /** Seed used (both samplers). */
  seed: number;
  /** Bars of prefix and suffix kept (after dropping far bars to fit). */
  prefixBars: number;
  /** Suffix bars kept. */
  suffixBars: number;
  /** Whether the spliced pieces equal the original outside the middle, id for id, for both samplers. */
  restIdentical: boolean;
  /** Per kind of middle: tokens, notes, the two NLLs (nats per token). */
  infilled: { tokens: number; notes: number; middleGivenBoth: number; suffixGivenMiddle: number };
  /** The left-only middle's. */
  leftOnly: { tokens: number; notes: number; middleGivenBoth: number; suffixGivenMiddle: number };
  /** The real middle's. */
  real: { tokens: number; notes: number; middleGivenBoth: number; suffixGivenMiddle: number };
}

/**
 * The infill check's result.
 *
 * @example
 * ```ts ignore
 * import { formatInfillReport, infillCheck } from "./infill_eval.ts";
 * import type { LoadedModel } from "../infer/load.ts";
 * import type { MidiFolder, NllModel } from "./midi_folder.ts";
 * declare const folder: MidiFolder, model: LoadedModel, lm: NllModel; // see infillCheck's example
 * console.log(formatInfillReport(await infillCheck(folder, model, lm)));
 * ```
 */
export interface InfillReport {
  /** Bars regenerated (1-based, inclusive). */
  range: { from: number; to: number };
  /** Bars of right side asked. */
  after: number;
  /** Sampling settings. */
  seed: number;
  /** Temperature. */
  temperature: number;
  /** Top-k. */
  topK: number;
  /** Top-p. */
  topP: number;
  /** Pieces tested. */
  pieces: number;
  /** Pieces whose spliced result kept every other bar byte-identical (should equal `pieces`). */
  restIdentical: number;
  /** Totals per kind of middle. */
  infilled: MiddleScores;
  /** Left-only middles. */
  leftOnly: MiddleScores;
  /** The real middles. */
  real: MiddleScores;
  /** Infilled below left-only on each measure (the goal: both true). */
  infilledLower: { middleGivenBoth: boolean; suffixGivenMiddle: boolean };
  /** Pieces in which the infilled middle scored below the left-only one, per measure. */
  piecesInfilledLower: { middleGivenBoth: number; suffixGivenMiddle: number };
  /** Pieces left out, with why. */
  leftOut: SkippedFile[];
  /** Each piece. */
  perPiece: InfillPiece[];
  /** Wall-clock seconds. */
  seconds: number;
}

/** One middle's totals in one piece: tokens, notes, and nats of each measure. */
type Sums = { tokens: number; notes: number; middleGivenBoth: number; suffixGivenMiddle: number };

function why(e: unknown): string {
  return String((e as Error)?.message ?? e).split("\n")[0];
}

function equalIds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Runs the infill check (see the module doc) on a read folder, with a loaded model (sampling) and its logits
 * function (NLL). Throws when no piece can be tested or the tokenizer has no FIM tokens.
 *
 * @example
 * ```ts ignore
 * import { infillCheck } from "./infill_eval.ts";
 * import { readMidiSplit } from "./split.ts";
 * import { loadModel } from "../infer/load.ts";
 * import { makeLogits } from "./logits.ts";
 * import { readCheckpoint } from "../model/checkpoint.ts";
 * const ck = await readCheckpoint("models/corpus6/last");
 * const model = await loadModel(ck), lm = await makeLogits(ck, "auto");
 * const folder = await readMidiSplit("../shared/midi-corpus/maestro-asap/maestro-v3.0.0", "test");
 * const r = await infillCheck(folder, model, lm, { range: { from: 5, to: 6 }, pieces: 20 });
 * ```
 */
export async function infillCheck(
  folder: MidiFolder,
  model: LoadedModel,
  lm: NllModel,
  o: InfillCheckOptions = {},
): Promise<InfillReport> {
  const t0 = performance.now();
  const { initialState, nextState } = await import("../infer/grammar.ts");
  const { sampleIds } = await import("./sample_ids.ts");
  const { EOS_ID } = await import("../tokenizers/tokenizer.ts");
  const range = o.range ?? { from: 5, to: 6 }, after = o.after ?? 4, maxPieces = o.pieces ?? 20;
  const seed0 = o.seed ?? 1;
  // left out: the model's own sampling defaults (generation_config.json), then the table's
  const { temperature, topK, topP } = resolveSampling(o, model.sampling);
  if (
    !(Number.isInteger(range.from) && range.from >= 1 && Number.isInteger(range.to) && range.to >= range.from)
  ) {
    throw new Error(`--infill: expected bars 1 <= FROM <= TO, got ${range.from}:${range.to}`);
  }
  if (!(Number.isInteger(after) && after >= 0)) {
    throw new Error(`--after: expected an integer >= 0, got ${after}`);
  }
  const tok = model.tokenizer, g = model.grammar, ctx = Math.min(model.context, lm.context);
  const windows = nllWindows(model.tokenizerJson, model.grammar);
  const c = conditioningIds(tok.vocab);
  if (!c) {
    throw new Error(
      "--infill: the model's tokenizer has no FIM tokens (made without tokenize --conditioning)",
    );
  }
  const conditions = c.none;
  const ban = [...c.byName.values(), EOS_ID];
  const nBars = range.to - range.from + 1, total = range.to + after;
  const leftOut: SkippedFile[] = [...folder.skipped];
  const perPiece: InfillPiece[] = [];
  // per piece, per middle (infilled, left only, real): tokens, notes, nats of each measure; and the suffix's tokens
  const sums: { scored: Sums[]; suffix: number }[] = [];
  const noteCount = (ids: readonly number[]) => tok.decode(ids).notes.length;
  const nll = async (ids: number[], from: number, to: number) => {
    const r = await modelNll(lm.fn, [ids.slice(0, to)], {
      vocab: lm.vocab,
      context: ctx,
      scoreFrom: [from],
      windows,
    });
    return r.nll;
  };
  for (const { file, score } of folder.pieces) {
    if (perPiece.length >= maxPieces) break;
    const skip = (reason: string) => leftOut.push({ file, reason });
    let ids: number[];
    try {
      ids = tok.encode(sliceBars(score, 0, total));
    } catch (e) {
      skip(why(e));
      continue;
    }
    const starts = barStarts(tok, ids);
    if (starts.length < range.to + (after > 0 ? 1 : 0)) {
      skip(`${starts.length} bars once tokenised, fewer than ${range.to + (after > 0 ? 1 : 0)}`);
      continue;
    }
    const whole = splitAtBars(tok, ids, range);
    if (!noteCount(whole.middle)) {
      skip(`no notes in bars ${range.from}:${range.to}`);
      continue;
    }
    const cap = Math.min(Math.floor(ctx / 2), Math.max(64, 2 * whole.middle.length));
    if (whole.middle.length > Math.floor(ctx / 2)) {
      skip(
        `bars ${range.from}:${range.to} take ${whole.middle.length} tokens, more than half the context (${ctx})`,
      );
      continue;
    }
    // drop far bars whole until the FIM prompt (lead 5 + 3 sentinels + prefix + suffix) leaves `cap` for the middle
    let a = 0, b = starts.length; // the window: bars [a, b) of the piece (0-based bar indices)
    const from0 = range.from - 1, to0 = range.to; // middle = bars [from0, to0)
    const at = (k: number) => (k < starts.length ? starts[k] : ids.length);
    const size = () => (at(from0) - at(a)) + (at(b) - at(to0));
    while (8 + size() + cap > ctx) {
      const pre = at(from0) - at(a), suf = at(b) - at(to0);
      if (pre >= suf && a < from0) a++;
      else if (b > to0) b--;
      else break;
    }
    if (8 + size() + cap > ctx) {
      skip(`the bars around ${range.from}:${range.to} do not fit the context`);
      continue;
    }
    const win = ids.slice(at(a), at(b));
    const r = { from: range.from - a, to: range.to - a };
    const parts = splitAtBars(tok, win, r);
    const fim = buildInfillPrompt(tok, win, r, { conditions });
    let gs = initialState(g);
    for (const id of parts.prefix) gs = nextState(g, gs, id);
    const seed = seed0 + perPiece.length;
    const sample = async (prompt: number[]) =>
      (await sampleIds(model, {
        prompt,
        grammarState: gs,
        batch: 1,
        maxTokens: cap,
        temperature,
        topK,
        topP,
        seed,
        ban,
        done: (s) => middleComplete(tok, s, nBars),
      })).ids[0];
    const ts = performance.now();
    let genFim: number[], genLeft: number[];
    try {
      genFim = await sample(fim.prompt);
      genLeft = await sample([BOS_ID, ...conditions, ...parts.prefix]);
    } catch (e) {
      skip(`generation failed: ${why(e)}`);
      continue;
    }
    const spliced = [spliceInfill(tok, win, r, genFim), spliceInfill(tok, win, r, genLeft)];
    const restIdentical = spliced.every((s) =>
      equalIds(s.ids.slice(0, parts.prefix.length), parts.prefix) &&
      equalIds(s.ids.slice(s.ids.length - parts.suffix.length), parts.suffix) &&
      barStarts(tok, s.middle).length === nBars
    );
    const middles = [spliced[0].middle, spliced[1].middle, parts.middle];
    const scored: Sums[] = [];
    for (const m of middles) {
      const f = [...fim.prompt, ...m];
      const both = await nll(f, fim.prompt.length, f.length);
      const l = [BOS_ID, ...conditions, ...parts.prefix, ...m, ...parts.suffix];
      const sufFrom = 1 + conditions.length + parts.prefix.length + m.length;
      const suf = parts.suffix.length ? await nll(l, sufFrom, l.length) : 0;
      scored.push({ tokens: m.length, notes: noteCount(m), middleGivenBoth: both, suffixGivenMiddle: suf });
    }
    const per = (x: typeof scored[number]) => ({
      tokens: x.tokens,
      notes: x.notes,
      middleGivenBoth: x.middleGivenBoth / Math.max(1, x.tokens),
      suffixGivenMiddle: parts.suffix.length ? x.suffixGivenMiddle / parts.suffix.length : NaN,
    });
    perPiece.push({
      file,
      seed,
      prefixBars: from0 - a,
      suffixBars: b - to0,
      restIdentical,
      infilled: per(scored[0]),
      leftOnly: per(scored[1]),
      real: per(scored[2]),
    });
    sums.push({ scored, suffix: parts.suffix.length });
    o.log?.(
      `infill ${perPiece.length}/${maxPieces} ${file}: middle | both sides ${
        (scored[0].middleGivenBoth / Math.max(1, scored[0].tokens)).toFixed(3)
      } infilled vs ${(scored[1].middleGivenBoth / Math.max(1, scored[1].tokens)).toFixed(3)} left only (${
        ((performance.now() - ts) / 1000).toFixed(1)
      } s)`,
    );
  }
  if (!perPiece.length) {
    throw new Error(
      `${folder.dir}: no piece with bars ${range.from}:${range.to} that fit the model's context`,
    );
  }
  const totals = (k: 0 | 1 | 2): MiddleScores => {
    let mt = 0, mn = 0, both = 0, suf = 0, st = 0;
    for (const s of sums) {
      const x = s.scored[k];
      mt += x.tokens;
      mn += x.notes;
      both += x.middleGivenBoth;
      suf += x.suffixGivenMiddle;
      st += s.suffix;
    }
    return {
      middleTokens: mt,
      middleNotes: mn,
      middleGivenBoth: { nll: both, perToken: both / Math.max(1, mt), perNote: mn ? both / mn : NaN },
      suffixGivenMiddle: { nll: suf, perToken: st ? suf / st : NaN, tokens: st },
    };
  };
  const infilled = totals(0), leftOnly = totals(1), real = totals(2);
  return {
    range,
    after,
    seed: seed0,
    temperature,
    topK,
    topP,
    pieces: perPiece.length,
    restIdentical: perPiece.filter((p) => p.restIdentical).length,
    infilled,
    leftOnly,
    real,
    infilledLower: {
      middleGivenBoth: infilled.middleGivenBoth.perToken < leftOnly.middleGivenBoth.perToken,
      suffixGivenMiddle: infilled.suffixGivenMiddle.perToken < leftOnly.suffixGivenMiddle.perToken,
    },
    piecesInfilledLower: {
      middleGivenBoth: perPiece.filter((p) => p.infilled.middleGivenBoth < p.leftOnly.middleGivenBoth).length,
      suffixGivenMiddle:
        perPiece.filter((p) => p.infilled.suffixGivenMiddle < p.leftOnly.suffixGivenMiddle).length,
    },
    leftOut,
    perPiece,
    seconds: (performance.now() - t0) / 1000,
  };
}

function f(v: number | undefined, digits = 3): string {
  return v === undefined || !Number.isFinite(v) ? "—" : v.toFixed(digits);
}

/**
 * The printed table of an infill report.
 *
 * @example
 * ```ts ignore
 * import { formatInfillReport, infillCheck } from "./infill_eval.ts";
 * import type { LoadedModel } from "../infer/load.ts";
 * import type { MidiFolder, NllModel } from "./midi_folder.ts";
 * declare const folder: MidiFolder, model: LoadedModel, lm: NllModel; // see infillCheck's example
 * console.log(formatInfillReport(await infillCheck(folder, model, lm)));
 * ```
 */
export function formatInfillReport(r: InfillReport): string {
  const rows = [[
    "middle",
    "tokens",
    "notes",
    "middle | both sides (nats/token)",
    "(nats/note)",
    "suffix | prefix + middle (nats/token)",
  ]];
  for (const [name, m] of [["infilled", r.infilled], ["left only", r.leftOnly], ["real", r.real]] as const) {
    rows.push([
      name,
      String(m.middleTokens),
      String(m.middleNotes),
      f(m.middleGivenBoth.perToken),
      f(m.middleGivenBoth.perNote),
      f(m.suffixGivenMiddle.perToken),
    ]);
  }
  const yes = (b: boolean) => (b ? "yes" : "NO");
  return [
    `Infill check: bars ${r.range.from}:${r.range.to} of ${r.pieces} piece(s), ${r.after} bars after (seed ${r.seed}, T ${r.temperature}, top-k ${r.topK}, top-p ${r.topP}), ${
      r.seconds.toFixed(0)
    } s`,
    formatTable(rows),
    `infilled lower than left only: middle | both sides ${
      yes(r.infilledLower.middleGivenBoth)
    } (${r.piecesInfilledLower.middleGivenBoth}/${r.pieces} pieces), ` +
    `suffix | prefix + middle ${
      yes(r.infilledLower.suffixGivenMiddle)
    } (${r.piecesInfilledLower.suffixGivenMiddle}/${r.pieces} pieces)`,
    `every other bar identical: ${r.restIdentical}/${r.pieces} pieces`,
    ...(r.leftOut.length
      ? [`${r.leftOut.length} file(s) left out (first: ${r.leftOut[0].file}: ${r.leftOut[0].reason})`]
      : []),
  ].join("\n");
}
