/**
 * Models: presets and configs (tfjs-free), checkpoints (tfjs-free), and the tfjs Transformer/LSTM.
 *
 * `config.ts` and `checkpoint.ts` import no tfjs, so the WebGPU engine can import them directly without loading
 * a tfjs backend; this module re-exports everything, tfjs included.
 *
 * @example
 * ```ts
 * import { countParams, getPreset } from "./mod.ts";
 * countParams(getPreset("v8").model); // 34087424
 * ```
 *
 * @module
 */
export * from "./config.ts";
export * from "./checkpoint.ts";
export { type BackendChoice, hasRealGpu, selectBackend } from "./backend.ts";
export { crossEntropy, forwardLogits, forwardLogitsAsync, TfModel } from "./model.ts";
export { applyRope, initTransformerWeights, rmsNorm, ropeTables, transformerForward } from "./transformer.ts";
export { initLstmWeights, lstmForward } from "./lstm.ts";
export type { SafeDtype, SafeTensor } from "../util/safetensors.ts";
