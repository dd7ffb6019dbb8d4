/**
 * `--backend gpu`: the training loop's steps on etude's own WGSL kernels (lib/gpu's `GpuTrainer`: one command buffer
 * per step, every dispatch prebuilt) instead of tfjs. It differs from `--backend webgpu` (tfjs-webgpu: one dispatch,
 * bind group and uniform buffer per small tfjs op, thousands per step) in how a step runs, not in what it computes:
 * same initialisation, batches, loss, clipping, AdamW, schedule, checkpoints (same files and format, so a run may be
 * resumed on either backend) and logs.
 *
 * The loop keeps its tfjs `TfModel` (on tfjs-cpu: it only holds the initial weights and writes checkpoints); from
 * the moment the GPU trainer exists, that model's `weights()` — what checkpoints save — reads the GPU's weights.
 *
 * @module
 */
import type { OptimizerState } from "../model/checkpoint.ts";
import type { TrainConfig } from "../model/config.ts";
import type { TfModel } from "../model/model.ts";
import { paramLayout, toCpuConfig } from "../cpu/layout.ts";
import { GpuTrainer } from "../gpu/train.ts";
import type { StepResult } from "./step.ts";

/**
 * What the training loop uses of a trainer: lib/train's tfjs `Trainer` has this shape, and so has
 * {@link createGpuLoopTrainer}'s.
 *
 * @example
 * ```ts
 * import { applyOverrides, getPreset } from "../model/config.ts";
 * import { TfModel } from "../model/model.ts";
 * import type { LoopTrainer } from "./gpu.ts";
 * import { Trainer } from "./step.ts";
 * const p = applyOverrides(getPreset("v8"), { layers: 1, dim: 16, heads: 2, ffn: 32, vocab: 20, seqLen: 8 });
 * const trainer: LoopTrainer = new Trainer(TfModel.init(p.model, 1), p.train);
 * ```
 */
export interface LoopTrainer {
  /** One optimizer step on `batch` windows at learning rate `lr` (`update: false` only measures). */
  step(windows: Int32Array, batch: number, lr: number, opts?: { update?: boolean }): Promise<StepResult>;
  /** Mean loss and target-token count over windows (no update). */
  evaluate(windows: Int32Array, batch: number): Promise<{ loss: number; tokens: number }>;
  /** The AdamW state, for checkpoints and resume. */
  readonly optimizer: { state(): Promise<OptimizerState>; setState(s: OptimizerState): void };
  /** Frees the trainer (not the model). */
  dispose(): void;
}

/**
 * A {@link LoopTrainer} on the GPU for a Transformer `model` (its current weights are copied to the GPU) and recipe
 * `train`. Every step reads its loss and gradient norm back (the loop logs each step).
 *
 * @example
 * ```ts ignore
 * import { applyOverrides, getPreset } from "../model/config.ts";
 * import { TfModel } from "../model/model.ts";
 * import { createGpuLoopTrainer } from "./gpu.ts";
 * const p = applyOverrides(getPreset("v8"), { layers: 1, dim: 16, heads: 2, ffn: 32, vocab: 20, seqLen: 8 });
 * const model = TfModel.init(p.model, 1);
 * const trainer = await createGpuLoopTrainer(model, p.train);
 * const { loss } = await trainer.step(new Int32Array(2 * 9).map((_, i) => 4 + (i % 10)), 2, 1e-3);
 * ```
 */
export async function createGpuLoopTrainer(model: TfModel, train: TrainConfig): Promise<LoopTrainer> {
  if (model.config.arch !== "transformer") {
    throw new Error(`--backend gpu trains Transformers only (this model is ${model.config.arch})`);
  }
  const config = toCpuConfig(model.config);
  const weights = await model.weights(), layout = paramLayout(config);
  const params = new Float32Array(layout.reduce((n, p) => n + p.size, 0));
  for (const p of layout) params.set(weights[p.name], p.offset);
  const gpu = await GpuTrainer.create(config, params, train);
  // checkpoints (the loop's saves, model.save) read the weights through model.weights(): the GPU's from now on
  model.weights = () => gpu.weights();
  return {
    async step(windows, batch, lr, opts = {}) {
      const r = await gpu.step(windows, batch, lr, { update: opts.update ?? true, read: true });
      return { loss: r.loss, gradNorm: r.gradNorm };
    },
    evaluate: (windows, batch) => gpu.evaluate(windows, batch),
    optimizer: {
      state: () => gpu.optimizerState(),
      setState: (s) => gpu.setOptimizerState(s),
    },
    dispose: () => gpu.destroy(),
  };
}
