/**
 * Writing a `Score` as a Standard MIDI File. Encodes a `Score` as a format 1 Standard MIDI File — track 1 holds the tempo map and time signatures,
 * track 2 the notes on channel 0 with program 0 (acoustic grand piano). Note-offs are real 0x80 events and, at one
 * tick, come before note-ons, so a re-struck key pairs correctly in every reader. Text meta events (`FF 01`, e.g. a
 * provenance record) may be added at tick 0 of track 1, before everything else there: taking them out gives the
 * bytes written without them.
 *
 * @module
 */
import { MidiError } from "./error.ts";
import type { Score } from "../score.ts";

class ByteWriter {
  #buf = new Uint8Array(1024);
  length = 0;
  #grow(n: number) {
    if (this.length + n <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(this.#buf.length * 2, this.length + n));
    next.set(this.#buf.subarray(0, this.length));
    this.#buf = next;
  }
  bytes(...values: number[]) {
    this.#grow(values.length);
    for (const v of values) this.#buf[this.length++] = v;
  }
  vlq(value: number) {
    this.bytes(...vlqBytes(value));
  }
  u32(value: number) {
    this.bytes((value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
  }
  append(data: Uint8Array) {
    this.#grow(data.length);
    this.#buf.set(data, this.length);
    this.length += data.length;
  }
  ascii(s: string) {
    this.bytes(...[...s].map((c) => c.charCodeAt(0)));
  }
  view(): Uint8Array {
    return this.#buf.subarray(0, this.length);
  }
}

/** The largest delta a 4-byte variable-length quantity holds. */
const MAX_DELTA = 0x0fffffff;

/**
 * The largest tick `writeMidi` writes: 2⁴⁰ (about 1.1 × 10¹²). A delta time holds at most 2²⁸ − 1 ticks, so a longer
 * gap is bridged with empty text events (`FF 01 00`, which every reader skips), at most 4,096 per track at this limit.
 * Every score `readMidi` returns ends below tick 2³¹ (`MAX_SCORE_TICK`).
 *
 * @example
 * ```ts
 * import { MAX_WRITE_TICK } from "./write.ts";
 * MAX_WRITE_TICK; // 1099511627776
 * ```
 */
export const MAX_WRITE_TICK = 2 ** 40;

type Timed = { tick: number; order: number; data: number[] | Uint8Array };

function writeTrack(out: ByteWriter, events: Timed[], endTick = 0) {
  events.sort((a, b) => a.tick - b.tick || a.order - b.order);
  const body = new ByteWriter();
  let last = 0;
  for (const e of events) {
    // Bridge a gap longer than one delta time can say with empty text meta events.
    while (e.tick - last > MAX_DELTA) {
      body.vlq(MAX_DELTA);
      body.bytes(0xff, 0x01, 0x00);
      last += MAX_DELTA;
    }
    body.vlq(e.tick - last);
    if (e.data instanceof Uint8Array) body.append(e.data);
    else body.bytes(...e.data);
    last = e.tick;
  }
  while (endTick - last > MAX_DELTA) {
    body.vlq(MAX_DELTA);
    body.bytes(0xff, 0x01, 0x00);
    last += MAX_DELTA;
  }
  body.vlq(Math.max(0, endTick - last));
  body.bytes(0xff, 0x2f, 0x00);
  out.ascii("MTrk");
  out.u32(body.length);
  out.append(body.view());
}

function vlqBytes(value: number): number[] {
  const out = [value & 0x7f];
  for (let v = Math.floor(value / 128); v > 0; v = Math.floor(v / 128)) out.unshift((v & 0x7f) | 0x80);
  return out;
}

function checkTick(tick: number, what: string): number {
  if (!Number.isFinite(tick) || tick < 0 || Math.round(tick) > MAX_WRITE_TICK) {
    throw new MidiError(`cannot write ${what}: tick ${tick} is not in 0..${MAX_WRITE_TICK}`);
  }
  return Math.round(tick);
}

/**
 * What `writeMidi` adds besides the score.
 *
 * @example
 * ```ts
 * import { writeMidi, type WriteMidiOptions } from "./write.ts";
 * import { emptyScore } from "../score.ts";
 * const opts: WriteMidiOptions = { text: ["made by hand"] };
 * const bytes = writeMidi(emptyScore(480), opts); // track 1 starts with FF 01 0C "made by hand"
 * ```
 */
export interface WriteMidiOptions {
  /**
   * Text meta events (`FF 01`), written in this order at tick 0 of track 1, before its tempo and time signature.
   * Encoded as UTF-8 (keep them ASCII for readers that take text as Latin-1); `readMidiDetailed` reports them in
   * `report.texts`, and the score read back is the same with or without them. Empty strings are not written.
   */
  text?: readonly string[];
}

/** The largest text event `writeMidi` writes, in UTF-8 bytes (what a 4-byte length holds). */
const MAX_TEXT_BYTES = 0x0fffffff;

/**
 * Encodes `score` as SMF bytes. Ticks are rounded to integers; tempos to whole microseconds per beat.
 *
 * @example
 * ```ts
 * import { encodeSmf } from "./write.ts";
 * import { emptyScore } from "../score.ts";
 * const bytes = encodeSmf(emptyScore(480)); // a valid, empty format 1 file
 * ```
 */
export function encodeSmf(score: Score, opts: WriteMidiOptions = {}): Uint8Array {
  const tpb = score.ticksPerBeat;
  if (!Number.isInteger(tpb) || tpb < 1 || tpb > 0x7fff) {
    throw new MidiError(`cannot write ticksPerBeat ${tpb}: expected an integer in 1..32767`);
  }
  const meta: Timed[] = [];
  const encoder = new TextEncoder();
  (opts.text ?? []).forEach((t, i) => {
    if (typeof t !== "string") throw new MidiError(`cannot write text ${i}: not a string`);
    const bytes = encoder.encode(t);
    if (bytes.length === 0) return; // an empty text is what bridges long gaps: nothing to say
    if (bytes.length > MAX_TEXT_BYTES) throw new MidiError(`cannot write text ${i}: ${bytes.length} bytes`);
    // Before everything at tick 0 (order -1), in the order given (the sort is stable).
    const head = [0xff, 0x01, ...vlqBytes(bytes.length)];
    const data = new Uint8Array(head.length + bytes.length);
    data.set(head);
    data.set(bytes, head.length);
    meta.push({ tick: 0, order: -1, data });
  });
  score.tempos.forEach((t, i) => {
    const micros = Math.round(60_000_000 / t.bpm);
    if (!Number.isFinite(micros) || micros < 1 || micros > 0xffffff) {
      throw new MidiError(`cannot write tempo ${i} (${t.bpm} bpm): outside what a tempo event holds`);
    }
    meta.push({
      tick: checkTick(t.tick, `tempo ${i}`),
      order: 1,
      data: [0xff, 0x51, 0x03, (micros >> 16) & 0xff, (micros >> 8) & 0xff, micros & 0xff],
    });
  });
  score.timeSignatures.forEach((ts, i) => {
    const power = Math.log2(ts.denominator);
    if (!Number.isInteger(power) || power < 0 || power > 6 || !Number.isInteger(ts.numerator)) {
      throw new MidiError(`cannot write time signature ${i} (${ts.numerator}/${ts.denominator})`);
    }
    if (ts.numerator < 1 || ts.numerator > 255) {
      throw new MidiError(`cannot write time signature ${i}: numerator ${ts.numerator} not in 1..255`);
    }
    meta.push({
      tick: checkTick(ts.tick, `time signature ${i}`),
      order: 0,
      data: [0xff, 0x58, 0x04, ts.numerator, power, 24, 8],
    });
  });
  const notes: Timed[] = [{ tick: 0, order: 0, data: [0xc0, 0x00] }];
  score.notes.forEach((n, i) => {
    if (!Number.isInteger(n.pitch) || n.pitch < 0 || n.pitch > 127) {
      throw new MidiError(`cannot write note ${i}: pitch ${n.pitch} not in 0..127`);
    }
    const velocity = Math.min(127, Math.max(1, Math.round(n.velocity)));
    if (!Number.isFinite(velocity)) throw new MidiError(`cannot write note ${i}: velocity ${n.velocity}`);
    const start = checkTick(n.start, `note ${i}`);
    const end = checkTick(n.start + Math.max(0, n.duration), `note ${i}`);
    notes.push({ tick: start, order: 2, data: [0x90, n.pitch, velocity] });
    // A zero-length note's off must follow its own on; any other off precedes the ons at its tick.
    notes.push({ tick: end, order: end === start ? 3 : 1, data: [0x80, n.pitch, 64] });
  });
  const out = new ByteWriter();
  out.ascii("MThd");
  out.u32(6);
  out.bytes(0, 1, 0, 2, (tpb >> 8) & 0xff, tpb & 0xff);
  const end = score.endTick === undefined ? 0 : checkTick(score.endTick, "endTick");
  writeTrack(out, meta);
  writeTrack(out, notes, end);
  return out.view().slice();
}

/**
 * Writes a `Score` as a format 1 Standard MIDI File: a tempo/time-signature track and one piano track (channel 1,
 * program 0). Ticks are rounded to integers and tempos to whole microseconds per beat; for a score `readMidi`
 * produced (or any with integer ticks, sorted tempo/time-signature lists starting at tick 0, no two notes of one key
 * overlapping, durations ≥ 1 and tempos of 60,000,000 / integer bpm), `readMidi(writeMidi(s))` equals `s`.
 * Any tick up to `MAX_WRITE_TICK` is written (gaps over 2²⁸ − 1 ticks are bridged), so every score `readMidi`
 * returns can be written. With `score.endTick`, the piano track's end-of-track sits there (or at its last event,
 * if later; the tempo track ends at its last event), so the file lasts until `endTick`. `opts.text` adds text meta events at tick 0 of track 1 (see `WriteMidiOptions`); they do
 * not change the score read back. Throws `MidiError` for values a MIDI file cannot hold.
 *
 * @example
 * ```ts
 * import { writeMidi } from "./write.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 90, start: 0, duration: 480 });
 * await Deno.writeFile("c4.mid", writeMidi(s));
 * await Deno.writeFile("c4-noted.mid", writeMidi(s, { text: ["middle C, one beat"] }));
 * ```
 */
export function writeMidi(score: Score, opts: WriteMidiOptions = {}): Uint8Array {
  return encodeSmf(score, opts);
}
