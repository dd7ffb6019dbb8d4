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
  const n = notes.length, P = pedal.length, E = P + 2 * n;
  const originalEnds = new Float64Array(n);
  // Events (tick, kind, index) in one sorted order: at one tick pedal-down < pedal-up < note-on < note-off, then
  // by index. Packed into one float each when that fits in 53 bits (a numeric sort, no per-event objects), else
  // sorted by comparing the three.
  const tick = new Float64Array(E), kind = new Uint8Array(E), idx = new Uint32Array(E);
  let maxTick = 0;
  for (let i = 0; i < P; i++) {
    tick[i] = pedal[i].tick;
    kind[i] = pedal[i].value >= 64 ? PEDAL_DOWN : PEDAL_UP;
    idx[i] = i;
  }
  for (let i = 0; i < n; i++) {
    const a = P + 2 * i;
    originalEnds[i] = notes[i].end;
    tick[a] = notes[i].start, kind[a] = NOTE_ON, idx[a] = i;
    tick[a + 1] = notes[i].end, kind[a + 1] = NOTE_OFF, idx[a + 1] = i;
  }
  let integral = true;
  for (let e = 0; e < E; e++) {
    const t = tick[e];
    if (t > maxTick) maxTick = t;
    if (!(t >= 0 && Math.floor(t) === t)) integral = false;
  }
  const M = Math.max(n, P) + 1;
  let order: Uint32Array;
  if (integral && (maxTick * 4 + 4) * M < Number.MAX_SAFE_INTEGER) {
    const keys = new Float64Array(E);
    for (let e = 0; e < E; e++) keys[e] = (tick[e] * 4 + kind[e]) * M + idx[e];
    keys.sort();
    order = new Uint32Array(E);
    for (let e = 0; e < E; e++) {
      const k = keys[e], i = k % M, rest = (k - i) / M, kd = rest % 4;
      order[e] = kd <= PEDAL_UP ? i : P + 2 * i + (kd - NOTE_ON);
    }
  } else {
    order = new Uint32Array(E).map((_, e) => e);
    order.sort((a, b) => tick[a] - tick[b] || kind[a] - kind[b] || idx[a] - idx[b]);
  }
  // Per note: 0 silent, 1 held (key down), 2 sustained (key released while the pedal was down). `sustained` and
  // `byPitch` list candidates; an entry whose note has fallen silent since is skipped. Each entry is visited at most
  // once (its list is cleared after a visit): linear in the events.
  const state = new Uint8Array(n);
  const sustained: number[] = [];
  const byPitch: number[][] = [];
  let down = false;
  for (let o = 0; o < E; o++) {
    const e = order[o], t = tick[e], k = kind[e], i = idx[e];
    if (k === PEDAL_DOWN) down = true;
    else if (k === PEDAL_UP) {
      down = false;
      // Notes whose key was released earlier end here (a key released at this very tick ends on its own).
      for (const j of sustained) {
        if (state[j] === 2) {
          notes[j].end = t;
          state[j] = 0;
        }
      }
      sustained.length = 0;
    } else if (k === NOTE_ON) {
      const p = notes[i].pitch;
      const same = byPitch[p] ??= [];
      if (down) {
        for (const j of same) {
          if (state[j] !== 0) {
            notes[j].end = t;
            state[j] = 0;
          }
        }
        same.length = 0;
      }
      state[i] = 1;
      same.push(i);
    } else if (state[i] === 1) {
      if (down) {
        state[i] = 2;
        sustained.push(i);
      } else state[i] = 0;
    }
  }
  if (down) {
    for (let j = 0; j < n; j++) if (state[j] !== 0) notes[j].end = Math.max(notes[j].end, endTick);
  }
  let extended = 0;
  for (let i = 0; i < n; i++) if (notes[i].end > originalEnds[i]) extended++;
  return extended;
}
