/**
 * The per-request half of `generate` ({@linkcode prepareGeneration}, shared with the server's batcher): the options
 * checked, the prompt tokenised and cut, the grammar state, the controls' bias and constraints, and the stop criteria
 * and streaming applied to each readback's tokens ({@linkcode GenerationPlan}).
 *
 * @module
 */
import { withModelSampling } from "./generation_config.ts";
import { type Note, sortNotes, ticksToSeconds } from "../score.ts";
import { type GrammarState, type GrammarTables, initialState, nextState, TokenType } from "./grammar.ts";
import { BOS_ID, EOS_ID } from "../tokenizers/tokenizer.ts";
import { controlBias } from "./controls.ts";
import { type DecodeConstraint, decodeConstraints } from "./constraints.ts";
import { NoteStream } from "./_note_stream.ts";
import { checkGenerateParams } from "./param_check.ts";
import { GENERATE_PARAMS } from "./params.ts";
import { GenerateParamError } from "./param_error.ts";
import { barStarts, buildInfillPrompt, spliceInfill, spliceScore, splitAtBars } from "./infill.ts";
import { conditionBias, conditioningOf, conditionLead, untrained } from "./conditions.ts";
import type { GenerateOptions, GenerateResult } from "./generate.ts";
import { CATEGORIES, type ConditioningIds } from "../data/conditioning.ts";
import { type Guidance, guidancePlan } from "./guidance.ts";

/**
 * The shortest bar length (grid positions) among the middle's bars, as the grammar reads the meters, with a Bar
 * and a TimeSig base id of that length; undefined when the vocabulary has no TimeSig.
 */
function middleMeter(
  g: GrammarTables,
  prefix: readonly number[],
  middle: readonly number[],
): { barLen: number; bar: number; timeSig: number } | undefined {
  const timeSig = g.baseBar.findIndex((len) => len > 0);
  const bar = g.baseType.indexOf(TokenType.Bar);
  if (timeSig < 0 || bar < 0) return undefined;
  let s = initialState(g);
  for (const id of prefix) s = nextState(g, s, id);
  // each bar's length: the state's at the end of the bar (REMI writes a TimeSig right after its Bar)
  let shortest = Infinity;
  middle.forEach((id, i) => {
    s = nextState(g, s, id);
    const next = middle[i + 1];
    if (next === undefined || g.baseType[g.base[next]?.[0] ?? -1] === TokenType.Bar) {
      shortest = Math.min(shortest, s.barLen);
    }
  });
  if (!Number.isFinite(shortest) || shortest >= 0x7fffffff) return undefined;
  const exact = g.baseBar.indexOf(shortest);
  return { barLen: shortest, bar, timeSig: exact >= 0 ? exact : timeSig };
}

/**
 * The per-request half of `generate` (lib/infer/generate.ts), shared with the server's batcher (lib/infer/batch.ts):
 * the options checked, the prompt tokenised and cut to what the model sees, the grammar state after it, and the stop
 * criteria (EOS, `maxTokens`, `bars`, `seconds`) and note streaming applied to each readback's tokens.
 *
 * @example
 * ```ts ignore
 * import { loadModel } from "./load.ts";
 * import { prepareGeneration } from "./plan.ts";
 * const model = await loadModel("models/default");
 * const plan = prepareGeneration({ model, bars: 4, seed: 1 });
 * plan.onTokens([[5, 6, 7]]); // false: not done yet
 * const { ids } = plan.result(3, 0.1);
 * ```
 */
export interface GenerationPlan {
  /**
   * What the model sees first: BOS, a conditioning model's four condition tokens, the prompt's ids (its tail, cut at
   * a bar to fit half the context); for infilling, the FIM prompt (lib/infer/infill.ts `buildInfillPrompt`).
   */
  readonly prompt: number[];
  /** The grammar state after the prompt. */
  readonly grammarState: GrammarState;
  /** Tokens to sample at most per sequence (with bars or seconds, the safety cap). */
  readonly maxTokens: number;
  /** The checked sampling settings. */
  readonly sampling: { temperature: number; topK: number; topP: number; seed: number };
  /**
   * Classifier-free guidance (`guidanceScale`, or `keyGuidanceScale` / `densityGuidanceScale` with that condition
   * asked, above 1), else undefined: the asked sequence's row weight and its twins (the prompt with condition
   * tokens as their `_none`: same length, so every sequence shares positions) with theirs.
   */
  readonly guidance?: Guidance;
  /** Whether the grammar mask applies. */
  readonly grammar: boolean;
  /** Sequences. */
  readonly batch: number;
  /** Tokens per readback. */
  readonly chunk: number;
  /** The static controls' bias (`controlBias`), or undefined. */
  readonly bias?: Float32Array;
  /**
   * Per-sequence state of the dynamic controls (exact bars, `maxPolyphony`, `noRepeatNgram`; lib/infer/constraints.ts),
   * or undefined when there is none: a decoder calls it once per sequence, `advance`s it with every token drawn and
   * masks each draw with its `allowed()`.
   */
  readonly constraint?: () => DecodeConstraint;
  /** Takes each sequence's new tokens (one list per sequence); true once every sequence is done. */
  onTokens(fresh: number[][]): boolean;
  /** Where a full context's re-prefilled window starts in `ids` (a bar near the last half context). */
  windowStart(ids: number[]): number;
  /**
   * What every re-prefilled window starts with: a conditioning model's `BOS` and condition ids (its training
   * windows all did, lib/data/lead.ts), the prompt's first ids; empty for other models and for infilling.
   */
  readonly windowLead: readonly number[];
  /** The result so far, reporting `tokens` tokens sampled in `seconds`. */
  result(tokens: number, seconds: number): GenerateResult;
}

/**
 * Checks `opts` and prepares a generation: see {@linkcode GenerationPlan}. Throws `GenerateParamError` for a value
 * outside its range.
 *
 * @example
 * ```ts ignore
 * import { loadModel } from "./load.ts";
 * import { prepareGeneration } from "./plan.ts";
 * const model = await loadModel("models/default");
 * const { prompt, maxTokens } = prepareGeneration({ model, maxTokens: 64 }); // [1], 64
 * ```
 */
export function prepareGeneration(opts: GenerateOptions): GenerationPlan {
  const model = opts.model;
  const {
    temperature,
    topK,
    topP,
    seed,
    batch,
    bars,
    seconds,
    chunk,
    grammar: useGrammar,
    infill: range,
    guidanceScale,
    keyGuidanceScale,
    densityGuidanceScale,
    ...p
  } = checkGenerateParams(withModelSampling(opts, model.sampling)); // left out: the model's own defaults first
  // With bars or seconds, the token range's top is the safety cap.
  let maxTokens = p.maxTokens ?? GENERATE_PARAMS.maxTokens.max;
  const g = model.grammar, ctx = model.context, tok = model.tokenizer;
  const cids = conditioningOf(model);
  // BOS, then (a conditioning model) the four condition tokens.
  const lead = [BOS_ID, ...conditionLead(cids, opts)];

  // Prompt: the lead + tokens, cut at a bar boundary to fit half the context. The model sees only that tail, but
  // the result is the whole prompt (as the tokenizer renders it) followed by the continuation.
  const fullPromptIds = opts.prompt ? tok.encode(opts.prompt) : [];
  let promptIds = fullPromptIds;
  const isBar = (id: number) => g.baseType[g.base[id]?.[0] ?? -1] === TokenType.Bar;
  const limit = Math.floor(ctx / 2);
  if (promptIds.length + lead.length > limit) {
    let start = promptIds.length - (limit - lead.length);
    const bar = promptIds.findIndex((id, i) => i >= start && isBar(id));
    if (bar >= 0) start = bar;
    promptIds = promptIds.slice(start);
  }
  let prompt = [...lead, ...promptIds];
  let gs: GrammarState = initialState(g);
  for (const id of promptIds) gs = nextState(g, gs, id);
  // Infilling: the FIM prompt, the grammar at the start of bar `from`, exactly `to − from + 1` bars.
  let stopBars = bars, constraintPrompt = fullPromptIds, streamPrompt = fullPromptIds;
  let meterMask: number | undefined;
  if (range) {
    const refuse = (reason: string) =>
      new GenerateParamError(
        "infill",
        GENERATE_PARAMS.infill.allowed,
        `${range.from}:${range.to}`,
        undefined,
        undefined,
        undefined,
        reason,
      );
    if (!cids) throw refuse(untrained("infilling", "FIM_PRE/FIM_SUF/FIM_MID"));
    if (!opts.prompt) throw refuse("needs a prompt: the piece whose bars are regenerated");
    const nBars = barStarts(tok, fullPromptIds).length;
    if (range.to > nBars) {
      throw refuse(`bars ${range.from}:${range.to}: the prompt has ${nBars} bar${nBars === 1 ? "" : "s"}`);
    }
    const parts = splitAtBars(tok, fullPromptIds, range);
    maxTokens = Math.min(p.maxTokens ?? 2 * parts.middle.length + 64, Math.floor(ctx / 2));
    prompt = buildInfillPrompt(tok, fullPromptIds, range, {
      conditions: lead.slice(1),
      maxTokens: Math.min(ctx - maxTokens, Number.MAX_SAFE_INTEGER),
    }).prompt;
    // The middle is written in its shortest meter (the original's meters are put back by the splice): the grammar
    // starts at a bar line of that length (only a Bar may come first), the constraint's bars have it, and every
    // other bar length's TimeSig is masked, so no note lands past its bar.
    const meter = middleMeter(g, parts.prefix, parts.middle);
    gs = { ...initialState(g), barLen: meter?.barLen ?? initialState(g).barLen };
    stopBars = range.to - range.from + 1;
    streamPrompt = parts.prefix;
    // prompt tokens open no counted bar: [Bar, TimeSig] only sets the constraint's bar length
    constraintPrompt = meter ? [...parts.prefix, meter.bar, meter.timeSig] : parts.prefix;
    meterMask = meter?.barLen;
  }
  let bias = conditionBias(g, cids, controlBias(tok.vocab, opts.controls));
  if (meterMask !== undefined) {
    const out = bias ? Float32Array.from(bias) : new Float32Array(g.base.length);
    g.base.forEach((seq, v) => {
      if (seq.some((b) => g.baseBar[b] > 0 && g.baseBar[b] !== meterMask)) out[v] = -Infinity;
    });
    bias = out;
  }
  const constraint = decodeConstraints({
    tokenizer: model.tokenizerJson,
    grammar: g,
    controls: opts.controls,
    bars: stopBars,
    maxTokens,
    prompt: constraintPrompt,
    grammarState: useGrammar ? gs : undefined,
    bias,
  });
  // Exact bars (a constraint with `bars`): every Bar inside a token counts (the mask keeps the one past bar N first).
  const barsIn = (id: number) =>
    constraint ? (g.base[id] ?? []).filter((b) => g.baseType[b] === TokenType.Bar).length : isBar(id) ? 1 : 0;

  // Stop criteria per sequence.
  const ids: number[][] = Array.from({ length: batch }, () => []);
  const done = new Array(batch).fill(false);
  const barsSeen = new Array(batch).fill(0);
  const decodeAll = (s: number) => tok.decode([...fullPromptIds, ...ids[s]]);
  // `seconds` and streaming count from where the prompt stops: its last onset (0 without a prompt)
  const promptScore = tok.decode(fullPromptIds);
  const promptSeconds = promptScore.notes.reduce(
    (m, n) => Math.max(m, ticksToSeconds(promptScore, n.start)),
    0,
  );
  const until = seconds === undefined ? undefined : promptSeconds + seconds;
  // Streaming and the seconds stop decode each readback's new ids only (the prompt's notes are not streamed).
  const streams = seconds !== undefined || opts.onNotes
    ? Array.from({ length: batch }, () => new NoteStream(tok, streamPrompt, until))
    : undefined;
  const onTokens = (fresh: number[][]): boolean => {
    for (let s = 0; s < batch; s++) {
      if (done[s]) continue;
      const notes: Note[] = [];
      for (const id of fresh[s]) {
        if (id === EOS_ID) {
          done[s] = true;
          break;
        }
        if (stopBars !== undefined && (barsSeen[s] += barsIn(id)) > stopBars) {
          done[s] = true;
          break;
        }
        ids[s].push(id);
        if (streams) {
          // id by id: the seconds stop falls on the same token whatever the readback's length (CLI, server rows)
          const pushed = streams[s].push([id]);
          for (const n of pushed.notes) notes.push(n);
          if (pushed.reachedStop) {
            done[s] = true;
            break;
          }
        }
        if (ids[s].length >= maxTokens) {
          done[s] = true;
          break;
        }
      }
      if (opts.onNotes && notes.length) opts.onNotes(sortNotes(notes), s);
    }
    return done.every(Boolean);
  };
  const windowStart = (h: number[]) => {
    const target = h.length - Math.floor(ctx / 2);
    for (let i = Math.max(target - Math.floor(ctx / 4), 0); i < h.length; i++) if (isBar(h[i])) return i;
    return target;
  };
  const result = (tokens: number, seconds: number): GenerateResult => {
    const scores = ids.map((_, s) => {
      // Infilling: the user's piece, every note outside the bars kept, its tempo map and meters.
      if (range) {
        const spliced = spliceInfill(tok, fullPromptIds, range, ids[s]).ids;
        return spliceScore(tok, opts.prompt!, fullPromptIds, range, spliced);
      }
      const score = decodeAll(s);
      // A fixed tempo is the piece's one tempo, exactly as asked (the Tempo tokens hold only its nearest bin).
      if (opts.controls?.tempo !== undefined) score.tempos = [{ tick: 0, bpm: opts.controls.tempo }];
      if (until !== undefined) {
        score.notes = score.notes.filter((n) => ticksToSeconds(score, n.start) < until);
      }
      // Exact bars: the piece ends at the end of its last bar (bar N), where the written end-of-track goes.
      if (constraint && bars !== undefined) {
        const c = constraint();
        for (const id of ids[s]) c.advance(id);
        const end = c.endTick();
        if (end !== undefined) score.endTick = end;
      }
      return score;
    });
    return { scores, ids, tokens, tokensPerSecond: tokens / seconds, adapter: model.adapter };
  };
  return {
    prompt,
    guidance: guidanceOf(
      cids,
      prompt,
      guidanceScale,
      Math.max(guidanceScale, densityGuidanceScale),
      Math.max(guidanceScale, keyGuidanceScale),
    ),
    grammarState: gs,
    maxTokens,
    sampling: { temperature, topK, topP, seed },
    grammar: useGrammar,
    batch,
    chunk,
    bias,
    constraint,
    onTokens,
    windowStart,
    windowLead: cids && !range ? lead : [],
    result,
  };
}

/**
 * The guidance of a prompt (lib/infer/guidance.ts): the chain from every condition value token as its category's
 * `_none` (what training's condition dropout writes) through the style and tempo asked (at `scale`), the density
 * (at `densityScale`) to the key (at `keyScale`). Undefined when it is the plain prompt (every scale 1, no
 * conditions, or none asked).
 */
function guidanceOf(
  c: ConditioningIds | undefined,
  prompt: readonly number[],
  scale: number,
  densityScale: number,
  keyScale: number,
): GenerationPlan["guidance"] {
  if (!c || (scale === 1 && densityScale === 1 && keyScale === 1)) return undefined;
  const key = CATEGORIES.indexOf("Key"), density = CATEGORIES.indexOf("Density");
  const upTo = (asked: readonly number[]) =>
    prompt.map((id) => c.category[id] >= 0 && !asked.includes(c.category[id]) ? c.none[c.category[id]] : id);
  const others = CATEGORIES.map((_, i) => i).filter((i) => i !== key && i !== density);
  return guidancePlan(upTo([]), [
    { prompt: upTo(others), scale },
    { prompt: upTo([...others, density]), scale: densityScale },
    { prompt, scale: keyScale },
  ]);
}
