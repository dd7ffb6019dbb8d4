/**
 * One training step on WebGPU with the semantics of lib/cpu's `CpuTrainer` (and lib/train's tfjs `Trainer`):
 * windows of seqLen + 1 ids, micro-batches weighted by their share of non-PAD targets, global-norm clipping
 * (`clip / (norm + 1e-6)` when the norm exceeds `clip`), AdamW (decay on matrices only).
 *
 * A step is one command buffer: the gradients cleared, every micro-batch's forward, loss and backward, the
 * gradient norm and AdamW, all dispatches prebuilt (pipelines, bind groups and uniforms made once per shape; per
 * step only the token buffer and one small uniform are written). The loss and the gradient norm land in a ring on
 * the GPU and are read back every `readEvery` steps (≈ 11 ms per readback in Deno): a step that does not read back
 * waits for nothing.
 *
 * @module
 */
import { countTargets, type CpuTrainOptions } from "../cpu/train.ts";
import type { CpuModelConfig, ParamInfo } from "../cpu/layout.ts";
import { type Gpu, readBuffer, storage } from "./device.ts";
import type { TrainKernelPath, TrainShapes } from "./kernels.ts";
import { GpuTransformer } from "./model.ts";
import { type Dispatch, encode, stepScalars, view } from "./dispatch.ts";

/** What one step reports. */
export interface GpuStepResult {
  /** Mean cross-entropy before the update (NaN when this step did not read back). */
  loss: number;
  /** Global gradient norm before clipping (NaN when this step did not read back). */
  gradNorm: number;
  /** Whether this step read its numbers back. */
  read: boolean;
}

/** Dispatches and readbacks of the last step (and in total). */
export interface GpuCounters {
  /** Compute dispatches of the last step. */
  dispatches: number;
  /** GPU → CPU readbacks of the last step. */
  readbacks: number;
  /** Steps so far. */
  steps: number;
  /** Dispatches so far. */
  totalDispatches: number;
  /** Readbacks so far. */
  totalReadbacks: number;
}

/** Options of {@link GpuTrainer.create}. */
export interface GpuTrainerOptions {
  /** Read the loss and gradient norm back every this many steps (default 1: every step, as the CPU trainer). */
  readEvery?: number;
  /** The device (default: the shared one). */
  gpu?: Gpu;
  /** Kernel path (default: chosen for the adapter; see `trainKernelPath`). */
  kernels?: TrainKernelPath;
  /** Kernel shapes (default: those of the path). */
  shapes?: TrainShapes;
}

/** AdamW moments by tensor name and the step (the shape of lib/cpu's `CpuAdamW.state()` and the tfjs AdamW's). */
export interface GpuAdamWState {
  /** First moments. */
  m: Record<string, Float32Array>;
  /** Second moments. */
  v: Record<string, Float32Array>;
  /** Updates applied so far. */
  step: number;
}

/**
 * A model on the GPU with its AdamW state; `step` trains on `[batch, seqLen + 1]` windows.
 *
 * @example
 * ```ts ignore
 * import { CpuTransformer } from "../cpu/model.ts";
 * import { GpuTrainer } from "./train.ts";
 * const m = CpuTransformer.init({ vocabSize: 16, dim: 8, layers: 1, heads: 2, ffn: 16, maxPositions: 32, ropeTheta: 1e4, normEps: 1e-5 }, 1);
 * const tr = await GpuTrainer.create(m.config, m.params, { beta1: 0.9, beta2: 0.95, adamEps: 1e-8, weightDecay: 0.1, clip: 1, microBatch: 0 });
 * const windows = new Int32Array(2 * 9).map((_, i) => 4 + (i % 10));
 * const { loss } = await tr.step(windows, 2, 1e-3);
 * ```
 */
export class GpuTrainer {
  /** Updates applied so far (AdamW's t). */
  adamStep = 0;
  /** Steps between readbacks. */
  readonly readEvery: number;
  /** Every step's (loss, gradNorm) read back so far, in step order (the caller may clear it). */
  history: { loss: number; gradNorm: number }[] = [];
  readonly #device: GPUDevice;
  readonly #m: GPUBuffer;
  readonly #v: GPUBuffer;
  readonly #mask: GPUBuffer;
  readonly #stats: GPUBuffer;
  readonly #staging: GPUBuffer;
  #partial?: GPUBuffer;
  #tail = new Map<string, Dispatch[]>();
  #pending: number[] = [];
  #counters: GpuCounters = { dispatches: 0, readbacks: 0, steps: 0, totalDispatches: 0, totalReadbacks: 0 };

  private constructor(readonly model: GpuTransformer, readonly train: CpuTrainOptions, readEvery: number) {
    const device = this.#device = model.gpu.device;
    this.readEvery = readEvery;
    this.#m = storage(device, model.size * 4, "adam.m");
    this.#v = storage(device, model.size * 4, "adam.v");
    const mask = new Uint32Array(Math.ceil(model.size / 32));
    for (const p of model.layout) {
      if (!p.decay) continue;
      for (let i = p.offset; i < p.offset + p.size; i++) mask[i >> 5] |= 1 << (i & 31);
    }
    this.#mask = storage(device, mask, "adam.mask");
    this.#stats = storage(device, readEvery * 8, "stats");
    this.#staging = device.createBuffer({
      label: "stats.read",
      size: Math.max(16, readEvery * 8),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
  }

  /** A trainer for a model of `config` starting from `params` (lib/cpu layout; copied to the GPU). */
  static async create(
    config: CpuModelConfig,
    params: Float32Array,
    train: CpuTrainOptions,
    opts: GpuTrainerOptions = {},
  ): Promise<GpuTrainer> {
    const model = await GpuTransformer.create(config, params, opts);
    return new GpuTrainer(model, train, Math.max(1, Math.floor(opts.readEvery ?? 1)));
  }

  /** The flat layout of parameters, gradients and moments. */
  get layout(): ParamInfo[] {
    return this.model.layout;
  }

  /** Dispatches and readbacks of the last step, and totals. */
  get counters(): Readonly<GpuCounters> {
    return { ...this.#counters };
  }

  /**
   * The norm and AdamW over the flat buffers for steps of `rows` tokens: one range (one dispatch each) unless the
   * buffers exceed the adapter's binding limit.
   */
  #tailPlan(rows: number, update: boolean): Dispatch[] {
    const key = `${this.model.generation}:${rows}:${update}`;
    let plan = this.#tail.get(key);
    if (plan) return plan;
    const ops = this.model.ops, n = this.model.size;
    const maxFloats = Math.floor(this.#device.limits.maxStorageBufferBindingSize / 4 / 64) * 64;
    const ranges: [number, number][] = [];
    for (let o = 0; o < n; o += maxFloats) ranges.push([o, Math.min(n, o + maxFloats)]);
    const parts = ranges.map(([a, b]) =>
      Math.max(1, Math.min(ops.shapes.normParts, Math.ceil((b - a) / (ops.shapes.reduce * 64))))
    );
    const total = parts.reduce((a, b) => a + b, 0);
    if (!this.#partial || this.#partial.size < (total + 1) * 4) {
      this.#partial?.destroy();
      this.#partial = storage(this.#device, (total + 1) * 4, "norm.partial");
      this.#tail.clear();
    }
    const partial = this.#partial, rowloss = this.model.rowloss;
    plan = [];
    let off = 0;
    ranges.forEach(([a, b], i) => {
      const g = view(this.model.grads, a, b - a);
      plan!.push(ops.gradNorm(partial, g, rowloss, parts[i], off, i === 0 ? rows : 0, total));
      off += parts[i];
    });
    ranges.forEach(([a, b], i) => {
      const v = (buf: GPUBuffer) => view(buf, a, b - a);
      const s = this.#stats, mask = this.#mask;
      plan!.push(
        ops.adamw(
          v(this.model.params),
          v(this.model.grads),
          v(this.#m),
          v(this.#v),
          mask,
          partial,
          s,
          this.model.stepUniform,
          total,
          i === 0,
        ),
      );
    });
    // without an update AdamW only records the stats (the step uniform says so): the first range's dispatch
    if (!update) plan.splice(plan.length - ranges.length + 1);
    this.#tail.set(key, plan);
    return plan;
  }

  /**
   * Trains on `batch` windows packed in `windows` at learning rate `lr`; `update: false` computes the loss and
   * gradients (left in `model.grads`) but leaves the weights and AdamW as they are. Resolves once the step is
   * submitted, or, on a step that reads back (every `readEvery`-th, or `read: true`), once its numbers are here.
   */
  async step(
    windows: Int32Array,
    batch: number,
    lr: number,
    opts: { update?: boolean; read?: boolean } = {},
  ): Promise<GpuStepResult> {
    const update = opts.update ?? true;
    const w = windows.length / batch, T = w - 1;
    if (!Number.isInteger(w) || T < 1) {
      throw new RangeError(`windows: ${windows.length} ids for batch ${batch}`);
    }
    const micro = this.#micro(batch, T), chunks = Math.ceil(batch / micro);
    const total = countTargets(windows, batch);
    const model = this.model;
    model.reserve(micro * T, chunks, batch * T);
    model.upload(windows, batch, micro);
    const slot = this.#pending.length;
    this.#writeStep(total, lr, slot, update);
    const enc = this.#device.createCommandEncoder();
    enc.clearBuffer(model.grads);
    const pass = enc.beginComputePass();
    let dispatches = 0;
    for (let c = 0; c < chunks; c++) {
      const n = Math.min(micro, batch - c * micro);
      dispatches += encode(pass, model.trainPlan(c, n, T, c * micro * T, true));
    }
    dispatches += encode(pass, this.#tailPlan(batch * T, update));
    pass.end();
    if (update) this.adamStep++;
    this.#pending.push(slot);
    const read = opts.read || this.#pending.length >= this.readEvery;
    if (read) enc.copyBufferToBuffer(this.#stats, 0, this.#staging, 0, this.#pending.length * 8);
    this.#device.queue.submit([enc.finish()]);
    const c = this.#counters;
    c.dispatches = dispatches;
    c.readbacks = read ? 1 : 0;
    c.steps++;
    c.totalDispatches += dispatches;
    if (!read) return { loss: NaN, gradNorm: NaN, read: false };
    const all = await this.#readStats();
    return { ...all[all.length - 1], read: true };
  }

  /**
   * Rows per forward/backward: `train.microBatch` (0: the whole batch), fewer when one activation of that many
   * rows (the widest: logits, gate|up or q|k|v) would exceed the adapter's storage binding limit.
   */
  #micro(batch: number, T: number): number {
    const { vocabSize: V, ffn: f, dim: d } = this.model.config;
    const perRow = T * 4 * Math.max(V, 2 * f, 3 * d);
    const fit = Math.max(1, Math.floor(this.#device.limits.maxStorageBufferBindingSize / perRow));
    return Math.min(batch, this.train.microBatch || batch, fit);
  }

  /** Reads the staged stats of the pending steps (one readback). */
  async #readStats(): Promise<{ loss: number; gradNorm: number }[]> {
    const n = this.#pending.length;
    await this.#staging.mapAsync(GPUMapMode.READ, 0, Math.max(16, n * 8));
    const s = new Float32Array(this.#staging.getMappedRange(0, Math.max(16, n * 8)).slice(0));
    this.#staging.unmap();
    this.#pending = [];
    this.#counters.totalReadbacks++;
    this.history.push(...Array.from({ length: n }, (_, i) => ({ loss: s[2 * i], gradNorm: s[2 * i + 1] })));
    return this.history.slice(-n);
  }

  /** Reads back the numbers of the steps not read yet (one readback; none when nothing is pending). */
  async flush(): Promise<{ loss: number; gradNorm: number }[]> {
    if (!this.#pending.length) return [];
    const enc = this.#device.createCommandEncoder();
    enc.copyBufferToBuffer(this.#stats, 0, this.#staging, 0, this.#pending.length * 8);
    this.#device.queue.submit([enc.finish()]);
    return await this.#readStats();
  }

  #writeStep(total: number, lr: number, slot: number, update: boolean): void {
    const { beta1, beta2, adamEps: eps, weightDecay, clip } = this.train, t = this.adamStep + 1;
    const invTotal = total ? 1 / total : 0;
    const bytes = stepScalars({ invTotal, lr, weightDecay, beta1, beta2, eps, clip, t, slot, update });
    this.#device.queue.writeBuffer(this.model.stepUniform, 0, bytes);
  }

  /** Gradients of the batch's mean loss into `model.grads` (no update); returns the loss (one readback). */
  async gradients(windows: Int32Array, batch: number): Promise<number> {
    return (await this.step(windows, batch, 0, { update: false, read: true })).loss;
  }

  /** Mean loss and target-token count over windows (no update), for validation (one readback). */
  async evaluate(windows: Int32Array, batch: number): Promise<{ loss: number; tokens: number }> {
    const w = windows.length / batch, T = w - 1;
    const micro = this.#micro(batch, T), chunks = Math.ceil(batch / micro);
    const model = this.model;
    model.reserve(micro * T, chunks, batch * T);
    model.upload(windows, batch, micro);
    const enc = this.#device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (let c = 0; c < chunks; c++) {
      encode(pass, model.trainPlan(c, Math.min(micro, batch - c * micro), T, c * micro * T, false));
    }
    pass.end();
    const bytes = batch * T * 4;
    const st = this.#device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    enc.copyBufferToBuffer(model.rowloss.buffer, 0, st, 0, bytes);
    this.#device.queue.submit([enc.finish()]);
    await st.mapAsync(GPUMapMode.READ);
    const rows = new Float32Array(st.getMappedRange().slice(0));
    st.destroy();
    this.#counters.totalReadbacks++;
    let sum = 0;
    for (const x of rows) sum += x;
    const tokens = countTargets(windows, batch);
    return { loss: tokens ? sum / tokens : 0, tokens };
  }

  /** The weights by HF name (one readback), for checkpoints. */
  async weights(): Promise<Record<string, Float32Array>> {
    const p = await this.model.readParams(), out: Record<string, Float32Array> = {};
    for (const t of this.layout) out[t.name] = p.slice(t.offset, t.offset + t.size);
    return out;
  }

  /** Replaces the weights (by HF name; every tensor present with the right size). */
  setWeights(weights: Record<string, Float32Array>): void {
    const flat = new Float32Array(this.model.size);
    for (const t of this.layout) {
      const w = weights[t.name];
      if (!w || w.length !== t.size) throw new Error(`weights: ${t.name} missing or mis-sized`);
      flat.set(w, t.offset);
    }
    this.model.writeParams(flat);
  }

  /** AdamW moments by tensor name and the step (two readbacks), as `CpuAdamW.state()`. */
  async optimizerState(): Promise<GpuAdamWState> {
    const bytes = this.model.size * 4;
    const mf = new Float32Array(await readBuffer(this.#device, this.#m, bytes));
    const vf = new Float32Array(await readBuffer(this.#device, this.#v, bytes));
    const m: Record<string, Float32Array> = {}, v: Record<string, Float32Array> = {};
    for (const p of this.layout) {
      m[p.name] = mf.slice(p.offset, p.offset + p.size);
      v[p.name] = vf.slice(p.offset, p.offset + p.size);
    }
    return { m, v, step: this.adamStep };
  }

  /** Restores moments and step saved by {@link optimizerState} (or by the CPU or tfjs AdamW). */
  setOptimizerState(s: GpuAdamWState): void {
    const mf = new Float32Array(this.model.size), vf = new Float32Array(this.model.size);
    for (const p of this.layout) {
      const m = s.m[p.name], v = s.v[p.name];
      if (!m || !v || m.length !== p.size || v.length !== p.size) {
        throw new Error(`optimizer state: missing or mis-sized moments for ${p.name}`);
      }
      mf.set(m, p.offset);
      vf.set(v, p.offset);
    }
    this.#device.queue.writeBuffer(this.#m, 0, mf);
    this.#device.queue.writeBuffer(this.#v, 0, vf);
    this.adamStep = s.step;
  }

  /** Frees the GPU buffers (the device stays). */
  destroy(): void {
    this.model.destroy();
    for (const b of [this.#m, this.#v, this.#mask, this.#stats, this.#staging, this.#partial]) b?.destroy();
  }
}
