/**
 * Infilling at generation time (pure helpers; the model call is the caller's): regenerate bars `from..to` of a
 * tokenised piece so they fit both what comes before and what comes after, every other bar untouched.
 *
 * 1. {@link buildInfillPrompt}: `BOS conditions FIM_PRE prefix FIM_SUF suffix FIM_MID` — the PSM layout the model was
 *    trained on (`lib/data/fim.ts`); the model then writes the middle bars.
 * 2. {@link spliceInfill}: the generated middle, cut to exactly `to − from + 1` bars (stopping at `EOS`, a special or
 *    condition token, or the bar after the last; empty bars added when it stopped early), with its meter and tempo
 *    tokens replaced by the original middle's (so every later bar starts on the same tick and the tempo map is the
 *    original's), between the original prefix and suffix ids, which stay byte for byte.
 * 3. {@link spliceScore}: the same on the user's own (unquantised) MIDI: every note outside the regenerated bars kept
 *    exactly as it was, the new bars' notes from the spliced tokens, the original tempo map and meters.
 *
 * Bars are numbered from 1, as a musician counts them: bar k starts at the k-th `Bar_None` of the piece's REMI ids.
 * Works with REMI and REMI+BPE tokenizers (not with `useRests`, whose rests move bar lines).
 *
 * @module
 */
import type { Note, Score } from "../score.ts";
import type { Tokenizer } from "../tokenizers/tokenizer.ts";
import { BOS_ID } from "../tokenizers/tokenizer.ts";
import { BpeTokenizer } from "../tokenizers/bpe.ts";
import { RemiTokenizer } from "../tokenizers/remi.ts";
import { conditioningIds } from "../data/conditioning.ts";

/**
 * Bars `from..to` (1-based, inclusive) to regenerate.
 *
 * @example
 * ```ts
 * import type { InfillRange } from "./infill.ts";
 * const r: InfillRange = { from: 5, to: 8 }; // `generate --infill 5:8`
 * ```
 */
export interface InfillRange {
  /** First bar regenerated (1 = the first bar). */
  from: number;
  /** Last bar regenerated (inclusive). */
  to: number;
}

/**
 * Parses `"5:8"` (or `"5"` for one bar) into an {@link InfillRange}; throws a one-line error otherwise.
 *
 * @example
 * ```ts
 * import { parseInfillRange } from "./infill.ts";
 * parseInfillRange("5:8"); // { from: 5, to: 8 }
 * ```
 */
export function parseInfillRange(text: string): InfillRange {
  const m = /^\s*(\d+)\s*(?::\s*(\d+))?\s*$/.exec(text);
  const from = m ? Number(m[1]) : NaN, to = m ? Number(m[2] ?? m[1]) : NaN;
  if (!m || from < 1 || to < from) {
    throw new Error(
      `--infill: expected FROM:TO bars with 1 <= FROM <= TO (e.g. 5:8), got ${JSON.stringify(text)}`,
    );
  }
  return { from, to };
}

interface Parts {
  base: RemiTokenizer;
  expand: (id: number) => readonly number[];
  encodeBase: (ids: readonly number[]) => number[];
}

function parts(tok: Tokenizer): Parts {
  if (tok instanceof BpeTokenizer) {
    return {
      base: tok.baseTokenizer,
      expand: (id) => tok.tokenBaseIds(id),
      encodeBase: (ids) => tok.encodeBase(ids),
    };
  }
  if (tok instanceof RemiTokenizer) return { base: tok, expand: (id) => [id], encodeBase: (ids) => [...ids] };
  throw new Error(`infill: expected a remi or remi-bpe tokenizer, got ${tok.kind}`);
}

/**
 * Indices of the ids that start a bar (`Bar_None`, or a BPE token whose first base token is).
 *
 * @example
 * ```ts
 * import { barStarts } from "./infill.ts";
 * import { RemiTokenizer } from "../tokenizers/remi.ts";
 * import { emptyScore } from "../score.ts";
 * const tok = new RemiTokenizer();
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 80, start: 0, duration: 480 }, { pitch: 62, velocity: 80, start: 1920, duration: 480 });
 * barStarts(tok, tok.encode(s)).length; // 2
 * ```
 */
export function barStarts(tok: Tokenizer, ids: readonly number[]): number[] {
  const p = parts(tok), bar = p.base.tables.bar;
  const out: number[] = [];
  ids.forEach((id, i) => {
    if (p.expand(id)[0] === bar) out.push(i);
  });
  return out;
}

/**
 * The piece's ids cut at bar lines into the bars before `from`, bars `from..to`, and the bars after `to` (each a
 * slice of `ids`: their concatenation is `ids`). Throws a one-line error when the piece has fewer than `to` bars.
 *
 * @example
 * ```ts
 * import { splitAtBars } from "./infill.ts";
 * import { RemiTokenizer } from "../tokenizers/remi.ts";
 * import { emptyScore } from "../score.ts";
 * const tok = new RemiTokenizer();
 * const s = emptyScore(480);
 * for (let b = 0; b < 4; b++) s.notes.push({ pitch: 60 + b, velocity: 80, start: b * 1920, duration: 480 });
 * const { prefix, middle, suffix } = splitAtBars(tok, tok.encode(s), { from: 2, to: 3 });
 * ```
 */
export function splitAtBars(
  tok: Tokenizer,
  ids: readonly number[],
  r: InfillRange,
): { prefix: number[]; middle: number[]; suffix: number[] } {
  const starts = barStarts(tok, ids);
  if (!(Number.isInteger(r.from) && Number.isInteger(r.to) && r.from >= 1 && r.to >= r.from)) {
    throw new Error(`infill: expected bars 1 <= from <= to, got ${r.from}:${r.to}`);
  }
  if (r.to > starts.length) {
    throw new Error(`infill: bars ${r.from}:${r.to}: the piece has ${starts.length} bars`);
  }
  const a = starts[r.from - 1], b = r.to < starts.length ? starts[r.to] : ids.length;
  return { prefix: ids.slice(0, a), middle: ids.slice(a, b), suffix: ids.slice(b) };
}

/**
 * Options of {@link buildInfillPrompt}.
 *
 * @example
 * ```ts
 * import type { InfillPromptOptions } from "./infill.ts";
 * const o: InfillPromptOptions = { conditions: [], maxTokens: 400 };
 * ```
 */
export interface InfillPromptOptions {
  /**
   * Condition ids to follow `BOS` (`conditionIds` in lib/data/conditioning.ts); by default the four `_none` ids, as
   * every training piece starts with four condition tokens.
   */
  conditions?: readonly number[];
  /**
   * Longest prompt: the longer of prefix and suffix loses an id (the prefix from its start, the suffix from its end)
   * until it fits, so the bars nearest the middle stay. Default: no limit.
   */
  maxTokens?: number;
}

/**
 * The FIM prompt for regenerating bars `from..to` of `ids` (a piece's ids without `BOS`, as the tokenizer encodes
 * it): `BOS conditions FIM_PRE prefix FIM_SUF suffix FIM_MID`. The tokenizer must have the FIM sentinels
 * (`tokenize --conditioning`). Returns the prompt, the bar count the middle must have, and the parts kept.
 *
 * @example
 * ```ts
 * import { buildInfillPrompt } from "./infill.ts";
 * import { RemiTokenizer } from "../tokenizers/remi.ts";
 * import { CONDITIONING_TOKENS } from "../data/conditioning.ts";
 * import { emptyScore } from "../score.ts";
 * const tok = new RemiTokenizer({ extraTokens: [...CONDITIONING_TOKENS] }); // a tokenizer made with --conditioning
 * const score = emptyScore(480);
 * for (let b = 0; b < 8; b++) score.notes.push({ pitch: 60 + b, velocity: 80, start: b * 1920, duration: 960 });
 * const { prompt, bars } = buildInfillPrompt(tok, tok.encode(score), { from: 5, to: 8 }, { maxTokens: 900 });
 * bars; // 4: sample after `prompt` until 4 bars are written, then spliceInfill
 * ```
 */
export function buildInfillPrompt(
  tok: Tokenizer,
  ids: readonly number[],
  r: InfillRange,
  o: InfillPromptOptions = {},
): { prompt: number[]; bars: number; prefix: number[]; suffix: number[] } {
  const c = conditioningIds(tok.vocab);
  if (!c) {
    throw new Error(
      "infill: the tokenizer has no FIM_PRE/FIM_SUF/FIM_MID tokens (made without --conditioning)",
    );
  }
  let { prefix, suffix } = splitAtBars(tok, ids, r);
  const lead = [BOS_ID, ...(o.conditions ?? c.none)];
  const fixed = lead.length + 3;
  if (o.maxTokens !== undefined) {
    if (o.maxTokens < fixed) {
      throw new Error(`infill: maxTokens: expected at least ${fixed}, got ${o.maxTokens}`);
    }
    let over = fixed + prefix.length + suffix.length - o.maxTokens;
    let cutP = 0, cutS = 0;
    while (over > 0) {
      if (prefix.length - cutP >= suffix.length - cutS) cutP++;
      else cutS++;
      over--;
    }
    prefix = prefix.slice(cutP);
    suffix = suffix.slice(0, suffix.length - cutS);
  }
  return {
    prompt: [...lead, c.fim.pre, ...prefix, c.fim.suf, ...suffix, c.fim.mid],
    bars: r.to - r.from + 1,
    prefix,
    suffix,
  };
}

/**
 * Whether the ids sampled after `FIM_MID` hold the whole middle: `bars` bars and then the start of one more (the
 * model moving on), or a token that ends the middle (`EOS`, a special, condition or FIM token). A sampler stops
 * there; {@link spliceInfill} cuts the rest off.
 *
 * @example
 * ```ts
 * import { middleComplete } from "./infill.ts";
 * import { RemiTokenizer } from "../tokenizers/remi.ts";
 * const tok = new RemiTokenizer();
 * const bar = tok.tokenId("Bar_None")!, pos = tok.tokenId("Position_0")!;
 * [middleComplete(tok, [bar, pos, bar], 2), middleComplete(tok, [bar, pos, bar, bar], 2)]; // [false, true]
 * ```
 */
export function middleComplete(tok: Tokenizer, generated: readonly number[], bars: number): boolean {
  const p = parts(tok), base = p.base;
  let seen = 0;
  for (const id of generated) {
    for (const b of p.expand(id)) {
      const name = base.vocab[b] ?? "";
      if (!MUSIC_TYPES.has(name.slice(0, name.indexOf("_")))) return true;
      if (b === base.tables.bar && ++seen > bars) return true;
    }
    if (!p.expand(id).length) return true;
  }
  return false;
}

const MUSIC_TYPES = new Set([
  "Bar",
  "Position",
  "Pitch",
  "Velocity",
  "Duration",
  "Chord",
  "Tempo",
  "TimeSig",
]);

/** A bar's steps: a position and the base ids after its Position token. */
type Step = { pos: number; ids: number[] };

/** Splits one bar's base ids (after its Bar) into steps; meter/tempo ids go to `metas` instead when given. */
function stepsOf(base: RemiTokenizer, ids: readonly number[], metas?: Step[]): Step[] {
  const steps: Step[] = [];
  let cur: Step | undefined;
  for (const id of ids) {
    const name = base.vocab[id] ?? "";
    const type = name.slice(0, name.indexOf("_"));
    if (type === "Position") {
      cur = { pos: Number(name.slice(9)), ids: [] };
      steps.push(cur);
    } else if (metas && (type === "TimeSig" || type === "Tempo")) {
      const pos = cur?.pos ?? 0;
      const last = metas[metas.length - 1];
      if (last && last.pos === pos) last.ids.push(id);
      else metas.push({ pos, ids: [id] });
    } else if (cur) cur.ids.push(id);
    // a note token before any Position in its bar cannot be placed: dropped
  }
  return steps;
}

/**
 * Splices a generated middle into the piece (see the module doc): `generated` is what the model wrote after the
 * prompt's `FIM_MID` (ids; anything after the middle's last bar is ignored). Returns the new piece ids (`prefix`,
 * the middle, `suffix`: the first and last byte-identical to `ids`' own) and the middle's ids alone.
 *
 * @example
 * ```ts
 * import { spliceInfill, splitAtBars } from "./infill.ts";
 * import { RemiTokenizer } from "../tokenizers/remi.ts";
 * import { CONDITIONING_TOKENS } from "../data/conditioning.ts";
 * import { emptyScore } from "../score.ts";
 * const tok = new RemiTokenizer({ extraTokens: [...CONDITIONING_TOKENS] }); // a tokenizer made with --conditioning
 * const score = emptyScore(480);
 * for (let b = 0; b < 8; b++) score.notes.push({ pitch: 60 + b, velocity: 80, start: b * 1920, duration: 960 });
 * const ids = tok.encode(score);
 * const sampled = splitAtBars(tok, ids, { from: 1, to: 4 }).middle; // stands for the model's ids after FIM_MID
 * const { ids: infilled } = spliceInfill(tok, ids, { from: 5, to: 8 }, sampled);
 * tok.decode(infilled).notes.length; // 8: bars 5–8 now hold bars 1–4's notes, bars 1–4 unchanged
 * ```
 */
export function spliceInfill(
  tok: Tokenizer,
  ids: readonly number[],
  r: InfillRange,
  generated: readonly number[],
): { ids: number[]; middle: number[] } {
  const p = parts(tok), base = p.base, bar = base.tables.bar;
  if (base.config.useRests) throw new Error("infill: REMI with rests (useRests) is not supported");
  const { prefix, middle, suffix } = splitAtBars(tok, ids, r);
  const n = r.to - r.from + 1;
  // the original middle's meter and tempo events, bar by bar
  const origBars = splitBase(middle.flatMap((id) => [...p.expand(id)]), bar);
  const origMetas = origBars.map((b) => {
    const metas: Step[] = [];
    stepsOf(base, b, metas);
    return metas;
  });
  // the generated bars: base ids up to the first non-music id, cut to n bars
  const gen: number[] = [];
  outer: for (const id of generated) {
    for (const b of p.expand(id)) {
      const name = base.vocab[b] ?? "";
      if (!MUSIC_TYPES.has(name.slice(0, name.indexOf("_")))) break outer;
      gen.push(b);
    }
  }
  if (gen.length && gen[0] !== bar) gen.unshift(bar);
  const genBars = splitBase(gen, bar).slice(0, n);
  while (genBars.length < n) genBars.push([]);
  const out: number[] = [];
  genBars.forEach((b, k) => {
    const steps = stepsOf(base, b, []); // generated TimeSig/Tempo dropped
    for (const m of origMetas[k] ?? []) {
      const at = steps.findIndex((s) => s.pos >= m.pos);
      if (at >= 0 && steps[at].pos === m.pos) steps[at].ids.unshift(...m.ids);
      else steps.splice(at < 0 ? steps.length : at, 0, { pos: m.pos, ids: [...m.ids] });
    }
    out.push(bar);
    for (const s of steps) {
      if (!s.ids.length) continue; // a Position with nothing after it
      out.push(base.tables.position + s.pos, ...s.ids);
    }
  });
  const mid = p.encodeBase(out);
  return { ids: [...prefix, ...mid, ...suffix], middle: mid };
}

/** Base ids (after the first Bar) cut into bars, each without its Bar token. */
function splitBase(ids: readonly number[], bar: number): number[][] {
  const bars: number[][] = [];
  for (const id of ids) {
    if (id === bar) bars.push([]);
    else if (bars.length) bars[bars.length - 1].push(id);
  }
  return bars;
}

/**
 * Where bars `from..to` lie, in REMI grid positions of the piece (`[start, end)`: the first bar's line, the line
 * after the last bar).
 *
 * @example
 * ```ts
 * import { infillPositions } from "./infill.ts";
 * import { RemiTokenizer } from "../tokenizers/remi.ts";
 * import { CONDITIONING_TOKENS } from "../data/conditioning.ts";
 * import { emptyScore } from "../score.ts";
 * const tok = new RemiTokenizer({ extraTokens: [...CONDITIONING_TOKENS] }); // a tokenizer made with --conditioning
 * const score = emptyScore(480);
 * for (let b = 0; b < 8; b++) score.notes.push({ pitch: 60 + b, velocity: 80, start: b * 1920, duration: 960 });
 * infillPositions(tok, tok.encode(score), { from: 2, to: 2 }); // [32, 64]: 4/4 at 8 positions per beat
 * ```
 */
export function infillPositions(tok: Tokenizer, ids: readonly number[], r: InfillRange): [number, number] {
  const p = parts(tok), base = p.base, t = base.tables;
  const { prefix, middle } = splitAtBars(tok, ids, r);
  // a probe note on the next bar line, decoded at one tick per grid position
  const probe = [t.bar, t.position, t.pitch, t.velocity, t.duration];
  const at = (before: readonly number[]) => {
    const s = base.decode([...before.flatMap((id) => [...p.expand(id)]), ...probe], { ticksPerBeat: t.grid });
    return Math.max(...s.notes.map((x) => x.start));
  };
  // the probe after the prefix is bar `from`'s own line only if the prefix's next Bar is bar `from`
  return [prefix.length ? at(prefix) : 0, at([...prefix, ...middle])];
}

/**
 * The infilled piece on the user's own score: every note of `original` outside bars `from..to` (by its grid
 * position, as REMI places it) kept exactly, the notes `infilled` (the spliced ids) has inside them, converted to
 * `original`'s ticks, and `original`'s tempo map and meters. `ids` are `tok.encode(original)`.
 *
 * @example
 * ```ts
 * import { spliceInfill, spliceScore, splitAtBars } from "./infill.ts";
 * import { RemiTokenizer } from "../tokenizers/remi.ts";
 * import { CONDITIONING_TOKENS } from "../data/conditioning.ts";
 * import { emptyScore } from "../score.ts";
 * const tok = new RemiTokenizer({ extraTokens: [...CONDITIONING_TOKENS] }); // a tokenizer made with --conditioning
 * const score = emptyScore(480);
 * for (let b = 0; b < 8; b++) score.notes.push({ pitch: 60 + b, velocity: 80, start: b * 1920, duration: 960 });
 * const ids = tok.encode(score), range = { from: 2, to: 3 };
 * const sampled = splitAtBars(tok, ids, { from: 6, to: 7 }).middle; // stands for the model's ids
 * const out = spliceScore(tok, score, ids, range, spliceInfill(tok, ids, range, sampled).ids); // writeMidi(out)
 * ```
 */
export function spliceScore(
  tok: Tokenizer,
  original: Score,
  ids: readonly number[],
  r: InfillRange,
  infilled: readonly number[],
): Score {
  const p = parts(tok), t = p.base.tables;
  const [a, b] = infillPositions(tok, ids, r);
  const scale = t.grid / original.ticksPerBeat;
  const pos = (n: Note) => Math.max(0, Math.round(n.start * scale));
  const kept = original.notes.filter((n) => pos(n) < a || pos(n) >= b).map((n) => ({ ...n }));
  const gen = p.base.decode(infilled.flatMap((id) => [...p.expand(id)]), { ticksPerBeat: t.grid }).notes
    .filter((n) => n.start >= a && n.start < b)
    .map((n) => ({
      ...n,
      start: Math.round(n.start / scale),
      duration: Math.round(n.duration / scale),
    }));
  const notes = [...kept, ...gen].sort((x, y) => x.start - y.start || x.pitch - y.pitch);
  return {
    ticksPerBeat: original.ticksPerBeat,
    notes,
    tempos: original.tempos.map((x) => ({ ...x })),
    timeSignatures: original.timeSignatures.map((x) => ({ ...x })),
  };
}
