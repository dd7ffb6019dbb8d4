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
 * @module
 */
import { getGpu, type Gpu, readBuffer } from "./_gpu.ts";
import { chooseKernelPath, type KernelPath } from "./_kernels.ts";
import { type DecodeSampling, GpuModel, MAX_CHUNK } from "./_model.ts";
import { ReadbackRing } from "./_readback.ts";
import { type SequenceState, STATE_WORDS } from "./_uniforms.ts";
import type { ModelWeights } from "./model_loader.ts";
import type { TransformerConfig } from "../model/config.ts";
import type { GrammarState } from "./grammar.ts";

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
  /** Grammar state after a token (for window slides); default keeps `grammarState` semantics of the tables. */
  nextState?: (s: GrammarState, id: number) => GrammarState;
  /** Cancels between readbacks. */
  signal?: AbortSignal;
}

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
   * returns the drawn tokens and the kept candidate flags [B, vocab]. For tests against `sampleReference`.
   */
  async sample(
    logits: Float32Array,
    s: DecodeSampling,
    states: { gType: number; gPos: number; gBar?: number; gPitch?: number[]; draws: number }[],
  ): Promise<{ tokens: number[]; kept: Uint32Array; state: Uint32Array }> {
    const B = states.length, V = this.config.vocabSize, m = this.#m, b = m.buffers;
    m.setGrammar(s.grammar);
    this.#dev.queue.writeBuffer(b.logits, 0, Float32Array.from(logits));
    m.writeStates(states.map((st) => ({ token: 0, pos: 0, ...st })));
    m.writeSamplerUniforms(s, B, states[0].draws, "d", true);
    this.#submit((pass) => m.encodeSampler(pass, B));
    const kept = new Uint32Array(await readBuffer(this.#dev, b.kept, B * V * 4));
    const tokens = [...new Uint32Array(await readBuffer(this.#dev, b.tokens, B * 4))];
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
    const prompt = o.prompt.slice(-c.maxPositions);
    return {
      o,
      batch: B,
      chunk: Math.max(1, Math.min(o.chunk ?? 32, MAX_CHUNK)),
      inFlight: Math.max(1, o.inFlight ?? 3),
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
    m.writeSamplerUniforms(run.o, B, run.draws, "p");
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
    m.writeSamplerUniforms(run.o, B, run.draws);
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
      const h = run.history[s];
      let start = run.o.windowStart?.(h, s) ?? h.length - Math.floor(maxPos / 2);
      start = Math.min(Math.max(start, h.length - maxPos + 1, 0), h.length - 1);
      run.history[s] = h.slice(start);
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

  /** Frees all GPU buffers. */
  dispose() {
    this.#m.dispose();
  }
}
