/**
 * Inference: the WebGPU engine, its CPU references, the REMI grammar and the `generate` entry.
 *
 * @module
 */
export { CONDITION_TEMPO_BPM, type GenerateConditions, modelSupports } from "./conditions.ts";
export {
  type Device,
  type LoadedModel,
  loadModel,
  type LoadModelOptions,
  resolveDevice,
  useModel,
} from "./load.ts";
export { generate, type GenerateOptions, type GenerateResult } from "./generate.ts";
export {
  conditionGuidance,
  type Guidance,
  guidanceMix,
  guidancePlan,
  type GuidanceStep,
  type GuidanceTwin,
  guidedRows,
} from "./guidance.ts";
export { type RowSource, type RowStepper } from "./_cpu_loop.ts";
export { type GenerationPlan, prepareGeneration } from "./plan.ts";
export {
  GENERATION_CONFIG_FILE,
  parseGenerationConfig,
  readGenerationConfig,
  resolveSampling,
  SAMPLING_NAMES,
  type SamplingDefaults,
  type SamplingName,
  withModelSampling,
} from "./generation_config.ts";
export { type BatcherOptions, type BatcherStats, GenerationBatcher } from "./batch.ts";
export {
  barStarts,
  buildInfillPrompt,
  infillPositions,
  type InfillPromptOptions,
  type InfillRange,
  middleComplete,
  parseInfillRange,
  spliceInfill,
  spliceScore,
  splitAtBars,
} from "./infill.ts";
export { type CpuDecodeRow, CpuRowDecoder, type RowDecoder } from "./cpu_rows.ts";
export { allowedText, type NumberRange } from "./param_parse.ts";
export {
  type BoolParam,
  CONTROL_PARAMS,
  LENGTH_PARAMS,
  type NumberParam,
  type ParamName,
  type ParamSpec,
  type ParamTable,
  type RangeParam,
  type TextParam,
} from "./param_spec.ts";
export {
  checkGenerateParams,
  controlError,
  type GenerateParamInput,
  type GenerateParamValues,
} from "./param_check.ts";
export { GENERATE_PARAMS, narrowParams, type ParamNarrowing, randomSeed } from "./params.ts";
export { GenerateParamError } from "./param_error.ts";
export {
  type DecodeOptions,
  type DecodeRow,
  type DecodeRowsOptions,
  type DecodeRowsStats,
  Engine,
  type EngineOptions,
  type RowEnd,
  type RowSampling,
} from "./engine.ts";
export type { KernelPath } from "./_kernels.ts";
export type { DecodeSampling } from "./_model.ts";
export { ReferenceDecoder, referenceForward } from "./reference.ts";
export { philox4x32, sampleReference, type SampleResult, type SamplerParams, uniformAt } from "./sampling.ts";
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
export {
  fileSha256,
  makeProvenance,
  modelSha256,
  nextSeed,
  parseProvenance,
  type Provenance,
  PROVENANCE_FORMAT,
  PROVENANCE_PREFIX,
  ProvenanceError,
  type ProvenanceModel,
  type ProvenanceParams,
  type ProvenancePrompt,
  provenanceText,
  readProvenance,
  replayParams,
  type SidecarCopy,
  sidecarPath,
  sidecarText,
} from "./provenance.ts";
export {
  checkControls,
  CONTROL_RANGES,
  controlBias,
  type Controls,
  hasControls,
  KEY_TONIC_DEFAULT,
} from "./controls.ts";
export {
  type ConstraintSetup,
  DecodeConstraint,
  decodeConstraints,
  hasDynamicControls,
} from "./constraints.ts";
