/**
 * The one generation entry every face uses (CLI, server, compiled binary): prompt → ids → `Score`s, on the WebGPU
 * engine with GPU sampling and the REMI grammar mask.
 *
 * @module
 */
import type { Note, Score } from "../score.ts";
import { nextState } from "./grammar.ts";
import type { Controls } from "./controls.ts";
import type { DecodeConstraint } from "./constraints.ts";
import type { InfillRange } from "./infill.ts";
import type { GenerateConditions } from "./conditions.ts";
import { type LoadedModel, useModel } from "./load.ts";
import { prepareGeneration } from "./plan.ts";
import { cpuRows, decoderRows, type RowSource, sampleLoop } from "./_cpu_loop.ts";
import { guidedRows } from "./guidance.ts";
import type { Engine } from "./engine.ts";

export { GenerateParamError } from "./param_error.ts";

/**
 * Options of `generate`. The generation parameters' ranges and defaults live in one table, `GENERATE_PARAMS`
 * (lib/infer/params.ts); a value outside its range is a `GenerateParamError` naming the field.
 *
 * @example
 * ```ts ignore
 * import { generate } from "./generate.ts";
 * import { loadModel } from "./load.ts";
 * import { readMidiFile } from "../midi/mod.ts";
 * const model = await loadModel("models/default");
 * const ac = new AbortController();
 * const { scores } = await generate({
 *   model,
 *   prompt: await readMidiFile("opening.mid"),
 *   seconds: 30,
 *   temperature: 0.9,
 *   topP: 0.9,
 *   seed: 42,
 *   onNotes: (notes) => console.log(`${notes.length} new notes`),
 *   signal: ac.signal,
 * });
 * model.dispose();
 * ```
 */
export interface GenerateOptions {
  /** The model to sample from (see `loadModel`). */
  model: LoadedModel;
  /** Continue this piece (tokenised with the model's tokenizer). */
  prompt?: Score;
  /** Length in tokens (`GENERATE_PARAMS.maxTokens`); the default length when no bars or seconds are given. */
  maxTokens?: number;
  /** Length in bars (`GENERATE_PARAMS.bars`); give at most one of maxTokens, bars, seconds. */
  bars?: number;
  /** Length in seconds of music after the prompt (`GENERATE_PARAMS.seconds`). */
  seconds?: number;
  /** Sampling temperature (`GENERATE_PARAMS.temperature`). */
  temperature?: number;
  /** Top-k, 0 = off (`GENERATE_PARAMS.topK`). */
  topK?: number;
  /** Top-p, nucleus (`GENERATE_PARAMS.topP`). */
  topP?: number;
  /**
   * Classifier-free guidance over the learned `conditions` (`GENERATE_PARAMS.guidanceScale`; 1 = off): each draw's
   * logits are the unconditional ones (every condition token as its `_none`) + scale × (conditional −
   * unconditional), so a scale above 1 follows the conditions more closely than the model learned to, at twice the
   * decoding work. Without a condition asked it changes nothing.
   */
  guidanceScale?: number;
  /**
   * The key's own guidance scale (`GENERATE_PARAMS.keyGuidanceScale`; 1 = as `guidanceScale`): with a key asked,
   * the key is guided at the larger of the two and the other conditions at `guidanceScale`, against a twin that
   * drops only the key (lib/infer/guidance.ts): a key followed closely without exaggerating the style.
   */
  keyGuidanceScale?: number;
  /** The density's own guidance scale (`GENERATE_PARAMS.densityGuidanceScale`), as `keyGuidanceScale` is the key's. */
  densityGuidanceScale?: number;
  /** Sampling seed, an integer (`GENERATE_PARAMS.seed`; the library's default is fixed, faces draw one). */
  seed?: number;
  /** Grammar mask (`GENERATE_PARAMS.grammar`). */
  grammar?: boolean;
  /** Sequences generated at once (`GENERATE_PARAMS.batch`). */
  batch?: number;
  /** Streaming: new notes of sequence `sequence` as they are decoded. */
  onNotes?: (notes: Note[], sequence: number) => void;
  /** Cancels (the result holds what was generated so far). */
  signal?: AbortSignal;
  /** Tokens per GPU readback (`GENERATE_PARAMS.chunk`). */
  chunk?: number;
  /** Hard controls (key, range, stuck-note guard, tempo, time signature, density): lib/infer/controls.ts. */
  controls?: Controls;
  /**
   * Learned conditions (a model trained on `tokenize --conditioning` data; any other model refuses them with a
   * one-line `GenerateParamError` naming the field): `style` (`classical` | `pop`), `key` (`"E minor"`), `tempo`
   * (`slow` | `medium` | `fast`), `density` (`low` | `medium` | `high`), written as the four tokens after `BOS`
   * the model was trained with (a condition not asked: its `_none` token, as training's condition dropout wrote it).
   * On such a model the `key`, `tempo` (its class by `CONDITION_TEMPO_BPM`, lib/infer/conditions.ts) and `density`
   * (a word) controls also set their condition when it is not given here: one option, both mechanisms (the token
   * steers, the control's mask enforces).
   */
  conditions?: GenerateConditions;
  /**
   * Infilling: regenerate bars `from..to` (1-based, inclusive; or `"5:8"`) of `prompt`, the whole piece, so they fit
   * what comes before and after (a model trained with FIM; any other refuses it). The result is the whole piece
   * with every note outside those bars as it was (lib/infer/infill.ts); its `ids` are the middle's. The length is
   * those bars (`bars` and `seconds` conflict); `maxTokens` caps the middle's tokens (default: twice the original
   * bars' tokens + 64, at most half the context).
   */
  infill?: InfillRange | string;
}

/**
 * What `generate` returns.
 *
 * @example
 * ```ts ignore
 * import { generate } from "./generate.ts";
 * import { loadModel } from "./load.ts";
 * import { writeMidi } from "../midi/mod.ts";
 * const model = await loadModel("models/default");
 * const r = await generate({ model, batch: 4, maxTokens: 1024, seed: 1 });
 * console.log(`${r.tokens} tokens at ${r.tokensPerSecond.toFixed(0)}/s on ${r.adapter}`);
 * r.scores.forEach((s, i) => Deno.writeFileSync(`piece-${i}.mid`, writeMidi(s)));
 * model.dispose();
 * ```
 */
export interface GenerateResult {
  /** One piece per sequence (the prompt's notes included when a prompt was given). */
  scores: Score[];
  /** The generated ids per sequence (prompt excluded, cut at the stop criterion). */
  ids: number[][];
  /** Tokens sampled in all sequences. */
  tokens: number;
  /** Sampled tokens per second (all sequences, prefill included). */
  tokensPerSecond: number;
  /** Where it ran: the WebGPU adapter's description, or `tfjs-<backend>` for an LSTM. */
  adapter: string;
}

/**
 * Generates `batch` pieces (continuing `prompt` if given). Same options and seed → the same ids and scores.
 * Concurrent calls on one model take turns (see {@linkcode useModel}); the server batches them instead
 * (lib/infer/batch.ts).
 *
 * @example
 * ```ts ignore
 * import { generate } from "./generate.ts";
 * import { loadModel } from "./load.ts";
 * const model = await loadModel("models/default");
 * const r = await generate({ model, maxTokens: 256, temperature: 0.9, seed: 7, batch: 2 });
 * console.log(r.tokensPerSecond, r.adapter, r.scores[0].notes.length);
 * ```
 */
export async function generate(opts: GenerateOptions): Promise<GenerateResult> {
  const plan = prepareGeneration(opts);
  const model = opts.model, g = model.grammar, batch = plan.batch;
  const bias = plan.bias;
  return await useModel(model, async () => {
    const t0 = performance.now();
    let steps: number;
    const guidance = plan.guidance;
    if (model.arch === "lstm" || model.cpuDecoder || guidance) {
      // CPU sampling: the LSTM, the CPU decoder, and guided decoding on any device (a slot per sequence and twin)
      const L = model.seqLen ?? 100, slots = batch * (1 + (guidance?.twins.length ?? 0));
      // a slid window starts with the sequence's lead: the conditions asked, a twin's with its `_none`s
      const n = plan.windowLead.length;
      const lead = (slot: number) =>
        slot < batch ? plan.windowLead : guidance!.twins[Math.floor(slot / batch) - 1].prompt.slice(0, n);
      const rows = model.arch === "lstm"
        ? (hist: number[][]) => ({ rows: () => model.lstmLogits!(hist.map((h) => h.slice(-L))) })
        : model.cpuDecoder
        ? cpuRows(model.cpuDecoder(slots), slots, model.context, plan.windowStart, lead)
        : engineRows(await model.engine(slots), slots, model.context, plan.windowStart, lead);
      steps = await sampleLoop(
        model,
        plan.prompt,
        plan.grammarState,
        plan.grammar,
        batch,
        plan.maxTokens,
        plan.chunk,
        plan.sampling,
        plan.onTokens,
        guidance ? guidedRows(rows, guidance) : rows,
        opts.signal,
        bias,
        plan.constraint,
      );
    } else {
      const engine = await model.engine(batch);
      const res = await engine.decode({
        prompt: plan.prompt,
        grammarState: plan.grammarState,
        grammar: plan.grammar ? g : undefined,
        batch,
        maxTokens: plan.maxTokens,
        ...plan.sampling,
        bias,
        chunk: plan.chunk,
        signal: opts.signal,
        nextState: (s, id) => nextState(g, s, id),
        windowStart: plan.windowStart,
        windowLead: plan.windowLead,
        onTokens: plan.onTokens,
        stepBias: stepBias(plan.constraint, batch),
      });
      steps = res.steps;
    }
    return plan.result(steps * batch, (performance.now() - t0) / 1000);
  });
}

/**
 * The engine's per-step bias of the dynamic controls (none: undefined): each sequence's constraint, advanced through
 * its ids so far, gives the static bias with -inf where its mask says no.
 */
function stepBias(
  make: (() => DecodeConstraint) | undefined,
  batch: number,
): ((seq: number, ids: readonly number[]) => Float32Array) | undefined {
  if (!make) return undefined;
  const cs = Array.from({ length: batch }, make), seen = new Array(batch).fill(0);
  return (s, ids) => {
    while (seen[s] < ids.length) cs[s].advance(ids[seen[s]++]);
    return cs[s].bias();
  };
}

/** The engine's rows for CPU sampling (one readback per step): what guided decoding runs on the WebGPU engine. */
function engineRows(
  engine: Engine,
  slots: number,
  ctx: number,
  windowStart: (ids: number[]) => number,
  lead: (slot: number) => readonly number[],
): (hist: number[][]) => RowSource {
  return decoderRows(
    {
      prefill: (ids, seq) => ids.length ? engine.forward(ids, { seq }) : new Float32Array(0),
      step: (tokens, positions) => engine.step(Array.from(tokens), positions),
    },
    slots,
    ctx,
    windowStart,
    lead,
  );
}
