/**
 * Token-by-token sampling on the CPU for `generate`: {@linkcode sampleLoop} (the exact fast sampler, the grammar mask
 * and the dynamic controls) over the logits rows of the LSTM (tfjs) or of the Transformer on the CPU decoder
 * ({@linkcode cpuRows}).
 *
 * @module
 */
import type { LoadedModel } from "./load.ts";
import { allowedMask, type GrammarState, nextState } from "./grammar.ts";
import type { SamplerParams } from "./sampling.ts";
import { sampleFast } from "./sample_fast.ts";
import type { DecodeConstraint } from "./constraints.ts";
import { type CpuDecoder } from "../cpu/decode.ts";
import { nextWindow } from "./_window.ts";

/**
 * Where {@linkcode sampleLoop} gets each draw's logits rows, over the loop's growing histories.
 *
 * @example
 * ```ts
 * import type { RowSource } from "./_cpu_loop.ts";
 * const uniform = (hist: number[][], vocab: number): RowSource => ({
 *   rows: () => hist.map(() => new Float32Array(vocab)),
 * });
 * ```
 */
export interface RowSource {
  /** Logits of each sequence's next draw (`draw` = draws so far); read before the next call only. */
  rows(draw: number): Float32Array[] | Promise<Float32Array[]>;
  /** Draws possible before the context must slide (sliding first if it is full); unbounded when absent. */
  room?(): number | Promise<number>;
}

/**
 * Token-by-token sampling on the CPU (the reference sampler and the grammar mask): the LSTM (tfjs forward over the
 * last seqLen tokens) and the Transformer on the CPU device (KV-cache decoder). Same Philox streams and counters as
 * the engine (sequence b = stream b, draw i = counter i), so the same seed gives the same tokens. Returns the draws
 * made per sequence.
 *
 * @example
 * ```ts ignore
 * import { loadModel } from "./load.ts";
 * import { cpuRows, sampleLoop } from "./_cpu_loop.ts";
 * import { initialState } from "./grammar.ts";
 * const model = await loadModel("models/default", { device: "cpu" });
 * const rows = cpuRows(model.cpuDecoder!(1), 1, model.context, (ids) => ids.length - model.context / 2);
 * const sampling = { temperature: 0.8, topK: 50, topP: 0.95, seed: 1 };
 * const onTokens = (fresh: number[][]) => (console.log(fresh[0]), false);
 * await sampleLoop(model, [1], initialState(model.grammar), true, 1, 64, 32, sampling, onTokens, rows); // 64
 * ```
 */
export async function sampleLoop(
  model: LoadedModel,
  prompt: number[],
  gs: GrammarState,
  useGrammar: boolean,
  batch: number,
  maxTokens: number,
  chunk: number,
  sampling: SamplerParams,
  onTokens: (fresh: number[][]) => boolean,
  source: (hist: number[][]) => RowSource,
  signal?: AbortSignal,
  bias?: Float32Array,
  constraint?: () => DecodeConstraint,
): Promise<number> {
  const g = model.grammar;
  // Dynamic controls: each draw masked by its sequence's constraint (the grammar mask included in it).
  const cs = constraint ? Array.from({ length: batch }, constraint) : undefined;
  const hist = Array.from({ length: batch }, () => [...prompt]);
  const states = Array.from({ length: batch }, () => ({ ...gs }));
  const src = source(hist);
  let draws = 0;
  while (draws < maxTokens) {
    const fresh: number[][] = Array.from({ length: batch }, () => []);
    const n = Math.min(chunk, maxTokens - draws, (await src.room?.()) ?? Infinity);
    for (let i = 0; i < n; i++, draws++) {
      const rows = await src.rows(draws);
      for (let b = 0; b < batch; b++) {
        const mask = cs ? cs[b].allowed() : useGrammar ? allowedMask(g, states[b]) : undefined;
        const t = sampleFast(rows[b], sampling, b, draws, mask, bias).token;
        hist[b].push(t);
        fresh[b].push(t);
        states[b] = nextState(g, states[b], t);
        cs?.[b].advance(t);
      }
    }
    if (onTokens(fresh) || signal?.aborted) break;
    await new Promise((r) => setTimeout(r, 0));
  }
  return draws;
}

/**
 * What {@linkcode decoderRows} drives: a KV-cache decoder with sequence slots, sync (the CPU decoder) or async (the
 * WebGPU engine, one readback per call).
 *
 * @example
 * ```ts ignore
 * import type { RowStepper } from "./_cpu_loop.ts";
 * import { loadModel } from "./load.ts";
 * const model = await loadModel("models/default", { device: "gpu" });
 * const engine = await model.engine(2);
 * const stepper: RowStepper = {
 *   prefill: (ids, seq) => engine.forward(ids, { seq }),
 *   step: (tokens, positions) => engine.step(Array.from(tokens), positions),
 * };
 * ```
 */
export interface RowStepper {
  /** Fills slot `seq`'s cache with `ids` at positions 0… (what it held before is dropped); the last row's logits. */
  prefill(ids: number[], seq: number): Float32Array | Promise<Float32Array>;
  /** One step of every slot: `tokens[s]` at `positions[s]`; logits [slots, vocab], read before the next call. */
  step(tokens: Int32Array, positions: number[]): Float32Array | Promise<Float32Array>;
}

/**
 * The Transformer's rows on the CPU decoder, as the engine runs them: see {@linkcode decoderRows}.
 *
 * @example
 * ```ts ignore
 * import { loadModel } from "./load.ts";
 * import { cpuRows } from "./_cpu_loop.ts";
 * const model = await loadModel("models/default", { device: "cpu" });
 * const source = cpuRows(model.cpuDecoder!(2), 2, model.context, (ids) => ids.length - model.context / 2);
 * const first = source([[1], [1]]).rows(0); // two rows of logits after the prompt [BOS]
 * ```
 */
export function cpuRows(
  dec: CpuDecoder,
  batch: number,
  ctx: number,
  windowStart: (ids: number[]) => number,
  lead?: (slot: number) => readonly number[],
): (hist: number[][]) => RowSource {
  return decoderRows(
    {
      prefill: (ids, seq) => {
        dec.reset(seq);
        return ids.length ? dec.prefill(ids, { seq }) : new Float32Array(0);
      },
      step: (tokens, positions) => dec.step(tokens, positions),
    },
    batch,
    ctx,
    windowStart,
    lead,
  );
}

/**
 * A decoder's rows, as the engine runs them: the prompt prefilled into every slot (the first draw from its last
 * row), then one step per draw; when the context is full, every sequence's window slides (`nextWindow`: slot `s`'s
 * `lead(s)`, then its history from `windowStart`, clamped as the engine does), all but its newest token is
 * re-prefilled, and decoding resumes from it.
 *
 * @example
 * ```ts ignore
 * import { loadModel } from "./load.ts";
 * import { decoderRows } from "./_cpu_loop.ts";
 * const model = await loadModel("models/default", { device: "gpu" });
 * const engine = await model.engine(2);
 * const source = decoderRows({
 *   prefill: (ids, seq) => engine.forward(ids, { seq }),
 *   step: (tokens, positions) => engine.step(Array.from(tokens), positions),
 * }, 2, model.context, (ids) => ids.length - model.context / 2);
 * const first = await source([[1], [1]]).rows(0); // two rows of logits after the prompt [BOS]
 * ```
 */
export function decoderRows(
  dec: RowStepper,
  batch: number,
  ctx: number,
  windowStart: (ids: number[]) => number,
  lead: (slot: number) => readonly number[] = () => [],
): (hist: number[][]) => RowSource {
  return (hist) => {
    const win: number[][] = hist.map(() => []); // each sequence's window: what its cache holds + its newest token
    const seen = new Array(batch).fill(0); // ids of hist[s] taken into win[s]
    const pos = new Array(batch).fill(0); // the position of the token each next step processes
    const tokens = new Int32Array(batch);
    let prefilled = false;
    const sync = (s: number) => {
      for (; seen[s] < hist[s].length; seen[s]++) win[s].push(hist[s][seen[s]]);
    };
    const room = async () => {
      if (!prefilled) return ctx - hist[0].length + 1;
      if (Math.max(...pos) >= ctx) {
        for (let s = 0; s < batch; s++) {
          sync(s);
          const w = win[s] = nextWindow(win[s], ctx, windowStart, lead(s));
          await dec.prefill(w.slice(0, -1), s);
          pos[s] = w.length - 1;
        }
      }
      return ctx - Math.max(...pos);
    };
    return {
      room,
      async rows() {
        if (!prefilled) {
          prefilled = true;
          const rows = [];
          for (let s = 0; s < batch; s++) {
            sync(s);
            rows.push((await dec.prefill(hist[s], s)).slice());
            pos[s] = hist[s].length;
          }
          return rows;
        }
        for (let s = 0; s < batch; s++) tokens[s] = hist[s][hist[s].length - 1];
        const out = await dec.step(tokens, pos);
        for (let s = 0; s < batch; s++) pos[s]++;
        const V = out.length / batch;
        return Array.from({ length: batch }, (_, s) => out.subarray(s * V, (s + 1) * V));
      },
    };
  };
}
