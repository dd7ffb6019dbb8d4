/**
 * The `Tokenizer` interface every tokeniser (pitch strings, REMI, REMI+BPE) implements, and the JSON file format.
 *
 * @module
 */
import type { Score } from "../score.ts";

/** Which tokeniser a `tokenizer.json` describes. */
export type TokenizerKind = "pitch" | "remi" | "remi-bpe";

/** The self-describing `tokenizer.json` contents. */
export interface TokenizerJson {
  /** Which tokeniser (`loadTokenizer` dispatches on it). */
  kind: TokenizerKind;
  /** Tokeniser-specific configuration (REMI options, BPE base config…). */
  config: Record<string, unknown>;
  /** id → token name (`Bar_None`, `Pitch_60`, …). */
  vocab: string[];
  /** BPE only: ordered merges as pairs of ids (into the growing vocab). */
  merges?: [number, number][];
}

/** Turns a `Score` into token ids and back. */
export interface Tokenizer {
  /** Which tokeniser this is. */
  readonly kind: TokenizerKind;
  /** id → token name. */
  readonly vocab: readonly string[];
  /** Encodes a score to token ids (no BOS/EOS). */
  encode(score: Score): number[];
  /** Decodes token ids back to a score; ids it cannot place are ignored. */
  decode(ids: readonly number[]): Score;
  /** The JSON form written to `tokenizer.json`. */
  toJSON(): TokenizerJson;
}
