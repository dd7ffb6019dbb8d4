/**
 * `--device cpu` (backend `blas`): the training loop's steps on lib/cpu — the Llama block as named forward/backward
 * ops with every matrix product in the system BLAS — instead of tfjs. It differs from the tfjs backends in how a step
 * runs, not in what it computes: same initialisation (the loop's `TfModel` draws it), batches, loss, micro-batch
 * accumulation, clipping, AdamW, schedule, checkpoints (same files, HF names, same optimizer state format, so a run
 * may be resumed on either backend) and logs.
 *
 * The loop keeps its tfjs `TfModel` (on tfjs-cpu: it only holds the initial weights and writes checkpoints); from the
 * moment the CPU trainer exists, that model's `weights()` — what checkpoints save — reads the CPU model's weights.
 *
 * Cores go to BLAS threads (`--threads`), not to gradient workers: each worker would need its own copy of the
 * weights, gradients and activations and a sum per step, while the matrix products — most of a step — already use
 * every BLAS thread.
 *
 * @module
 */
import type { TrainConfig } from "../model/config.ts";
import type { TfModel } from "../model/model.ts";
import type { Blas } from "../cpu/blas.ts";
import { gradNorm } from "../cpu/loss.ts";
import { toCpuConfig } from "../cpu/layout.ts";
import { CpuTransformer } from "../cpu/model.ts";
import { CpuTrainer } from "../cpu/train.ts";
import type { LoopTrainer } from "./gpu.ts";

/**
 * A {@link LoopTrainer} on the CPU backend for a Transformer `model` (its current weights are copied into a
 * `CpuTransformer`) and recipe `train`, with matrix products in `blas`.
 *
 * @example
 * ```ts
 * import { applyOverrides, getPreset } from "../model/config.ts";
 * import { TfModel } from "../model/model.ts";
 * import { getBlas } from "../cpu/blas.ts";
 * import { createCpuLoopTrainer } from "./cpu.ts";
 * const p = applyOverrides(getPreset("v8"), { layers: 1, dim: 16, heads: 2, ffn: 32, vocab: 20, seqLen: 8 });
 * const model = TfModel.init(p.model, 1);
 * const trainer = await createCpuLoopTrainer(model, p.train, getBlas());
 * const { loss } = await trainer.step(new Int32Array(2 * 9).map((_, i) => 4 + (i % 10)), 2, 1e-3);
 * ```
 */
export async function createCpuLoopTrainer(
  model: TfModel,
  train: TrainConfig,
  blas: Blas,
): Promise<LoopTrainer & { cpu: CpuTrainer }> {
  if (model.config.arch !== "transformer") {
    throw new Error(`the CPU backend trains Transformers only (this model is ${model.config.arch})`);
  }
  const cpuModel = CpuTransformer.fromWeights(toCpuConfig(model.config), await model.weights(), blas);
  const cpu = new CpuTrainer(cpuModel, train);
  // checkpoints (the loop's saves, model.save) read the weights through model.weights(): the CPU model's from now on
  model.weights = () => Promise.resolve(cpuModel.weights());
  return {
    cpu,
    step(windows, batch, lr, opts = {}) {
      if (opts.update ?? true) return Promise.resolve(cpu.step(windows, batch, lr));
      const loss = cpu.gradients(windows, batch);
      return Promise.resolve({ loss, gradNorm: gradNorm(cpuModel.grads) });
    },
    evaluate: (windows, batch) => Promise.resolve(cpu.evaluate(windows, batch)),
    optimizer: {
      state: () => Promise.resolve(cpu.optimizer.state()),
      setState: (s) => cpu.optimizer.setState(s),
    },
    dispose: () => cpuModel.release(),
  };
}
