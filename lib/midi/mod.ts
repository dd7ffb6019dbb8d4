/**
 * MIDI bytes ⇄ `Score`: a strict Standard MIDI File reader (`readMidi`, `readMidiDetailed`, `readMidiFile`) that
 * names what is wrong with a broken file (`MidiError`) and keeps every score within documented size limits
 * (`ReadLimits`), and a writer (`writeMidi`) whose output the reader returns
 * unchanged. The writer can add text meta events (a provenance record), which the reader reports in
 * `report.texts` without changing the score.
 *
 * @example
 * ```ts
 * import { readMidi, writeMidi } from "./mod.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 90, start: 0, duration: 480 });
 * const back = readMidi(writeMidi(s));
 * console.log(back.notes.length); // 1
 * ```
 *
 * @module
 */
export { MidiError } from "./error.ts";
export { MAX_MIDI_BYTES } from "./_smf.ts";
export {
  DEFAULT_READ_LIMITS,
  MAX_SCORE_TICK,
  measureScore,
  type MidiReport,
  type ReadLimits,
  readMidi,
  readMidiDetailed,
  readMidiFile,
  type ReadMidiOptions,
  type ScoreExtent,
} from "./read.ts";
export { MAX_WRITE_TICK, writeMidi, type WriteMidiOptions } from "./write.ts";
