/**
 * The etude web server: a Hono app (a value) over the one generation entry, its bounded generation queue, parameter
 * validation and the model registry.
 *
 * @example
 * ```ts
 * import { GenerationQueue } from "./mod.ts";
 * const q = new GenerationQueue({ maxBatch: 16, maxWaiting: 64 });
 * ```
 *
 * @module
 */
export {
  type AppGenerateOptions,
  type AppGenerateResult,
  type AppOptions,
  createApp,
  type EtudeApp,
} from "./app.ts";
export {
  GenerationQueue,
  QUEUE_DEFAULTS,
  QueueFullError,
  type QueueOptions,
  type QueueStats,
  QueueTimeoutError,
  type RunOptions,
} from "./queue.ts";
export {
  type GenerateParams,
  PARAM_LIMITS,
  ParamError,
  type ParamLimit,
  parseGenerateParams,
} from "./params.ts";
export { listModels, type ModelInfo } from "./models.ts";
export type { SamplingDefaults } from "../infer/generation_config.ts";
