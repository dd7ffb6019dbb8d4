/**
 * MIDI bytes ⇄ `Score`.
 *
 * Reading checks the whole Standard MIDI File structure first (a strict decoder: header, chunk lengths, track
 * count, variable-length numbers, status bytes, End-of-Track) and throws `MidiError` naming what is wrong; then it
 * merges every non-drum track into one list of notes with the tempo map and time signatures.
 *
 * Decisions:
 * - Format 0 and 1: tracks are overlaid (all start at tick 0). Format 2 (independent sequences): tracks are played
 *   one after another — track k starts at the End-of-Track tick of track k−1, with its own tempo and time-signature
 *   events moved along with it.
 * - SMPTE division (e.g. bytes 0xE7 0x28 = 25 fps × 40 ticks): ticks keep their values; the score gets
 *   `ticksPerBeat` = frames per second × ticks per frame (30 for 29.97 drop-frame) and one tempo at tick 0 that
 *   makes one tick last exactly 1 / (fps × ticks per frame) seconds: 60 bpm (59.94 for 29.97 fps). Tempo events in
 *   such files are ignored (they do not drive SMPTE time).
 * - Channel 10 (index 9) is drums: its notes are dropped and counted.
 * - Zero-length notes (note-off at the note-on's tick) are kept with a duration of 1 tick and counted.
 * - A note-on while the same key sounds ends the earlier note at the new onset (as pretty_midi / note_seq). After
 *   merging tracks, a key never sounds twice: overlaps are trimmed the same way and exact duplicates dropped.
 * - The sustain pedal (CC64 ≥ 64, per channel) lengthens notes as note_seq's `apply_sustain_control_changes` does
 *   (option `sustain: false` turns this off); a pedal never released holds its notes to the last End-of-Track.
 * - Tempo and time-signature lists always start at tick 0 (defaults 120 bpm, 4/4); at one tick the last event wins.
 *
 * @module
 */
import { MidiError } from "./error.ts";
import { type PairingCounts, pairNotes, type RawNote } from "./_notes.ts";
import { parseSmf, type SmfEvent } from "./_smf.ts";
import { applySustain, type PedalEvent } from "./_sustain.ts";
import { type Note, type Score, sortNotes, type TempoChange, type TimeSignature } from "../score.ts";

/** Options for `readMidi`. */
export interface ReadMidiOptions {
  /** Name of the file, used as a prefix in error messages. */
  name?: string;
  /** Apply the sustain pedal (CC64) to note durations (default true). */
  sustain?: boolean;
}

/** What `readMidiDetailed` found and changed besides the score. */
export interface MidiReport {
  /** SMF format from the header (0, 1 or 2). */
  format: number;
  /** MTrk chunks in the file. */
  tracks: number;
  /** SMPTE division as found (the score then has a synthetic ticksPerBeat and tempo), or null. */
  smpte: { framesPerSecond: number; ticksPerFrame: number } | null;
  /** Notes in the score. */
  notes: number;
  /** Note-ons on channel 10 (drums), dropped. */
  droppedDrumNotes: number;
  /** Notes whose note-off came at their note-on's tick, kept with a duration of 1 tick. */
  zeroLengthNotes: number;
  /** Notes made longer by the sustain pedal. */
  sustainExtended: number;
  /** Notes ended early because the same key was struck again while they sounded. */
  overlapsCut: number;
  /** Duplicate notes dropped (same key, same tick). */
  duplicateNotes: number;
  /** Note-offs with no sounding note, ignored. */
  strayNoteOffs: number;
  /** Notes never released, ended at their track's End-of-Track. */
  unterminatedNotes: number;
  /** Unknown chunks skipped. */
  unknownChunks: number;
  /** Bytes after the last chunk (too few for a chunk), ignored. */
  trailingBytes: number;
  /** Bytes after an End-of-Track inside a track chunk, ignored. */
  bytesAfterEndOfTrack: number;
  /** Tempo / time-signature events with impossible values (tempo 0, denominator > 2^6), skipped. */
  invalidMetaEvents: number;
  /** One line per thing the file does that the SMF spec does not allow but that loses no data (read anyway). */
  warnings: string[];
}

/**
 * Reads a Standard MIDI File into a `Score`, with a report of what was dropped or changed. Throws `MidiError` for
 * a malformed file.
 *
 * @example
 * ```ts
 * import { readMidiDetailed } from "./mod.ts";
 * const { score, report } = readMidiDetailed(await Deno.readFile("song.mid"), { name: "song.mid" });
 * console.log(score.notes.length, report.droppedDrumNotes, report.sustainExtended);
 * ```
 */
export function readMidiDetailed(
  bytes: Uint8Array,
  opts: ReadMidiOptions = {},
): { score: Score; report: MidiReport } {
  const smf = parseSmf(bytes, opts.name);
  let ticksPerBeat = smf.ticksPerBeat ?? 480;
  let smpteBpm: number | undefined;
  if (smf.smpte) {
    const { framesPerSecond: fps, ticksPerFrame } = smf.smpte;
    const nominal = fps === 29 ? 30 : fps;
    const actual = fps === 29 ? 30000 / 1001 : fps;
    ticksPerBeat = nominal * ticksPerFrame;
    smpteBpm = 60 * actual / nominal;
  }
  const counts: PairingCounts = {
    overlapsCut: 0,
    duplicateNoteOns: 0,
    strayNoteOffs: 0,
    unterminatedNotes: 0,
  };
  const tempos: TempoChange[] = [];
  const timeSignatures: TimeSignature[] = [];
  const notesByChannel = new Map<number, RawNote[]>();
  const pedalByChannel = new Map<number, PedalEvent[]>();
  let offset = 0;
  let pieceEnd = 0;
  let droppedDrumNotes = 0;
  for (const track of smf.tracks) {
    // Drums (channel 10) are dropped before pairing: every drum note-on is counted, duplicates included.
    const isDrum = (e: SmfEvent) => (e.type === "noteOn" || e.type === "noteOff") && e.channel === 9;
    droppedDrumNotes += track.events.filter((e) => e.type === "noteOn" && e.channel === 9).length;
    for (const n of pairNotes(track.events.filter((e) => !isDrum(e)), track.endTick, counts)) {
      n.start += offset;
      n.end += offset;
      const list = notesByChannel.get(n.channel);
      if (list) list.push(n);
      else notesByChannel.set(n.channel, [n]);
    }
    for (const e of track.events) {
      const tick = e.tick + offset;
      if (e.type === "tempo") tempos.push({ tick, bpm: 60_000_000 / e.microsPerBeat });
      else if (e.type === "timeSignature") {
        timeSignatures.push({ tick, numerator: e.numerator, denominator: e.denominator });
      } else if (e.type === "controller" && e.controller === 64) {
        const list = pedalByChannel.get(e.channel);
        if (list) list.push({ tick, value: e.value });
        else pedalByChannel.set(e.channel, [{ tick, value: e.value }]);
      }
    }
    pieceEnd = Math.max(pieceEnd, offset + track.endTick);
    if (smf.format === 2) offset += track.endTick;
  }

  let zeroLengthNotes = 0;
  let sustainExtended = 0;
  const kept: RawNote[] = [];
  for (const [channel, list] of notesByChannel) {
    for (const n of list) {
      if (n.end <= n.start) {
        n.end = n.start + 1;
        zeroLengthNotes++;
      }
    }
    if (opts.sustain !== false) {
      sustainExtended += applySustain(list, pedalByChannel.get(channel) ?? [], pieceEnd);
    }
    for (const n of list) kept.push(n);
  }
  const { notes, overlaps, duplicates } = mergeKeys(kept);
  const score: Score = {
    ticksPerBeat,
    notes,
    tempos: smpteBpm !== undefined
      ? [{ tick: 0, bpm: smpteBpm }]
      : normaliseTimeline(tempos, { tick: 0, bpm: 120 }),
    timeSignatures: normaliseTimeline(timeSignatures, { tick: 0, numerator: 4, denominator: 4 }),
  };
  const report: MidiReport = {
    format: smf.format,
    tracks: smf.tracks.length,
    smpte: smf.smpte ?? null,
    notes: notes.length,
    droppedDrumNotes,
    zeroLengthNotes,
    sustainExtended,
    overlapsCut: counts.overlapsCut + overlaps,
    duplicateNotes: counts.duplicateNoteOns + duplicates,
    strayNoteOffs: counts.strayNoteOffs,
    unterminatedNotes: counts.unterminatedNotes,
    unknownChunks: smf.unknownChunks,
    trailingBytes: smf.trailingBytes,
    bytesAfterEndOfTrack: smf.bytesAfterEndOfTrack,
    invalidMetaEvents: smf.invalidMetaEvents,
    warnings: [],
  };
  const w = report.warnings;
  if (smf.format === 0 && smf.tracks.length > 1) {
    w.push(`format 0 with ${smf.tracks.length} tracks (overlaid)`);
  }
  if (smf.unknownChunks) w.push(`${smf.unknownChunks} unknown chunk(s) skipped`);
  if (smf.trailingBytes) w.push(`${smf.trailingBytes} byte(s) after the last chunk ignored`);
  if (smf.bytesAfterEndOfTrack) w.push(`${smf.bytesAfterEndOfTrack} byte(s) after End-of-Track ignored`);
  if (smf.invalidMetaEvents) w.push(`${smf.invalidMetaEvents} invalid tempo/time-signature event(s) skipped`);
  return { score, report };
}

/** Merges notes from all channels so that one key never sounds twice; returns them in `sortNotes` order. */
function mergeKeys(raw: RawNote[]): { notes: Note[]; overlaps: number; duplicates: number } {
  raw.sort((a, b) => a.pitch - b.pitch || a.start - b.start || b.end - a.end);
  const notes: Note[] = [];
  let overlaps = 0;
  let duplicates = 0;
  let prev: RawNote | undefined;
  let prevNote: Note | undefined;
  for (const n of raw) {
    if (prev && prevNote && prev.pitch === n.pitch) {
      if (n.start === prev.start) {
        duplicates++; // sorted longest first: the kept one is the longest
        continue;
      }
      if (n.start < prev.end) {
        prevNote.duration = n.start - prevNote.start;
        overlaps++;
      }
    }
    prevNote = { pitch: n.pitch, velocity: n.velocity, start: n.start, duration: n.end - n.start };
    notes.push(prevNote);
    prev = n;
  }
  return { notes: sortNotes(notes), overlaps, duplicates };
}

/** Sorts by tick, keeps the last entry at each tick, and makes sure one entry sits at tick 0. */
function normaliseTimeline<T extends { tick: number }>(items: T[], fallback: T): T[] {
  const sorted = items.map((x, i) => ({ x, i })).sort((a, b) => a.x.tick - b.x.tick || a.i - b.i);
  const out: T[] = [];
  for (const { x } of sorted) {
    if (out.length > 0 && out[out.length - 1].tick === x.tick) out[out.length - 1] = x;
    else out.push(x);
  }
  if (out.length === 0 || out[0].tick > 0) out.unshift(fallback);
  return out;
}

/**
 * Reads a Standard MIDI File into a `Score` (non-drum tracks merged, notes sorted by start then pitch). Throws
 * `MidiError` for a malformed file.
 *
 * @example
 * ```ts
 * import { readMidi } from "./mod.ts";
 * const score = readMidi(await Deno.readFile("song.mid"), { name: "song.mid" });
 * ```
 */
export function readMidi(bytes: Uint8Array, opts: ReadMidiOptions = {}): Score {
  return readMidiDetailed(bytes, opts).score;
}

/**
 * Reads a MIDI file from disk; errors (unreadable or malformed file) are `MidiError`s naming the path.
 *
 * @example
 * ```ts
 * import { readMidiFile } from "./mod.ts";
 * const score = await readMidiFile("song.mid");
 * ```
 */
export async function readMidiFile(path: string, opts: ReadMidiOptions = {}): Promise<Score> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new MidiError(`cannot read file: ${e instanceof Error ? e.message : String(e)}`, opts.name ?? path);
  }
  return readMidi(bytes, { ...opts, name: opts.name ?? path });
}
