/**
 * One training step on the CPU with the semantics of `lib/train/step.ts`'s `Trainer.step`: windows of seqLen + 1
 * ids (inputs the first seqLen, targets the last), micro-batches weighted by their share of non-PAD targets,
 * global-norm clipping (`clip / (norm + 1e-6)` when the norm exceeds `clip`), then AdamW.
 *
 * @module
 */
import { CpuAdamW, type CpuAdamWOptions } from "./adamw.ts";
import type { CpuTransformer } from "./model.ts";
import { gradNorm } from "./loss.ts";

/** The recipe fields a step needs (a subset of lib/model's `TrainConfig`). */
export interface CpuTrainOptions {
  /** AdamW β₁. */
  beta1: number;
  /** AdamW β₂. */
  beta2: number;
  /** AdamW ε. */
  adamEps: number;
  /** Decoupled weight decay (matrices only). */
  weightDecay: number;
  /** Global gradient-norm clip. */
  clip: number;
  /** Rows per forward/backward (0 = the whole batch). */
  microBatch: number;
}

/**
 * Non-PAD targets (ids 1… of each window) in `batch` packed windows (as `lib/train/step.ts`'s `countTargets`).
 *
 * @example
 * ```ts
 * import { countTargets } from "./train.ts";
 * countTargets(new Int32Array([1, 5, 0, 1, 6, 7]), 2); // 3
 * ```
 */
export function countTargets(windows: Int32Array, batch: number): number {
  const w = windows.length / batch;
  let n = 0;
  for (let b = 0; b < batch; b++) for (let t = 1; t < w; t++) if (windows[b * w + t] !== 0) n++;
  return n;
}

/** What one step reports. */
export interface CpuStepResult {
  /** Mean cross-entropy (nats per target token) before the update. */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
}

/**
 * A model and its AdamW state; `step` trains on `[batch, seqLen + 1]` windows.
 *
 * @example
 * ```ts
 * import { CpuTransformer } from "./model.ts";
 * import { CpuTrainer } from "./train.ts";
 * const m = CpuTransformer.init({ vocabSize: 16, dim: 8, layers: 1, heads: 2, ffn: 16, maxPositions: 32, ropeTheta: 1e4, normEps: 1e-5 }, 1);
 * const tr = new CpuTrainer(m, { beta1: 0.9, beta2: 0.95, adamEps: 1e-8, weightDecay: 0.1, clip: 1, microBatch: 0 });
 * const windows = new Int32Array(2 * 9).map((_, i) => 4 + (i % 10));
 * const { loss } = tr.step(windows, 2, 1e-3);
 * ```
 */
export class CpuTrainer {
  /** AdamW over the model's flat parameters. */
  readonly optimizer: CpuAdamW;
  #x?: Int32Array;
  #y?: Int32Array;

  /** `model`: the weights to train in place; `train`: the optimizer and clipping settings. */
  constructor(readonly model: CpuTransformer, readonly train: CpuTrainOptions) {
    const opts: CpuAdamWOptions = {
      beta1: train.beta1,
      beta2: train.beta2,
      eps: train.adamEps,
      weightDecay: train.weightDecay,
    };
    this.optimizer = new CpuAdamW(model.layout, opts);
  }

  #split(chunk: Int32Array, n: number, w: number) {
    const T = w - 1;
    if (!this.#x || this.#x.length !== n * T) {
      this.#x = new Int32Array(n * T);
      this.#y = new Int32Array(n * T);
    }
    for (let r = 0; r < n; r++) {
      this.#x.set(chunk.subarray(r * w, r * w + T), r * T);
      this.#y!.set(chunk.subarray(r * w + 1, r * w + w), r * T);
    }
    return { x: this.#x, y: this.#y! };
  }

  /** Gradients of the batch's mean loss into `model.grads` (zeroed first); returns the loss. */
  gradients(windows: Int32Array, batch: number): number {
    const w = windows.length / batch, T = w - 1;
    const micro = Math.min(batch, this.train.microBatch || batch);
    const total = countTargets(windows, batch);
    this.model.zeroGrad();
    let loss = 0;
    for (let r = 0; r < batch; r += micro) {
      const n = Math.min(micro, batch - r);
      const chunk = windows.subarray(r * w, (r + n) * w);
      const share = total ? countTargets(chunk, n) / total : n / batch;
      const { x, y } = this.#split(chunk, n, w);
      loss += share * this.model.loss(x, y, n, T);
      this.model.backward(share);
    }
    return loss;
  }

  /** Trains on `batch` windows packed in `windows` at learning rate `lr`. */
  step(windows: Int32Array, batch: number, lr: number): CpuStepResult {
    const loss = this.gradients(windows, batch);
    const norm = gradNorm(this.model.grads);
    const scale = norm > this.train.clip ? this.train.clip / (norm + 1e-6) : 1;
    this.optimizer.apply(this.model.params, this.model.grads, lr, scale);
    return { loss, gradNorm: norm };
  }

  /** Mean loss and target-token count over windows (no update), for validation. */
  evaluate(windows: Int32Array, batch: number): { loss: number; tokens: number } {
    const w = windows.length / batch;
    const { x, y } = this.#split(windows, batch, w);
    return { loss: this.model.loss(x, y, batch, w - 1), tokens: countTargets(windows, batch) };
  }
}
