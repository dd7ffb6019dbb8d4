/**
 * The `Tokenizer` interface every tokeniser (pitch strings, REMI, REMI+BPE) implements, and the JSON file format.
 *
 * @module
 */
import type { Note, Score, TempoChange } from "../score.ts";

/**
 * Which tokeniser a `tokenizer.json` describes.
 *
 * @example
 * ```ts
 * import type { TokenizerJson, TokenizerKind } from "./tokenizer.ts";
 * const usesRemiGrammar = (t: TokenizerJson) => (["remi", "remi-bpe"] as TokenizerKind[]).includes(t.kind);
 * ```
 */
export type TokenizerKind = "pitch" | "remi" | "remi-bpe";

// The special token ids, the same in every tokeniser (`PAD_None BOS_None EOS_None MASK_None` are ids 0–3 of each
// vocabulary): the one place shards, checkpoints (`config.json`'s `*_token_id`) and generation take them from.
/**
 * Id of the padding token (windows pad short pieces with it; the loss ignores it).
 *
 * @example
 * ```ts
 * import { PAD_ID } from "./tokenizer.ts";
 * import { RemiTokenizer } from "./remi.ts";
 * new RemiTokenizer().vocab[PAD_ID]; // "PAD_None"
 * ```
 */
export const PAD_ID = 0;
/**
 * Id of the begin-of-piece token (every piece and every prompt starts with it).
 *
 * @example
 * ```ts
 * import { BOS_ID } from "./tokenizer.ts";
 * import { RemiTokenizer } from "./remi.ts";
 * import { emptyScore } from "../score.ts";
 * const piece = [BOS_ID, ...new RemiTokenizer().encode(emptyScore())]; // how shards and prompts start
 * ```
 */
export const BOS_ID = 1;
/**
 * Id of the end-of-piece token (generation stops at it).
 *
 * @example
 * ```ts
 * import { EOS_ID } from "./tokenizer.ts";
 * const ids = [1, 4, 20, 2, 7];
 * ids.slice(0, ids.indexOf(EOS_ID)); // [1, 4, 20]
 * ```
 */
export const EOS_ID = 2;
/**
 * Id of the mask token (reserved: in every vocabulary, never produced by etude's tokenisers).
 *
 * @example
 * ```ts
 * import { MASK_ID } from "./tokenizer.ts";
 * import { RemiTokenizer } from "./remi.ts";
 * new RemiTokenizer().vocab[MASK_ID]; // "MASK_None"
 * ```
 */
export const MASK_ID = 3;

/**
 * The self-describing `tokenizer.json` contents.
 *
 * @example
 * ```ts
 * import { loadTokenizer } from "./load.ts";
 * import { RemiTokenizer } from "./remi.ts";
 * import type { TokenizerJson } from "./tokenizer.ts";
 * const json: TokenizerJson = new RemiTokenizer().toJSON();
 * [json.kind, json.vocab[4]]; // ["remi", "Bar_None"]
 * loadTokenizer(json).vocab.length === json.vocab.length; // true: the file rebuilds the tokenizer
 * ```
 */
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

/**
 * Turns a `Score` into token ids and back.
 *
 * @example
 * ```ts
 * import { RemiTokenizer } from "./remi.ts";
 * import type { Tokenizer } from "./tokenizer.ts";
 * import { emptyScore } from "../score.ts";
 * const roundTrip = (tok: Tokenizer, ids: number[]) => tok.encode(tok.decode(ids));
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 95, start: 0, duration: 480 });
 * const tok = new RemiTokenizer();
 * roundTrip(tok, tok.encode(s)); // the same ids: REMI ids of a decoded score encode back to themselves
 * ```
 */
export interface Tokenizer {
  /** Which tokeniser this is. */
  readonly kind: TokenizerKind;
  /** id → token name. */
  readonly vocab: readonly string[];
  /** Encodes a score to token ids (no BOS/EOS). */
  encode(score: Score): number[];
  /** Decodes token ids back to a score; ids it cannot place are ignored. */
  decode(ids: readonly number[]): Score;
  /** An incremental decoder: feed ids as they are sampled, get the notes each run of ids completes. */
  streamDecoder(): StreamDecoder;
  /** The JSON form written to `tokenizer.json`. */
  toJSON(): TokenizerJson;
}

/**
 * Decodes a growing id sequence in linear time overall: each `push` costs what its own ids cost, the decoder keeps the
 * position, bar, tempo and half-read note between pushes. Pushing ids in any split gives `score()` equal to the
 * tokenizer's `decode` of all of them, and the notes `push` returned, concatenated, are exactly `score().notes`
 * (as a multiset; `score()` sorts them).
 *
 * @example
 * ```ts
 * import { RemiTokenizer } from "./remi.ts";
 * import { emptyScore } from "../score.ts";
 * const tok = new RemiTokenizer();
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 95, start: 0, duration: 480 }, { pitch: 64, velocity: 95, start: 480, duration: 480 });
 * const ids = tok.encode(s);
 * const dec = tok.streamDecoder();
 * for (let i = 0; i < ids.length; i += 3) console.log(dec.push(ids.slice(i, i + 3))); // notes as they complete
 * dec.score().notes.length; // 2
 * ```
 */
export interface StreamDecoder {
  /** Appends ids; returns the notes they completed, in token order (the decoder's own copies: do not mutate). */
  push(ids: readonly number[]): Note[];
  /** The score of every id pushed so far (fresh objects): equal to the tokenizer's `decode` of them. */
  score(): Score;
  /** Ticks per beat of the decoded notes. */
  readonly ticksPerBeat: number;
  /** The tempo map `score()` would hold now (a live view, changed by the next `push`: do not mutate or keep). */
  readonly tempos: readonly TempoChange[];
  /**
   * The index of the first `tempos` entry added or changed since the previous call (since creation for the first),
   * or `tempos.length` when none was; each call starts a new count. Lets a caller that timed notes in seconds know
   * whether earlier notes' times may have moved.
   */
  tempoChangedFrom(): number;
}
