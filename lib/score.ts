/**
 * The `Score`: the one in-memory form of a piece that every part of etude shares.
 *
 * Times are in ticks (`ticksPerBeat` per quarter note). Notes are sorted by start, then pitch.
 *
 * @module
 */

/** One note. `start` and `duration` are in ticks; `pitch` and `velocity` are MIDI numbers (0–127). */
export interface Note {
  pitch: number;
  velocity: number;
  start: number;
  duration: number;
}

/** A tempo change at `tick`, in quarter-note beats per minute. */
export interface TempoChange {
  tick: number;
  bpm: number;
}

/** A time-signature change at `tick`. */
export interface TimeSignature {
  tick: number;
  numerator: number;
  denominator: number;
}

/** A piece of (piano) music: notes plus its tempo map and time signatures. */
export interface Score {
  ticksPerBeat: number;
  notes: Note[];
  tempos: TempoChange[];
  timeSignatures: TimeSignature[];
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
