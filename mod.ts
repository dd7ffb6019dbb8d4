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
  readMidi,
  readMidiDetailed,
  readMidiFile,
  type ReadMidiOptions,
  writeMidi,
} from "./lib/midi/mod.ts";

// Tokenizers
export * from "./lib/tokenizers/mod.ts";

// Data
export {
  batchesPerEpoch,
  type BatchOptions,
  fetchMaestro,
  inputsAndTargets,
  type MaestroRecord,
  openShards,
  prepareDataset,
  type PreparedDataset,
  type PrepareOptions,
  readMaestroMetadata,
  type ShardMeta,
  type WindowBatch,
  windowBatches,
  windowIndex,
} from "./lib/data/mod.ts";

// Models and training
export {
  applyOverrides,
  countParams,
  getPreset,
  loadCheckpoint,
  PRESETS,
  saveCheckpoint,
} from "./lib/model/mod.ts";
export { forwardLogits, selectBackend, TfModel } from "./lib/model/mod.ts";
export { trainModel } from "./lib/train/mod.ts";

// Inference
export {
  Engine,
  generate,
  type GenerateOptions,
  GenerateParamError,
  type GenerateResult,
  type GrammarErrors,
  grammarErrors,
  type LoadedModel,
  loadModel,
} from "./lib/infer/mod.ts";

// Faces: audio, server, CLI
export { encodeWav, type Pcm, renderPcm, renderWav, type SynthOptions } from "./lib/audio/mod.ts";
export {
  type AppOptions,
  createApp,
  type EtudeApp,
  GenerationQueue,
  listModels,
  type ModelInfo,
  PARAM_LIMITS,
  ParamError,
  parseGenerateParams,
  QueueFullError,
  QueueTimeoutError,
} from "./lib/server/mod.ts";
export { generateCli, type GenerateCliResult } from "./lib/cli/generate.ts";

// Evaluation
export * from "./lib/eval/mod.ts";
