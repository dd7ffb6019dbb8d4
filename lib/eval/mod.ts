/**
 * Evaluation: MusPy-style metrics on a `Score`, NLL per token / note / second with a bigram floor, the eval SVG,
 * `evaluate` (what `deno task eval` runs), the MIDI-folder NLL and continuation test, `writeEvalReport` (eval.json
 * and eval.svg), MAESTRO splits and crops (`--split`, `--crop`), the side-by-side comparison of models (`--compare`),
 * the conditioning check (`--conditioning`) and the infill check (`--infill`).
 *
 * @example
 * ```ts
 * import { computeMetrics } from "./mod.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * for (const p of [60, 64, 67]) s.notes.push({ pitch: p, velocity: 80, start: 0, duration: 1920 });
 * computeMetrics(s).polyphony; // 3
 * ```
 *
 * @module
 */
export {
  barStarts,
  computeMetrics,
  emptyBeatRate,
  entropyBits,
  grooveConsistency,
  meanMetrics,
  METRIC_NAMES,
  type MetricOptions,
  type Metrics,
  nPitchClassesUsed,
  nPitchesUsed,
  pitchClassCounts,
  pitchClassDistribution,
  pitchClassEntropy,
  pitchRange,
  polyphony,
  polyphonyRate,
  relativeDifference,
  scaleConsistency,
} from "./metrics.ts";
export {
  type BigramModel,
  bigramNll,
  type BigramOptions,
  type LogitsFn,
  modelNll,
  type ModelNllOptions,
  type NllReport,
  nllReport,
  type NllTotals,
  type NllWindows,
  tokenNll,
  trainBigram,
} from "./nll.ts";
export { nllWindows } from "./windows.ts";
export { evalSvg, type EvalSvgInput } from "./svg.ts";
export { evalReportSvg, writeEvalReport } from "./report.ts";
export {
  barLines,
  type ContinuationOptions,
  type ContinuationPiece,
  type ContinuationReport,
  continuationTest,
  type FolderNll,
  folderNll,
  type MidiFolder,
  type NllModel,
  readMidiFolder,
  type SkippedFile,
  sliceBars,
} from "./midi_folder.ts";
export {
  type EvalBackend,
  type EvalOptions,
  type EvalReport,
  evaluate,
  formatEvalReport,
  type Skipped,
  type SplitNll,
  type SyntaxErrorRates,
} from "./evaluate.ts";
export { type Logits, makeLogits, trainedContext } from "./logits.ts";
export { cropFolder, cropSeconds, maestroCsv, readMidiSplit, splitFiles } from "./split.ts";
export { sampleIds, type SampleIdsOptions } from "./sample_ids.ts";
export {
  type ComparedModel,
  comparedModel,
  compareModels,
  compareReports,
  type Comparison,
  formatComparison,
  WITHIN,
} from "./compare.ts";
export {
  CHECK_KEYS,
  type ConditionAsk,
  type ConditionGroup,
  type ConditionGroupReport,
  conditioningCheck,
  type ConditioningCheckOptions,
  type ConditioningReport,
  conditionPrompt,
  formatConditioningReport,
  scoreConditioning,
} from "./conditioning.ts";
export { type KeyReference, referenceKeyAgreement } from "./key_reference.ts";
export {
  formatInfillReport,
  infillCheck,
  type InfillCheckOptions,
  type InfillPiece,
  type InfillReport,
  type MiddleScores,
} from "./infill_eval.ts";
