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
  // Sounding notes: `held` (key still down) and `sustained` (key released while the pedal was down), and per pitch
  // which of them sound, for the re-strike cut. Each note joins and leaves each set once: linear in the events.
  const held = new Set<number>();
  const sustained = new Set<number>();
  const byPitch = new Map<number, Set<number>>();
  const stop = (j: number) => {
    held.delete(j);
    sustained.delete(j);
    byPitch.get(notes[j].pitch)!.delete(j);
  };
  for (const [tick, kind, i] of events) {
    if (kind === PEDAL_DOWN) down = true;
    else if (kind === PEDAL_UP) {
      down = false;
      // Notes whose key was released earlier end here (a key released at this very tick ends on its own).
      for (const j of sustained) {
        notes[j].end = tick;
        byPitch.get(notes[j].pitch)!.delete(j);
      }
      sustained.clear();
    } else if (kind === NOTE_ON) {
      const same = byPitch.get(notes[i].pitch);
      if (down && same) {
        for (const j of same) {
          notes[j].end = tick;
          held.delete(j);
          sustained.delete(j);
        }
        same.clear();
      }
      held.add(i);
      if (same) same.add(i);
      else byPitch.set(notes[i].pitch, new Set([i]));
    } else if (held.has(i)) {
      if (down) {
        held.delete(i);
        sustained.add(i);
      } else stop(i);
    }
  }
  if (down) {
    for (const j of held) notes[j].end = Math.max(notes[j].end, endTick);
    for (const j of sustained) notes[j].end = Math.max(notes[j].end, endTick);
  }
  let extended = 0;
  notes.forEach((n, i) => {
    if (n.end > originalEnds[i]) extended++;
  });
  return extended;
}
