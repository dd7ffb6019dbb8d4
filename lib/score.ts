/**
 * The `Score`: the one in-memory form of a piece that every part of etude shares.
 *
 * Times are in ticks (`ticksPerBeat` per quarter note). Notes are sorted by start, then pitch.
 *
 * @module
 */

/**
 * One note. `start` and `duration` are in ticks; `pitch` and `velocity` are MIDI numbers (0–127).
 *
 * @example
 * ```ts
 * import type { Note } from "./score.ts";
 * const middleC: Note = { pitch: 60, velocity: 90, start: 0, duration: 480 }; // a quarter note at 480 ticks per beat
 * ```
 */
export interface Note {
  /** MIDI key number, 0–127 (60 = middle C, the piano spans 21–108). */
  pitch: number;
  /** MIDI velocity, 1–127 (a note-on with velocity 0 is a note-off, so never 0 here). */
  velocity: number;
  /** Onset in ticks from the start of the piece (≥ 0). */
  start: number;
  /** Length in ticks (> 0); `readMidi` folds the sustain pedal into it by default. */
  duration: number;
}

/**
 * A tempo change at `tick`, in quarter-note beats per minute.
 *
 * @example
 * ```ts
 * import { emptyScore, ticksToSeconds } from "./score.ts";
 * const s = emptyScore(480); // 120 bpm from tick 0
 * s.tempos.push({ tick: 1920, bpm: 60 }); // slower from bar 2 of 4/4
 * ticksToSeconds(s, 2400); // 3: a bar at 120 bpm (2 s), then a beat at 60 (1 s)
 * ```
 */
export interface TempoChange {
  /** Where the tempo takes effect, in ticks. */
  tick: number;
  /** Tempo in quarter-note beats per minute (> 0). */
  bpm: number;
}

/**
 * A time-signature change at `tick`.
 *
 * @example
 * ```ts
 * import { emptyScore } from "./score.ts";
 * const waltz = emptyScore(480);
 * waltz.timeSignatures = [{ tick: 0, numerator: 3, denominator: 4 }];
 * ```
 */
export interface TimeSignature {
  /** Where the meter takes effect, in ticks. */
  tick: number;
  /** Beats per bar (the 3 of 3/4). */
  numerator: number;
  /** Beat unit as a note value, a power of two (the 4 of 3/4: quarter notes). */
  denominator: number;
}

/**
 * A piece of (piano) music: notes plus its tempo map and time signatures.
 *
 * @example
 * ```ts
 * import type { Score } from "./score.ts";
 * const s: Score = {
 *   ticksPerBeat: 480,
 *   notes: [
 *     { pitch: 60, velocity: 90, start: 0, duration: 480 },
 *     { pitch: 64, velocity: 90, start: 480, duration: 480 },
 *   ],
 *   tempos: [{ tick: 0, bpm: 100 }],
 *   timeSignatures: [{ tick: 0, numerator: 4, denominator: 4 }],
 * };
 * ```
 */
export interface Score {
  /** Resolution: ticks per quarter note (MIDI's PPQ; 480 by default in `emptyScore`). */
  ticksPerBeat: number;
  /** The notes, sorted by start, then pitch (see `sortNotes`). */
  notes: Note[];
  /** Tempo map sorted by tick; the first entry is at tick 0 (120 bpm when the file has none). */
  tempos: TempoChange[];
  /** Time signatures sorted by tick; the first entry is at tick 0 (4/4 when the file has none). */
  timeSignatures: TimeSignature[];
  /**
   * Where the piece ends, in ticks, when it is set (e.g. the end of its last bar): `writeMidi` puts the piano track's
   * end-of-track there unless an event lies later. Unset: at the last event.
   */
  endTick?: number;
}

/**
 * Sorts notes in place by start, then pitch (then duration, velocity), the canonical order of a `Score`.
 *
 * @example
 * ```ts
 * import { sortNotes } from "./score.ts";
 * const notes = [{ pitch: 64, velocity: 80, start: 0, duration: 10 }, { pitch: 60, velocity: 80, start: 0, duration: 10 }];
 * sortNotes(notes); // C4 first
 * ```
 */
export function sortNotes(notes: Note[]): Note[] {
  return notes.sort((a, b) =>
    a.start - b.start || a.pitch - b.pitch || a.duration - b.duration || a.velocity - b.velocity
  );
}

/**
 * An empty score with the given resolution, 120 bpm and 4/4.
 *
 * @example
 * ```ts
 * import { emptyScore } from "./score.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 90, start: 0, duration: 480 });
 * ```
 */
export function emptyScore(ticksPerBeat = 480): Score {
  return {
    ticksPerBeat,
    notes: [],
    tempos: [{ tick: 0, bpm: 120 }],
    timeSignatures: [{ tick: 0, numerator: 4, denominator: 4 }],
  };
}

/**
 * Converts a tick position to seconds using the score's tempo map (120 bpm before the first change).
 *
 * @example
 * ```ts
 * import { emptyScore, ticksToSeconds } from "./score.ts";
 * ticksToSeconds(emptyScore(480), 960); // 1 (two beats at 120 bpm)
 * ```
 */
export function ticksToSeconds(score: Score, tick: number): number {
  let seconds = 0;
  let lastTick = 0;
  let bpm = 120;
  for (const t of score.tempos) {
    if (t.tick >= tick) break;
    seconds += (t.tick - lastTick) * 60 / (bpm * score.ticksPerBeat);
    lastTick = t.tick;
    bpm = t.bpm;
  }
  return seconds + (tick - lastTick) * 60 / (bpm * score.ticksPerBeat);
}

/**
 * The tick at which the last note ends (0 for an empty score).
 *
 * @example
 * ```ts
 * import { emptyScore, scoreEndTick } from "./score.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 90, start: 480, duration: 240 });
 * scoreEndTick(s); // 720
 * ```
 */
export function scoreEndTick(score: Score): number {
  let end = 0;
  for (const n of score.notes) end = Math.max(end, n.start + n.duration);
  return end;
}

/** Pitch-class names with sharps, from C (MidiTok's `PITCH_CLASSES`). */
export const PITCH_CLASS_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"] as const;

/**
 * The name of a MIDI pitch with sharps: 60 → `C4`, 66 → `F#4`, 21 → `A0`.
 *
 * @example
 * ```ts
 * import { noteName } from "./score.ts";
 * noteName(61); // "C#4"
 * ```
 */
export function noteName(pitch: number): string {
  return `${PITCH_CLASS_NAMES[pitch % 12]}${Math.floor(pitch / 12) - 1}`;
}
