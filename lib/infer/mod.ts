/**
 * Inference: the WebGPU engine, its CPU references, the REMI grammar and the `generate` entry.
 *
 * @module
 */
export {
  generate,
  type GenerateOptions,
  GenerateParamError,
  type GenerateResult,
  type LoadedModel,
  loadModel,
} from "./generate.ts";
export { type DecodeOptions, Engine, type EngineOptions } from "./engine.ts";
export { ReferenceDecoder, referenceForward } from "./reference.ts";
export { philox4x32, sampleReference, type SamplerParams, uniformAt } from "./sampling.ts";
export {
  allowedMask,
  type GrammarErrors,
  grammarErrors,
  type GrammarTables,
  grammarTables,
  initialState,
  nextState,
} from "./grammar.ts";
export {
  type Checkpoint,
  CheckpointFormatError,
  type LlamaConfig,
  type ModelWeights,
  readCheckpoint,
} from "./model_loader.ts";
export { getGpu } from "./_gpu.ts";
