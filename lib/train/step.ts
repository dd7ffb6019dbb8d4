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
 * const { loss } = trainer.step(ids, 2, 1e-3);
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
   * last seqLen) at learning rate `lr`.
   */
  step(windows: Int32Array, batch: number, lr: number): StepResult {
    const T = windows.length / batch - 1;
    const vars = Object.values(this.model.vars);
    const { value, grads } = tf.tidy(() => {
      const all = tf.tensor2d(windows, [batch, T + 1], "int32");
      const x = tf.slice(all, [0, 0], [batch, T]) as tf.Tensor2D;
      const y = tf.slice(all, [0, 1], [batch, T]) as tf.Tensor2D;
      return tf.variableGrads(() => crossEntropy(this.model.apply(x), y), vars);
    });
    const byName: Record<string, tf.Tensor> = {};
    for (const [n, g] of Object.entries(grads)) byName[this.#names.get(n)!] = g;
    const sq = tf.tidy(() => tf.addN(Object.values(byName).map((g) => tf.sum(tf.square(g)))));
    const [loss, normSq] = [value.dataSync()[0], sq.dataSync()[0]];
    const gradNorm = Math.sqrt(normSq);
    const scale = gradNorm > this.train.clip ? this.train.clip / (gradNorm + 1e-6) : 1;
    this.optimizer.apply(byName, lr, scale);
    tf.dispose([value, sq, ...Object.values(grads)]);
    return { loss, gradNorm };
  }

  /** Mean loss and target-token count over windows (no update), for validation. */
  evaluate(windows: Int32Array, batch: number): { loss: number; tokens: number } {
    const T = windows.length / batch - 1;
    return tf.tidy(() => {
      const all = tf.tensor2d(windows, [batch, T + 1], "int32");
      const x = tf.slice(all, [0, 0], [batch, T]) as tf.Tensor2D;
      const y = tf.slice(all, [0, 1], [batch, T]) as tf.Tensor2D;
      let tokens = 0;
      const yv = windows;
      for (let b = 0; b < batch; b++) for (let t = 1; t <= T; t++) if (yv[b * (T + 1) + t] !== 0) tokens++;
      return { loss: crossEntropy(this.model.apply(x), y).dataSync()[0], tokens };
    });
  }

  /** Frees the optimizer state (not the model). */
  dispose(): void {
    this.optimizer.dispose();
  }
}
