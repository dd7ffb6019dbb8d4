/**
 * Test helper: takes the leading text meta event (`00 FF 01 len text`) out of track 1 of a Standard MIDI File, read
 * byte by byte here (not with lib/midi), so that "with the event taken out, the bytes are those written without it"
 * is checked independently of the writer.
 */

/** Reads a variable-length quantity at `at`: its value and the bytes it took. */
function readVlq(b: Uint8Array, at: number): { value: number; size: number } {
  let value = 0;
  for (let i = 0; i < 4; i++) {
    const x = b[at + i];
    value = value * 128 + (x & 0x7f);
    if (!(x & 0x80)) return { value, size: i + 1 };
  }
  throw new Error("bad variable-length quantity");
}

/**
 * `bytes` without the text event that opens track 1 (delta 0, `FF 01`), the track length adjusted, and that text.
 * Throws when track 1 does not open with one.
 */
export function stripLeadingText(bytes: Uint8Array): { bytes: Uint8Array; text: string } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ascii = (at: number, n: number) => String.fromCharCode(...bytes.subarray(at, at + n));
  if (ascii(0, 4) !== "MThd") throw new Error("not a MIDI file");
  const track = 8 + dv.getUint32(4);
  if (ascii(track, 4) !== "MTrk") throw new Error("no MTrk after the header");
  const length = dv.getUint32(track + 4);
  const body = track + 8;
  if (bytes[body] !== 0x00 || bytes[body + 1] !== 0xff || bytes[body + 2] !== 0x01) {
    throw new Error("track 1 does not open with a text event at tick 0");
  }
  const { value: n, size } = readVlq(bytes, body + 3);
  const removed = 3 + size + n;
  const text = new TextDecoder().decode(bytes.subarray(body + 3 + size, body + removed));
  const out = new Uint8Array(bytes.length - removed);
  out.set(bytes.subarray(0, track + 4));
  new DataView(out.buffer).setUint32(track + 4, length - removed);
  out.set(bytes.subarray(track + 8, body), track + 8);
  out.set(bytes.subarray(body + removed), body);
  return { bytes: out, text };
}
