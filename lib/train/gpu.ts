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
import { type GpuCounters, GpuTrainer } from "../gpu/train.ts";
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
  /**
   * Present on trainers whose steps do not read their numbers back (`--backend gpu`): `step` then returns NaNs and
   * this gives the (loss, gradNorm) of every updating step since the last call, in step order (at most one readback).
   * The loop calls it when it logs.
   */
  flush?(): Promise<StepResult[]>;
  /** Dispatch and readback counters (`--backend gpu`), for tests. */
  counters?(): GpuCounters;
}

/**
 * A {@link LoopTrainer} on the GPU for a Transformer `model` (its current weights are copied to the GPU) and recipe
 * `train`. An updating step does not read its loss and gradient norm back: they land in a ring on the GPU read every
 * `readEvery` steps (inside the step that fills it) or by `flush()`, which the loop calls when it logs.
 *
 * @example
 * ```ts ignore
 * import { applyOverrides, getPreset } from "../model/config.ts";
 * import { TfModel } from "../model/model.ts";
 * import { createGpuLoopTrainer } from "./gpu.ts";
 * const p = applyOverrides(getPreset("v8"), { layers: 1, dim: 16, heads: 2, ffn: 32, vocab: 20, seqLen: 8 });
 * const model = TfModel.init(p.model, 1);
 * const trainer = await createGpuLoopTrainer(model, p.train);
 * await trainer.step(new Int32Array(2 * 9).map((_, i) => 4 + (i % 10)), 2, 1e-3); // loss: NaN (not read back)
 * const [{ loss }] = await trainer.flush!(); // one readback for the steps since the last flush
 * ```
 */
export async function createGpuLoopTrainer(
  model: TfModel,
  train: TrainConfig,
  opts: { readEvery?: number } = {},
): Promise<LoopTrainer> {
  if (model.config.arch !== "transformer") {
    throw new Error(`--backend gpu trains Transformers only (this model is ${model.config.arch})`);
  }
  const config = toCpuConfig(model.config);
  const weights = await model.weights(), layout = paramLayout(config);
  const params = new Float32Array(layout.reduce((n, p) => n + p.size, 0));
  for (const p of layout) params.set(weights[p.name], p.offset);
  const gpu = await GpuTrainer.create(config, params, train, { readEvery: opts.readEvery ?? 1 });
  // checkpoints (the loop's saves, model.save) read the weights through model.weights(): the GPU's from now on
  model.weights = () => gpu.weights();
  // numbers of updating steps read back but not yet handed to the loop
  const ready: StepResult[] = [];
  const take = () => ready.push(...gpu.history.splice(0));
  return {
    async step(windows, batch, lr, opts = {}) {
      if (opts.update === false) {
        // a measurement (the estimate's warm-up): read now, and keep it out of the updating steps' numbers
        const r = await gpu.step(windows, batch, lr, { update: false, read: true });
        gpu.history.pop();
        take();
        return { loss: r.loss, gradNorm: r.gradNorm };
      }
      const r = await gpu.step(windows, batch, lr, { update: true, read: false });
      if (r.read) take();
      return { loss: NaN, gradNorm: NaN };
    },
    async flush() {
      await gpu.flush();
      take();
      return ready.splice(0);
    },
    counters: () => gpu.counters,
    evaluate: (windows, batch) => gpu.evaluate(windows, batch),
    optimizer: {
      state: () => gpu.optimizerState(),
      setState: (s) => gpu.setOptimizerState(s),
    },
    dispose: () => gpu.destroy(),
  };
}
