/**
 * Inference: the WebGPU engine, its CPU references, the REMI grammar and the `generate` entry.
 *
 * @module
 */
export {
  generate,
  type GenerateOptions,
  type GenerateResult,
  type LoadedModel,
  loadModel,
} from "./generate.ts";
export {
  allowedText,
  type BoolParam,
  checkGenerateParams,
  GENERATE_PARAMS,
  GenerateParamError,
  type GenerateParamInput,
  type GenerateParamValues,
  LENGTH_PARAMS,
  narrowParams,
  type NumberParam,
  type ParamName,
  type ParamNarrowing,
  type ParamSpec,
  type ParamTable,
  randomSeed,
} from "./params.ts";
export { type DecodeOptions, Engine, type EngineOptions } from "./engine.ts";
export type { KernelPath } from "./_kernels.ts";
export type { DecodeSampling } from "./_model.ts";
export { ReferenceDecoder, referenceForward } from "./reference.ts";
export { philox4x32, type SampleResult, sampleReference, type SamplerParams, uniformAt } from "./sampling.ts";
export {
  allowedMask,
  type GrammarErrors,
  grammarErrors,
  type GrammarState,
  type GrammarTables,
  grammarTables,
  initialState,
  nextState,
} from "./grammar.ts";
export {
  type EngineModel,
  engineModel,
  type LayerWeights,
  type ModelWeights,
  readEngineModel,
} from "./model_loader.ts";
export { type Checkpoint, CheckpointFormatError, readCheckpoint } from "../model/checkpoint.ts";
export { getGpu, type Gpu } from "./_gpu.ts";
