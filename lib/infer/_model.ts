/**
 * The model as the GPU runs it: weights and activations in buffers, the kernels of the adapter's path, and the
 * dispatches of one forward pass and of the sampler with their uniforms. What runs when (prefill, decode steps,
 * readback) is the engine's business (lib/infer/engine.ts).
 *
 * Per forward pass: embed, then per layer 6 dispatches (qkv matmul with fused RMSNorm, RoPE + KV append, attention,
 * output projection + residual, gate/up with fused RMSNorm + SwiGLU, down projection + residual), then the tied
 * output projection (fused final RMSNorm); with the sampler, 3 + 6 × layers dispatches per decode step.
 *
 * @module
 */
import { compileKernel, type Gpu, type Kernel, storage, uniform } from "./_gpu.ts";
import { type KernelPath, type KernelRole, kernelSpecs, matmulPlan, SPLITK } from "./_kernels.ts";
import {
  attentionUniforms,
  embedUniforms,
  matmulUniforms,
  packRows,
  packStates,
  ropeUniforms,
  ROW_WORDS,
  type RowSettings,
  type RowSpan,
  samplerUniforms,
  type SequenceState,
  STATE_WORDS,
  UNIFORM_WORDS,
} from "./_uniforms.ts";
import type { ModelWeights } from "./model_loader.ts";
import type { TransformerConfig } from "../model/config.ts";
import { type GrammarTables, GTAB_STRIDE, N_TYPES } from "./grammar.ts";
import { seedWords } from "./sampling.ts";
import { GENERATE_PARAMS } from "./params.ts";

/** Which uniform set a dispatch reads: `p` (prefill) or `d` (decode), so one submit can hold both. */
export type Mode = "p" | "d";

/**
 * Sampler settings (the sampling part of `DecodeOptions`).
 *
 * @example
 * ```ts
 * import type { DecodeSampling } from "./_model.ts";
 * const greedyish: DecodeSampling = { temperature: 0.1, topK: 1, topP: 1, seed: 7 }; // no grammar mask
 * ```
 */
export interface DecodeSampling {
  /** Softmax temperature (logits divided by it). */
  temperature: number;
  /** Keep the k most likely tokens (0: off). */
  topK: number;
  /** Keep the smallest set of tokens whose probability reaches p (1: off). */
  topP: number;
  /** The Philox key (an integer below 2^53). */
  seed: number;
  /** Grammar tables, or undefined for no mask. */
  grammar?: GrammarTables;
  /** The controls' per-token bias added to the logits first (-inf = masked; lib/infer/controls.ts); none: off. */
  bias?: Float32Array;
}

/** The logits projection of a forward pass: `rows` rows of x from `row0` on (0 rows: none). */
export interface LogitRows {
  /** First row of x projected. */
  row0: number;
  /** Rows projected (0: no logits). */
  rows: number;
}

/**
 * The most decode steps one readback covers. The `tokens` buffer holds one row more per sequence (`decodeRows` puts
 * the first draws of sequences that join a batch in row 0).
 */
export const MAX_CHUNK: number = GENERATE_PARAMS.chunk.max;

/** Uniform buffers: one per dispatch kind and mode. */
const UNIFORMS = ["embed", "qkv", "o", "swiglu", "down", "logits", "rope", "attn", "sampler"] as const;

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

/** cos/sin per (position, j) for RoPE, computed once on the CPU. */
function ropeTable(c: TransformerConfig): Float32Array {
  const hd = c.dim / c.heads, half = hd / 2;
  const rope = new Float32Array(c.maxPositions * half * 2);
  for (let p = 0; p < c.maxPositions; p++) {
    for (let j = 0; j < half; j++) {
      const invf = Math.fround(Math.pow(c.ropeTheta, -2 * j / hd));
      const ang = Math.fround(p * invf);
      rope[(p * half + j) * 2] = Math.cos(ang);
      rope[(p * half + j) * 2 + 1] = Math.sin(ang);
    }
  }
  return rope;
}

/**
 * A Llama model in GPU buffers with its compiled kernels: encodes forward passes and sampler dispatches and writes
 * their uniforms, the per-sequence state and the grammar tables. Rows: up to max(maxPositions, maxBatch) activations.
 *
 * @example
 * ```ts ignore
 * import { getGpu } from "./_gpu.ts";
 * import { GpuModel } from "./_model.ts";
 * import { readEngineModel } from "./model_loader.ts";
 * const { config, weights } = await readEngineModel("models/default");
 * const model = await GpuModel.create(await getGpu(), config, weights, 4, "software");
 * model.writeUniforms({ rows: 3, prefill: true, seq: 0, posBase: 0 }, { row0: 2, rows: 1 });
 * ```
 */
export class GpuModel {
  /** The model's hyper-parameters. */
  readonly config: TransformerConfig;
  /** The device holding the buffers. */
  readonly device: GPUDevice;
  /** The kernel path compiled. */
  readonly path: KernelPath;
  /** Sequences the KV caches and state hold. */
  readonly maxBatch: number;
  /** Named buffers: weights shared by all layers, activations, state, tokens, grammar tables, uniforms. */
  readonly buffers: Record<string, GPUBuffer> = {};
  readonly #kernels: Partial<Record<KernelRole, Kernel>>;
  readonly #layers: Record<string, GPUBuffer>[] = [];
  readonly #all: GPUBuffer[] = [];
  #groups = new Map<string, GPUBindGroup>();
  #grammarKey: GrammarTables | undefined | null = null;

  private constructor(
    config: TransformerConfig,
    device: GPUDevice,
    kernels: Partial<Record<KernelRole, Kernel>>,
    maxBatch: number,
    path: KernelPath,
  ) {
    this.config = config;
    this.device = device;
    this.#kernels = kernels;
    this.maxBatch = maxBatch;
    this.path = path;
  }

  /** Compiles the path's kernels and uploads the weights. */
  static async create(
    gpu: Gpu,
    config: TransformerConfig,
    weights: ModelWeights,
    maxBatch: number,
    path: KernelPath,
  ): Promise<GpuModel> {
    const specs = Object.entries(kernelSpecs(path, config.maxPositions));
    const compiled = await Promise.all(
      specs.map(([, s]) => compileKernel(gpu.device, s.file, s.bindings, s.consts)),
    );
    const kernels = Object.fromEntries(specs.map(([role], i) => [role, compiled[i]]));
    const m = new GpuModel(config, gpu.device, kernels, maxBatch, path);
    m.#upload(weights);
    return m;
  }

  #kernel(role: KernelRole): Kernel {
    const k = this.#kernels[role];
    if (!k) throw new Error(`kernel ${role} is not compiled on the ${this.path} path`);
    return k;
  }

  #buf(data: Float32Array | Uint32Array | Int32Array | number, label: string): GPUBuffer {
    const b = storage(this.device, data, label);
    this.#all.push(b);
    return b;
  }

  #upload(w: ModelWeights) {
    const c = this.config, d = c.dim, f = c.ffn, V = c.vocabSize, B = this.maxBatch;
    const R = Math.max(c.maxPositions, B);
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
        kc: this.#buf(B * c.maxPositions * d * 4, `l${l}.kcache`),
        vc: this.#buf(B * c.maxPositions * d * 4, `l${l}.vcache`),
      });
    }
    const b = this.buffers;
    b.embed = this.#buf(w.embed, "embed");
    b.out = this.#buf(transposeFold(w.embed, V, d, w.norm), "lm_head");
    b.rope = this.#buf(ropeTable(c), "rope");
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
    b.tokens = this.#buf((MAX_CHUNK + 1) * B * 4, "tokens");
    b.rows = this.#buf(B * ROW_WORDS * 4, "rows");
    b.bias = this.#buf(B * V * 4, "bias");
    for (const name of UNIFORMS) {
      for (const mode of ["p", "d"]) {
        const u = uniform(this.device, UNIFORM_WORDS, `${name}.${mode}`);
        this.#all.push(u);
        b[`u.${name}.${mode}`] = u;
      }
    }
  }

  #group(key: string, kernel: Kernel, buffers: GPUBuffer[]): GPUBindGroup {
    let g = this.#groups.get(key);
    if (!g) {
      g = this.device.createBindGroup({
        layout: kernel.layout,
        entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
      });
      this.#groups.set(key, g);
    }
    return g;
  }

  /**
   * Writes the uniforms of a forward pass over `span` (its mode: `p` for a prefill, `d` for a decode step), the
   * logits projection over `logits`, and a prefill's KV append into `sequences` caches from `span.seq` on.
   */
  writeUniforms(span: RowSpan, logits: LogitRows, sequences = 1): void {
    const c = this.config,
      d = c.dim,
      f = c.ffn,
      eps = c.normEps,
      rows = span.rows,
      mode = span.prefill ? "p" : "d";
    const shape = { hidden: d, headDim: d / c.heads, maxPos: c.maxPositions };
    const put = (name: typeof UNIFORMS[number], bytes: ArrayBuffer) =>
      this.device.queue.writeBuffer(this.buffers[`u.${name}.${mode}`], 0, bytes);
    put("embed", embedUniforms({ ...span, hidden: d }));
    put("qkv", matmulUniforms({ rows, n: 3 * d, k: d, fuseRmsNorm: true, addResidual: false, eps }));
    put("o", matmulUniforms({ rows, n: d, k: d, fuseRmsNorm: false, addResidual: true, eps }));
    put("swiglu", matmulUniforms({ rows, n: f, k: d, fuseRmsNorm: true, addResidual: false, eps }));
    put("down", matmulUniforms({ rows, n: d, k: f, fuseRmsNorm: false, addResidual: true, eps }));
    put(
      "logits",
      matmulUniforms({
        rows: logits.rows,
        n: c.vocabSize,
        k: d,
        fuseRmsNorm: true,
        addResidual: false,
        xRow0: logits.row0,
        eps,
      }),
    );
    put("rope", ropeUniforms({ ...span, ...shape, sequences }));
    put("attn", attentionUniforms({ ...span, ...shape }));
  }

  /**
   * Writes the sampler's uniforms of a mode: `batch` is the `tokens` buffer's row stride, `chunkStart` the draw
   * counter its row 0 holds, `sharedRow` samples every sequence from logits row 0 (after a prefill), `seq0` the first
   * sequence of the dispatch.
   */
  writeSamplerUniforms(
    batch: number,
    chunkStart: number,
    mode: Mode = "d",
    o: { debug?: boolean; sharedRow?: boolean; seq0?: number } = {},
  ) {
    this.device.queue.writeBuffer(
      this.buffers[`u.sampler.${mode}`],
      0,
      samplerUniforms({
        vocab: this.config.vocabSize,
        batch,
        chunkStart: chunkStart >>> 0,
        debug: !!o.debug,
        types: N_TYPES,
        sharedRow: o.sharedRow ?? mode === "p",
        seq0: o.seq0,
      }),
    );
  }

  /** Writes the sampling settings of sequences `seq0`, `seq0 + 1`, …. */
  writeRows(rows: readonly RowSettings[], seq0 = 0): void {
    this.device.queue.writeBuffer(this.buffers.rows, seq0 * ROW_WORDS * 4, packRows(rows));
    const V = this.config.vocabSize;
    rows.forEach((r, i) => {
      if (r.bias) {
        this.device.queue.writeBuffer(this.buffers.bias, (seq0 + i) * V * 4, Float32Array.from(r.bias));
      }
    });
  }

  /** The settings of `batch` sequences of one `DecodeSampling`: stream = sequence index, counters from 0. */
  static rowsOf(s: DecodeSampling, batch: number): RowSettings[] {
    return Array.from({ length: batch }, (_, stream) => ({
      temperature: s.temperature,
      topK: s.topK,
      topP: s.topP,
      seedWords: seedWords(s.seed),
      stream,
      origin: 0,
      grammar: !!s.grammar,
      bias: s.bias,
    }));
  }

  /** Writes the state words of sequences `seq0`, `seq0 + 1`, …. */
  writeStates(rows: readonly SequenceState[], seq0 = 0): void {
    this.device.queue.writeBuffer(this.buffers.state, seq0 * STATE_WORDS * 4, packStates(rows));
  }

  /** Writes a prefill's token ids. */
  writePrompt(tokens: readonly number[]): void {
    this.device.queue.writeBuffer(this.buffers.prompt, 0, new Uint32Array(tokens));
  }

  /** Uploads the grammar tables (no mask: every type allowed everywhere); a no-op when they are already there. */
  setGrammar(g: GrammarTables | undefined): void {
    if (this.#grammarKey === g) return;
    this.#grammarKey = g;
    const V = this.config.vocabSize;
    const S = GTAB_STRIDE;
    const gtab = new Int32Array(V * S);
    for (let v = 0; v < V; v++) gtab.set([10, 10, -1, -2, -1, -1, 0, 0], v * S);
    if (g) gtab.set(g.gtab.subarray(0, Math.min(g.gtab.length, V * S)));
    if (g && g.gtab.length < V * S) { for (let v = g.gtab.length / S; v < V; v++) gtab[v * S] = -1; }
    this.device.queue.writeBuffer(this.buffers.gtab, 0, gtab);
    this.device.queue.writeBuffer(
      this.buffers.allow,
      0,
      Uint32Array.from(g ? g.allow : new Uint32Array(N_TYPES * N_TYPES).fill(1)),
    );
  }

  #mm(
    pass: GPUComputePassEncoder,
    key: string,
    swiglu: boolean,
    bufs: GPUBuffer[],
    m: number,
    n: number,
    rowInvariant = false,
  ) {
    const n4 = ceil4(n) / 4;
    // Row-invariant decode on the gpu path: the split-K GEMV (one workgroup per row, the same summation order for any
    // row count) instead of the tile kernel above SPLITK_MAX_ROWS rows.
    const plan = rowInvariant && this.path === "gpu"
      ? { kind: "S" as const, x: Math.ceil(n4 / SPLITK.COLS), y: m }
      : matmulPlan(this.path, swiglu, m, n4);
    const k = this.#kernel(`${swiglu ? "sw" : "mm"}${plan.kind}`);
    pass.setPipeline(k.pipeline);
    pass.setBindGroup(0, this.#group(`${key}.${plan.kind}`, k, bufs));
    pass.dispatchWorkgroups(plan.x, plan.y);
  }

  /**
   * Encodes the model over m rows (embedding through logits, `logitRows` of them) reading mode `mode`'s uniforms.
   * `rowInvariant`: every row's result is the same bits whatever m is (on the software path it always is; on the gpu
   * path this keeps the split-K GEMVs for any m, see `decodeRows`).
   */
  encodeForward(
    pass: GPUComputePassEncoder,
    mode: Mode,
    m: number,
    logitRows: number,
    rowInvariant = false,
  ): void {
    const c = this.config, d = c.dim, b = this.buffers;
    const u = (n: string) => b[`u.${n}.${mode}`];
    const embed = this.#kernel("embed"), rope = this.#kernel("rope"), attn = this.#kernel("attn");
    pass.setPipeline(embed.pipeline);
    pass.setBindGroup(0, this.#group(`embed.${mode}`, embed, [u("embed"), b.embed, b.prompt, b.state, b.x]));
    pass.dispatchWorkgroups(Math.ceil(d / 64), m);
    for (let l = 0; l < c.layers; l++) {
      const L = this.#layers[l];
      this.#mm(pass, `qkv${l}.${mode}`, false, [u("qkv"), b.x, L.qkv, b.qkv], m, 3 * d, rowInvariant);
      pass.setPipeline(rope.pipeline);
      pass.setBindGroup(
        0,
        this.#group(`rope${l}.${mode}`, rope, [u("rope"), b.qkv, b.rope, b.state, b.q, L.kc, L.vc]),
      );
      pass.dispatchWorkgroups(Math.ceil(d / 2 / 64), m);
      pass.setPipeline(attn.pipeline);
      pass.setBindGroup(
        0,
        this.#group(`attn${l}.${mode}`, attn, [u("attn"), b.q, L.kc, L.vc, b.state, b.att]),
      );
      pass.dispatchWorkgroups(c.heads, m);
      this.#mm(pass, `o${l}.${mode}`, false, [u("o"), b.att, L.o, b.x], m, d, rowInvariant);
      this.#mm(pass, `sw${l}.${mode}`, true, [u("swiglu"), b.x, L.gate, L.up, b.act], m, c.ffn, rowInvariant);
      this.#mm(pass, `down${l}.${mode}`, false, [u("down"), b.act, L.down, b.x], m, d, rowInvariant);
    }
    if (logitRows > 0) {
      const lb = [u("logits"), b.x, b.out, b.logits];
      this.#mm(pass, `logits.${mode}`, false, lb, logitRows, c.vocabSize, rowInvariant);
    }
  }

  /** Encodes one sampler dispatch for `batch` sequences (from the uniforms' `seq0` on) reading mode `mode`'s uniforms. */
  encodeSampler(pass: GPUComputePassEncoder, batch: number, mode: Mode = "d"): void {
    const b = this.buffers, k = this.#kernel("sampler");
    pass.setPipeline(k.pipeline);
    pass.setBindGroup(
      0,
      this.#group(`sampler.${mode}`, k, [
        b[`u.sampler.${mode}`],
        b.logits,
        b.state,
        b.tokens,
        b.gtab,
        b.allow,
        b.kept,
        b.rows,
        b.bias,
      ]),
    );
    pass.dispatchWorkgroups(batch);
  }

  /** Frees all GPU buffers. */
  dispose(): void {
    for (const b of this.#all) b.destroy();
    this.#all.length = 0;
    this.#groups.clear();
  }
}
