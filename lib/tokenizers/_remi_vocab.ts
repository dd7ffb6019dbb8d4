/**
 * Private: REMI configuration defaults, value bins (velocities, durations, rests, tempos, chords, time signatures) and
 * the vocabulary built from them, in MidiTok v3's order.
 *
 * @module
 */
import { PITCH_CLASS_NAMES } from "../score.ts";

/** The four special tokens at ids 0–3, in MidiTok's order. */
export const SPECIAL_TOKENS = ["PAD_None", "BOS_None", "EOS_None", "MASK_None"] as const;

/** Pitch-class names with sharps (MidiTok's `PITCH_CLASSES`): the score's. */
export const PITCH_CLASSES = PITCH_CLASS_NAMES;

/** MidiTok's 14 default chord qualities: intervals above the lowest note. */
export const DEFAULT_CHORD_MAPS: Record<string, number[]> = {
  min: [0, 3, 7],
  maj: [0, 4, 7],
  dim: [0, 3, 6],
  aug: [0, 4, 8],
  sus2: [0, 2, 7],
  sus4: [0, 5, 7],
  "7dom": [0, 4, 7, 10],
  "7min": [0, 3, 7, 10],
  "7maj": [0, 4, 7, 11],
  "7halfdim": [0, 3, 6, 10],
  "7dim": [0, 3, 6, 9],
  "7aug": [0, 4, 8, 11],
  "9maj": [0, 4, 7, 10, 14],
  "9min": [0, 4, 7, 10, 13],
};

/**
 * REMI options; every field is configurable and stored in `tokenizer.json`.
 *
 * @example
 * ```ts
 * import { RemiTokenizer } from "./remi.ts";
 * // 8 velocity bins, no tempo tokens, chords named by quality only (MidiTok's default)
 * const tok = new RemiTokenizer({ numVelocities: 8, useTempos: false, useChords: true, chordRoots: false });
 * tok.toJSON().config.numVelocities; // 8: the config travels in tokenizer.json
 * ```
 */
export interface RemiConfig {
  /** Lowest and highest pitch kept, inclusive (notes outside are dropped). */
  pitchRange: [number, number];
  /**
   * Duration resolution as `[startBeat, endBeat, positionsPerBeat]` ranges (MidiTok's `beat_res`). The largest
   * `positionsPerBeat` is the onset grid (positions per quarter note); each must divide it.
   */
  beatRes: [number, number, number][];
  /** Number of velocity bins (`int(linspace(0, 127, n + 1))[1:]`). */
  numVelocities: number;
  /** Emit `Chord_<root>:<quality>` tokens before the notes of a detected chord. */
  useChords: boolean;
  /** Chord tokens name the root (`Chord_C:maj`, 12 per quality) or only the quality (`Chord_maj`, MidiTok's default). */
  chordRoots: boolean;
  /** Chord qualities: intervals above the lowest note, matched exactly. */
  chordMaps: Record<string, number[]>;
  /** Emit `Rest_b.p.r` tokens for silences (instead of Bar/Position runs). */
  useRests: boolean;
  /** Rest resolution, like `beatRes`. */
  beatResRest: [number, number, number][];
  /** Emit `Tempo_<bpm>` tokens at the start and wherever the (binned) tempo changes. */
  useTempos: boolean;
  /** Number of tempo bins, linearly spaced over `tempoRange`. */
  numTempos: number;
  /** Lowest and highest tempo bin in quarter-note bpm. */
  tempoRange: [number, number];
  /** Emit `TimeSig_n/d` tokens at the first bar and at meter changes; bars then follow the score's meter. */
  useTimeSignatures: boolean;
  /** Supported time signatures (`"n/d"`); others are treated as 4/4. */
  timeSignatures: string[];
  /** Ticks per beat of decoded scores. */
  decodeTicksPerBeat: number;
  /**
   * Extra special tokens appended after the REMI vocabulary (before any BPE merges), e.g. conditioning and
   * fill-in-the-middle sentinels (`lib/data/conditioning.ts`). `encode` never produces them and `decode` skips them.
   * Absent (the default) leaves the vocabulary and `tokenizer.json` exactly as without it.
   */
  extraTokens?: string[];
}

/** MidiTok v3 default time signatures (`{8: [3, 12, 6], 4: [5, 6, 3, 2, 1, 4]}`). */
export const MIDITOK_TIME_SIGNATURES = ["3/8", "12/8", "6/8", "5/4", "6/4", "3/4", "2/4", "1/4", "4/4"];

/**
 * etude's default time signatures: the meters that occur more than a handful of times in piano-midi.de (4/4, 2/4, 3/4,
 * 6/8, 6/4, 5/4, 3/8, 8/4, 9/8, 4/8, 5/8, 12/8, 7/8, 7/4, 8/8, 9/4, 2/2, 3/2, …).
 */
export const ETUDE_TIME_SIGNATURES = [
  "1/4",
  "2/4",
  "3/4",
  "4/4",
  "5/4",
  "6/4",
  "7/4",
  "8/4",
  "9/4",
  "2/8",
  "3/8",
  "4/8",
  "5/8",
  "6/8",
  "7/8",
  "8/8",
  "9/8",
  "12/8",
  "2/2",
  "3/2",
  "4/2",
];

/**
 * etude's default REMI configuration (see the module docs of `remi.ts`).
 *
 * @example
 * ```ts
 * import { DEFAULT_REMI_CONFIG } from "./_remi_vocab.ts";
 * import { RemiTokenizer } from "./remi.ts";
 * DEFAULT_REMI_CONFIG.pitchRange; // [21, 108]: the 88 piano keys
 * const withChords = new RemiTokenizer({ ...DEFAULT_REMI_CONFIG, useChords: true });
 * ```
 */
export const DEFAULT_REMI_CONFIG: RemiConfig = {
  pitchRange: [21, 108],
  beatRes: [[0, 4, 8], [4, 12, 4]],
  numVelocities: 32,
  useChords: false,
  chordRoots: true,
  chordMaps: DEFAULT_CHORD_MAPS,
  useRests: false,
  beatResRest: [[0, 1, 8], [1, 2, 4], [2, 12, 2]],
  useTempos: true,
  numTempos: 32,
  tempoRange: [40, 250],
  useTimeSignatures: true,
  timeSignatures: ETUDE_TIME_SIGNATURES,
  decodeTicksPerBeat: 480,
};

/**
 * The REMI setting of Fradet et al., "Byte Pair Encoding for Symbolic Music" (EMNLP 2023), as in the paper's code
 * (github.com/Natooz/BPE-Symbolic-Music, `constants.py` at commit aa0b134, the version that produced the MAESTRO
 * table `analysis/nb_tok/tok_comb_speed_Maestro.txt`: REMI 19.1 tokens per beat → 10.4 at BPE 1k, −45.3%):
 * `PITCH_RANGE = range(21, 109)`, `BEAT_RES = {(0, 1): 8, (1, 2): 4, (2, 4): 2, (4, 8): 1}`, `NB_VELOCITIES = 16`,
 * and no Chord, Rest, Tempo, Program or TimeSignature tokens (bars are 4/4). That gives 161 base tokens: 4 special,
 * Bar, 88 pitches, 16 velocities, 20 durations (an 8th of a beat up to 8 beats), 32 positions. The paper's first
 * version (commit 890140a) had 8 velocities. Everything else is etude's default.
 *
 * Not reproduced: their BPE (MidiTok 2.x) learned merges over whole sequences, across bar lines, on the whole
 * data set including its ±2-octave and ±1-velocity augmented copies, and measured the same files; etude's BPE splits
 * at bars and is measured on held-out files (on etude's piano corpus neither choice changes the result by more than
 * 0.4 points). What does matter: MidiTok takes durations from note-offs and ignores the sustain pedal, while
 * `readMidiFile` lengthens notes by it unless given `{ sustain: false }`. BPE at 1,024, learned on 4/5 of the piano
 * corpus (tests/tokenizers/bpe_reference_test.ts), shortens the other fifth by 43.1% (pedal applied; default config
 * 35.0%) or 45.9% (pedal ignored); learned and measured on the corpus's 11 MAESTRO performances, pedal ignored, as the
 * paper measured, it goes from 18.4 to 10.0 tokens per beat (−45.8%; paper: 19.1 → 10.4, −45.3%).
 *
 * @example
 * ```ts
 * import { FRADET_REMI_CONFIG, RemiTokenizer } from "./remi.ts";
 * new RemiTokenizer(FRADET_REMI_CONFIG).vocab.length; // 161
 * ```
 */
export const FRADET_REMI_CONFIG: RemiConfig = {
  ...DEFAULT_REMI_CONFIG,
  pitchRange: [21, 108],
  beatRes: [[0, 1, 8], [1, 2, 4], [2, 4, 2], [4, 8, 1]],
  numVelocities: 16,
  useChords: false,
  useRests: false,
  useTempos: false,
  useTimeSignatures: false,
};

/**
 * Named REMI configurations, for command-line selection (`deno task tokenize --remi-config fradet`).
 *
 * @example
 * ```ts
 * import { REMI_PRESETS, RemiTokenizer } from "./remi.ts";
 * new RemiTokenizer(REMI_PRESETS.fradet);
 * ```
 */
export const REMI_PRESETS: Readonly<Record<"default" | "fradet", RemiConfig>> = {
  default: DEFAULT_REMI_CONFIG,
  fradet: FRADET_REMI_CONFIG,
};

/** Formats a number like Python's `str(float)` for the values used here (`40.0`, `121.29`). */
export function pyFloat(x: number): string {
  const s = String(x);
  return Number.isInteger(x) ? `${s}.0` : s;
}

/** A duration or rest value: its name part and length in positions. */
export interface TimeValue {
  name: string;
  positions: number;
}

/** MidiTok's duration/rest tuples `(beat, pos, res)` from a beat-res table, without the zero value. */
export function timeValues(res: [number, number, number][], grid: number): TimeValue[] {
  const out: TimeValue[] = [];
  for (const [start, end, r] of res) {
    for (let beat = start; beat < end; beat++) {
      for (let pos = 0; pos < r; pos++) {
        out.push({ name: `${beat}.${pos}.${r}`, positions: beat * grid + pos * grid / r });
      }
    }
  }
  const last = res[res.length - 1];
  out.push({ name: `${last[1]}.0.${last[2]}`, positions: last[1] * grid });
  return out.filter((v) => v.positions > 0);
}

/** Velocity bins: `int(linspace(0, 127, n + 1))[1:]`. */
export function velocityBins(n: number): number[] {
  const out: number[] = [];
  for (let i = 1; i <= n; i++) out.push(Math.floor(127 * i / n + 1e-9));
  return out;
}

/** Tempo bins: `round(linspace(lo, hi, n), 2)`. */
export function tempoBins(n: number, [lo, hi]: [number, number]): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = n === 1 ? lo : i === n - 1 ? hi : lo + i * (hi - lo) / (n - 1);
    out.push(Math.round(v * 100) / 100);
  }
  return out;
}

/** A parsed time signature with its bar length in positions. */
export interface TimeSigInfo {
  name: string;
  numerator: number;
  denominator: number;
  barPositions: number;
}

/** Parses `"n/d"` and computes the bar length in positions (`n × grid × 4 / d`). */
export function parseTimeSig(s: string, grid: number): TimeSigInfo {
  const m = /^(\d+)\/(\d+)$/.exec(s);
  if (!m) throw new Error(`RemiConfig.timeSignatures: "${s}" is not of the form n/d`);
  const numerator = Number(m[1]);
  const denominator = Number(m[2]);
  const barPositions = numerator * grid * 4 / denominator;
  if (numerator < 1 || !Number.isInteger(barPositions) || barPositions < 1) {
    throw new Error(
      `RemiConfig.timeSignatures: "${s}" does not fill a whole number of ${grid}-per-beat positions`,
    );
  }
  return { name: s, numerator, denominator, barPositions };
}

/** Everything derived from a `RemiConfig`: bins, vocabulary and the first id of each token type. */
export interface RemiTables {
  grid: number;
  velocities: number[];
  durations: TimeValue[];
  rests: TimeValue[];
  tempos: number[];
  chordNames: string[];
  chordIntervals: Map<string, number>;
  timeSigs: TimeSigInfo[];
  numPositions: number;
  vocab: string[];
  bar: number;
  pitch: number;
  velocity: number;
  duration: number;
  position: number;
  chord: number;
  rest: number;
  tempo: number;
  timeSig: number;
}

/** Validates a config and builds its tables; throws naming the bad field. */
export function buildTables(c: RemiConfig): RemiTables {
  const bad = (field: string, want: string) => {
    throw new Error(`RemiConfig.${field}: expected ${want}, got ${JSON.stringify((c as never)[field])}`);
  };
  const [plo, phi] = c.pitchRange ?? [];
  if (!Number.isInteger(plo) || !Number.isInteger(phi) || plo < 0 || phi > 127 || plo > phi) {
    bad("pitchRange", "[lo, hi] with 0 <= lo <= hi <= 127");
  }
  if (!Array.isArray(c.beatRes) || c.beatRes.length === 0) {
    bad("beatRes", "a non-empty list of [start, end, res]");
  }
  const grid = Math.max(...c.beatRes.map((r) => r[2]));
  for (const res of [c.beatRes, c.beatResRest]) {
    for (const r of res) {
      if (r.length !== 3 || !r.every(Number.isInteger) || r[0] >= r[1] || r[2] < 1 || grid % r[2] !== 0) {
        bad(res === c.beatRes ? "beatRes" : "beatResRest", `[start, end, res] with res dividing ${grid}`);
      }
    }
  }
  if (!Number.isInteger(c.numVelocities) || c.numVelocities < 1 || c.numVelocities > 127) {
    bad("numVelocities", "an integer in 1..127");
  }
  if (!Number.isInteger(c.numTempos) || c.numTempos < 1) bad("numTempos", "a positive integer");
  if (!(c.tempoRange?.[0] > 0 && c.tempoRange[1] >= c.tempoRange[0])) {
    bad("tempoRange", "[lo, hi] with 0 < lo <= hi");
  }
  if (!Number.isInteger(c.decodeTicksPerBeat) || c.decodeTicksPerBeat < 1) {
    bad("decodeTicksPerBeat", "a positive integer");
  }
  const velocities = velocityBins(c.numVelocities);
  const durations = timeValues(c.beatRes, grid);
  const rests = timeValues(c.beatResRest, grid);
  const tempos = tempoBins(c.numTempos, c.tempoRange);
  const chordNames: string[] = [];
  const chordIntervals = new Map<string, number>();
  for (const [q, iv] of Object.entries(c.chordMaps ?? {})) {
    if (c.chordRoots) { for (const pc of PITCH_CLASSES) chordNames.push(`${pc}:${q}`); }
    else chordNames.push(q);
    chordIntervals.set(iv.join(","), chordIntervals.size);
  }
  const timeSigs = (c.timeSignatures ?? []).map((s) => parseTimeSig(s, grid));
  if (!timeSigs.some((t) => t.name === "4/4")) bad("timeSignatures", 'a list including "4/4"');
  const numPositions = c.useTimeSignatures ? Math.max(...timeSigs.map((t) => t.barPositions)) : 4 * grid;

  const vocab: string[] = [...SPECIAL_TOKENS];
  const bar = vocab.length;
  vocab.push("Bar_None");
  const pitch = vocab.length;
  for (let p = plo; p <= phi; p++) vocab.push(`Pitch_${p}`);
  const velocity = vocab.length;
  for (const v of velocities) vocab.push(`Velocity_${v}`);
  const duration = vocab.length;
  for (const d of durations) vocab.push(`Duration_${d.name}`);
  const position = vocab.length;
  for (let i = 0; i < numPositions; i++) vocab.push(`Position_${i}`);
  const chord = vocab.length;
  if (c.useChords) { for (const n of chordNames) vocab.push(`Chord_${n}`); }
  const rest = vocab.length;
  if (c.useRests) { for (const r of rests) vocab.push(`Rest_${r.name}`); }
  const tempo = vocab.length;
  if (c.useTempos) { for (const t of tempos) vocab.push(`Tempo_${pyFloat(t)}`); }
  const timeSig = vocab.length;
  if (c.useTimeSignatures) { for (const t of timeSigs) vocab.push(`TimeSig_${t.name}`); }
  if (c.extraTokens !== undefined) {
    if (!Array.isArray(c.extraTokens)) bad("extraTokens", "a list of token names");
    const names = new Set(vocab);
    for (const x of c.extraTokens) {
      if (typeof x !== "string" || !/^[A-Za-z][\w:#+.-]*$/.test(x) || x.includes("+") || names.has(x)) {
        bad("extraTokens", "distinct new token names (letters, digits, _ : # . -)");
      }
      names.add(x);
      vocab.push(x);
    }
  }
  return {
    grid,
    velocities,
    durations,
    rests,
    tempos,
    chordNames,
    chordIntervals,
    timeSigs,
    numPositions,
    vocab,
    bar,
    pitch,
    velocity,
    duration,
    position,
    chord,
    rest,
    tempo,
    timeSig,
  };
}
