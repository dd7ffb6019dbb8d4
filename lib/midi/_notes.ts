/**
 * Private: pairs note-on/note-off events into notes, one key (track, channel, pitch) at a time.
 *
 * Rules (documented in `lib/midi/read.ts`):
 * - a note-on while the same key already sounds ends the earlier note at the new onset;
 * - a note-off at the very tick its note started is held back: if a later note-off for that key comes before any
 *   new note-on, it ends the note (writers that put a re-strike's note-on before the old note's note-off); otherwise
 *   the note is zero-length;
 * - a second note-on at the same tick as a sounding note of the same key is a duplicate and is ignored;
 * - a note still sounding at End-of-Track ends there.
 *
 * @module
 */
import type { SmfEvent } from "./_smf.ts";

/** A paired note with its channel, before drums are dropped and sustain applied. Times in ticks. */
export interface RawNote {
  channel: number;
  pitch: number;
  velocity: number;
  start: number;
  end: number;
}

/** Counters from pairing. */
export interface PairingCounts {
  /** Notes cut short because the same key was struck again while it sounded. */
  overlapsCut: number;
  /** Note-ons ignored: same key, same tick as a sounding note. */
  duplicateNoteOns: number;
  /** Note-offs with no sounding note. */
  strayNoteOffs: number;
  /** Notes with no note-off, ended at End-of-Track. */
  unterminatedNotes: number;
}

interface Open {
  start: number;
  velocity: number;
  zeroPending: boolean;
}

/**
 * Pairs the note events of one track (events in file order; ticks absolute) into notes sorted as emitted.
 *
 * @example
 * ```ts
 * import { pairNotes } from "./_notes.ts";
 * const counts = { overlapsCut: 0, duplicateNoteOns: 0, strayNoteOffs: 0, unterminatedNotes: 0 };
 * pairNotes([
 *   { tick: 0, type: "noteOn", channel: 0, pitch: 60, velocity: 90 },
 *   { tick: 480, type: "noteOff", channel: 0, pitch: 60 },
 * ], 480, counts); // [{ channel: 0, pitch: 60, velocity: 90, start: 0, end: 480 }]
 * ```
 */
export function pairNotes(events: SmfEvent[], endTick: number, counts: PairingCounts): RawNote[] {
  const open = new Map<number, Open>();
  const out: RawNote[] = [];
  const emit = (key: number, o: Open, end: number) =>
    out.push({ channel: key >> 7, pitch: key & 127, velocity: o.velocity, start: o.start, end });
  for (const e of events) {
    if (e.type !== "noteOn" && e.type !== "noteOff") continue;
    const key = (e.channel << 7) | e.pitch;
    const o = open.get(key);
    if (e.type === "noteOn") {
      if (o) {
        if (o.start === e.tick && !o.zeroPending) {
          counts.duplicateNoteOns++;
          continue;
        }
        if (o.zeroPending) emit(key, o, o.start);
        else {
          emit(key, o, e.tick);
          counts.overlapsCut++;
        }
      }
      open.set(key, { start: e.tick, velocity: e.velocity, zeroPending: false });
    } else if (!o) {
      counts.strayNoteOffs++;
    } else if (o.start === e.tick) {
      o.zeroPending = true;
    } else {
      emit(key, o, e.tick);
      open.delete(key);
    }
  }
  for (const [key, o] of open) {
    if (o.zeroPending) emit(key, o, o.start);
    else {
      emit(key, o, Math.max(o.start, endTick));
      counts.unterminatedNotes++;
    }
  }
  return out;
}
