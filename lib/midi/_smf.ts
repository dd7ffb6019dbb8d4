/**
 * Private: a strict Standard MIDI File decoder. It checks the structure of every chunk and event before anything
 * is trusted and throws `MidiError` naming what is wrong; it returns only the events etude uses.
 *
 * @module
 */
import { MidiError } from "./error.ts";

/** One decoded event with its absolute tick inside its track. */
export type SmfEvent =
  | { tick: number; type: "noteOn"; channel: number; pitch: number; velocity: number }
  | { tick: number; type: "noteOff"; channel: number; pitch: number }
  | { tick: number; type: "controller"; channel: number; controller: number; value: number }
  | { tick: number; type: "tempo"; microsPerBeat: number }
  | { tick: number; type: "timeSignature"; numerator: number; denominator: number };

/** One MTrk chunk: its events in file order, its non-empty text events (`FF 01`), the tick of its End-of-Track. */
export interface SmfTrack {
  events: SmfEvent[];
  texts: { tick: number; text: string }[];
  endTick: number;
}

/** A decoded file. `ticksPerBeat` is set for metrical division, `smpte` for SMPTE division. */
export interface SmfFile {
  format: number;
  ticksPerBeat?: number;
  smpte?: { framesPerSecond: number; ticksPerFrame: number };
  tracks: SmfTrack[];
  /** Chunks with an unknown 4-letter id, skipped as the SMF spec asks. */
  unknownChunks: number;
  /** Bytes after the last chunk too few to form a chunk header (ignored). */
  trailingBytes: number;
  /** Bytes left inside a track chunk after its End-of-Track (ignored). */
  bytesAfterEndOfTrack: number;
  /** Tempo / time-signature meta events with impossible values, skipped. */
  invalidMetaEvents: number;
}

/**
 * Largest file the decoder accepts: a guard against absurd inputs (real piano MIDI is well under 1 MB; 16 MiB of
 * 3-byte events is about 5 million event objects).
 *
 * @example
 * ```ts
 * import { MAX_MIDI_BYTES } from "./_smf.ts";
 * MAX_MIDI_BYTES; // 16777216
 * ```
 */
export const MAX_MIDI_BYTES = 16 * 1024 * 1024;

const SMPTE_RATES = new Set([24, 25, 29, 30]);

/** Text events are read as UTF-8 (ASCII, what most files hold, is the same); a bad byte becomes U+FFFD. */
const UTF8 = new TextDecoder();

function hex(b: number): string {
  return "0x" + b.toString(16).toUpperCase().padStart(2, "0");
}

function chunkId(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
}

function u32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) >>> 0) + (bytes[at + 1] << 16) + (bytes[at + 2] << 8) + bytes[at + 3];
}

function isPrintableId(id: string): boolean {
  return /^[\x20-\x7E]{4}$/.test(id);
}

/**
 * Decodes and validates `bytes` as a Standard MIDI File. `name` prefixes error messages.
 *
 * @example
 * ```ts
 * import { parseSmf } from "./_smf.ts";
 * const smf = parseSmf(await Deno.readFile("song.mid"), "song.mid");
 * console.log(smf.format, smf.tracks.length);
 * ```
 */
export function parseSmf(bytes: Uint8Array, name?: string): SmfFile {
  const fail = (msg: string): never => {
    throw new MidiError(msg, name);
  };
  if (bytes.length === 0) fail("empty file (0 bytes)");
  if (bytes.length > MAX_MIDI_BYTES) {
    fail(`file is ${bytes.length} bytes, more than the ${MAX_MIDI_BYTES} accepted`);
  }
  if (bytes.length < 4 || chunkId(bytes, 0) !== "MThd") {
    fail(`not a MIDI file: no MThd header at the start (${bytes.length} bytes)`);
  }
  if (bytes.length < 14) fail(`truncated header: ${bytes.length} bytes, a MIDI header needs 14`);
  const headerLength = u32(bytes, 4);
  if (headerLength < 6) fail(`MThd length ${headerLength} is shorter than 6`);
  if (8 + headerLength > bytes.length) {
    fail(`MThd length ${headerLength} runs past the end of the file (${bytes.length} bytes)`);
  }
  const format = (bytes[8] << 8) | bytes[9];
  const declaredTracks = (bytes[10] << 8) | bytes[11];
  const division = (bytes[12] << 8) | bytes[13];
  if (format > 2) fail(`format ${format} is not 0, 1 or 2`);
  if (declaredTracks === 0) fail("header declares 0 tracks");
  let ticksPerBeat: number | undefined;
  let smpte: SmfFile["smpte"];
  if (division & 0x8000) {
    const fps = 256 - bytes[12];
    const ticksPerFrame = bytes[13];
    if (!SMPTE_RATES.has(fps)) {
      fail(`SMPTE division with ${fps} frames per second (expected 24, 25, 29 or 30)`);
    }
    if (ticksPerFrame === 0) fail("SMPTE division with 0 ticks per frame");
    smpte = { framesPerSecond: fps, ticksPerFrame };
  } else {
    if (division === 0) fail("division is 0 ticks per beat");
    ticksPerBeat = division;
  }

  const out: SmfFile = {
    format,
    ticksPerBeat,
    smpte,
    tracks: [],
    unknownChunks: 0,
    trailingBytes: 0,
    bytesAfterEndOfTrack: 0,
    invalidMetaEvents: 0,
  };
  let pos = 8 + headerLength;
  let mtrkCount = 0;
  while (pos + 8 <= bytes.length) {
    const id = chunkId(bytes, pos);
    const length = u32(bytes, pos + 4);
    const what = id === "MTrk" ? `track ${mtrkCount + 1}` : `chunk ${JSON.stringify(id)} at offset ${pos}`;
    if (id !== "MTrk" && !isPrintableId(id)) {
      fail(
        `expected a chunk (MTrk) at offset ${pos}, found bytes ${[...bytes.subarray(pos, pos + 4)].map(hex)}`,
      );
    }
    if (pos + 8 + length > bytes.length) {
      fail(`${what}: chunk length ${length} runs past the end of the file (${bytes.length} bytes)`);
    }
    if (id === "MTrk") {
      mtrkCount++;
      if (mtrkCount > declaredTracks) {
        fail(`header declares ${declaredTracks} tracks but the file has more MTrk chunks`);
      }
      out.tracks.push(parseTrack(bytes, pos + 8, pos + 8 + length, mtrkCount, out, fail));
    } else {
      out.unknownChunks++;
    }
    pos += 8 + length;
  }
  out.trailingBytes = bytes.length - pos;
  if (mtrkCount !== declaredTracks) {
    fail(`header declares ${declaredTracks} tracks but the file has ${mtrkCount} MTrk chunks`);
  }
  return out;
}

function parseTrack(
  bytes: Uint8Array,
  start: number,
  end: number,
  trackNo: number,
  file: SmfFile,
  fail: (msg: string) => never,
): SmfTrack {
  const where = (at: number) => `track ${trackNo}, offset ${at}`;
  const events: SmfEvent[] = [];
  const texts: SmfTrack["texts"] = [];
  let pos = start;
  let tick = 0;
  let running = 0;
  const vlq = (): number => {
    let value = 0;
    for (let i = 0; i < 4; i++) {
      if (pos >= end) fail(`${where(pos)}: variable-length number runs past the end of the track`);
      const b = bytes[pos++];
      value = value * 128 + (b & 0x7f);
      if (!(b & 0x80)) return value;
    }
    return fail(`${where(pos - 4)}: variable-length number longer than 4 bytes`);
  };
  const dataByte = (): number => {
    if (pos >= end) fail(`${where(pos)}: event runs past the end of the track`);
    const b = bytes[pos];
    if (b & 0x80) fail(`${where(pos)}: status byte ${hex(b)} where a data byte was expected`);
    pos++;
    return b;
  };
  while (pos < end) {
    tick += vlq();
    if (pos >= end) fail(`${where(pos)}: delta time without an event at the end of the track`);
    const at = pos;
    let status = bytes[pos];
    if (status & 0x80) {
      pos++;
    } else {
      // Running status: a data byte reuses the last channel status. Like most players (and the jazz-soft test
      // files), meta and sysex events do not cancel it.
      if (!running) fail(`${where(at)}: data byte ${hex(status)} with no running status`);
      status = running;
    }
    if (status < 0xf0) {
      running = status;
      const kind = status >> 4;
      const channel = status & 0x0f;
      const a = dataByte();
      if (kind === 0xc || kind === 0xd) continue;
      const b = dataByte();
      if (kind === 0x9 && b > 0) events.push({ tick, type: "noteOn", channel, pitch: a, velocity: b });
      else if (kind === 0x8 || kind === 0x9) events.push({ tick, type: "noteOff", channel, pitch: a });
      else if (kind === 0xb) events.push({ tick, type: "controller", channel, controller: a, value: b });
    } else if (status === 0xff) {
      if (pos >= end) fail(`${where(at)}: meta event without a type`);
      const metaType = bytes[pos++];
      const length = vlq();
      if (pos + length > end) {
        fail(`${where(at)}: meta event ${hex(metaType)} of length ${length} runs past the end of the track`);
      }
      const d = bytes.subarray(pos, pos + length);
      pos += length;
      if (metaType === 0x2f) {
        file.bytesAfterEndOfTrack += end - pos;
        return { events, texts, endTick: tick };
      } else if (metaType === 0x51) {
        const micros = length >= 3 ? (d[0] << 16) | (d[1] << 8) | d[2] : 0;
        if (micros > 0) events.push({ tick, type: "tempo", microsPerBeat: micros });
        else file.invalidMetaEvents++;
      } else if (metaType === 0x01) {
        if (length > 0) texts.push({ tick, text: UTF8.decode(d) });
      } else if (metaType === 0x58) {
        if (length >= 2 && d[0] > 0 && d[1] <= 6) {
          events.push({ tick, type: "timeSignature", numerator: d[0], denominator: 1 << d[1] });
        } else file.invalidMetaEvents++;
      }
    } else if (status === 0xf0 || status === 0xf7) {
      const length = vlq();
      if (pos + length > end) {
        fail(`${where(at)}: sysex event of length ${length} runs past the end of the track`);
      }
      pos += length;
    } else {
      fail(
        `${where(at)}: illegal status byte ${hex(status)} (a system message cannot appear in a MIDI file)`,
      );
    }
  }
  return fail(`track ${trackNo}: no End-of-Track event`);
}
