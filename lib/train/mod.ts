/**
 * Training: the train command (`runTraining`), the loop (`trainModel`, `resumeConfig`), one step (`Trainer`),
 * AdamW, the LR schedule, the loss-curve SVG and a seeded RNG.
 *
 * @example
 * ```ts
 * import { learningRate } from "./mod.ts";
 * learningRate(0, { lr: 3e-4, warmup: 500, total: 10000, minLrFrac: 0.1 });
 * ```
 *
 * @module
 */
export { AdamW, type AdamWOptions } from "./adamw.ts";
export {
  resumeConfig,
  type TrainData,
  trainModel,
  type TrainRunOptions,
  type TrainRunResult,
  validationLoss,
} from "./loop.ts";
export { runTraining, type TrainCommandOptions } from "./run.ts";
export type { CommandOutput } from "../util/output.ts";
export { lossCurveSvg, type LossPoint } from "./loss_svg.ts";
export { Rng } from "../util/rng.ts";
export { learningRate } from "./schedule.ts";
export { startGradientWorkers, WorkerGradientHelper } from "./parallel.ts";
export { accumulateGradients, countTargets, type GradientHelper, type StepResult, Trainer } from "./step.ts";
export { createGpuLoopTrainer, type LoopTrainer } from "./gpu.ts";
export {
  chooseTrainBackend,
  TFJS_BACKENDS,
  TRAIN_BACKENDS,
  type TrainBackendChoice,
  type TrainDevice,
} from "./backend.ts";
