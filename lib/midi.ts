/**
 * MIDI bytes ⇄ `Score`. Reading merges every non-drum track into one list of notes with the tempo map and time
 * signatures; writing produces a format 1 Standard MIDI File with notes on channel 0 (piano).
 *
 * @module
 */
import midiPkg from "@tonejs/midi";
import { type Note, type Score, sortNotes, type TempoChange, type TimeSignature } from "./score.ts";

const { Midi } = midiPkg;

/** A MIDI file that cannot be read: the message names what is wrong (and the file, when known). */
export class MidiError extends Error {
  /** The file (or name) the error is about, when known. */
  file?: string;
  /**
   * @example
   * ```ts
   * import { MidiError } from "./midi.ts";
   * throw new MidiError("no MThd header", "song.mid"); // "song.mid: no MThd header"
   * ```
   */
  constructor(message: string, file?: string) {
    super(file ? `${file}: ${message}` : message);
    this.name = "MidiError";
    this.file = file;
  }
}

/** Options for `readMidi`. */
export interface ReadMidiOptions {
  /** Name of the file, used as a prefix in error messages. */
  name?: string;
  /** Apply the sustain pedal (CC64) to note durations (default true). */
  sustain?: boolean;
}

/** What `readMidiDetailed` found besides the score. */
export interface MidiReport {
  format: number;
  tracks: number;
  droppedDrumNotes: number;
  zeroLengthNotes: number;
  sustainExtended: number;
}

/**
 * Reads a Standard MIDI File into a `Score`, with a report of what was dropped or changed.
 *
 * @example
 * ```ts
 * import { readMidiDetailed } from "./midi.ts";
 * const { score, report } = readMidiDetailed(await Deno.readFile("song.mid"));
 * console.log(score.notes.length, report.droppedDrumNotes);
 * ```
 */
export function readMidiDetailed(
  bytes: Uint8Array,
  opts: ReadMidiOptions = {},
): { score: Score; report: MidiReport } {
  if (bytes.length === 0) throw new MidiError("empty file (0 bytes)", opts.name);
  if (bytes.length < 14 || String.fromCharCode(...bytes.subarray(0, 4)) !== "MThd") {
    throw new MidiError("not a MIDI file (no MThd header)", opts.name);
  }
  let midi;
  try {
    midi = new Midi(bytes);
  } catch (e) {
    throw new MidiError(e instanceof Error ? e.message : String(e), opts.name);
  }
  const notes: Note[] = [];
  let droppedDrumNotes = 0;
  let zeroLengthNotes = 0;
  for (const track of midi.tracks) {
    if (track.channel === 9) {
      droppedDrumNotes += track.notes.length;
      continue;
    }
    for (const n of track.notes) {
      let duration = n.durationTicks;
      if (duration <= 0) {
        zeroLengthNotes++;
        duration = 1;
      }
      notes.push({
        pitch: n.midi,
        velocity: Math.min(127, Math.max(1, Math.round(n.velocity * 127))),
        start: n.ticks,
        duration,
      });
    }
  }
  sortNotes(notes);
  const tempos = normaliseTimeline<TempoChange>(
    midi.header.tempos.map((t) => ({ tick: t.ticks, bpm: t.bpm })),
    { tick: 0, bpm: 120 },
  );
  const timeSignatures = normaliseTimeline<TimeSignature>(
    midi.header.timeSignatures.map((t) => ({
      tick: t.ticks,
      numerator: t.timeSignature[0],
      denominator: t.timeSignature[1],
    })),
    { tick: 0, numerator: 4, denominator: 4 },
  );
  const score: Score = { ticksPerBeat: midi.header.ppq, notes, tempos, timeSignatures };
  return {
    score,
    report: { format: 1, tracks: midi.tracks.length, droppedDrumNotes, zeroLengthNotes, sustainExtended: 0 },
  };
}

/** Sorts by tick, keeps the last entry at each tick, and makes sure one entry sits at tick 0. */
function normaliseTimeline<T extends { tick: number }>(items: T[], fallback: T): T[] {
  const sorted = items.map((x, i) => ({ x, i })).sort((a, b) => a.x.tick - b.x.tick || a.i - b.i).map((e) =>
    e.x
  );
  const out: T[] = [];
  for (const item of sorted) {
    if (out.length > 0 && out[out.length - 1].tick === item.tick) out[out.length - 1] = item;
    else out.push(item);
  }
  if (out.length === 0 || out[0].tick > 0) out.unshift(fallback);
  return out;
}

/**
 * Reads a Standard MIDI File into a `Score` (non-drum tracks merged, notes sorted by start then pitch).
 *
 * @example
 * ```ts
 * import { readMidi } from "./midi.ts";
 * const score = readMidi(await Deno.readFile("song.mid"), { name: "song.mid" });
 * ```
 */
export function readMidi(bytes: Uint8Array, opts: ReadMidiOptions = {}): Score {
  return readMidiDetailed(bytes, opts).score;
}

/**
 * Reads a MIDI file from disk; errors name the path.
 *
 * @example
 * ```ts
 * import { readMidiFile } from "./midi.ts";
 * const score = await readMidiFile("song.mid");
 * ```
 */
export async function readMidiFile(path: string, opts: ReadMidiOptions = {}): Promise<Score> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new MidiError(`cannot read file: ${e instanceof Error ? e.message : String(e)}`, path);
  }
  return readMidi(bytes, { ...opts, name: opts.name ?? path });
}

/**
 * Writes a `Score` as a format 1 Standard MIDI File: a tempo/time-signature track and one piano track (channel 0,
 * program 0).
 *
 * @example
 * ```ts
 * import { writeMidi } from "./midi.ts";
 * import { emptyScore } from "./score.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 90, start: 0, duration: 480 });
 * await Deno.writeFile("c4.mid", writeMidi(s));
 * ```
 */
export function writeMidi(score: Score): Uint8Array {
  const midi = new Midi();
  midi.header.fromJSON({
    name: "",
    ppq: score.ticksPerBeat,
    tempos: score.tempos.map((t) => ({ ticks: t.tick, bpm: t.bpm })),
    timeSignatures: score.timeSignatures.map((t) => ({
      ticks: t.tick,
      timeSignature: [t.numerator, t.denominator],
    })),
    keySignatures: [],
    meta: [],
  });
  midi.header.update();
  const track = midi.addTrack();
  track.channel = 0;
  for (const n of score.notes) {
    track.addNote({
      midi: n.pitch,
      ticks: n.start,
      durationTicks: n.duration,
      velocity: (n.velocity + 0.5) / 127,
    });
  }
  return midi.toArray();
}
