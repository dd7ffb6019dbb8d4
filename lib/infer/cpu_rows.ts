/**
 * Continuous batching on the CPU device: {@linkcode CpuRowDecoder} runs the `decodeRows` contract of the WebGPU
 * engine (`Engine.decodeRows`, lib/infer/engine.ts) over a KV-cache `CpuDecoder` (lib/cpu/decode.ts), so the
 * server's batcher (lib/infer/batch.ts) serves many requests per decoder step on machines without a real GPU.
 *
 * Each sequence (`DecodeRow`) owns a cache slot: it is prefilled there when it joins (its first draw from the
 * prefill's last logits), then every step runs one `CpuDecoder.step` over the occupied slots (the lowest slots are
 * filled first; a free slot below the highest occupied one runs a discarded token at position 0) and samples each
 * row's token on the CPU with its own settings, Philox key, grammar state, control bias and (a `CpuDecodeRow`) its
 * dynamic controls' constraint. Rows join and leave between any two steps; their new tokens are handed to
 * `onTokens` every `chunk` tokens (and when they end). After every step the loop yields to the event loop (one macrotask, `setImmediate`), so the server answers
 * `/healthz`, sends finished pieces and takes new requests while a batch decodes.
 *
 * Reproducibility. A row's draws are those of `generate` with `batch: 1` on the CPU device: Philox stream 0, its
 * draw counter from 0 at its first token, the same prefill, the same masks and bias, and its window slid at the
 * same positions to the same `windowStart` (as generate's CPU path, `cpuRows` in lib/infer/_cpu_loop.ts, does).
 * One difference is numeric, not logical: a step over B > 1 slots runs each weight product as one BLAS GEMM, and
 * `generate` alone runs GEMVs (B = 1); OpenBLAS rounds the two differently (logits agree to ~4e-6 on the default
 * model, measured), so a draw whose uniform number falls within that rounding of a token boundary can pick the
 * neighbouring token (none in 24,000 draws of the default model; on tiny random models, whose distributions are
 * flat, about one in a few hundred). On the TypeScript BLAS the two agree bit for bit (both accumulate each dot
 * product in float64 in one order): the tests use it to compare whole pieces with `generate` token for token.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import type { CpuDecoder } from "../cpu/decode.ts";
import type { DecodeRow, DecodeRowsOptions, DecodeRowsStats, RowEnd } from "./engine.ts";
import type { DecodeConstraint } from "./constraints.ts";
import { allowedMask, type GrammarState } from "./grammar.ts";
import { GENERATE_PARAMS } from "./params.ts";
import { nextWindow } from "./_window.ts";
// The one sampler import: `sampleFast` draws exactly what `sampleReference` (lib/infer/sampling.ts) draws.
import { sampleFast as sampleToken } from "./sample_fast.ts";

/**
 * What serves the rows of a continuous batch: `Engine` (the WebGPU engine, lib/infer/engine.ts) and
 * {@linkcode CpuRowDecoder} (the CPU device) both implement it with one contract — see `Engine.decodeRows`.
 *
 * @example
 * ```ts ignore
 * import type { RowDecoder } from "./cpu_rows.ts";
 * import type { DecodeRow } from "./engine.ts";
 * async function serve(rows: RowDecoder, waiting: DecodeRow[]) {
 *   const stats = await rows.decodeRows({ next: (free) => waiting.splice(0, free), slots: 16, chunk: 8 });
 *   console.log(`${stats.rows} sequences, ${stats.rowSteps / Math.max(1, stats.steps)} rows per step`);
 * }
 * ```
 */
export interface RowDecoder {
  /** Decodes the rows `next` hands over until none is left (see `Engine.decodeRows`). */
  decodeRows(o: DecodeRowsOptions): Promise<DecodeRowsStats>;
}

/**
 * A row of {@linkcode CpuRowDecoder}: a `DecodeRow`, plus the state of its dynamic controls (exact bars,
 * `maxPolyphony`, `noRepeatNgram`; lib/infer/constraints.ts), whose `allowed()` masks each draw in place of the
 * grammar mask (it includes it) and which is `advance`d with every token drawn — as `generate` does on the CPU.
 *
 * @example
 * ```ts ignore
 * import type { CpuDecodeRow } from "./cpu_rows.ts";
 * import { decodeConstraints } from "./constraints.ts";
 * import { initialState } from "./grammar.ts";
 * import { loadModel } from "./load.ts";
 * const model = await loadModel("models/default", { device: "cpu" });
 * const make = decodeConstraints({
 *   tokenizer: model.tokenizerJson, grammar: model.grammar, bars: 4, maxTokens: 4096, prompt: [],
 *   grammarState: initialState(model.grammar),
 * })!;
 * const row: CpuDecodeRow = {
 *   prompt: [1], grammarState: initialState(model.grammar), maxTokens: 4096,
 *   temperature: 1, topK: 0, topP: 0.95, seed: 1, grammar: true, constraint: make(),
 * };
 * ```
 */
export interface CpuDecodeRow extends DecodeRow {
  /** This sequence's constraint (one per row, fresh: it holds the row's state). */
  constraint?: DecodeConstraint;
}

/** A sequence of the loop. */
interface Live {
  readonly row: CpuDecodeRow;
  readonly slot: number;
  /** Tokens sampled (prompt excluded). */
  readonly ids: number[];
  /** Sampled but not yet handed to `onTokens`. */
  fresh: number[];
  /** The window its cache slot holds, newest token (not yet in the cache) last. */
  history: number[];
  /** The position of its newest token, i.e. the one the next step runs (= history.length − 1). */
  pos: number;
  /** Grammar state after its newest token. */
  grammar: GrammarState;
  ended: boolean;
}

/**
 * The `decodeRows` contract on a CPU `CpuDecoder` (see the module doc): rows with their own prompts, settings,
 * seeds, grammar states, control biases and lengths, joining and leaving between steps, in up to `slots` cache
 * slots.
 *
 * @example
 * ```ts ignore
 * import { loadModel } from "./load.ts";
 * import { CpuRowDecoder } from "./cpu_rows.ts";
 * import { initialState, nextState } from "./grammar.ts";
 * const model = await loadModel("models/default", { device: "cpu" });
 * const rows = new CpuRowDecoder(model.cpuDecoder!(4));
 * const waiting = [1, 2, 3, 4, 5].map((seed) => ({
 *   prompt: [1], grammarState: initialState(model.grammar), maxTokens: 64,
 *   temperature: 1, topK: 0, topP: 0.95, seed, grammar: true,
 *   onEnd: (end: { ids: number[] }) => console.log(seed, end.ids.length),
 * }));
 * const stats = await rows.decodeRows({
 *   grammar: model.grammar, nextState: (s, id) => nextState(model.grammar, s, id),
 *   next: (free) => waiting.splice(0, free),
 * });
 * console.log(stats.peakRows); // 4: five sequences through four slots
 * ```
 */
export class CpuRowDecoder implements RowDecoder {
  readonly #dec: CpuDecoder;

  /** Rows over `dec`'s cache slots (its `maxBatch` is the most rows at once; its `maxPositions` the context). */
  constructor(dec: CpuDecoder) {
    this.#dec = dec;
  }

  /** Cache slots: the most rows decoded at once. */
  get maxBatch(): number {
    return this.#dec.maxBatch;
  }

  /**
   * Decodes the rows `o.next` hands over, each in its own slot, until none is left and `next` returns none.
   * `o.inFlight` does not apply (there is no readback); `o.chunk` is how many tokens a row gathers before its
   * `onTokens` hears them. A failure in one row's own work (its prefill, its constraint, its callbacks) ends that row
   * with `error`; a failed decoder step ends every row with it and rejects.
   */
  async decodeRows(o: DecodeRowsOptions): Promise<DecodeRowsStats> {
    const dec = this.#dec, ctx = dec.maxPositions;
    const S = Math.max(1, Math.min(o.slots ?? dec.maxBatch, dec.maxBatch));
    const chunk = Math.max(1, Math.floor(o.chunk ?? GENERATE_PARAMS.chunk.default));
    const nextState = o.nextState ?? ((s: GrammarState) => s);
    const slots: (Live | undefined)[] = new Array(S).fill(undefined);
    const live = new Set<Live>();
    const stats: DecodeRowsStats = { steps: 0, rows: 0, peakRows: 0, rowSteps: 0, slotSteps: 0 };
    const tokens = new Int32Array(S), positions = new Int32Array(S);

    const end = (L: Live, reason: RowEnd["reason"], error?: unknown) => {
      if (L.ended) return;
      L.ended = true;
      live.delete(L);
      if (slots[L.slot] === L) slots[L.slot] = undefined;
      try {
        L.row.onEnd?.({ ids: L.ids, reason, ...(error === undefined ? {} : { error }) });
      } catch { /* a callback's failure ends only its own sequence */ }
    };
    // Hands a row its gathered tokens; ends it when it asks to stop, its signal fired or it has all its tokens.
    const deliver = (L: Live) => {
      const t = L.fresh;
      L.fresh = [];
      let stop: boolean | void = false;
      if (t.length) {
        try {
          stop = L.row.onTokens?.(t);
        } catch (e) {
          return end(L, "error", e);
        }
      }
      if (stop) end(L, "stopped");
      else if (L.row.signal?.aborted) end(L, "aborted");
      else if (L.ids.length >= L.row.maxTokens) end(L, "length");
    };
    // One draw from `logits` (this row's, read before the next decoder call).
    const draw = (L: Live, logits: Float32Array) => {
      const r = L.row;
      const mask = r.constraint
        ? r.constraint.allowed()
        : r.grammar && o.grammar
        ? allowedMask(o.grammar, L.grammar)
        : undefined;
      const t = sampleToken(logits, r, 0, L.ids.length, mask, r.bias).token;
      r.constraint?.advance(t);
      L.ids.push(t);
      L.fresh.push(t);
      L.history.push(t);
      L.grammar = nextState(L.grammar, t);
      if (L.fresh.length >= chunk || L.ids.length >= r.maxTokens || r.signal?.aborted) deliver(L);
    };
    // A full context: keep the window from `windowStart` (clamped as the engine and generate do), re-prefill all
    // but its newest token, which the next step runs.
    const slide = (L: Live) => {
      const w = L.history = nextWindow(L.history, ctx, L.row.windowStart, L.row.windowLead);
      dec.reset(L.slot);
      if (w.length > 1) dec.prefill(w.slice(0, -1), { seq: L.slot });
      L.pos = w.length - 1;
    };
    // Work of one row (its prefill, a draw): a failure there (a bad id, a throwing constraint) ends that row alone.
    const alone = (L: Live, work: () => void) => {
      try {
        work();
      } catch (e) {
        end(L, "error", e);
      }
    };
    const join = (row: CpuDecodeRow, slot: number) => {
      const L: Live = {
        row,
        slot,
        ids: [],
        fresh: [],
        history: row.prompt.slice(-ctx),
        pos: 0,
        grammar: { ...row.grammarState },
        ended: false,
      };
      stats.rows++;
      live.add(L);
      if (!L.history.length) {
        return end(L, "error", new RangeError("prompt must hold at least one token (BOS)"));
      }
      if (row.signal?.aborted) return end(L, "aborted");
      if (!(row.maxTokens >= 1)) return end(L, "length");
      slots[slot] = L;
      alone(L, () => {
        dec.reset(slot);
        const logits = dec.prefill(L.history, { seq: slot });
        L.pos = L.history.length;
        draw(L, logits);
      });
    };

    try {
      while (true) {
        // Rows cancelled since the last step leave with what they drew.
        for (const L of slots) if (L && L.row.signal?.aborted) deliver(L);
        // New rows take the lowest free slots (keeping the rows each step runs over few).
        const free = slots.flatMap((L, s) => (L ? [] : [s]));
        const joining = free.length ? o.next(free.length).slice(0, free.length) : [];
        joining.forEach((row, i) => join(row, free[i]));
        stats.peakRows = Math.max(stats.peakRows, joining.length);
        const occupied = slots.filter((L): L is Live => !!L);
        if (!occupied.length) {
          // Rows that ended at their first draw may have left room for more; otherwise nothing is left.
          if (joining.length) continue;
          break;
        }
        for (const L of occupied) if (L.pos >= ctx) alone(L, () => slide(L));
        const stepping = slots.filter((L): L is Live => !!L);
        if (!stepping.length) continue;
        const B = Math.max(...stepping.map((L) => L.slot)) + 1;
        for (let s = 0; s < B; s++) {
          const L = slots[s];
          tokens[s] = L ? L.history[L.history.length - 1] : 0;
          positions[s] = L ? L.pos : 0;
        }
        const out = dec.step(tokens.subarray(0, B), positions.subarray(0, B));
        const V = out.length / B;
        stats.steps++;
        stats.rowSteps += stepping.length;
        stats.slotSteps += B;
        stats.peakRows = Math.max(stats.peakRows, stepping.length);
        for (const L of stepping) {
          L.pos++;
          alone(L, () => draw(L, out.subarray(L.slot * V, (L.slot + 1) * V)));
        }
        // Every step, the server's other work runs: requests arrive, answers go out, the next request's row is
        // ready a few steps after its client asked (yielding every few ms instead left rows idle: 5.4 rows per
        // step at 16 clients on the default model, against 12 yielding every step).
        await nextTask();
      }
    } catch (e) {
      for (const L of [...live]) end(L, "error", e);
      throw e;
    }
    return stats;
  }
}

/** Resolves on the next macrotask (after pending I/O), without `setTimeout`'s 4 ms clamp for nested calls. */
function nextTask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
