/**
 * etude: learn to compose piano music as symbolic MIDI, in Deno.
 *
 * The public API, re-exports only. Each area also has its own `lib/<area>/mod.ts` with the lower-level pieces.
 *
 * @example
 * ```ts ignore
 * import { generate, loadModel, writeMidi } from "./mod.ts";
 * const model = await loadModel("models/default");
 * const { scores } = await generate({ model, bars: 8, seed: 1 });
 * await Deno.writeFile("out.mid", writeMidi(scores[0]));
 * ```
 *
 * @module
 */

// Scores and MIDI
export {
  emptyScore,
  type Note,
  type Score,
  scoreEndTick,
  sortNotes,
  type TempoChange,
  ticksToSeconds,
  type TimeSignature,
} from "./lib/score.ts";
export {
  MidiError,
  type MidiReport,
  type ReadLimits,
  readMidi,
  readMidiDetailed,
  readMidiFile,
  type ReadMidiOptions,
  writeMidi,
  type WriteMidiOptions,
} from "./lib/midi/mod.ts";

// Tokenizers
export * from "./lib/tokenizers/mod.ts";

// Data
export {
  batchesPerEpoch,
  type BatchOptions,
  buildCopyIndex,
  type BuildCopyIndexOptions,
  CopyIndex,
  type CopyIndexHeader,
  copyIndexInto,
  type CopyMatch,
  type CopyPiece,
  fetchMaestro,
  type FetchMaestroOptions,
  type FetchMaestroResult,
  inputsAndTargets,
  type MaestroRecord,
  openShards,
  prepareDataset,
  type PreparedDataset,
  type PrepareOptions,
  type PrepareResult,
  readCopyIndex,
  readMaestroMetadata,
  type ShardDtype,
  type ShardItem,
  type ShardMeta,
  type Split,
  type SplitMeta,
  type TokenArray,
  type WindowBatch,
  windowBatches,
  type WindowIndex,
  windowIndex,
  type WindowOptions,
} from "./lib/data/mod.ts";

// Models and training
export {
  applyOverrides,
  type Checkpoint,
  type CheckpointInfo,
  countParams,
  getPreset,
  type LstmConfig,
  type ModelConfig,
  type ModelTokenizerKind,
  type OptimizerState,
  type Overrides,
  type Preset,
  PRESETS,
  readCheckpoint,
  saveCheckpoint,
  type SaveCheckpointInput,
  type TrainConfig,
  type TrainState,
  type TransformerConfig,
} from "./lib/model/mod.ts";
export { type BackendChoice, forwardLogits, selectBackend, TfModel } from "./lib/model/mod.ts";
export {
  type LoopTrainer,
  type LossPoint,
  type StepResult,
  type TrainData,
  trainModel,
  type TrainRunOptions,
  type TrainRunResult,
} from "./lib/train/mod.ts";

// Inference
export {
  type BatcherOptions,
  type BatcherStats,
  type BoolParam,
  checkGenerateParams,
  CONDITION_TEMPO_BPM,
  type DecodeOptions,
  type DecodeRow,
  type DecodeRowsOptions,
  type DecodeRowsStats,
  type DecodeSampling,
  type Device,
  Engine,
  generate,
  GENERATE_PARAMS,
  type GenerateConditions,
  type GenerateOptions,
  GenerateParamError,
  type GenerateParamInput,
  type GenerateParamValues,
  type GenerateResult,
  GenerationBatcher,
  type GrammarErrors,
  grammarErrors,
  type GrammarState,
  type GrammarTables,
  type InfillRange,
  type KernelPath,
  type LoadedModel,
  loadModel,
  type LoadModelOptions,
  modelSupports,
  narrowParams,
  type NumberParam,
  type ParamName,
  type ParamNarrowing,
  type ParamSpec,
  type ParamTable,
  type RangeParam,
  readGenerationConfig,
  resolveDevice,
  type RowEnd,
  type RowSampling,
  type SamplingDefaults,
  type TextParam,
} from "./lib/infer/mod.ts";
export {
  makeProvenance,
  modelSha256,
  nextSeed,
  parseProvenance,
  type Provenance,
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
} from "./lib/infer/mod.ts";
export { ETUDE_VERSION } from "./lib/util/version.ts";

// Faces: audio, server, CLI
export { encodeWav, type Pcm, renderPcm, renderWav, type SynthOptions } from "./lib/audio/mod.ts";
export {
  type AppGenerateOptions,
  type AppGenerateResult,
  type AppOptions,
  createApp,
  type EtudeApp,
  type GenerateParams,
  GenerationQueue,
  listModels,
  type ModelInfo,
  PARAM_LIMITS,
  ParamError,
  type ParamLimit,
  parseGenerateParams,
  QUEUE_DEFAULTS,
  QueueFullError,
  type QueueOptions,
  type QueueStats,
  QueueTimeoutError,
  type RunOptions,
} from "./lib/server/mod.ts";
export { generateCli, type GenerateCliHost, type GenerateCliResult } from "./lib/cli/generate.ts";

// Evaluation
export * from "./lib/eval/mod.ts";

// Musicians' controls: a static per-token bias applied by both samplers (key, range, note length, density, …)
export { controlBias, type Controls } from "./lib/infer/mod.ts";

// The CPU backend (BLAS through FFI): decoding and training without a GPU
export {
  type Blas,
  type BlasResult,
  CpuAdamW,
  type CpuAdamWOptions,
  CpuDecoder,
  type CpuDecoderOptions,
  type CpuModelConfig,
  type CpuStepResult,
  CpuTrainer,
  type CpuTrainOptions,
  CpuTransformer,
  type DecodeProfile,
  type LayerViews,
  loadBlas,
  type ModelViews,
  type ParamInfo,
  type RopeTables,
  type Trans,
  type WeightFormat,
} from "./lib/cpu/mod.ts";

// etude's own WGSL training backend (deno task train --backend gpu)
export { type GpuCounters } from "./lib/gpu/mod.ts";
