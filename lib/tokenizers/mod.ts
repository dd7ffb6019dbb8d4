/**
 * Tokenizers: pitch strings (V2–V5), REMI (V6) and REMI+BPE (V7–V8), all behind one `Tokenizer` interface, with
 * `tokenizer.json` load/save.
 *
 * @example
 * ```ts
 * import { loadTokenizer, RemiTokenizer, trainBpe } from "./mod.ts";
 * import { readMidiFile } from "../midi/mod.ts";
 * const remi = new RemiTokenizer();
 * const bpe = trainBpe(remi, [await readMidiFile("a.mid")], { vocabSize: 1024 });
 * const same = loadTokenizer(JSON.stringify(bpe.toJSON()));
 * ```
 *
 * @module
 */
export type { StreamDecoder, Tokenizer, TokenizerJson, TokenizerKind } from "./tokenizer.ts";
export { BOS_ID, EOS_ID, MASK_ID, PAD_ID } from "./tokenizer.ts";
export {
  DEFAULT_REMI_CONFIG,
  DEFAULT_TOKEN_CAP,
  FRADET_REMI_CONFIG,
  REMI_PRESETS,
  type RemiConfig,
  type RemiDecodeOptions,
  type RemiEncodeOptions,
  RemiTokenizer,
  type TokenCap,
  tokenCapFor,
  TokenLimitError,
} from "./remi.ts";
export {
  DEFAULT_PITCH_STRING_CONFIG,
  noteName,
  parseNoteName,
  type PitchStringBuildOptions,
  type PitchStringConfig,
  pitchStrings,
  PitchStringTokenizer,
  UNK_TOKEN,
} from "./pitch_strings.ts";
export { BpeTokenizer, type BpeTrainOptions, mergeExpansion, splitWords, trainBpe } from "./bpe.ts";
export { loadTokenizer, loadTokenizerFile, saveTokenizer, tokenizerJsonText } from "./load.ts";
