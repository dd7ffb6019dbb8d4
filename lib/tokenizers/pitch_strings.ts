/**
 * Pitch strings: the seed's V2–V5 tokenisation (the music21 "classical piano LSTM" tutorials). Each onset becomes one
 * token: a note name (`C4`, `F#3`; sharps only, middle C = `C4` = MIDI 60) when one pitch starts there, or the sorted,
 * dot-joined pitch-class set (`0.4.7` for C–E–G in any voicing) when several distinct pitches start together. There is
 * no timing, duration or velocity. Onsets are grouped on a grid of `grid` steps per beat (12 by default, so both
 * sixteenths and triplet eighths stay apart, like music21's default `quarterLengthDivisors=(4, 3)`).
 *
 * Differences from the music21 original, on purpose: music21 spells some MIDI pitches with flats (`E-4`, `B-3`), here
 * every name uses sharps; music21 writes a chord's `normalOrder` (a rotation, e.g. `5.9.0` for F major), here the set
 * is sorted ascending (`0.5.9`), so each set has exactly one name.
 *
 * The vocabulary is built from data (`PitchStringTokenizer.fromScores`): ids 0–3 are `PAD_None BOS_None EOS_None
 * MASK_None`, id 4 is `UNK_None` (what `encode` gives an onset whose token was not seen when the vocabulary was
 * built), then single notes by pitch, then pitch-class sets by size and value.
 *
 * Decoding places token i at `i × step` beats (0.5 by default), each note `step` long; a pitch-class set is voiced in
 * octave 4 (pitch class p → MIDI 60 + p). `UNK_None` takes a step and sounds nothing; the other special tokens and ids
 * outside the vocabulary are skipped.
 *
 * @module
 */
import { type Note, noteName, type Score, sortNotes } from "../score.ts";
import type { StreamDecoder, Tokenizer, TokenizerJson } from "./tokenizer.ts";
import { checkVocab } from "./remi.ts";
import { PITCH_CLASSES, SPECIAL_TOKENS } from "./_remi_vocab.ts";

const DEFAULT_TEMPOS = Object.freeze([Object.freeze({ tick: 0, bpm: 120 })]);

/**
 * Options of the pitch-string tokenizer (stored in `tokenizer.json`).
 *
 * @example
 * ```ts
 * import { PitchStringTokenizer } from "./pitch_strings.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 80, start: 0, duration: 480 }, { pitch: 64, velocity: 80, start: 480, duration: 480 });
 * const tok = PitchStringTokenizer.fromScores([s], { step: 1, velocity: 100 }); // decode a beat per token, louder
 * tok.decode(tok.encode(s)).notes[1].start; // 480
 * ```
 */
export interface PitchStringConfig {
  /** Onset grid in steps per beat: notes whose onsets round to the same step form one token. */
  grid: number;
  /** Beats between decoded tokens (and each decoded note's length). */
  step: number;
  /** Velocity of decoded notes. */
  velocity: number;
  /** Ticks per beat of decoded scores. */
  decodeTicksPerBeat: number;
}

/**
 * Defaults: grid 12 per beat, decode at 0.5 beat per token, velocity 80, 480 ticks per beat.
 *
 * @example
 * ```ts
 * import { DEFAULT_PITCH_STRING_CONFIG } from "./pitch_strings.ts";
 * DEFAULT_PITCH_STRING_CONFIG.step; // 0.5: each decoded token lasts half a beat
 * ```
 */
export const DEFAULT_PITCH_STRING_CONFIG: PitchStringConfig = {
  grid: 12,
  step: 0.5,
  velocity: 80,
  decodeTicksPerBeat: 480,
};

/**
 * The reserved token for onsets not in the vocabulary.
 *
 * @example
 * ```ts
 * import { PitchStringTokenizer, UNK_TOKEN } from "./pitch_strings.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 80, start: 0, duration: 480 });
 * PitchStringTokenizer.fromScores([s]).vocab.includes(UNK_TOKEN); // true
 * ```
 */
export const UNK_TOKEN = "UNK_None";

/**
 * Options for `PitchStringTokenizer.fromScores`.
 *
 * @example
 * ```ts ignore
 * import { PitchStringTokenizer } from "./pitch_strings.ts";
 * import { readMidiFile } from "../midi/mod.ts";
 * const scores = [await readMidiFile("a.mid"), await readMidiFile("b.mid")];
 * const tok = PitchStringTokenizer.fromScores(scores, { minCount: 3, grid: 4 }); // rare chords become UNK_None
 * ```
 */
export interface PitchStringBuildOptions extends Partial<PitchStringConfig> {
  /** Keep only tokens seen at least this many times (default 1); the rest encode as `UNK_None`. */
  minCount?: number;
}

/** The name of a MIDI pitch with sharps (60 → `C4`): the score's {@linkcode noteName}, re-exported. */
export { noteName };

/**
 * The MIDI pitch of a note name (`C4` → 60; sharps `#` and music21 flats `-` both accepted, `C-1` meaning octave −1),
 * or undefined.
 *
 * @example
 * ```ts
 * import { parseNoteName } from "./pitch_strings.ts";
 * parseNoteName("E-4"); // 63
 * ```
 */
export function parseNoteName(name: string): number | undefined {
  // Our own names first (`C-1` is C in octave −1), then music21's flats (`E-4`).
  const m = /^([A-G])(#?)(-1|\d+)$/.exec(name) ?? /^([A-G])(-)(\d+)$/.exec(name);
  if (!m) return undefined;
  const base = PITCH_CLASSES.indexOf(m[1] as typeof PITCH_CLASSES[number]);
  const p = base + (m[2] === "#" ? 1 : m[2] === "-" ? -1 : 0) + 12 * (Number(m[3]) + 1);
  return p >= 0 && p <= 127 ? p : undefined;
}

/**
 * The token strings of a score, one per onset (before mapping to ids).
 *
 * @example
 * ```ts
 * import { pitchStrings } from "./pitch_strings.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * for (const p of [60, 64, 67]) s.notes.push({ pitch: p, velocity: 80, start: 0, duration: 480 });
 * s.notes.push({ pitch: 62, velocity: 80, start: 480, duration: 480 });
 * pitchStrings(s); // ["0.4.7", "D4"]
 * ```
 */
export function pitchStrings(score: Score, grid = DEFAULT_PITCH_STRING_CONFIG.grid): string[] {
  const groups = new Map<number, Set<number>>();
  for (const n of score.notes) {
    const q = Math.round(n.start * grid / score.ticksPerBeat);
    let g = groups.get(q);
    if (!g) groups.set(q, g = new Set());
    g.add(n.pitch);
  }
  const out: string[] = [];
  for (const q of [...groups.keys()].sort((a, b) => a - b)) {
    const pitches = [...groups.get(q)!];
    if (pitches.length === 1) out.push(noteName(pitches[0]));
    else out.push([...new Set(pitches.map((p) => p % 12))].sort((a, b) => a - b).join("."));
  }
  return out;
}

/**
 * The pitch-string tokenizer.
 *
 * @example
 * ```ts
 * import { PitchStringTokenizer } from "./pitch_strings.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 80, start: 0, duration: 480 });
 * const tok = PitchStringTokenizer.fromScores([s]);
 * console.log(tok.vocab.length, tok.encode(s)); // 6 [5]
 * ```
 */
export class PitchStringTokenizer implements Tokenizer {
  /** Always `"pitch"`. */
  readonly kind = "pitch" as const;
  /** The configuration (defaults filled in). */
  readonly config: PitchStringConfig;
  readonly vocab: readonly string[];
  #index: Map<string, number>;
  #pitches: (number[] | null)[];

  /**
   * A tokenizer over a given list of tokens (note names and pitch-class sets; specials and `UNK_None` are added).
   *
   * @example
   * ```ts
   * import { PitchStringTokenizer } from "./pitch_strings.ts";
   * const tok = new PitchStringTokenizer(["C4", "0.4.7"]);
   * tok.vocab; // ["PAD_None", "BOS_None", "EOS_None", "MASK_None", "UNK_None", "C4", "0.4.7"]
   * ```
   */
  constructor(tokens: readonly string[], config: Partial<PitchStringConfig> = {}) {
    this.config = { ...DEFAULT_PITCH_STRING_CONFIG, ...config };
    const c = this.config;
    if (
      !(c.grid > 0) || !(c.step > 0) || !(c.velocity >= 1 && c.velocity <= 127) ||
      !(c.decodeTicksPerBeat >= 1)
    ) {
      throw new Error(
        `PitchStringConfig: expected positive grid/step/decodeTicksPerBeat and velocity 1..127`,
      );
    }
    const vocab = [...SPECIAL_TOKENS, UNK_TOKEN];
    const seen = new Set<string>(vocab);
    for (const t of tokens) {
      if (!seen.has(t)) vocab.push(t);
      seen.add(t);
    }
    this.vocab = Object.freeze(vocab);
    this.#index = new Map(vocab.map((n, i) => [n, i]));
    this.#pitches = vocab.map((name, i) => {
      if (i <= 4) return null;
      const p = parseNoteName(name);
      if (p !== undefined) return [p];
      const pcs = name.split(".").map(Number);
      if (pcs.every((x) => Number.isInteger(x) && x >= 0 && x < 12)) return pcs.map((x) => 60 + x);
      throw new Error(
        `pitch-string vocab[${i}]: ${JSON.stringify(name)} is neither a note name nor a pitch-class set`,
      );
    });
  }

  /**
   * Builds the vocabulary from the onsets of `scores` (sorted: notes by pitch, then sets by size and value).
   *
   * @example
   * ```ts
   * import { PitchStringTokenizer } from "./pitch_strings.ts";
   * import { readMidiFile } from "../midi/mod.ts";
   * const tok = PitchStringTokenizer.fromScores([await readMidiFile("a.mid")]);
   * console.log(`vocab: ${tok.vocab.length}`);
   * ```
   */
  static fromScores(scores: Iterable<Score>, opts: PitchStringBuildOptions = {}): PitchStringTokenizer {
    const { minCount = 1, ...config } = opts;
    const grid = config.grid ?? DEFAULT_PITCH_STRING_CONFIG.grid;
    const counts = new Map<string, number>();
    for (const s of scores) for (const t of pitchStrings(s, grid)) counts.set(t, (counts.get(t) ?? 0) + 1);
    const kept = [...counts].filter(([, n]) => n >= minCount).map(([t]) => t);
    const key = (t: string): number[] => {
      const p = parseNoteName(t);
      const pcs = t.split(".").map(Number);
      return p !== undefined ? [0, p] : [1, pcs.length, ...pcs];
    };
    kept.sort((a, b) => {
      const ka = key(a), kb = key(b);
      for (let i = 0; i < Math.min(ka.length, kb.length); i++) if (ka[i] !== kb[i]) return ka[i] - kb[i];
      return ka.length - kb.length;
    });
    return new PitchStringTokenizer(kept, config);
  }

  /**
   * Rebuilds a tokenizer from its `tokenizer.json` form.
   *
   * @example
   * ```ts
   * import { PitchStringTokenizer } from "./pitch_strings.ts";
   * const tok = new PitchStringTokenizer(["C4"]);
   * PitchStringTokenizer.fromJSON(tok.toJSON()).vocab.length; // 6
   * ```
   */
  static fromJSON(json: TokenizerJson): PitchStringTokenizer {
    if (json.kind !== "pitch") {
      throw new Error(`tokenizer.json: kind: expected "pitch", got ${JSON.stringify(json.kind)}`);
    }
    if (!Array.isArray(json.vocab)) {
      throw new Error("tokenizer.json: vocab: expected an array of token names");
    }
    const tok = new PitchStringTokenizer(json.vocab.slice(5), json.config as Partial<PitchStringConfig>);
    checkVocab(tok.vocab, json.vocab);
    return tok;
  }

  /** The id of a token, or undefined. */
  tokenId(name: string): number | undefined {
    return this.#index.get(name);
  }

  /**
   * One id per onset; onsets whose token is not in the vocabulary give `UNK_None` (4). Silence costs nothing, so a
   * piece never takes more tokens than it has notes (the hard cap of this tokenizer: 1 per note).
   *
   * @example
   * ```ts
   * import { PitchStringTokenizer } from "./pitch_strings.ts";
   * import { emptyScore } from "../score.ts";
   * const s = emptyScore(480);
   * s.notes.push({ pitch: 60, velocity: 80, start: 0, duration: 480 });
   * s.notes.push({ pitch: 62, velocity: 80, start: 480 * 1_000_000, duration: 480 }); // after a long silence
   * new PitchStringTokenizer(["C4", "D4"]).encode(s); // [5, 6]
   * ```
   */
  encode(score: Score): number[] {
    return pitchStrings(score, this.config.grid).map((t) => this.#index.get(t) ?? 4);
  }

  /** Notes at `step` beats per token; never throws. */
  decode(ids: readonly number[]): Score {
    const d = this.streamDecoder();
    d.push(ids);
    return d.score();
  }

  /**
   * An incremental decoder (the one `decode` runs): each push returns the notes of its own tokens.
   *
   * @example
   * ```ts
   * import { PitchStringTokenizer } from "./pitch_strings.ts";
   * const tok = new PitchStringTokenizer(["C4", "0.4.7"]);
   * const d = tok.streamDecoder();
   * d.push([5]); // [{ pitch: 60, velocity: 80, start: 0, duration: 240 }]
   * d.push([6]).length; // 3 (C, E and G at beat 0.5)
   * ```
   */
  streamDecoder(): StreamDecoder {
    const c = this.config, tpb = c.decodeTicksPerBeat, table = this.#pitches;
    const dur = Math.max(1, Math.round(c.step * tpb));
    const notes: Note[] = [];
    let i = 0;
    return {
      ticksPerBeat: tpb,
      tempos: DEFAULT_TEMPOS,
      tempoChangedFrom: () => DEFAULT_TEMPOS.length, // the map never changes
      push(ids: readonly number[]): Note[] {
        const done: Note[] = [];
        for (const id of ids) {
          const pitches = Number.isInteger(id) ? table[id] : undefined;
          if (pitches === undefined || (pitches === null && id !== 4)) continue;
          const start = Math.round(i * c.step * tpb);
          if (pitches) {
            for (const p of pitches) done.push({ pitch: p, velocity: c.velocity, start, duration: dur });
          }
          i++;
        }
        notes.push(...done);
        return done;
      },
      score(): Score {
        return {
          ticksPerBeat: tpb,
          notes: sortNotes(notes.map((n) => ({ ...n }))),
          tempos: [{ tick: 0, bpm: 120 }],
          timeSignatures: [{ tick: 0, numerator: 4, denominator: 4 }],
        };
      },
    };
  }

  /**
   * The `tokenizer.json` form.
   *
   * @example
   * ```ts
   * import { PitchStringTokenizer } from "./pitch_strings.ts";
   * JSON.stringify(new PitchStringTokenizer(["C4"]).toJSON());
   * ```
   */
  toJSON(): TokenizerJson {
    return { kind: "pitch", config: { ...this.config }, vocab: [...this.vocab] };
  }
}
