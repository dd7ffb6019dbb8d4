/**
 * The WebGPU inference engine for etude's Llama-style transformer: one command buffer per prefill, many decode steps
 * per submit with the sampler on the GPU (each step's embedding gather reads the token the previous step's sampler
 * wrote), and readback of K tokens at a time through a ring of MAP_READ staging buffers (lib/infer/_readback.ts).
 *
 * What one forward pass dispatches, the buffers and the uniforms live in lib/infer/_model.ts; the uniform layouts in
 * lib/infer/_uniforms.ts. Matmul and attention kernels come in two paths chosen per adapter (lib/infer/_kernels.ts):
 * `software` (tuned and measured on llvmpipe) and `gpu` (split-K decode GEMVs and a wider attention for real GPUs;
 * proven correct on llvmpipe by the tests, real-GPU speed not measured yet).
 *
 * Two decode loops: {@linkcode Engine.decode} runs `batch` sequences continuing one prompt with one set of sampling
 * settings (the CLI's `--batch`; sequence b draws from Philox stream b), and {@linkcode Engine.decodeRows} runs
 * independent sequences (continuous batching, the server): each has its own prompt, settings, seed, length and
 * position, joins the batch between readbacks into a free slot and leaves it when done or cancelled. A sequence of
 * `decodeRows` draws exactly the tokens it draws alone: its Philox counter starts at 0 on stream 0 wherever it
 * joins, and the decode runs row-invariant kernels (see `decodeRows`).
 *
 * @module
 */
import { getGpu, type Gpu, readBuffer } from "./_gpu.ts";
import { chooseKernelPath, type KernelPath } from "./_kernels.ts";
import { type DecodeSampling, GpuModel, MAX_CHUNK } from "./_model.ts";
import { GENERATE_PARAMS } from "./params.ts";
import { ReadbackRing } from "./_readback.ts";
import { type RowSettings, type SequenceState, STATE_WORDS } from "./_uniforms.ts";
import type { ModelWeights } from "./model_loader.ts";
import type { TransformerConfig } from "../model/config.ts";
import type { GrammarState, GrammarTables } from "./grammar.ts";
import { seedWords } from "./sampling.ts";
import { nextWindow } from "./_window.ts";

export type { DecodeSampling } from "./_model.ts";

/**
 * Options for creating an engine.
 *
 * @example
 * ```ts ignore
 * import { Engine } from "./engine.ts";
 * import { readEngineModel } from "./model_loader.ts";
 * const { config, weights } = await readEngineModel("models/default");
 * const engine = await Engine.create(config, weights, { maxBatch: 8, kernels: "gpu" });
 * ```
 */
export interface EngineOptions {
  /** Largest batch (sequences decoded at once); default 1. */
  maxBatch?: number;
  /** A GPU to use (default: the shared one from `getGpu`). */
  gpu?: Gpu;
  /**
   * Matmul kernel path (see lib/infer/_kernels.ts): `software` (llvmpipe-tuned GEMVs) or `gpu` (split-K decode
   * GEMVs; real-GPU speed not measured yet). Default: the `ETUDE_ENGINE_KERNELS` environment variable, else chosen
   * by the adapter (`software` for fallback adapters).
   */
  kernels?: KernelPath;
}

/**
 * Options for `Engine.decode`.
 *
 * @example
 * ```ts ignore
 * import { Engine } from "./engine.ts";
 * import { grammarTables, initialState, nextState } from "./grammar.ts";
 * import { readEngineModel } from "./model_loader.ts";
 * import { readCheckpoint } from "../model/checkpoint.ts";
 * const ck = await readCheckpoint("models/default");
 * const { config, weights } = await readEngineModel("models/default");
 * const g = grammarTables(ck.tokenizerJson!);
 * const engine = await Engine.create(config, weights, { maxBatch: 2 });
 * const { ids } = await engine.decode({
 *   prompt: [1], // BOS
 *   grammarState: nextState(g, initialState(g), 1),
 *   grammar: g,
 *   batch: 2,
 *   maxTokens: 256,
 *   temperature: 0.8,
 *   topK: 50,
 *   topP: 0.95,
 *   seed: 1,
 *   onTokens: (tokens) => tokens.every((t) => t.includes(2)), // stop once every sequence has an EOS
 * });
 * engine.dispose();
 * ```
 */
export interface DecodeOptions extends DecodeSampling {
  /** Prompt ids (starting with BOS); at least one token. */
  prompt: number[];
  /** Grammar state after the prompt. */
  grammarState: GrammarState;
  /** Sequences to decode (≤ maxBatch). */
  batch: number;
  /** Tokens to sample per sequence (upper bound; `onTokens` may stop earlier). */
  maxTokens: number;
  /** Tokens per readback (default 32). */
  chunk?: number;
  /** Readbacks in flight (default 3). */
  inFlight?: number;
  /**
   * Called with each sequence's new tokens after every readback; return true to stop. Called in order.
   */
  onTokens?: (tokens: number[][]) => boolean | void;
  /**
   * When the context is full: index in `ids` (prompt + generated) where the re-prefilled window starts; default
   * keeps the last half of the context.
   */
  windowStart?: (ids: number[], seq: number) => number;
  /**
   * Ids each re-prefilled window starts with (a conditioning model's `BOS` and condition ids, as its training
   * windows did); the prompt must start with them. Default none.
   */
  windowLead?: readonly number[];
  /** Grammar state after a token (for window slides); default keeps `grammarState` semantics of the tables. */
  nextState?: (s: GrammarState, id: number) => GrammarState;
  /** Cancels between readbacks. */
  signal?: AbortSignal;
  /**
   * Per-step host masks (the dynamic controls, lib/infer/constraints.ts): sequence `seq`'s bias for its next draw,
   * given its ids drawn so far. When set, every step is its own submit and readback (chunk 1, one in flight): the bias
   * rows are uploaded before each step and its tokens read back after it, replacing `bias`. Correct, slower: one
   * GPU round trip per token instead of one per `chunk`.
   */
  stepBias?: (seq: number, ids: readonly number[]) => Float32Array;
}

/**
 * Sampling settings of one sequence of {@linkcode Engine.decodeRows}.
 *
 * @example
 * ```ts
 * import type { RowSampling } from "./engine.ts";
 * const s: RowSampling = { temperature: 0.8, topK: 50, topP: 0.95, seed: 7, grammar: true };
 * ```
 */
export interface RowSampling {
  /** Softmax temperature. */
  temperature: number;
  /** Keep the k most likely tokens (0: off). */
  topK: number;
  /** Nucleus threshold (1: off). */
  topP: number;
  /** The Philox key (an integer below 2^53). */
  seed: number;
  /** Whether the grammar mask (the tables given to `decodeRows`) applies to this sequence. */
  grammar: boolean;
}

/**
 * How a sequence of {@linkcode Engine.decodeRows} ended (given to its `onEnd`).
 *
 * @example
 * ```ts ignore
 * import { Engine, type RowEnd } from "./engine.ts";
 * import { initialState } from "./grammar.ts";
 * import { readEngineModel } from "./model_loader.ts";
 * const { config, weights } = await readEngineModel("models/default");
 * const engine = await Engine.create(config, weights, { maxBatch: 4 });
 * const sampling = { temperature: 0.8, topK: 50, topP: 0.95, grammar: false };
 * const rows = [1, 2, 3].map((seed) => ({
 *   ...sampling,
 *   seed,
 *   prompt: [1],
 *   grammarState: initialState(),
 *   maxTokens: 128,
 *   onEnd: (end: RowEnd) => console.log(seed, end.reason, end.ids.length), // "length", 128 unless it failed
 * }));
 * await engine.decodeRows({ next: (free) => rows.splice(0, free) });
 * ```
 */
export interface RowEnd {
  /** The tokens sampled for it, in order (its stop token included when `onTokens` stopped it). */
  ids: number[];
  /**
   * `length`: `maxTokens` drawn; `stopped`: its `onTokens` returned true; `aborted`: its signal fired; `error`: its
   * prompt was empty, a callback threw, or the decode loop failed (`error` holds why).
   */
  reason: "length" | "stopped" | "aborted" | "error";
  /** What failed, when `reason` is `error`. */
  error?: unknown;
}

/**
 * One independent sequence of {@linkcode Engine.decodeRows}: its prompt, its sampling settings, its length and its
 * callbacks.
 *
 * @example
 * ```ts ignore
 * import type { DecodeRow } from "./engine.ts";
 * const row: DecodeRow = {
 *   prompt: [1], grammarState: { type: 0, pos: -1, barLen: 0x7fffffff, pitches: [0, 0, 0, 0] }, maxTokens: 64,
 *   temperature: 0.9, topK: 0, topP: 1, seed: 3, grammar: false,
 *   onEnd: (end) => console.log(end.reason, end.ids.length),
 * };
 * ```
 */
export interface DecodeRow extends RowSampling {
  /** Prompt ids (starting with BOS); at least one token. The last `maxPositions` are used. */
  prompt: number[];
  /** Grammar state after the prompt. */
  grammarState: GrammarState;
  /** Tokens to sample at most. */
  maxTokens: number;
  /** The sequence's new tokens after each readback that holds some; return true to end it (`stopped`). */
  onTokens?: (tokens: number[]) => boolean | void;
  /** Called once when the sequence ends, whatever the reason. */
  onEnd?: (end: RowEnd) => void;
  /**
   * When its context is full: the index in its ids (prompt window + sampled) where the re-prefilled window starts;
   * default keeps the last half of the context.
   */
  windowStart?: (ids: number[]) => number;
  /** Ids each re-prefilled window starts with (its prompt starts with them); default none. */
  windowLead?: readonly number[];
  /** Ends the sequence (`aborted`) at the next readback boundary; the others go on undisturbed. */
  signal?: AbortSignal;
  /** Its controls' static per-token bias (`controlBias`), added to its logits before every draw; none: unbiased. */
  bias?: Float32Array;
}

/**
 * Options of {@linkcode Engine.decodeRows}.
 *
 * @example
 * ```ts ignore
 * import type { DecodeRowsOptions } from "./engine.ts";
 * const waiting: import("./engine.ts").DecodeRow[] = [];
 * const o: DecodeRowsOptions = { next: (free) => waiting.splice(0, free), slots: 16, chunk: 32 };
 * ```
 */
export interface DecodeRowsOptions {
  /**
   * Called between readbacks with the number of free slots; returns the sequences to start now (at most that
   * many). The loop ends when no sequence is left and `next` returns none.
   */
  next: (free: number) => DecodeRow[];
  /** The model's grammar tables (a sequence with `grammar: true` is masked by them). */
  grammar?: GrammarTables;
  /** Grammar state after a token (for window slides); default: unchanged. */
  nextState?: (s: GrammarState, id: number) => GrammarState;
  /** Sequences decoded at once (≤ maxBatch; default maxBatch). */
  slots?: number;
  /** Decode steps per submit and readback (default 32): how often sequences can join and leave. */
  chunk?: number;
  /** Readbacks in flight (default 3). */
  inFlight?: number;
}

/**
 * What {@linkcode Engine.decodeRows} reports when it returns.
 *
 * @example
 * ```ts ignore
 * import { Engine } from "./engine.ts";
 * import { initialState } from "./grammar.ts";
 * import { readEngineModel } from "./model_loader.ts";
 * const { config, weights } = await readEngineModel("models/default");
 * const engine = await Engine.create(config, weights, { maxBatch: 8 });
 * const row = (seed: number) => ({
 *   prompt: [1], grammarState: initialState(), maxTokens: 64, temperature: 0.8, topK: 50, topP: 0.95, seed, grammar: false,
 * });
 * const rows = Array.from({ length: 20 }, (_, i) => row(i));
 * const stats = await engine.decodeRows({ next: (free) => rows.splice(0, free) });
 * console.log(stats.rows, stats.peakRows, stats.steps); // 20, 8, about 20 × 64 / 8 steps
 * ```
 */
export interface DecodeRowsStats {
  /** Decode steps run (each over all occupied slots). */
  steps: number;
  /** Sequences started. */
  rows: number;
  /** The most sequences decoded in one step. */
  peakRows: number;
  /** Sequence-steps run: the occupied slots of each step, summed over steps. */
  rowSteps: number;
  /** Slot-steps run: the slots each step ran over (up to the highest occupied one), summed; ≥ rowSteps. */
  slotSteps: number;
}

/** A sequence of a `decodeRows` loop, host side. */
interface LiveRow {
  readonly row: DecodeRow;
  readonly slot: number;
  /** Sampled ids (absorbed from readbacks). */
  readonly ids: number[];
  /** The window its KV cache holds (prompt or slid window, then absorbed ids), newest token last. */
  history: number[];
  /** Grammar state after its newest absorbed token. */
  grammar: GrammarState;
  /** Draws submitted for it (at most maxTokens). */
  submitted: number;
  /** Its slot's position after every submitted step: the position the next step processes. */
  pos: number;
  ended: boolean;
}

/** One submitted readback of `decodeRows`: row 0 holds the first draws of `joined`, rows 1…n the chunk's steps. */
interface RowsChunk {
  n: number;
  /** The `tokens` buffer's row stride. */
  B: number;
  joined: LiveRow[];
  /** Sequences that own steps of this chunk, and how many (the rest of a finished one's steps are discarded). */
  owners: { live: LiveRow; count: number }[];
}

/** The settings of a free slot. */
const IDLE_ROW: RowSettings = {
  temperature: 1,
  topK: 0,
  topP: 1,
  seedWords: [0, 0],
  stream: 0,
  origin: 0,
  grammar: false,
  idle: true,
};
/** The state of a free slot: position 0, so its (discarded) forward pass writes only its own cache's first entry. */
const IDLE_STATE: SequenceState = { token: 0, pos: 0, gType: 0, gPos: -1, draws: 0 };

/** The host side of one `decode` call. */
interface DecodeRun {
  readonly o: DecodeOptions;
  readonly batch: number;
  /** Decode steps per submit and readback. */
  readonly chunk: number;
  readonly inFlight: number;
  /** The prompt's last `maxPositions` ids. */
  readonly prompt: number[];
  /** Sampled ids per sequence (prompt excluded). */
  readonly ids: number[][];
  /** Per sequence: the window the KV cache holds (prompt or slid window, then sampled ids), newest token last. */
  readonly history: number[][];
  /** Per sequence: the grammar state after its newest token. */
  readonly grammar: GrammarState[];
  readonly nextState: (s: GrammarState, id: number) => GrammarState;
  /** Tokens sampled per sequence so far (the sampler's draw counter): decode steps run. */
  draws: number;
  /** The position the next decode step processes (the largest over sequences after a slide). */
  pos: number;
  prefilled: boolean;
  stopped: boolean;
}

/**
 * A model loaded into GPU buffers, with prefill, teacher-forced steps and the sampling decode loop.
 *
 * @example
 * ```ts ignore
 * import { Engine } from "./engine.ts";
 * import { readEngineModel } from "./model_loader.ts";
 * const { config, weights } = await readEngineModel("models/default");
 * const engine = await Engine.create(config, weights, { maxBatch: 4 });
 * const logits = await engine.forward([1, 10, 20], { allRows: true });
 * engine.dispose();
 * ```
 */
export class Engine {
  /** The model's hyper-parameters. */
  readonly config: TransformerConfig;
  /** The WebGPU adapter's description. */
  readonly adapter: string;
  /** Largest batch `decode` takes. */
  readonly maxBatch: number;
  /** The matmul kernel path in use (`gpu` or `software`). */
  readonly kernels: KernelPath;
  readonly #m: GpuModel;
  readonly #dev: GPUDevice;

  private constructor(model: GpuModel, adapter: string) {
    this.#m = model;
    this.#dev = model.device;
    this.config = model.config;
    this.kernels = model.path;
    this.maxBatch = model.maxBatch;
    this.adapter = adapter;
  }

  /** Uploads weights and compiles kernels. */
  static async create(
    config: TransformerConfig,
    weights: ModelWeights,
    opts: EngineOptions = {},
  ): Promise<Engine> {
    const gpu = opts.gpu ?? await getGpu();
    const path = chooseKernelPath(gpu, opts.kernels);
    if (config.maxPositions > 8192) {
      throw new Error(`max_position_embeddings ${config.maxPositions} exceeds 8192`);
    }
    return new Engine(await GpuModel.create(gpu, config, weights, opts.maxBatch ?? 1, path), gpu.adapter);
  }

  /**
   * Runs tokens of one sequence at positions posBase… (prefill, filling the KV cache) and returns the logits of
   * the last row, or of every row with `allRows`. Uses one GPU→CPU readback.
   */
  async forward(
    tokens: number[],
    opts: { seq?: number; posBase?: number; allRows?: boolean } = {},
  ): Promise<Float32Array> {
    const seq = opts.seq ?? 0, posBase = opts.posBase ?? 0, T = tokens.length, V = this.config.vocabSize;
    this.#checkPrefill(T, posBase, seq);
    const rows = opts.allRows ? T : 1;
    this.#runPrefill(tokens, seq, posBase, { row0: opts.allRows ? 0 : T - 1, rows });
    return new Float32Array(await readBuffer(this.#dev, this.#m.buffers.logits, rows * V * 4));
  }

  #checkPrefill(T: number, posBase: number, seq: number) {
    if (T < 1 || posBase + T > this.config.maxPositions) {
      throw new RangeError(
        `prefill of ${T} tokens at position ${posBase} exceeds the context ${this.config.maxPositions}`,
      );
    }
    if (seq >= this.maxBatch) throw new RangeError(`sequence ${seq} ≥ maxBatch ${this.maxBatch}`);
  }

  /** One submit running `tokens` of sequence `seq` at positions posBase… into its KV cache, with the given logits. */
  #runPrefill(tokens: number[], seq: number, posBase: number, logits: { row0: number; rows: number }) {
    this.#m.writePrompt(tokens);
    this.#m.writeUniforms({ rows: tokens.length, prefill: true, seq, posBase }, logits);
    this.#submit((pass) => this.#m.encodeForward(pass, "p", tokens.length, logits.rows));
  }

  /** Encodes one compute pass and submits it. */
  #submit(encode: (pass: GPUComputePassEncoder) => void) {
    const enc = this.#dev.createCommandEncoder();
    const pass = enc.beginComputePass();
    encode(pass);
    pass.end();
    this.#dev.queue.submit([enc.finish()]);
  }

  /**
   * One teacher-forced decode step for sequences 0…B−1: token `tokens[b]` at position `positions[b]` (the KV cache
   * must hold positions below it). Returns logits [B, vocab].
   */
  async step(tokens: number[], positions: number[]): Promise<Float32Array> {
    const B = tokens.length, V = this.config.vocabSize;
    this.#m.writeStates(
      tokens.map((t, i) => ({ token: t, pos: positions[i], gType: 0, gPos: -1, draws: 0 })),
    );
    this.#m.writeUniforms({ rows: B, prefill: false, seq: 0, posBase: 0 }, { row0: 0, rows: B });
    this.#submit((pass) => this.#m.encodeForward(pass, "d", B, B));
    return new Float32Array(await readBuffer(this.#dev, this.#m.buffers.logits, B * V * 4));
  }

  /**
   * Runs the GPU sampler alone on given logits rows (one per sequence) with grammar states and draw counters;
   * returns the drawn tokens and the kept candidate flags [B, vocab]. For tests against `sampleReference`. `s` is
   * one setting for all sequences or one per sequence (then the first with grammar tables supplies them, and each
   * sequence's own `grammar` says whether they apply); a state's `stream` (default: its index) and `origin`
   * (default 0) set its Philox counter to (draws − origin, stream). Every `draws` must lie within 1,024 of the first.
   */
  async sample(
    logits: Float32Array,
    s: DecodeSampling | readonly DecodeSampling[],
    states: {
      gType: number;
      gPos: number;
      gBar?: number;
      gPitch?: number[];
      draws: number;
      stream?: number;
      origin?: number;
    }[],
  ): Promise<{ tokens: number[]; kept: Uint32Array; state: Uint32Array }> {
    const B = states.length, V = this.config.vocabSize, m = this.#m, b = m.buffers;
    const per = Array.isArray(s) ? s as readonly DecodeSampling[] : states.map(() => s as DecodeSampling);
    m.setGrammar(per.find((x) => x.grammar)?.grammar);
    this.#dev.queue.writeBuffer(b.logits, 0, Float32Array.from(logits));
    m.writeStates(states.map((st) => ({ token: 0, pos: 0, ...st })));
    m.writeRows(per.map((x, i) => ({
      ...GpuModel.rowsOf(x, 1)[0],
      stream: states[i].stream ?? i,
      origin: states[i].origin ?? 0,
    })));
    const start = Math.min(...states.map((st) => st.draws));
    m.writeSamplerUniforms(B, start, "d", { debug: true });
    this.#submit((pass) => m.encodeSampler(pass, B));
    const kept = new Uint32Array(await readBuffer(this.#dev, b.kept, B * V * 4));
    const words = new Uint32Array(await readBuffer(this.#dev, b.tokens, (MAX_CHUNK + 1) * B * 4));
    const tokens = states.map((st, i) => words[(st.draws - start) * B + i]);
    const state = new Uint32Array(await readBuffer(this.#dev, b.state, B * STATE_WORDS * 4));
    return { tokens, kept, state };
  }

  /**
   * Prefills the prompt, then samples up to `maxTokens` tokens for each of `batch` sequences, `chunk` steps per
   * submit, reading tokens back through a ring of staging buffers with `inFlight` maps outstanding. Returns the
   * sampled ids per sequence (prompt excluded) and the number of decode steps run.
   */
  async decode(o: DecodeOptions): Promise<{ ids: number[][]; steps: number }> {
    const run = this.#startDecode(o);
    const ring = new ReadbackRing(this.#dev, run.chunk * run.batch * 4, run.inFlight);
    try {
      while (!run.stopped && run.draws < o.maxTokens) {
        if (run.prefilled && run.pos >= this.config.maxPositions) {
          await this.#drain(ring, run);
          if (run.stopped) break;
          this.#slideWindow(run);
        }
        if (o.stepBias) {
          const rows = GpuModel.rowsOf(o, run.batch);
          this.#m.writeRows(rows.map((r, s) => ({ ...r, bias: o.stepBias!(s, run.ids[s]) })));
        }
        const n = this.#chunkSteps(run);
        const enc = this.#dev.createCommandEncoder();
        const first = run.prefilled ? 0 : this.#prefill(enc, run);
        this.#decodeChunk(enc, run, n - first);
        ring.submit(enc, this.#m.buffers.tokens, n * run.batch * 4);
        run.draws += n;
        run.pos += n - first;
        if (ring.pending >= run.inFlight) this.#absorb(run, await ring.take());
      }
      await this.#drain(ring, run);
    } finally {
      ring.destroy();
    }
    return { ids: run.ids.map((x) => x.slice(0, o.maxTokens)), steps: run.draws };
  }

  /** Checks a decode's options and sets up its state (grammar tables uploaded, nothing submitted). */
  #startDecode(o: DecodeOptions): DecodeRun {
    const c = this.config, B = o.batch;
    if (B < 1 || B > this.maxBatch) throw new RangeError(`batch ${B} must be 1…${this.maxBatch}`);
    if (o.prompt.length < 1) throw new RangeError("prompt must hold at least one token (BOS)");
    if (Math.ceil(c.vocabSize / 256) > 32) {
      throw new RangeError(`vocab ${c.vocabSize} exceeds the sampler's 8192`);
    }
    this.#m.setGrammar(o.grammar);
    this.#m.writeRows(GpuModel.rowsOf(o, B));
    const prompt = o.prompt.slice(-c.maxPositions);
    return {
      o,
      batch: B,
      chunk: o.stepBias ? 1 : Math.max(1, Math.min(o.chunk ?? GENERATE_PARAMS.chunk.default, MAX_CHUNK)),
      inFlight: o.stepBias ? 1 : Math.max(1, o.inFlight ?? 3),
      prompt,
      ids: Array.from({ length: B }, () => []),
      history: Array.from({ length: B }, () => [...prompt]),
      grammar: Array.from({ length: B }, () => ({ ...o.grammarState })),
      nextState: o.nextState ?? ((s: GrammarState) => s),
      draws: 0,
      pos: prompt.length, // after the prefill's draw: the sampler's state.pos is where the next token is processed
      prefilled: false,
      stopped: false,
    };
  }

  /** The state words of sequence `s` of a run: its next token at `pos`, its grammar state, `draws` so far. */
  #stateOf(run: DecodeRun, s: number, token: number, pos: number): SequenceState {
    const g = run.grammar[s];
    return { token, pos, gType: g.type, gPos: g.pos, gBar: g.barLen, gPitch: g.pitches, draws: run.draws };
  }

  /**
   * Encodes the prompt's prefill for all sequences at once (every KV cache gets it) and the first draw of each from
   * its last row; returns the decode steps it covers (1).
   */
  #prefill(enc: GPUCommandEncoder, run: DecodeRun): number {
    const T = run.prompt.length, B = run.batch, m = this.#m;
    m.writePrompt(run.prompt);
    m.writeStates(Array.from({ length: B }, (_, s) => this.#stateOf(run, s, 0, T - 1)));
    m.writeUniforms({ rows: T, prefill: true, seq: 0, posBase: 0 }, { row0: T - 1, rows: 1 }, B);
    m.writeSamplerUniforms(B, run.draws, "p");
    const pass = enc.beginComputePass();
    m.encodeForward(pass, "p", T, 1);
    m.encodeSampler(pass, B, "p");
    pass.end();
    run.prefilled = true;
    return 1;
  }

  /** Draws the next submit covers: a chunk, fewer at the end or where the context fills up. */
  #chunkSteps(run: DecodeRun): number {
    const maxPos = this.config.maxPositions;
    const room = run.prefilled ? maxPos - run.pos : maxPos - run.prompt.length + 1;
    return Math.min(run.chunk, run.o.maxTokens - run.draws, room);
  }

  /** Encodes `steps` decode steps of all sequences (forward pass + sampler each) in one compute pass. */
  #decodeChunk(enc: GPUCommandEncoder, run: DecodeRun, steps: number) {
    const B = run.batch, m = this.#m;
    m.writeSamplerUniforms(B, run.draws);
    m.writeUniforms({ rows: B, prefill: false, seq: 0, posBase: 0 }, { row0: 0, rows: B });
    if (steps <= 0) return;
    const pass = enc.beginComputePass();
    for (let i = 0; i < steps; i++) {
      m.encodeForward(pass, "d", B, B);
      m.encodeSampler(pass, B);
    }
    pass.end();
  }

  /**
   * The context is full: cut each sequence's history to a window (`windowStart`, default its last half context),
   * re-prefill all but the window's newest token, and resume each sequence at its own position from that token.
   */
  #slideWindow(run: DecodeRun) {
    const maxPos = this.config.maxPositions;
    for (let s = 0; s < run.batch; s++) {
      const ws = run.o.windowStart;
      run.history[s] = nextWindow(run.history[s], maxPos, ws && ((h) => ws(h, s)), run.o.windowLead);
    }
    for (let s = 0; s < run.batch; s++) {
      const w = run.history[s];
      if (w.length > 1) this.#runPrefill(w.slice(0, -1), s, 0, { row0: 0, rows: 0 });
      this.#m.writeStates([this.#stateOf(run, s, w[w.length - 1], w.length - 1)], s);
    }
    run.pos = Math.max(...run.history.map((w) => w.length - 1));
  }

  /** Takes in one readback (`chunk steps × batch` token words): ids, windows, grammar states, `onTokens`. */
  #absorb(run: DecodeRun, words: Uint32Array) {
    if (run.stopped) return;
    const B = run.batch, n = words.length / B;
    const fresh: number[][] = Array.from({ length: B }, () => []);
    for (let i = 0; i < n; i++) for (let s = 0; s < B; s++) fresh[s].push(words[i * B + s]);
    for (let s = 0; s < B; s++) {
      run.ids[s].push(...fresh[s]);
      run.history[s].push(...fresh[s]);
      for (const t of fresh[s]) run.grammar[s] = run.nextState(run.grammar[s], t);
    }
    if (run.o.onTokens?.(fresh)) run.stopped = true;
    if (run.o.signal?.aborted) run.stopped = true;
  }

  /** Takes in every readback still in flight. */
  async #drain(ring: ReadbackRing, run: DecodeRun) {
    while (ring.pending) this.#absorb(run, await ring.take());
  }

  /**
   * Continuous batching: decodes independent sequences (`DecodeRow`s), each with its own prompt, sampling settings,
   * seed, length and position, in up to `slots` slots. Between readbacks it asks `next(free)` for sequences to
   * start; each is prefilled into a free slot's KV cache and draws its first token from the prefill's logits (as
   * `decode` does), then decodes in lockstep with the others, one forward pass and sampler dispatch per step over
   * all occupied slots. A sequence leaves when it has `maxTokens` tokens, its `onTokens` returns true or its signal
   * fires; its slot is then free for the next one. When a sequence's context fills up, its window slides (re-
   * prefilled alone) as in `decode`. Resolves when no sequence is left and `next` returns none.
   *
   * Reproducibility: a sequence draws from Philox stream 0 with its counter starting at 0 wherever it joins, the
   * first draw reads a prefill identical to `decode`'s, and the decode steps run row-invariant kernels (on the gpu
   * path the split-K GEMVs for any row count; the software path's kernels already are), so its tokens are those of
   * `decode` with batch 1 and the same settings, bit for bit, whatever else shares the batch.
   */
  async decodeRows(o: DecodeRowsOptions): Promise<DecodeRowsStats> {
    const c = this.config, m = this.#m, maxPos = c.maxPositions;
    if (Math.ceil(c.vocabSize / 256) > 32) {
      throw new RangeError(`vocab ${c.vocabSize} exceeds the sampler's 8192`);
    }
    const S = Math.max(1, Math.min(o.slots ?? this.maxBatch, this.maxBatch));
    const chunk = Math.max(1, Math.min(o.chunk ?? GENERATE_PARAMS.chunk.default, MAX_CHUNK));
    const inFlight = Math.max(1, o.inFlight ?? 3);
    const nextState = o.nextState ?? ((s: GrammarState) => s);
    const slots: (LiveRow | undefined)[] = new Array(S).fill(undefined);
    const live = new Set<LiveRow>();
    const chunks: RowsChunk[] = [];
    const stats: DecodeRowsStats = { steps: 0, rows: 0, peakRows: 0, rowSteps: 0, slotSteps: 0 };
    // The global draw counter: every occupied slot's state `draws` equals it at a chunk's start (lockstep), so the
    // chunk's step i lands in row i + 1 of the `tokens` buffer; a joining sequence's first draw is numbered G − 1
    // (row 0) and its `origin` is that number, so its own Philox counter starts at 0.
    let G = 1;
    m.setGrammar(o.grammar);
    m.writeRows(Array.from({ length: S }, () => IDLE_ROW));
    m.writeStates(Array.from({ length: S }, () => IDLE_STATE));
    const ring = new ReadbackRing(this.#dev, (chunk + 1) * S * 4, inFlight);

    const end = (L: LiveRow, reason: RowEnd["reason"], error?: unknown) => {
      if (L.ended) return;
      L.ended = true;
      live.delete(L);
      try {
        L.row.onEnd?.({ ids: L.ids, reason, ...(error === undefined ? {} : { error }) });
      } catch { /* a callback's failure ends only its own sequence */ }
    };
    const free = (s: number) => {
      slots[s] = undefined;
      m.writeRows([IDLE_ROW], s);
      m.writeStates([IDLE_STATE], s);
    };
    const vacate = () => {
      for (let s = 0; s < S; s++) {
        const L = slots[s];
        if (!L) continue;
        if (!L.ended && L.row.signal?.aborted) end(L, "aborted");
        if (L.ended || L.submitted >= L.row.maxTokens) free(s);
      }
    };
    const absorb = (words: Uint32Array, ch: RowsChunk) => {
      const fresh = new Map<LiveRow, number[]>();
      for (const L of ch.joined) fresh.set(L, [words[L.slot]]);
      for (const { live: L, count } of ch.owners) {
        const t = fresh.get(L) ?? [];
        for (let i = 0; i < count; i++) t.push(words[(i + 1) * ch.B + L.slot]);
        fresh.set(L, t);
      }
      for (const [L, t] of fresh) {
        if (L.ended || !t.length) continue;
        L.ids.push(...t);
        L.history.push(...t);
        for (const id of t) L.grammar = nextState(L.grammar, id);
        let stop: boolean | void;
        try {
          stop = L.row.onTokens?.(t);
        } catch (e) {
          end(L, "error", e);
          continue;
        }
        if (stop) end(L, "stopped");
        else if (L.row.signal?.aborted) end(L, "aborted");
        else if (L.ids.length >= L.row.maxTokens) end(L, "length");
      }
    };
    const take = async () => absorb(await ring.take(), chunks.shift()!);
    const drain = async () => {
      while (ring.pending) await take();
    };
    const slide = (L: LiveRow) => {
      const w = L.history = nextWindow(L.history, maxPos, L.row.windowStart, L.row.windowLead);
      if (w.length > 1) this.#runPrefill(w.slice(0, -1), L.slot, 0, { row0: 0, rows: 0 });
      m.writeStates([this.#rowState(L.grammar, w[w.length - 1], w.length - 1, G)], L.slot);
      L.pos = w.length - 1;
    };

    try {
      while (true) {
        vacate();
        if (slots.some((L) => L && L.pos >= maxPos)) {
          // A context is full: its window needs every token it drew so far.
          await drain();
          vacate();
          for (const L of slots) if (L && L.pos >= maxPos) slide(L);
        }
        // Sequences join the lowest free slots (keeping the rows each step runs over few).
        const joined: LiveRow[] = [];
        const freeSlots = slots.flatMap((L, s) => (L ? [] : [s]));
        for (const row of freeSlots.length ? o.next(freeSlots.length).slice(0, freeSlots.length) : []) {
          const L: LiveRow = {
            row,
            slot: freeSlots[joined.length],
            ids: [],
            history: row.prompt.slice(-maxPos),
            grammar: { ...row.grammarState },
            submitted: 0,
            pos: 0,
            ended: false,
          };
          stats.rows++;
          live.add(L);
          if (!L.history.length) end(L, "error", new RangeError("prompt must hold at least one token (BOS)"));
          else if (row.signal?.aborted) end(L, "aborted");
          else if (!(row.maxTokens >= 1)) end(L, "length");
          else {
            slots[L.slot] = L;
            joined.push(L);
          }
        }
        const occupied = slots.filter((L): L is LiveRow => !!L);
        if (!occupied.length) {
          if (!ring.pending) break;
          await take();
          continue;
        }
        const B = Math.max(...occupied.map((L) => L.slot)) + 1;
        for (const L of joined) this.#join(L, B, G);
        // A sequence whose one token was its first draw leaves before the chunk's steps.
        for (const L of joined) if (L.submitted >= L.row.maxTokens) free(L.slot);
        const stepping = slots.filter((L): L is LiveRow => !!L);
        let n = 0;
        if (stepping.length) {
          n = Math.min(chunk, ...stepping.map((L) => maxPos - L.pos));
          n = Math.min(n, Math.max(...stepping.map((L) => L.row.maxTokens - L.submitted)));
        }
        const enc = this.#dev.createCommandEncoder();
        if (n > 0) {
          m.writeSamplerUniforms(B, G - 1, "d");
          m.writeUniforms({ rows: B, prefill: false, seq: 0, posBase: 0 }, { row0: 0, rows: B });
          const pass = enc.beginComputePass();
          for (let i = 0; i < n; i++) {
            m.encodeForward(pass, "d", B, B, true);
            m.encodeSampler(pass, B);
          }
          pass.end();
        }
        ring.submit(enc, m.buffers.tokens, (n + 1) * B * 4);
        const owners = stepping.map((L) => {
          const count = Math.min(n, L.row.maxTokens - L.submitted);
          L.submitted += count;
          L.pos += n;
          return { live: L, count };
        });
        chunks.push({ n, B, joined, owners });
        G += n;
        stats.steps += n;
        stats.rowSteps += n * stepping.length;
        stats.slotSteps += n * B;
        stats.peakRows = Math.max(stats.peakRows, stepping.length, joined.length);
        if (ring.pending >= inFlight) await take();
      }
      await drain();
    } catch (e) {
      for (const L of [...live]) end(L, "error", e);
      throw e;
    } finally {
      ring.destroy();
    }
    return stats;
  }

  /** The state words of a sequence whose next step embeds `token` at `pos`, with draw counter `draws`. */
  #rowState(g: GrammarState, token: number, pos: number, draws: number): SequenceState {
    return { token, pos, gType: g.type, gPos: g.pos, gBar: g.barLen, gPitch: g.pitches, draws };
  }

  /**
   * Starts a sequence of `decodeRows` in its slot (one submit): its settings, its prompt prefilled into the slot's
   * KV cache, and its first draw from the prefill's last logits into row 0 of the `tokens` buffer (stride `B`), with
   * draw number `G − 1` as its counter's origin.
   */
  #join(L: LiveRow, B: number, G: number) {
    const m = this.#m, r = L.row, prompt = L.history, T = prompt.length, s = L.slot;
    m.writeRows([{
      temperature: r.temperature,
      topK: r.topK,
      topP: r.topP,
      seedWords: seedWords(r.seed),
      stream: 0,
      origin: G - 1,
      grammar: r.grammar,
      bias: r.bias,
    }], s);
    m.writeStates([this.#rowState(L.grammar, 0, T - 1, G - 1)], s);
    m.writePrompt(prompt);
    m.writeUniforms({ rows: T, prefill: true, seq: s, posBase: 0 }, { row0: T - 1, rows: 1 });
    m.writeSamplerUniforms(B, G - 1, "p", { seq0: s });
    this.#submit((pass) => {
      m.encodeForward(pass, "p", T, 1);
      m.encodeSampler(pass, 1, "p");
    });
    L.submitted = 1;
    L.pos = T;
  }

  /** Frees all GPU buffers. */
  dispose() {
    this.#m.dispose();
  }
}
