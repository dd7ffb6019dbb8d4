/**
 * Data: MAESTRO download/verify/extract and metadata, dataset preparation (split → augment → tokenise → shards, from
 * one or several sources), shard files, sliding-window batches for training, conditioning tokens and
 * fill-in-the-middle windows (with the Krumhansl–Schmuckler key estimate of `lib/score/key.ts` they use), and the
 * copy index of the training split (longest run a generation shares with it).
 *
 * @example
 * ```ts ignore
 * import { openShards, windowBatches } from "./mod.ts";
 * const ds = await openShards("data/prepared/maestro-v3.0.0-remi-bpe-1024");
 * for (const b of windowBatches(ds.splits.train, { seqLen: 256, batchSize: 8, seed: 0, epoch: 0 })) {
 *   // b.tokens: Int32Array [b.rows, 257]
 * }
 * ```
 *
 * @module
 */
export {
  DownloadError,
  extractZip,
  FETCH_MARKER,
  FetchError,
  fetchMaestro,
  type FetchMaestroOptions,
  type FetchMaestroResult,
  findMaestroMetadata,
  MAESTRO_DIR,
  MAESTRO_SHA256,
  MAESTRO_SIZE,
  MAESTRO_URL,
  type MaestroRecord,
  parseMaestroCsv,
  parseMaestroJson,
  readMaestroMetadata,
  type Split,
  SPLITS,
} from "./maestro.ts";
export {
  chooseShifts,
  prepareDataset,
  type PrepareOptions,
  type PrepareResult,
  tokenizerPitchRange,
} from "./dataset.ts";
export {
  BOS_ID,
  decodeShard,
  dtypeFor,
  encodeShard,
  EOS_ID,
  MASK_ID,
  openShards,
  PAD_ID,
  type PreparedDataset,
  type ShardDtype,
  type ShardItem,
  type ShardMeta,
  type SplitMeta,
  splitPieces,
  type TokenArray,
} from "./shards.ts";
export {
  buildCopyIndex,
  type BuildCopyIndexOptions,
  COPY_INDEX_BIN,
  COPY_INDEX_JSON,
  COPY_SAMPLE_RATE,
  CopyIndex,
  type CopyIndexHeader,
  copyIndexInto,
  copyIndexOfShards,
  type CopyMatch,
  type CopyPiece,
  readCopyIndex,
  suffixArray,
  writeCopyIndex,
} from "./copy_index.ts";
export {
  CATEGORIES,
  CLASSES,
  classOf,
  conditionIds,
  CONDITIONING_TOKENS,
  type ConditioningIds,
  conditioningIds,
  type ConditioningMeta,
  type ConditionRequest,
  conditionTokens,
  dropConditions,
  FIM_TOKENS,
  keyToken,
  type PieceFeatures,
  pieceFeatures,
  planConditions,
  type Style,
  STYLES,
  TEMPO_CLASSES,
  tertiles,
} from "./conditioning.ts";
export {
  barStartTable,
  DEFAULT_WINDOW_TRANSFORM,
  type FimIds,
  fimWindow,
  fromPsm,
  toPsm,
  type WindowTransform,
  windowTransform,
  type WindowTransformOptions,
} from "./fim.ts";
export { leadLength, withLead } from "./lead.ts";
export { idsKey, idsPitchProfile, type KeyProfileTable, keyProfileTable, relabelKey } from "./local_key.ts";
export { type DatasetListing, listDatasetSources, type StyledSource } from "./sources.ts";
export {
  estimateKey,
  type Key,
  type KeyEstimate,
  keyFromIndex,
  keyIndex,
  keyName,
  KK_MAJOR,
  KK_MINOR,
  parseKey,
  pitchClassProfile,
} from "../score/key.ts";
export {
  batchesPerEpoch,
  type BatchOptions,
  inputsAndTargets,
  type WindowBatch,
  windowBatches,
  type WindowIndex,
  windowIndex,
  type WindowOptions,
} from "./windows.ts";
