/**
 * One training step: forward, cross-entropy, backward, global-norm clipping, AdamW update. This is the unit the
 * training loop repeats and `deno task bench` times.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { TrainConfig } from "../model/config.ts";
import { crossEntropy, type TfModel } from "../model/model.ts";
import { AdamW } from "./adamw.ts";

/** Non-PAD targets (ids 1… of each window) in `batch` packed windows. */
export function countTargets(windows: Int32Array, batch: number): number {
  const w = windows.length / batch;
  let n = 0;
  for (let b = 0; b < batch; b++) for (let t = 1; t < w; t++) if (windows[b * w + t] !== 0) n++;
  return n;
}

// deno-doc-ignore private-type-ref -- tfjs types, public in their own package (denoland/deno#27364)
/**
 * Gradients of the mean loss over `rows` windows, accumulated over micro-batches of `micro` rows, each chunk
 * weighted by its share of `totalTargets` (so the parts of one batch, wherever computed, sum to the batch's mean).
 * Returns gradients by checkpoint name and the weighted loss as a tensor (caller disposes both).
 *
 * @example
 * ```ts ignore
 * import { applyOverrides, getPreset } from "../model/config.ts";
 * import { TfModel } from "../model/model.ts";
 * import { accumulateGradients, countTargets } from "./step.ts";
 * const p = applyOverrides(getPreset("v8"), { layers: 1, dim: 16, heads: 2, ffn: 32, vocab: 20, seqLen: 4 });
 * const model = TfModel.init(p.model, 1);
 * const windows = Int32Array.from([1, 5, 6, 7, 2, 1, 7, 6, 5, 2]); // 2 windows of seqLen + 1 ids
 * const { grads, loss } = accumulateGradients(model, windows, 2, 1, countTargets(windows, 2));
 * ```
 */
export function accumulateGradients(
  model: TfModel,
  windows: Int32Array,
  rows: number,
  micro: number,
  totalTargets: number,
  batchRows = rows,
): { grads: Record<string, tf.Tensor>; loss: tf.Tensor } {
  const w = windows.length / rows;
  const vars = Object.values(model.vars);
  const names = new Map(Object.entries(model.vars).map(([k, v]) => [v.name, k]));
  const acc: Record<string, tf.Tensor> = {};
  let loss: tf.Tensor | null = null;
  for (let r = 0; r < rows; r += micro) {
    const n = Math.min(micro, rows - r);
    const chunk = windows.subarray(r * w, (r + n) * w);
    // each chunk's mean loss weighted by its share of target tokens: the sum is the whole batch's mean
    const share = totalTargets ? countTargets(chunk, n) / totalTargets : n / batchRows;
    const { value, grads } = tf.tidy(() => {
      const all = tf.tensor2d(chunk, [n, w], "int32");
      const x = tf.slice(all, [0, 0], [n, w - 1]) as tf.Tensor2D;
      const y = tf.slice(all, [0, 1], [n, w - 1]) as tf.Tensor2D;
      return tf.variableGrads(() => crossEntropy(model.apply(x), y), vars);
    });
    const wl = tf.mul(value, share);
    value.dispose();
    if (loss) {
      const l2: tf.Tensor = tf.add(loss, wl);
      tf.dispose([loss, wl]);
      loss = l2;
    } else loss = wl;
    for (const [vn, g] of Object.entries(grads)) {
      const k = names.get(vn)!;
      const scaled = share === 1 ? g : tf.tidy(() => tf.mul(g, share));
      if (scaled !== g) g.dispose();
      if (acc[k]) {
        const sum = tf.add(acc[k], scaled);
        tf.dispose([acc[k], scaled]);
        acc[k] = sum;
      } else acc[k] = scaled;
    }
  }
  return { grads: acc, loss: loss ?? tf.scalar(0) };
}

/** What one step reports. */
export interface StepResult {
  /** Mean cross-entropy (nats per target token) before the update. */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
}

/** Computes gradients for a share of each batch elsewhere (a worker): see `lib/train/parallel.ts`. */
export interface GradientHelper {
  /** Gradients (by name) and weighted loss for `rows` windows, given the current weights. */
  gradients(
    weights: Record<string, Float32Array>,
    windows: Int32Array,
    rows: number,
    micro: number,
    totalTargets: number,
    batchRows: number,
  ): Promise<{ grads: Record<string, Float32Array>; loss: number }>;
  /** Releases the helper. */
  close(): void;
}

/**
 * Holds a model and its AdamW state and runs steps on `[batch, seqLen]` windows; with `helpers` (workers), each
 * batch is split by rows between this thread and the helpers (data parallel), and their gradients are summed in a
 * fixed order before clipping and the update.
 *
 * @example
 * ```ts
 * import { applyOverrides, getPreset } from "../model/config.ts";
 * import { TfModel } from "../model/model.ts";
 * import { Trainer } from "./step.ts";
 * const p = applyOverrides(getPreset("v8"), { layers: 1, dim: 16, heads: 2, ffn: 32, vocab: 20, seqLen: 8 });
 * const trainer = new Trainer(TfModel.init(p.model, 1), p.train);
 * const ids = new Int32Array(2 * 9).map((_, i) => 4 + (i % 10)); // batch 2 windows of seqLen + 1 tokens
 * const { loss } = await trainer.step(ids, 2, 1e-3);
 * ```
 */
export class Trainer {
  /** AdamW state over the model's variables. */
  readonly optimizer: AdamW;

  /** A trainer for `model` with recipe `train`, optionally sharing batches with `helpers`. */
  constructor(readonly model: TfModel, readonly train: TrainConfig, readonly helpers: GradientHelper[] = []) {
    this.optimizer = new AdamW(model.vars, {
      beta1: train.beta1,
      beta2: train.beta2,
      eps: train.adamEps,
      weightDecay: train.weightDecay,
    });
  }

  /**
   * Trains on `batch` windows packed in `windows` (each seqLen + 1 ids: inputs are the first seqLen, targets the
   * last seqLen) at learning rate `lr`. With `train.microBatch` < batch, gradients are accumulated over
   * micro-batches (same update up to rounding; bounds memory — tfjs-wasm has a 4 GB heap).
   */
  async step(
    windows: Int32Array,
    batch: number,
    lr: number,
    /** `update: false` computes the loss and gradients but leaves the weights and AdamW as they are (timing). */
    opts: { update?: boolean } = {},
  ): Promise<StepResult> {
    const w = windows.length / batch;
    const micro = Math.min(batch, this.train.microBatch || batch);
    const total = countTargets(windows, batch);
    // rows per part: this thread takes the first part, helpers the rest (contiguous, in order)
    const parts = Math.min(batch, this.helpers.length + 1);
    const bounds = Array.from({ length: parts + 1 }, (_, i) => Math.round((i * batch) / parts));
    const weights = parts > 1 ? await this.model.weights() : {};
    const remote = this.helpers.slice(0, parts - 1).map((h, i) => {
      const [r0, r1] = [bounds[i + 1], bounds[i + 2]];
      return h.gradients(weights, windows.slice(r0 * w, r1 * w), r1 - r0, micro, total, batch);
    });
    const own = accumulateGradients(
      this.model,
      windows.subarray(0, bounds[1] * w),
      bounds[1],
      micro,
      total,
      batch,
    );
    const acc = own.grads;
    let lossTensor = own.loss;
    for (const part of await Promise.all(remote)) {
      for (const [k, g] of Object.entries(part.grads)) {
        const sum = tf.tidy(() => tf.add(acc[k], tf.tensor(g, acc[k].shape, "float32")));
        acc[k].dispose();
        acc[k] = sum;
      }
      const l2 = tf.add(lossTensor, part.loss);
      lossTensor.dispose();
      lossTensor = l2;
    }
    // pairwise adds and a concat of [1]-tensors: tfjs-webgpu's AddN and scalar Pack return wrong values here
    const packed = tf.tidy(() => {
      const sq = Object.values(acc).map((g) => tf.sum(tf.square(g))).reduce((a, b) => tf.add(a, b));
      return tf.concat([tf.reshape(sq, [1]), tf.reshape(lossTensor, [1])]);
    });
    // one read-back per step (async: tfjs-webgpu has no synchronous read in Deno)
    const sums = await packed.data();
    tf.dispose([packed, lossTensor]);
    const gradNorm = Math.sqrt(sums[0]);
    const scale = gradNorm > this.train.clip ? this.train.clip / (gradNorm + 1e-6) : 1;
    if (opts.update ?? true) this.optimizer.apply(acc, lr, scale);
    tf.dispose(Object.values(acc));
    return { loss: sums[1], gradNorm };
  }

  /** Mean loss and target-token count over windows (no update), for validation. */
  async evaluate(windows: Int32Array, batch: number): Promise<{ loss: number; tokens: number }> {
    const T = windows.length / batch - 1;
    const l = tf.tidy(() => {
      const all = tf.tensor2d(windows, [batch, T + 1], "int32");
      const x = tf.slice(all, [0, 0], [batch, T]) as tf.Tensor2D;
      const y = tf.slice(all, [0, 1], [batch, T]) as tf.Tensor2D;
      return crossEntropy(this.model.apply(x), y);
    });
    const loss = (await l.data())[0];
    l.dispose();
    return { loss, tokens: countTargets(windows, batch) };
  }

  /** Frees the optimizer state (not the model) and closes the helpers. */
  dispose(): void {
    this.optimizer.dispose();
    for (const h of this.helpers) h.close();
  }
}
