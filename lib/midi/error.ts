/**
 * Private home of `MidiError` (re-exported by `lib/midi/mod.ts`), so the SMF decoder and encoder can throw it without
 * importing the public module.
 *
 * @module
 */

/**
 * A MIDI file that cannot be read (or a score that cannot be written): the message names what is wrong.
 *
 * @example
 * ```ts
 * import { MidiError, readMidi } from "./mod.ts";
 * try {
 *   readMidi(new TextEncoder().encode("not a MIDI file"), { name: "x.mid" });
 * } catch (e) {
 *   if (e instanceof MidiError) console.log(e.file, e.message); // "x.mid", "x.mid: …"
 * }
 * ```
 */
export class MidiError extends Error {
  /** The file (or name) the error is about, when known. */
  file?: string;
  /**
   * An error about `file` (when given, the message is prefixed with `file: `).
   *
   * @example
   * ```ts
   * import { MidiError } from "./error.ts";
   * const e = new MidiError("no MThd header", "song.mid");
   * e.message; // "song.mid: no MThd header"
   * ```
   */
  constructor(message: string, file?: string) {
    super(file ? `${file}: ${message}` : message);
    this.name = "MidiError";
    this.file = file;
  }
}
