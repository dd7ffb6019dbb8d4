/**
 * Sampling after a prompt given as ids (a conditioning prefix, a fill-in-the-middle prompt): what the checks of
 * lib/eval/conditioning.ts and lib/eval/infill_eval.ts need and `generate` (which tokenises a `Score`) does not
 * take. The same decoders and the same Philox streams as `generate` (sequence b = stream b, draw i = counter i): the
 * CPU decoder (lib/cpu) token by token with `sampleFast` and the grammar mask, or the WebGPU engine's `decode`.
 * The prompt plus the tokens must fit the model's context (no window slide).
 *
 * @module
 */
import type { LoadedModel } from "../infer/load.ts";
import type { GrammarState } from "../infer/grammar.ts";

/**
 * Options of {@link sampleIds}.
 *
 * @example
 * ```ts
 * import type { SampleIdsOptions } from "./sample_ids.ts";
 * import { initialState } from "../infer/grammar.ts";
 * const o: SampleIdsOptions = {
 *   prompt: [1, 900, 910, 930, 935], // BOS and four condition ids
 *   grammarState: initialState(), // a piece starts here
 *   batch: 4,
 *   maxTokens: 256,
 *   temperature: 0.8,
 *   topK: 50,
 *   topP: 0.95,
 *   seed: 1,
 * };
 * ```
 */
export interface SampleIdsOptions {
  /** The prompt ids, `BOS` first. */
  prompt: readonly number[];
  /** The grammar state the first sampled token starts from. */
  grammarState: GrammarState;
  /** Sequences sampled (each its own Philox stream). */
  batch: number;
  /** Tokens per sequence at most (cut to what the context leaves after the prompt). */
  maxTokens: number;
  /** Sampling temperature. */
  temperature: number;
  /** Top-k (0 = off). */
  topK: number;
  /** Top-p. */
  topP: number;
  /** Philox key. */
  seed: number;
  /** The grammar mask (default on). */
  grammar?: boolean;
  /** Ids never sampled (condition and FIM tokens, say). */
  ban?: readonly number[];
  /** Whether a sequence is done, given its ids so far (checked after every token). */
  done?: (ids: readonly number[]) => boolean;
}

/**
 * Samples `batch` continuations of `prompt`; returns each sequence's ids (prompt excluded, up to the token at which
 * `done` said so, inclusive) and where it ran. LSTMs are refused.
 *
 * @example
 * ```ts ignore
 * import { sampleIds } from "./sample_ids.ts";
 * import { loadModel } from "../infer/load.ts";
 * import { initialState } from "../infer/grammar.ts";
 * const model = await loadModel("models/corpus6");
 * const { ids } = await sampleIds(model, {
 *   prompt: [1], grammarState: initialState(model.grammar), batch: 2, maxTokens: 64,
 *   temperature: 1, topK: 0, topP: 1, seed: 3,
 * });
 * ```
 */
export async function sampleIds(
  model: LoadedModel,
  o: SampleIdsOptions,
): Promise<{ ids: number[][]; adapter: string }> {
  if (model.arch !== "transformer") throw new Error("sampling from ids needs a Transformer checkpoint");
  const { allowedMask, nextState } = await import("../infer/grammar.ts");
  const { sampleFast } = await import("../infer/sample_fast.ts");
  const { useModel } = await import("../infer/load.ts");
  const g = model.grammar, V = g.gtab.length / 16, B = o.batch;
  if (!(o.prompt.length >= 1 && o.prompt.length < model.context)) {
    throw new Error(`prompt: expected 1…${model.context - 1} ids, got ${o.prompt.length}`);
  }
  const maxTokens = Math.min(o.maxTokens, model.context - o.prompt.length);
  let bias: Float32Array | undefined;
  if (o.ban?.length) {
    bias = new Float32Array(V);
    for (const id of o.ban) if (id >= 0 && id < V) bias[id] = -Infinity;
  }
  const useGrammar = o.grammar ?? true;
  const sampling = { temperature: o.temperature, topK: o.topK, topP: o.topP, seed: o.seed };
  const ids: number[][] = Array.from({ length: B }, () => []);
  const done = new Array(B).fill(false);
  const take = (s: number, t: number) => {
    if (done[s]) return;
    ids[s].push(t);
    if (ids[s].length >= maxTokens || o.done?.(ids[s])) done[s] = true;
  };
  return await useModel(model, async () => {
    if (model.cpuDecoder) {
      const dec = model.cpuDecoder(B);
      const states = Array.from(
        { length: B },
        () => ({ ...o.grammarState, pitches: [...o.grammarState.pitches] }),
      );
      let rows: Float32Array[] = [];
      for (let s = 0; s < B; s++) {
        dec.reset(s);
        rows.push(dec.prefill(o.prompt, { seq: s }).slice());
      }
      const pos = new Int32Array(B).fill(o.prompt.length), last = new Int32Array(B);
      for (let draw = 0; draw < maxTokens && !done.every(Boolean); draw++) {
        for (let s = 0; s < B; s++) {
          const mask = useGrammar ? allowedMask(g, states[s]) : undefined;
          const t = sampleFast(rows[s], sampling, s, draw, mask, bias).token;
          take(s, t);
          states[s] = nextState(g, states[s], t);
          last[s] = t;
        }
        if (done.every(Boolean) || draw + 1 >= maxTokens) break;
        const out = dec.step(last, pos);
        for (let s = 0; s < B; s++) pos[s]++;
        rows = Array.from({ length: B }, (_, s) => out.subarray(s * V, (s + 1) * V));
        if (draw % 32 === 31) await new Promise((r) => setTimeout(r, 0));
      }
      return { ids, adapter: model.adapter };
    }
    const engine = await model.engine(B);
    await engine.decode({
      prompt: [...o.prompt],
      grammarState: o.grammarState,
      grammar: useGrammar ? g : undefined,
      batch: B,
      maxTokens,
      ...sampling,
      bias,
      onTokens: (fresh) => {
        fresh.forEach((list, s) => list.forEach((t) => take(s, t)));
        return done.every(Boolean);
      },
    });
    return { ids, adapter: model.adapter };
  });
}
