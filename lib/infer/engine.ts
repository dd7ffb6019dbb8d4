/**
 * The WebGPU inference engine for etude's Llama-style transformer: weights in GPU buffers, one command buffer per
 * prefill, many decode steps per submit with the sampler on the GPU (each step's embedding gather reads the token the
 * previous step's sampler wrote), and readback of K tokens at a time through a ring of MAP_READ staging buffers.
 *
 * Per decode step: embed, then per layer 6 dispatches (qkv matmul with fused RMSNorm, RoPE + KV append, attention,
 * output projection + residual, gate/up with fused RMSNorm + SwiGLU, down projection + residual), then the tied
 * output projection (fused final RMSNorm) and the sampler: 3 + 6 × layers dispatches.
 *
 * Matmul and attention kernels come in two paths chosen per adapter (lib/infer/_kernels.ts): `software` (tuned and
 * measured on llvmpipe) and `gpu` (split-K decode GEMVs and a wider attention for real GPUs; proven correct on
 * llvmpipe by the tests, real-GPU speed not measured yet).
 *
 * @module
 */
import { getGpu, type Gpu, loadKernel, packParams, readBuffer, storage, uniform } from "./_gpu.ts";
import type { LlamaConfig, ModelWeights } from "./model_loader.ts";
import type { GrammarState, GrammarTables } from "./grammar.ts";
import { GTAB_STRIDE, N_TYPES } from "./grammar.ts";
import { seedWords } from "./sampling.ts";
import {
  attentionKernel,
  chooseKernelPath,
  GEMV,
  type KernelPath,
  matmulPlan,
  SPLITK,
  SWIGLU_GEMV,
  SWIGLU_TILE,
  TILE,
} from "./_kernels.ts";

/** u32 words of per-sequence state: token, pos, grammar type, position, draws, bar length, -, -, pitch mask ×4. */
const STATE_WORDS = 16;

interface Kernel {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

/** Options for creating an engine. */
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

/** Sampler settings for `Engine.decode`. */
export interface DecodeSampling {
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  /** Grammar tables, or undefined for no mask. */
  grammar?: GrammarTables;
}

/** Options for `Engine.decode`. */
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

function ceil4(n: number) {
  return Math.ceil(n / 4) * 4;
}

/** Transposes W [n, k] (row-major) to [k, ceil4(n)], scaling column k by `g[k]` when given. */
function transposeFold(w: Float32Array, n: number, k: number, g?: Float32Array): Float32Array {
  const n4 = ceil4(n);
  const out = new Float32Array(k * n4);
  for (let r = 0; r < n; r++) {
    const ro = r * k;
    for (let c = 0; c < k; c++) out[c * n4 + r] = g ? w[ro + c] * g[c] : w[ro + c];
  }
  return out;
}

/**
 * A model loaded into GPU buffers, with prefill, teacher-forced steps and the sampling decode loop.
 *
 * @example
 * ```ts ignore
 * import { Engine } from "./engine.ts";
 * const engine = await Engine.create(config, weights, { maxBatch: 4 });
 * const logits = await engine.forward([1, 10, 20], { allRows: true });
 * engine.dispose();
 * ```
 */
export class Engine {
  readonly config: LlamaConfig;
  readonly adapter: string;
  readonly maxBatch: number;
  /** The matmul kernel path in use (`gpu` or `software`). */
  readonly kernels: KernelPath;
  readonly #gpu: Gpu;
  readonly #dev: GPUDevice;
  readonly #k: Record<string, Kernel>;
  readonly #bufs: GPUBuffer[] = [];
  readonly #b: Record<string, GPUBuffer> = {};
  readonly #layers: Record<string, GPUBuffer>[] = [];
  readonly #rows: number;
  #groups = new Map<string, GPUBindGroup>();
  #grammarKey: GrammarTables | undefined | null = null;

  private constructor(
    config: LlamaConfig,
    gpu: Gpu,
    kernels: Record<string, Kernel>,
    maxBatch: number,
    path: KernelPath,
  ) {
    this.config = config;
    this.kernels = path;
    this.#gpu = gpu;
    this.#dev = gpu.device;
    this.adapter = gpu.adapter;
    this.#k = kernels;
    this.maxBatch = maxBatch;
    this.#rows = Math.max(config.maxPos, maxBatch);
  }

  /** Uploads weights and compiles kernels. */
  static async create(config: LlamaConfig, weights: ModelWeights, opts: EngineOptions = {}): Promise<Engine> {
    const gpu = opts.gpu ?? await getGpu();
    const dev = gpu.device;
    const maxBatch = opts.maxBatch ?? 1;
    const path = chooseKernelPath(gpu, opts.kernels);
    if (config.maxPos > 8192) throw new Error(`max_position_embeddings ${config.maxPos} exceeds 8192`);
    const mk = async (name: string, kinds: string, consts: Record<string, number> = {}): Promise<Kernel> => {
      const layout = dev.createBindGroupLayout({
        entries: [...kinds].map((k, i) => ({
          binding: i,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: k === "u" ? "uniform" : k === "r" ? "read-only-storage" : "storage" },
        })),
      });
      const module = dev.createShaderModule({ code: await loadKernel(name, consts), label: name });
      const pipeline = await dev.createComputePipelineAsync({
        layout: dev.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: "main" },
      });
      return { pipeline, layout };
    };
    const gpuPath = path === "gpu";
    const [embed, mmG, mmT, swG, swT, rope, attn, sampler, mmS, swS] = await Promise.all([
      mk("embed", "urrrw"),
      mk("matmul", "urrw", GEMV),
      mk("matmul_tile", "urrw", { WG: TILE.WG }),
      mk("matmul_swiglu", "urrrw", SWIGLU_GEMV),
      mk("matmul_swiglu_tile", "urrrw", { WG: SWIGLU_TILE.WG }),
      mk("rope_kv", "urrrwww"),
      mk(attentionKernel(path), "urrrrw", { MAXPOS: config.maxPos }),
      mk("sampler", "urwwrrw"),
      ...(gpuPath ? [mk("gemv_splitk", "urrw", SPLITK), mk("gemv_swiglu_splitk", "urrrw", SPLITK)] : []),
    ]);
    const ks = { embed, mmG, mmT, swG, swT, rope, attn, sampler, ...(gpuPath ? { mmS, swS } : {}) };
    const e = new Engine(config, gpu, ks, maxBatch, path);
    e.#upload(weights);
    return e;
  }

  #buf(data: Float32Array | Uint32Array | Int32Array | number, label: string): GPUBuffer {
    const b = storage(this.#dev, data, label);
    this.#bufs.push(b);
    return b;
  }

  #upload(w: ModelWeights) {
    const c = this.config, d = c.hidden, f = c.ffn, V = c.vocabSize, R = this.#rows, B = this.maxBatch;
    const hd = d / c.heads, half = hd / 2;
    for (let l = 0; l < c.layers; l++) {
      const L = w.layers[l];
      const qkv = new Float32Array(3 * d * d);
      qkv.set(L.q, 0), qkv.set(L.k, d * d), qkv.set(L.v, 2 * d * d);
      this.#layers.push({
        qkv: this.#buf(transposeFold(qkv, 3 * d, d, L.ln1), `l${l}.qkv`),
        o: this.#buf(transposeFold(L.o, d, d), `l${l}.o`),
        gate: this.#buf(transposeFold(L.gate, f, d, L.ln2), `l${l}.gate`),
        up: this.#buf(transposeFold(L.up, f, d, L.ln2), `l${l}.up`),
        down: this.#buf(transposeFold(L.down, d, f), `l${l}.down`),
        kc: this.#buf(B * c.maxPos * d * 4, `l${l}.kcache`),
        vc: this.#buf(B * c.maxPos * d * 4, `l${l}.vcache`),
      });
    }
    const rope = new Float32Array(c.maxPos * half * 2);
    for (let p = 0; p < c.maxPos; p++) {
      for (let j = 0; j < half; j++) {
        const invf = Math.fround(Math.pow(c.ropeTheta, -2 * j / hd));
        const ang = Math.fround(p * invf);
        rope[(p * half + j) * 2] = Math.cos(ang);
        rope[(p * half + j) * 2 + 1] = Math.sin(ang);
      }
    }
    const b = this.#b;
    b.embed = this.#buf(w.embed, "embed");
    b.out = this.#buf(transposeFold(w.embed, V, d, w.norm), "lm_head");
    b.rope = this.#buf(rope, "rope");
    b.state = this.#buf(B * STATE_WORDS * 4, "state");
    b.prompt = this.#buf(R * 4, "prompt");
    b.x = this.#buf(R * d * 4, "x");
    b.qkv = this.#buf(R * 3 * d * 4, "qkv");
    b.q = this.#buf(R * d * 4, "q");
    b.att = this.#buf(R * d * 4, "att");
    b.act = this.#buf(R * f * 4, "act");
    b.logits = this.#buf(R * V * 4, "logits");
    b.kept = this.#buf(B * V * 4, "kept");
    b.gtab = this.#buf(V * GTAB_STRIDE * 4, "gtab");
    b.allow = this.#buf(N_TYPES * N_TYPES * 4, "allow");
    b.tokens = this.#buf(1024 * B * 4, "tokens");
    for (const name of ["embed", "qkv", "o", "swiglu", "down", "logits", "rope", "attn", "sampler"]) {
      for (const mode of ["p", "d"]) {
        const u = uniform(this.#dev, 12, `${name}.${mode}`);
        this.#bufs.push(u);
        b[`u.${name}.${mode}`] = u;
      }
    }
  }

  #group(key: string, kernel: Kernel, buffers: GPUBuffer[]): GPUBindGroup {
    let g = this.#groups.get(key);
    if (!g) {
      g = this.#dev.createBindGroup({
        layout: kernel.layout,
        entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
      });
      this.#groups.set(key, g);
    }
    return g;
  }

  #write(buf: GPUBuffer, kinds: string, values: number[]) {
    this.#dev.queue.writeBuffer(buf, 0, packParams(kinds, values));
  }

  /** Writes the uniforms of one mode: m rows; prefill (sequence `seq`, positions posBase…) or decode. */
  #params(
    mode: "p" | "d",
    m: number,
    seq: number,
    posBase: number,
    logitRow0: number,
    logitRows: number,
    yRow0: number,
    nseq = 1,
  ) {
    const c = this.config, d = c.hidden, f = c.ffn, V = c.vocabSize, b = this.#b;
    const pre = mode === "p" ? 1 : 0, hd = d / c.heads;
    this.#write(b[`u.embed.${mode}`], "uuuu", [m, d, pre, seq]);
    this.#write(b[`u.qkv.${mode}`], "uuuuuufu", [m, ceil4(3 * d) / 4, d, 1, 0, 0, c.eps, 3 * d]);
    this.#write(b[`u.o.${mode}`], "uuuuuufu", [m, ceil4(d) / 4, d, 2, 0, 0, c.eps, d]);
    this.#write(b[`u.swiglu.${mode}`], "uuuuuufu", [m, ceil4(f) / 4, d, 1, 0, 0, c.eps, f]);
    this.#write(b[`u.down.${mode}`], "uuuuuufu", [m, ceil4(d) / 4, f, 2, 0, 0, c.eps, d]);
    this.#write(b[`u.logits.${mode}`], "uuuuuufu", [
      logitRows,
      ceil4(V) / 4,
      d,
      1,
      logitRow0,
      yRow0,
      c.eps,
      V,
    ]);
    this.#write(b[`u.rope.${mode}`], "uuuuuuuu", [m, d, hd, pre, seq, posBase, c.maxPos, nseq]);
    this.#write(b[`u.attn.${mode}`], "uuuuuuuf", [m, d, hd, pre, seq, posBase, c.maxPos, 1 / Math.sqrt(hd)]);
  }

  #mm(pass: GPUComputePassEncoder, key: string, swiglu: boolean, bufs: GPUBuffer[], m: number, n: number) {
    const plan = matmulPlan(this.kernels, swiglu, m, ceil4(n) / 4);
    const k = this.#k[`${swiglu ? "sw" : "mm"}${plan.kind}`];
    pass.setPipeline(k.pipeline);
    pass.setBindGroup(0, this.#group(`${key}.${plan.kind}`, k, bufs));
    pass.dispatchWorkgroups(plan.x, plan.y);
  }

  /** Encodes the model over m rows (embedding through logits) in mode `mode`. */
  #encodeModel(pass: GPUComputePassEncoder, mode: "p" | "d", m: number, logitRows: number) {
    const c = this.config, d = c.hidden, b = this.#b, K = this.#k;
    const u = (n: string) => b[`u.${n}.${mode}`];
    pass.setPipeline(K.embed.pipeline);
    pass.setBindGroup(
      0,
      this.#group(`embed.${mode}`, K.embed, [u("embed"), b.embed, b.prompt, b.state, b.x]),
    );
    pass.dispatchWorkgroups(Math.ceil(d / 64), m);
    for (let l = 0; l < c.layers; l++) {
      const L = this.#layers[l];
      this.#mm(pass, `qkv${l}.${mode}`, false, [u("qkv"), b.x, L.qkv, b.qkv], m, 3 * d);
      pass.setPipeline(K.rope.pipeline);
      pass.setBindGroup(
        0,
        this.#group(`rope${l}.${mode}`, K.rope, [u("rope"), b.qkv, b.rope, b.state, b.q, L.kc, L.vc]),
      );
      pass.dispatchWorkgroups(Math.ceil(d / 2 / 64), m);
      pass.setPipeline(K.attn.pipeline);
      pass.setBindGroup(
        0,
        this.#group(`attn${l}.${mode}`, K.attn, [u("attn"), b.q, L.kc, L.vc, b.state, b.att]),
      );
      pass.dispatchWorkgroups(c.heads, m);
      this.#mm(pass, `o${l}.${mode}`, false, [u("o"), b.att, L.o, b.x], m, d);
      this.#mm(pass, `sw${l}.${mode}`, true, [u("swiglu"), b.x, L.gate, L.up, b.act], m, c.ffn);
      this.#mm(pass, `down${l}.${mode}`, false, [u("down"), b.act, L.down, b.x], m, d);
    }
    if (logitRows > 0) {
      this.#mm(pass, `logits.${mode}`, false, [u("logits"), b.x, b.out, b.logits], logitRows, c.vocabSize);
    }
  }

  #encodeSampler(pass: GPUComputePassEncoder, batch: number, mode: "p" | "d" = "d") {
    const b = this.#b, K = this.#k;
    pass.setPipeline(K.sampler.pipeline);
    pass.setBindGroup(
      0,
      this.#group(`sampler.${mode}`, K.sampler, [
        b[`u.sampler.${mode}`],
        b.logits,
        b.state,
        b.tokens,
        b.gtab,
        b.allow,
        b.kept,
      ]),
    );
    pass.dispatchWorkgroups(batch);
  }

  #writeState(
    rows: {
      token: number;
      pos: number;
      gType: number;
      gPos: number;
      gBar?: number;
      gPitch?: number[];
      draws: number;
    }[],
    seq0 = 0,
  ) {
    const s = new Uint32Array(rows.length * STATE_WORDS);
    rows.forEach((r, i) =>
      s.set(
        [
          r.token,
          r.pos,
          r.gType,
          r.gPos >>> 0,
          r.draws,
          r.gBar ?? 0x7fffffff,
          0,
          0,
          ...(r.gPitch ?? [0, 0, 0, 0]),
        ],
        i * STATE_WORDS,
      )
    );
    this.#dev.queue.writeBuffer(this.#b.state, seq0 * STATE_WORDS * 4, s);
  }

  #setGrammar(g: GrammarTables | undefined) {
    if (this.#grammarKey === g) return;
    this.#grammarKey = g;
    const V = this.config.vocabSize;
    const S = GTAB_STRIDE;
    const gtab = new Int32Array(V * S);
    for (let v = 0; v < V; v++) gtab.set([10, 10, -1, -2, -1, -1, 0, 0], v * S);
    if (g) gtab.set(g.gtab.subarray(0, Math.min(g.gtab.length, V * S)));
    if (g && g.gtab.length < V * S) { for (let v = g.gtab.length / S; v < V; v++) gtab[v * S] = -1; }
    this.#dev.queue.writeBuffer(this.#b.gtab, 0, gtab);
    this.#dev.queue.writeBuffer(
      this.#b.allow,
      0,
      Uint32Array.from(g ? g.allow : new Uint32Array(N_TYPES * N_TYPES).fill(1)),
    );
  }

  #samplerParams(s: DecodeSampling, batch: number, chunkStart: number, debug = 0, mode: "p" | "d" = "d") {
    const [lo, hi] = seedWords(s.seed);
    this.#write(this.#b[`u.sampler.${mode}`], "uuuffuuuuuuu", [
      this.config.vocabSize,
      batch,
      s.topK,
      s.topP,
      1 / s.temperature,
      lo,
      hi,
      s.grammar ? 1 : 0,
      chunkStart,
      debug,
      N_TYPES,
      mode === "p" ? 0 : 1,
    ]);
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
    this.#dev.queue.writeBuffer(this.#b.prompt, 0, new Uint32Array(tokens));
    const rows = opts.allRows ? T : 1;
    this.#params("p", T, seq, posBase, opts.allRows ? 0 : T - 1, rows, 0);
    const enc = this.#dev.createCommandEncoder();
    const pass = enc.beginComputePass();
    this.#encodeModel(pass, "p", T, rows);
    pass.end();
    this.#dev.queue.submit([enc.finish()]);
    return new Float32Array(await readBuffer(this.#dev, this.#b.logits, rows * V * 4));
  }

  #checkPrefill(T: number, posBase: number, seq: number) {
    if (T < 1 || posBase + T > this.config.maxPos) {
      throw new RangeError(
        `prefill of ${T} tokens at position ${posBase} exceeds the context ${this.config.maxPos}`,
      );
    }
    if (seq >= this.maxBatch) throw new RangeError(`sequence ${seq} ≥ maxBatch ${this.maxBatch}`);
  }

  /**
   * One teacher-forced decode step for sequences 0…B−1: token `tokens[b]` at position `positions[b]` (the KV cache
   * must hold positions below it). Returns logits [B, vocab].
   */
  async step(tokens: number[], positions: number[]): Promise<Float32Array> {
    const B = tokens.length, V = this.config.vocabSize;
    this.#writeState(tokens.map((t, i) => ({ token: t, pos: positions[i], gType: 0, gPos: -1, draws: 0 })));
    this.#params("d", B, 0, 0, 0, B, 0);
    const enc = this.#dev.createCommandEncoder();
    const pass = enc.beginComputePass();
    this.#encodeModel(pass, "d", B, B);
    pass.end();
    this.#dev.queue.submit([enc.finish()]);
    return new Float32Array(await readBuffer(this.#dev, this.#b.logits, B * V * 4));
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
    const B = states.length, V = this.config.vocabSize;
    this.#setGrammar(s.grammar);
    this.#dev.queue.writeBuffer(this.#b.logits, 0, Float32Array.from(logits));
    this.#writeState(states.map((st) => ({ token: 0, pos: 0, ...st })));
    this.#samplerParams(s, B, states[0].draws, 1);
    const enc = this.#dev.createCommandEncoder();
    const pass = enc.beginComputePass();
    this.#encodeSampler(pass, B);
    pass.end();
    this.#dev.queue.submit([enc.finish()]);
    const kept = new Uint32Array(await readBuffer(this.#dev, this.#b.kept, B * V * 4));
    const tokens = [...new Uint32Array(await readBuffer(this.#dev, this.#b.tokens, B * 4))];
    const state = new Uint32Array(await readBuffer(this.#dev, this.#b.state, B * STATE_WORDS * 4));
    return { tokens, kept, state };
  }

  /**
   * Prefills the prompt, then samples up to `maxTokens` tokens for each of `batch` sequences, `chunk` steps per
   * submit, reading tokens back through a ring of staging buffers with `inFlight` maps outstanding. Returns the
   * sampled ids per sequence (prompt excluded) and the number of decode steps run.
   */
  async decode(o: DecodeOptions): Promise<{ ids: number[][]; steps: number }> {
    const c = this.config, B = o.batch, dev = this.#dev, b = this.#b;
    const K = Math.max(1, Math.min(o.chunk ?? 32, 1024)), inFlight = Math.max(1, o.inFlight ?? 3);
    if (B < 1 || B > this.maxBatch) throw new RangeError(`batch ${B} must be 1…${this.maxBatch}`);
    if (o.prompt.length < 1) throw new RangeError("prompt must hold at least one token (BOS)");
    if (Math.ceil(c.vocabSize / 256) > 32) {
      throw new RangeError(`vocab ${c.vocabSize} exceeds the sampler's 8192`);
    }
    this.#setGrammar(o.grammar);
    const prompt = o.prompt.slice(-c.maxPos);
    const ids: number[][] = Array.from({ length: B }, () => []);
    const gStates: GrammarState[] = Array.from({ length: B }, () => ({ ...o.grammarState }));
    const nextState = o.nextState ?? ((s: GrammarState) => s);
    const ring = Array.from(
      { length: inFlight + 1 },
      () => dev.createBuffer({ size: K * B * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
    );
    const pending: { buf: GPUBuffer; n: number; done: Promise<void> }[] = [];
    let ringIdx = 0, draws = 0, stopped = false, steps = 0;
    // Positions: the sampler's state.pos is where the next token will be processed.
    let pos = prompt.length; // after the prefill's draw
    let needPrefill = true;
    const history: number[][] = Array.from({ length: B }, () => [...prompt]);

    const drain = async () => {
      const p = pending.shift()!;
      await p.done;
      const data = new Uint32Array(p.buf.getMappedRange(0, p.n * B * 4).slice(0));
      p.buf.unmap();
      if (stopped) return;
      const fresh: number[][] = Array.from({ length: B }, () => []);
      for (let i = 0; i < p.n; i++) for (let s = 0; s < B; s++) fresh[s].push(data[i * B + s]);
      for (let s = 0; s < B; s++) {
        ids[s].push(...fresh[s]);
        history[s].push(...fresh[s]);
        for (const t of fresh[s]) gStates[s] = nextState(gStates[s], t);
      }
      if (o.onTokens?.(fresh)) stopped = true;
      if (o.signal?.aborted) stopped = true;
    };

    try {
      while (!stopped && draws < o.maxTokens) {
        if (!needPrefill && pos >= c.maxPos) {
          while (pending.length) await drain();
          if (stopped) break;
          // Slide the window: re-prefill each sequence's last part (all but its newest token).
          const enc0: number[][] = [];
          for (let s = 0; s < B; s++) {
            const h = history[s];
            let start = o.windowStart?.(h, s) ?? h.length - Math.floor(c.maxPos / 2);
            start = Math.min(Math.max(start, h.length - c.maxPos + 1, 0), h.length - 1);
            history[s] = h.slice(start);
            enc0.push(history[s]);
          }
          for (let s = 0; s < B; s++) {
            const w = enc0[s];
            if (w.length > 1) {
              dev.queue.writeBuffer(b.prompt, 0, new Uint32Array(w.slice(0, -1)));
              this.#params("p", w.length - 1, s, 0, 0, 0, 0);
              const enc = dev.createCommandEncoder();
              const pass = enc.beginComputePass();
              this.#encodeModel(pass, "p", w.length - 1, 0);
              pass.end();
              dev.queue.submit([enc.finish()]);
            }
            this.#writeState([{
              token: w[w.length - 1],
              pos: w.length - 1,
              gType: gStates[s].type,
              gPos: gStates[s].pos,
              gBar: gStates[s].barLen,
              gPitch: gStates[s].pitches,
              draws,
            }], s);
          }
          // All sequences slid to their own lengths; decode positions now differ per sequence.
          pos = Math.max(...enc0.map((w) => w.length - 1));
        }
        const room = needPrefill ? c.maxPos - prompt.length + 1 : c.maxPos - pos;
        const n = Math.min(K, o.maxTokens - draws, room);
        const enc = dev.createCommandEncoder();
        this.#samplerParams(o, B, draws);
        let first = 0;
        if (needPrefill) {
          const T = prompt.length;
          dev.queue.writeBuffer(b.prompt, 0, new Uint32Array(prompt));
          this.#writeState(Array.from({ length: B }, (_, s) => ({
            token: 0,
            pos: T - 1,
            gType: gStates[s].type,
            gPos: gStates[s].pos,
            gBar: gStates[s].barLen,
            gPitch: gStates[s].pitches,
            draws: 0,
          })));
          this.#params("p", T, 0, 0, T - 1, 1, 0, B);
          this.#samplerParams(o, B, draws, 0, "p");
          const pass = enc.beginComputePass();
          this.#encodeModel(pass, "p", T, 1);
          this.#encodeSampler(pass, B, "p");
          pass.end();
          first = 1;
          needPrefill = false;
        }
        this.#params("d", B, 0, 0, 0, B, 0);
        if (n > first) {
          const pass = enc.beginComputePass();
          for (let i = first; i < n; i++) {
            this.#encodeModel(pass, "d", B, B);
            this.#encodeSampler(pass, B);
          }
          pass.end();
        }
        const buf = ring[ringIdx];
        ringIdx = (ringIdx + 1) % ring.length;
        enc.copyBufferToBuffer(b.tokens, 0, buf, 0, n * B * 4);
        dev.queue.submit([enc.finish()]);
        pending.push({ buf, n, done: buf.mapAsync(GPUMapMode.READ, 0, n * B * 4) });
        draws += n;
        steps += n;
        pos += first ? n - 1 : n;
        if (pending.length >= inFlight) await drain();
      }
      while (pending.length) await drain();
    } finally {
      for (const r of ring) r.destroy();
    }
    return { ids: ids.map((x) => x.slice(0, o.maxTokens)), steps };
  }

  /** Frees all GPU buffers. */
  dispose() {
    for (const b of this.#bufs) b.destroy();
    this.#bufs.length = 0;
    this.#groups.clear();
  }
}
