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
 * - Size limits (`ReadLimits`, defaults in `DEFAULT_READ_LIMITS`): a silence longer than `maxGapSeconds` is shortened
 *   to it, and the piece ends at `maxSeconds`, at `maxBars` or at tick 2³¹ − 1, whichever comes first (later notes
 *   dropped, notes running past it cut). Each change is counted in the report and named in its warnings; option
 *   `onLimit: "refuse"` throws a one-line `MidiError` instead. A few bytes can otherwise ask for years of silence
 *   (a delta time holds up to 2²⁸ − 1 ticks, a beat can last 16.7 s) that later stages would turn into gigabytes of
 *   tokens or audio.
 *
 * @module
 */
import { MidiError } from "./error.ts";
import { type PairingCounts, pairNotes, type RawNote } from "./_notes.ts";
import { parseSmf, type SmfEvent } from "./_smf.ts";
import { applySustain, type PedalEvent } from "./_sustain.ts";
import { applyLimits, formatSeconds, MAX_SCORE_TICK, measureScore, type ScoreExtent } from "./_limits.ts";
import { type Note, type Score, sortNotes, type TempoChange, type TimeSignature } from "../score.ts";

export { MAX_SCORE_TICK, measureScore, type ScoreExtent };

/**
 * The size limits of a score read from a file. They bound what a few bytes can cost downstream (tokens, audio,
 * memory) while staying far above real music: in the 2,208 files of the shared corpora (`shared/midi`,
 * `shared/midi-corpus`: MAESTRO, ASAP, POP909, piano-midi.de, test suites) the longest piece lasts 58 min (a GS sound
 * test; MAESTRO's longest is 39 min), the most bars is 1,734 and the longest silence between notes is 4.5 min (an
 * ASAP performance with a pause). None of them is changed by the defaults.
 *
 * @example
 * ```ts
 * import { readMidi } from "./mod.ts";
 * import { emptyScore } from "../score.ts";
 * import { writeMidi } from "./write.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 90, start: 480 * 2 * 3600, duration: 480 }); // after an hour of silence
 * readMidi(writeMidi(s), { maxGapSeconds: 60 }).notes[0].start; // 57600: the silence cut to 60 s
 * ```
 */
export interface ReadLimits {
  /**
   * Longest piece, in seconds through the tempo map (default 14,400 = 4 hours, 4× the longest real file): notes
   * starting later are dropped, notes sounding past it are cut there. Bounds audio rendering.
   */
  maxSeconds: number;
  /**
   * Longest piece, in bars of its time signatures, each change starting a new bar (default 20,000: 4 hours of 4/4 at
   * 333 bpm, 11× the most in the corpus). Bounds the tokens a piece can cost when its tempo is very fast (a tempo
   * event may ask for 60,000,000 bpm); cut as `maxSeconds`.
   */
  maxBars: number;
  /**
   * Longest silence (no note sounding, sustain included; the silence before the first note counts), in seconds
   * (default 600 = 10 minutes, 2× the longest in the corpus). A longer silence is shortened to it: the rest is taken
   * out (rounded up to whole bars when the meter allows, so the music after it keeps its place in the bar) and
   * everything after it moves earlier; tempo and meter changes inside the removed stretch move to its start.
   */
  maxGapSeconds: number;
  /**
   * What to do when the file crosses a limit: `"clip"` (default: change the score as described and report it —
   * the music is kept, only silence and what lies beyond the end are lost) or `"refuse"` (throw a one-line
   * `MidiError` naming the limit; for callers that would rather skip such a file, as dataset preparation does).
   */
  onLimit: "clip" | "refuse";
}

/**
 * The default `ReadLimits` (see each field for why).
 *
 * @example
 * ```ts
 * import { DEFAULT_READ_LIMITS } from "./read.ts";
 * DEFAULT_READ_LIMITS.maxSeconds; // 14400
 * ```
 */
export const DEFAULT_READ_LIMITS: Readonly<ReadLimits> = Object.freeze({
  maxSeconds: 14_400,
  maxBars: 20_000,
  maxGapSeconds: 600,
  onLimit: "clip",
});

/**
 * Options for `readMidi`: the file's name, sustain, and any of the `ReadLimits` to override.
 *
 * @example
 * ```ts ignore
 * import { readMidi } from "./mod.ts";
 * const bytes = await Deno.readFile("song.mid");
 * const score = readMidi(bytes, { name: "song.mid", sustain: false, onLimit: "refuse" });
 * ```
 */
export interface ReadMidiOptions extends Partial<ReadLimits> {
  /** Name of the file, used as a prefix in error messages. */
  name?: string;
  /** Apply the sustain pedal (CC64) to note durations (default true). */
  sustain?: boolean;
}

/** The limits of `opts` with defaults filled in; throws a RangeError naming a bad one. */
function readLimits(opts: ReadMidiOptions): ReadLimits {
  const l = { ...DEFAULT_READ_LIMITS };
  for (const k of ["maxSeconds", "maxBars", "maxGapSeconds"] as const) {
    const v = opts[k];
    if (v === undefined) continue;
    if (typeof v !== "number" || !(v > 0)) {
      throw new RangeError(`ReadMidiOptions.${k}: expected a positive number (or Infinity), got ${v}`);
    }
    l[k] = v;
  }
  if (opts.onLimit !== undefined) {
    if (opts.onLimit !== "clip" && opts.onLimit !== "refuse") {
      throw new RangeError(
        `ReadMidiOptions.onLimit: expected "clip" or "refuse", got ${JSON.stringify(opts.onLimit)}`,
      );
    }
    l.onLimit = opts.onLimit;
  }
  return l;
}

/**
 * What `readMidiDetailed` found and changed besides the score.
 *
 * @example
 * ```ts
 * import { readMidiDetailed, writeMidi } from "./mod.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 90, start: 0, duration: 480 });
 * const { report } = readMidiDetailed(writeMidi(s));
 * report.format; // 1 (writeMidi writes format 1)
 * report.warnings; // []
 * ```
 */
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
  /** Silences longer than `maxGapSeconds`, shortened to it (`ReadLimits`). */
  shortenedGaps: number;
  /** Notes dropped because they start past the end limit (`maxSeconds`, `maxBars`, `MAX_SCORE_TICK`). */
  notesPastLimit: number;
  /** Notes cut short at the end limit. */
  notesCutAtLimit: number;
  /**
   * The file's non-empty text meta events (`FF 01`), in file order: track number (1-based), tick within the piece
   * and text (decoded as UTF-8). They carry no music; etude writes its provenance record as one
   * (`writeMidi(score, { text })`, lib/infer/provenance.ts).
   */
  texts: { track: number; tick: number; text: string }[];
  /** One line per thing the file does that the SMF spec does not allow but that loses no data (read anyway). */
  warnings: string[];
}

/**
 * Reads a Standard MIDI File into a `Score`, with a report of what was dropped or changed. Throws `MidiError` for
 * a malformed file (or one over a `ReadLimits` limit with `onLimit: "refuse"`), `RangeError` for a bad option.
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
  const limits = readLimits(opts);
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
  const texts: MidiReport["texts"] = [];
  for (const [t, track] of smf.tracks.entries()) {
    for (const x of track.texts) texts.push({ track: t + 1, tick: x.tick + offset, text: x.text });
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
  const limited = applyLimits(score, limits, (msg) => {
    throw new MidiError(msg, opts.name);
  });
  const report: MidiReport = {
    format: smf.format,
    tracks: smf.tracks.length,
    smpte: smf.smpte ?? null,
    notes: score.notes.length,
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
    shortenedGaps: limited.shortenedGaps,
    notesPastLimit: limited.notesPastLimit,
    notesCutAtLimit: limited.notesCutAtLimit,
    texts,
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
  if (limited.shortenedGaps) {
    w.push(
      `${limited.shortenedGaps} silence(s) longer than ${limits.maxGapSeconds} s shortened to it ` +
        `(${formatSeconds(limited.removedSeconds)} removed; ReadMidiOptions.maxGapSeconds)`,
    );
  }
  if (limited.endReason) {
    w.push(
      `piece cut at ${limited.endReason}: ${limited.notesPastLimit} note(s) after it dropped, ` +
        `${limited.notesCutAtLimit} cut short`,
    );
  }
  if (limited.eventsPastLimit) {
    w.push(`${limited.eventsPastLimit} tempo/time-signature event(s) past the end limit dropped`);
  }
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
