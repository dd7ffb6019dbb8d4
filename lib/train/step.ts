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
function countTargets(windows: Int32Array, batch: number): number {
  const w = windows.length / batch;
  let n = 0;
  for (let b = 0; b < batch; b++) for (let t = 1; t < w; t++) if (windows[b * w + t] !== 0) n++;
  return n;
}

/** What one step reports. */
export interface StepResult {
  /** Mean cross-entropy (nats per target token) before the update. */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
}

/**
 * Holds a model and its AdamW state and runs steps on `[batch, seqLen]` windows.
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
  readonly optimizer: AdamW;
  readonly #names: Map<string, string>;

  constructor(readonly model: TfModel, readonly train: TrainConfig) {
    this.optimizer = new AdamW(model.vars, {
      beta1: train.beta1,
      beta2: train.beta2,
      eps: train.adamEps,
      weightDecay: train.weightDecay,
    });
    this.#names = new Map(Object.entries(model.vars).map(([k, v]) => [v.name, k]));
  }

  /**
   * Trains on `batch` windows packed in `windows` (each seqLen + 1 ids: inputs are the first seqLen, targets the
   * last seqLen) at learning rate `lr`. With `train.microBatch` < batch, gradients are accumulated over
   * micro-batches (same update up to rounding; bounds memory — tfjs-wasm has a 4 GB heap).
   */
  async step(windows: Int32Array, batch: number, lr: number): Promise<StepResult> {
    const w = windows.length / batch;
    const micro = Math.min(batch, this.train.microBatch || batch);
    const vars = Object.values(this.model.vars);
    const total = countTargets(windows, batch);
    const acc: Record<string, tf.Tensor> = {};
    const losses: [tf.Tensor, number][] = [];
    for (let r = 0; r < batch; r += micro) {
      const rows = Math.min(micro, batch - r);
      const chunk = windows.subarray(r * w, (r + rows) * w);
      // each chunk's mean loss weighted by its share of target tokens: the sum is the whole batch's mean
      const share = total ? countTargets(chunk, rows) / total : rows / batch;
      const { value, grads } = tf.tidy(() => {
        const all = tf.tensor2d(chunk, [rows, w], "int32");
        const x = tf.slice(all, [0, 0], [rows, w - 1]) as tf.Tensor2D;
        const y = tf.slice(all, [0, 1], [rows, w - 1]) as tf.Tensor2D;
        return tf.variableGrads(() => crossEntropy(this.model.apply(x), y), vars);
      });
      losses.push([value, share]);
      for (const [n, g] of Object.entries(grads)) {
        const k = this.#names.get(n)!;
        const scaled = share === 1 ? g : tf.tidy(() => tf.mul(g, share));
        if (scaled !== g) g.dispose();
        if (acc[k]) {
          const sum = tf.add(acc[k], scaled);
          tf.dispose([acc[k], scaled]);
          acc[k] = sum;
        } else acc[k] = scaled;
      }
    }
    // pairwise adds and a concat of [1]-tensors: tfjs-webgpu's AddN and scalar Pack return wrong values here
    const sq = tf.tidy(() =>
      Object.values(acc).map((g) => tf.sum(tf.square(g))).reduce((a, b) => tf.add(a, b))
    );
    // one read-back per step (async: tfjs-webgpu has no synchronous read in Deno)
    const packed = tf.tidy(() =>
      tf.concat([sq, ...losses.map(([v, w]) => tf.mul(v, w))].map((t) => tf.reshape(t, [1])))
    );
    const sums = await packed.data();
    packed.dispose();
    tf.dispose([sq, ...losses.map(([v]) => v)]);
    const gradNorm = Math.sqrt(sums[0]);
    let loss = 0;
    for (let i = 1; i < sums.length; i++) loss += sums[i];
    const scale = gradNorm > this.train.clip ? this.train.clip / (gradNorm + 1e-6) : 1;
    this.optimizer.apply(acc, lr, scale);
    tf.dispose(Object.values(acc));
    return { loss, gradNorm };
  }

  /** Mean loss and target-token count over windows (no update), for validation. */
  evaluate(windows: Int32Array, batch: number): { loss: number; tokens: number } {
    const T = windows.length / batch - 1;
    return tf.tidy(() => {
      const all = tf.tensor2d(windows, [batch, T + 1], "int32");
      const x = tf.slice(all, [0, 0], [batch, T]) as tf.Tensor2D;
      const y = tf.slice(all, [0, 1], [batch, T]) as tf.Tensor2D;
      return {
        loss: crossEntropy(this.model.apply(x), y).dataSync()[0],
        tokens: countTargets(windows, batch),
      };
    });
  }

  /** Frees the optimizer state (not the model). */
  dispose(): void {
    this.optimizer.dispose();
  }
}
