/**
 * `GpuTransformer`: the Llama-style Transformer on WebGPU — parameters and gradients in one flat GPU buffer each,
 * laid out as lib/cpu's (`paramLayout`: checkpoint order, q|k|v and gate|up contiguous), activations kept for the
 * backward in buffers sized for the largest micro-batch seen. The forward and the backward are lists of the named
 * ops of `ops.ts`, line for line those of lib/cpu's `CpuTransformer` (llm.c's `gpt2_forward` / `gpt2_backward`),
 * built once per shape as prebuilt dispatches ({@link GpuTransformer.trainPlan}).
 *
 * Token ids reach the GPU once per step in one buffer: per micro-batch the inputs, the targets, and the inputs
 * counting-sorted by id (CSR), which lets the embedding backward reduce per token id without atomics.
 *
 * @module
 */
import { type CpuModelConfig, type ParamInfo, paramLayout } from "../cpu/layout.ts";
import { ropeTables } from "../cpu/rope.ts";
import { getGpu, type Gpu, readBuffer, storage } from "./device.ts";
import {
  compileTrainKernels,
  type TrainKernelPath,
  trainKernelPath,
  type TrainShapes,
  trainShapes,
} from "./kernels.ts";
import { type Dispatch, type View, view } from "./dispatch.ts";
import { GpuOps, type GpuRope } from "./ops.ts";
import { chunkWords, packTokens, type TokenOffsets, tokenOffsets } from "./tokens.ts";

/** Per-block tensor views (fused q|k|v [3d, d] and gate|up [2f, d], as lib/cpu's `LayerViews`). */
interface LayerViews {
  ln1: View;
  qkv: View;
  o: View;
  ln2: View;
  gu: View;
  down: View;
}

/** Tensor views of a flat buffer. */
interface Views {
  embed: View;
  norm: View;
  layers: LayerViews[];
}

function views(c: CpuModelConfig, layout: ParamInfo[], buf: GPUBuffer): Views {
  const at = (name: string, size?: number) => {
    const p = layout.find((q) => q.name === name)!;
    return view(buf, p.offset, size ?? p.size);
  };
  const d = c.dim, f = c.ffn;
  return {
    embed: at("model.embed_tokens.weight"),
    norm: at("model.norm.weight"),
    layers: Array.from({ length: c.layers }, (_, i) => {
      const p = `model.layers.${i}.`;
      return {
        ln1: at(p + "input_layernorm.weight"),
        qkv: at(p + "self_attn.q_proj.weight", 3 * d * d),
        o: at(p + "self_attn.o_proj.weight"),
        ln2: at(p + "post_attention_layernorm.weight"),
        gu: at(p + "mlp.gate_proj.weight", 2 * f * d),
        down: at(p + "mlp.down_proj.weight"),
      };
    }),
  };
}

/** Activations and backward scratch for `cap` tokens (one micro-batch), plus per-step token and loss buffers. */
interface Buffers {
  cap: number;
  chunks: number;
  rows: number;
  resid: View[];
  ln1: View[];
  rstd1: View[];
  qkv: View[];
  att: View[];
  lse: View[];
  mid: View[];
  ln2: View[];
  rstd2: View[];
  gu: View[];
  act: View[];
  lnf: View;
  rstdf: View;
  logits: View;
  lsef: View;
  dresid: View;
  dln: View;
  dqkv: View;
  datt: View;
  dgu: View;
  dact: View;
  /** Per micro-batch: ids, targets, CSR start [V + 1], CSR positions (u32 words). */
  tokens: GPUBuffer;
  /** Per-row losses of the whole step [rows]. */
  rowloss: View;
  all: GPUBuffer[];
}

/**
 * The Transformer's parameters, gradients and activations on a WebGPU device, and the step's dispatch lists.
 *
 * @example
 * ```ts ignore
 * import { CpuTransformer } from "../cpu/model.ts";
 * import { GpuTransformer } from "./model.ts";
 * const cpu = CpuTransformer.init({ vocabSize: 16, dim: 8, layers: 1, heads: 2, ffn: 16, maxPositions: 32, ropeTheta: 1e4, normEps: 1e-5 }, 1);
 * const gpu = await GpuTransformer.create(cpu.config, cpu.params);
 * const same = await gpu.readParams(); // cpu.params, read back
 * ```
 */
export class GpuTransformer {
  /** The model's hyper-parameters. */
  readonly config: CpuModelConfig;
  /** Where each tensor sits in the flat buffers. */
  readonly layout: ParamInfo[];
  /** Parameter count. */
  readonly size: number;
  /** All parameters (flat, `layout` order). */
  readonly params: GPUBuffer;
  /** All gradients (same layout). */
  readonly grads: GPUBuffer;
  /** The step's uniform (1 / counted targets and the AdamW scalars; see kernels/train/adamw.wgsl). */
  readonly stepUniform: GPUBuffer;
  /** The ops, with the kernels compiled for this model's head size. */
  readonly ops: GpuOps;
  readonly #w: Views;
  readonly #g: Views;
  readonly #rope: GpuRope;
  #b?: Buffers;
  #plans = new Map<string, Dispatch[]>();
  /** Bumped whenever {@link reserve} reallocates the activation buffers (dispatches built on them are stale). */
  generation = 0;

  private constructor(readonly gpu: Gpu, config: CpuModelConfig, params: Float32Array, ops: GpuOps) {
    this.config = config;
    this.layout = paramLayout(config);
    this.size = this.layout.reduce((a, p) => a + p.size, 0);
    if (params.length !== this.size) {
      throw new Error(`parameters: ${params.length} floats, layout needs ${this.size}`);
    }
    const device = gpu.device;
    this.ops = ops;
    this.params = storage(device, params, "params");
    this.grads = storage(device, this.size * 4, "grads");
    this.stepUniform = device.createBuffer({
      label: "step",
      size: 64,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.#w = views(config, this.layout, this.params);
    this.#g = views(config, this.layout, this.grads);
    const t = ropeTables(config.maxPositions, config.dim / config.heads, config.ropeTheta);
    this.#rope = {
      cos: storage(device, t.cos, "rope.cos"),
      sin: storage(device, t.sin, "rope.sin"),
      half: t.half,
    };
  }

  /**
   * A model on `gpu` (default: the shared device) holding `params` (a copy; lib/cpu layout), its kernels compiled
   * with `shapes` (default: those of the `kernels` path, itself chosen for the adapter unless given).
   */
  static async create(
    config: CpuModelConfig,
    params: Float32Array,
    opts: { gpu?: Gpu; kernels?: TrainKernelPath; shapes?: TrainShapes } = {},
  ): Promise<GpuTransformer> {
    const gpu = opts.gpu ?? await getGpu();
    const hd = config.dim / config.heads;
    const path = trainKernelPath(gpu, opts.kernels);
    const shapes = opts.shapes ?? trainShapes(path, hd, gpu.device.limits.maxComputeWorkgroupStorageSize);
    const kernels = await compileTrainKernels(gpu.device, shapes, hd);
    return new GpuTransformer(gpu, config, params, new GpuOps(gpu.device, kernels, shapes));
  }

  /** Copies the parameters back (one readback). */
  async readParams(): Promise<Float32Array> {
    return new Float32Array(await readBuffer(this.gpu.device, this.params, this.size * 4));
  }

  /** Copies the gradients back (one readback). */
  async readGrads(): Promise<Float32Array> {
    return new Float32Array(await readBuffer(this.gpu.device, this.grads, this.size * 4));
  }

  /** Replaces all parameters (flat, layout order). */
  writeParams(params: Float32Array): void {
    if (params.length !== this.size) {
      throw new Error(`parameters: ${params.length} floats, expected ${this.size}`);
    }
    this.gpu.device.queue.writeBuffer(this.params, 0, params as Float32Array<ArrayBuffer>);
  }

  /** Makes room for micro-batches of `cap` tokens, `chunks` of them per step, `rows` tokens per step in all. */
  reserve(cap: number, chunks: number, rows: number): void {
    const b = this.#b;
    if (b && b.cap >= cap && b.chunks >= chunks && b.rows >= rows) return;
    const n = Math.max(cap, b?.cap ?? 0),
      k = Math.max(chunks, b?.chunks ?? 0),
      r = Math.max(rows, b?.rows ?? 0);
    for (const x of b?.all ?? []) x.destroy();
    this.#plans.clear();
    this.generation++;
    const { dim: d, ffn: f, heads: H, vocabSize: V, layers: L } = this.config;
    const all: GPUBuffer[] = [], device = this.gpu.device;
    const buf = (floats: number, label: string) => {
      const x = storage(device, floats * 4, label);
      all.push(x);
      return view(x);
    };
    const per = (floats: number, label: string) =>
      Array.from({ length: L }, (_, l) => buf(floats, `${label}.${l}`));
    const tokens = storage(device, k * chunkWords(n, V) * 4, "tokens");
    all.push(tokens);
    this.#b = {
      cap: n,
      chunks: k,
      rows: r,
      resid: Array.from({ length: L + 1 }, (_, l) => buf(n * d, `resid.${l}`)),
      ln1: per(n * d, "ln1"),
      rstd1: per(n, "rstd1"),
      qkv: per(n * 3 * d, "qkv"),
      att: per(n * d, "att"),
      lse: per(n * H, "lse"),
      mid: per(n * d, "mid"),
      ln2: per(n * d, "ln2"),
      rstd2: per(n, "rstd2"),
      gu: per(n * 2 * f, "gu"),
      act: per(n * f, "act"),
      lnf: buf(n * d, "lnf"),
      rstdf: buf(n, "rstdf"),
      logits: buf(n * V, "logits"),
      lsef: buf(n, "lsef"),
      dresid: buf(n * d, "dresid"),
      dln: buf(n * d, "dln"),
      dqkv: buf(n * 3 * d, "dqkv"),
      datt: buf(n * d, "datt"),
      dgu: buf(n * 2 * f, "dgu"),
      dact: buf(n * f, "dact"),
      tokens,
      rowloss: buf(r, "rowloss"),
      all,
    };
  }

  /** The per-row loss buffer of the current capacity (for the norm pass and evaluation). */
  get rowloss(): View {
    return this.#need().rowloss;
  }

  #need(): Buffers {
    if (!this.#b) throw new Error("GpuTransformer: reserve() first");
    return this.#b;
  }

  /** Word offsets of micro-batch `c`'s token data. */
  tokenOffsets(c: number): TokenOffsets {
    return tokenOffsets(c, this.#need().cap, this.config.vocabSize);
  }

  /**
   * Writes the token data of `batch` windows of T + 1 ids, split in micro-batches of `micro` rows (inputs the first
   * T ids of a window, targets the last T) — one `writeBuffer`. Call {@link reserve} first.
   */
  upload(windows: Int32Array, batch: number, micro: number): void {
    const b = this.#need();
    this.gpu.device.queue.writeBuffer(
      b.tokens,
      0,
      packTokens(windows, batch, micro, b.cap, this.config.vocabSize),
    );
  }

  /** The forward of micro-batch `c` (`n` rows of `T`): ids to logits, activations kept. */
  #forward(c: number, n: number, T: number): Dispatch[] {
    const a = this.#need(), W = this.#w, ops = this.ops, cfg = this.config;
    const { dim: d, ffn: f, heads: H, vocabSize: V, normEps: eps } = cfg;
    const hd = d / H, N = n * T, rope = this.#rope;
    const list = [ops.embeddingForward(a.resid[0], a.tokens, this.tokenOffsets(c).ids, W.embed, N, d)];
    for (let l = 0; l < cfg.layers; l++) {
      const Lw = W.layers[l];
      list.push(
        ops.rmsnormForward(a.ln1[l], a.rstd1[l], a.resid[l], Lw.ln1, N, d, eps),
        ops.matmulForward(a.qkv[l], a.ln1[l], Lw.qkv, N, d, 3 * d),
        ops.ropeForward(a.qkv[l], N, T, 3 * d, 0, 2 * H, rope), // q and k: 2H heads side by side
        ops.attentionForward(a.att[l], a.lse[l], a.qkv[l], n, T, H, hd),
        ops.matmulForward(a.mid[l], a.att[l], Lw.o, N, d, d, a.resid[l]), // mid = resid + o(att)
        ops.rmsnormForward(a.ln2[l], a.rstd2[l], a.mid[l], Lw.ln2, N, d, eps),
        ops.matmulForward(a.gu[l], a.ln2[l], Lw.gu, N, d, 2 * f),
        ops.swigluForward(a.act[l], a.gu[l], N, f),
        ops.matmulForward(a.resid[l + 1], a.act[l], Lw.down, N, f, d, a.mid[l]), // resid' = mid + down(act)
      );
    }
    list.push(
      ops.rmsnormForward(a.lnf, a.rstdf, a.resid[cfg.layers], W.norm, N, d, eps),
      ops.matmulForward(a.logits, a.lnf, W.embed, N, d, V), // tied output head
    );
    return list;
  }

  /** The backward of micro-batch `c` from dlogits (in `logits`): weight gradients accumulate into `grads`. */
  #backward(c: number, n: number, T: number): Dispatch[] {
    const a = this.#need(), W = this.#w, G = this.#g, ops = this.ops, cfg = this.config;
    const { dim: d, ffn: f, heads: H, vocabSize: V } = cfg;
    const hd = d / H, N = n * T, rope = this.#rope;
    const { dresid, dln, dqkv, datt, dgu, dact, logits: dlogits } = a;
    const list = [
      ops.matmulBackwardInput(dln, dlogits, W.embed, N, d, V),
      ops.matmulBackwardWeight(G.embed, dlogits, a.lnf, N, d, V),
      ops.rmsnormBackward(dresid, G.norm, dln, a.resid[cfg.layers], W.norm, a.rstdf, N, d, false),
    ];
    for (let l = cfg.layers - 1; l >= 0; l--) {
      const Lw = W.layers[l], Lg = G.layers[l];
      list.push(
        // resid[l+1] = mid + down(act): the residual passes dresid to both (shared buffer)
        ops.matmulBackwardInput(dact, dresid, Lw.down, N, f, d),
        ops.matmulBackwardWeight(Lg.down, dresid, a.act[l], N, f, d),
        ops.swigluBackward(dgu, dact, a.gu[l], N, f),
        ops.matmulBackwardInput(dln, dgu, Lw.gu, N, d, 2 * f),
        ops.matmulBackwardWeight(Lg.gu, dgu, a.ln2[l], N, d, 2 * f),
        ops.rmsnormBackward(dresid, Lg.ln2, dln, a.mid[l], Lw.ln2, a.rstd2[l], N, d),
        // mid = resid[l] + o(att)
        ops.matmulBackwardInput(datt, dresid, Lw.o, N, d, d),
        ops.matmulBackwardWeight(Lg.o, dresid, a.att[l], N, d, d),
        ...ops.attentionBackward(dqkv, datt, a.att[l], a.lse[l], a.qkv[l], n, T, H, hd),
        ops.ropeBackward(dqkv, N, T, 3 * d, 0, 2 * H, rope),
        ops.matmulBackwardInput(dln, dqkv, Lw.qkv, N, d, 3 * d),
        ops.matmulBackwardWeight(Lg.qkv, dqkv, a.ln1[l], N, d, 3 * d),
        ops.rmsnormBackward(dresid, Lg.ln1, dln, a.resid[l], Lw.ln1, a.rstd1[l], N, d),
      );
    }
    const o = this.tokenOffsets(c);
    list.push(ops.embeddingBackward(G.embed, dresid, a.tokens, o.start, o.pos, V, d));
    return list;
  }

  /**
   * The dispatches of micro-batch `c` (`n` rows of `T` positions, its per-row losses at row `rowOff` of the step):
   * with `train`, forward, fused loss + its gradient, backward; else forward and loss only. Built once per shape.
   */
  trainPlan(c: number, n: number, T: number, rowOff: number, train: boolean, ignoreIndex = 0): Dispatch[] {
    if (T > this.config.maxPositions) {
      throw new RangeError(`T ${T} exceeds maxPositions ${this.config.maxPositions}`);
    }
    const key = `${train ? "train" : "eval"}:${c}:${n}:${T}:${rowOff}:${ignoreIndex}`;
    let plan = this.#plans.get(key);
    if (plan) return plan;
    const a = this.#need(), N = n * T;
    if (N > a.cap || rowOff + N > a.rows || c >= a.chunks) {
      throw new Error("GpuTransformer: reserve() too small");
    }
    const loss = this.ops.crossEntropy(
      a.logits,
      a.lsef,
      a.rowloss,
      rowOff,
      a.tokens,
      this.tokenOffsets(c).targets,
      this.stepUniform,
      N,
      this.config.vocabSize,
      ignoreIndex,
      train,
    );
    plan = [...this.#forward(c, n, T), loss, ...(train ? this.#backward(c, n, T) : [])];
    this.#plans.set(key, plan);
    return plan;
  }

  /** Frees the GPU buffers. */
  destroy(): void {
    for (const x of this.#b?.all ?? []) x.destroy();
    this.#b = undefined;
    this.#plans.clear();
    for (const x of [this.params, this.grads, this.stepUniform, this.#rope.cos, this.#rope.sin]) x.destroy();
  }
}
