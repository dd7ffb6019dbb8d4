/**
 * Private: applies the sustain pedal (CC64) to note ends, with the semantics of note_seq's
 * `apply_sustain_control_changes`: the pedal is down at value ≥ 64; a note released while the pedal is down keeps
 * sounding until the pedal goes up, or until the same pitch is struck again (then it ends at that onset). At one
 * tick, pedal-down is handled before pedal-up, pedal events before note-ons, note-ons before note-offs. Notes still
 * held by a pedal that never comes up ring until `endTick` (the end of the piece).
 *
 * @module
 */
import type { RawNote } from "./_notes.ts";

/** One sustain-pedal controller event on one channel. */
export interface PedalEvent {
  tick: number;
  value: number;
}

const PEDAL_DOWN = 0;
const PEDAL_UP = 1;
const NOTE_ON = 2;
const NOTE_OFF = 3;

/**
 * Extends (in place) the ends of `notes` — all on one channel — by the pedal events of that channel; `endTick` is
 * where a pedal never released lets go. Returns how many notes got longer.
 *
 * @example
 * ```ts
 * import { applySustain } from "./_sustain.ts";
 * const notes = [{ channel: 0, pitch: 60, velocity: 80, start: 0, end: 100 }];
 * applySustain(notes, [{ tick: 50, value: 127 }, { tick: 400, value: 0 }], 480); // 1; notes[0].end === 400
 * ```
 */
export function applySustain(notes: RawNote[], pedal: PedalEvent[], endTick: number): number {
  if (pedal.length === 0 || notes.length === 0) return 0;
  const originalEnds = notes.map((n) => n.end);
  // Events as [tick, kind, index]; index is a note index (or the pedal index for pedal events).
  const events: [number, number, number][] = [];
  pedal.forEach((p, i) => events.push([p.tick, p.value >= 64 ? PEDAL_DOWN : PEDAL_UP, i]));
  notes.forEach((n, i) => {
    events.push([n.start, NOTE_ON, i]);
    events.push([n.end, NOTE_OFF, i]);
  });
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
  let down = false;
  // Sounding notes (index set), and per pitch which of them are sounding, for the re-strike cut.
  const active = new Set<number>();
  for (const [tick, kind, i] of events) {
    if (kind === PEDAL_DOWN) down = true;
    else if (kind === PEDAL_UP) {
      down = false;
      for (const j of active) {
        if (notes[j].end < tick) {
          notes[j].end = tick;
          active.delete(j);
        }
      }
    } else if (kind === NOTE_ON) {
      if (down) {
        for (const j of active) {
          if (notes[j].pitch === notes[i].pitch) {
            notes[j].end = tick;
            active.delete(j);
          }
        }
      }
      active.add(i);
    } else if (!down) {
      active.delete(i);
    }
  }
  if (down) { for (const j of active) notes[j].end = Math.max(notes[j].end, endTick); }
  let extended = 0;
  notes.forEach((n, i) => {
    if (n.end > originalEnds[i]) extended++;
  });
  return extended;
}
