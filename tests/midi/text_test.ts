/**
 * Text meta events in lib/midi: `writeMidi(score, { text })` writes them at tick 0 of track 1, before everything else
 * there; `readMidiDetailed` reports them (`report.texts`) and reads back the same score as without them; taking them
 * out gives the bytes written without them; @tonejs/midi reads them as header meta events.
 */
import midiPkg from "@tonejs/midi";
import { readMidi, readMidiDetailed, writeMidi } from "../../lib/midi/mod.ts";
import { emptyScore, type Score } from "../../lib/score.ts";
import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { stripLeadingText } from "./_strip.ts";

const { Midi } = midiPkg;

function piece(): Score {
  const s = emptyScore(480);
  s.tempos = [{ tick: 0, bpm: 100 }, { tick: 1920, bpm: 80 }];
  s.timeSignatures = [{ tick: 0, numerator: 3, denominator: 4 }];
  for (let i = 0; i < 8; i++) {
    s.notes.push({ pitch: 60 + i, velocity: 70 + i, start: i * 240, duration: 200 });
  }
  return s;
}

Deno.test("midi text: written first in track 1, reported by the reader, the score unchanged", () => {
  const s = piece();
  const plain = writeMidi(s);
  const record = 'etude:{"v":1,"seed":7}';
  const bytes = writeMidi(s, { text: [record, "second"] });
  const { score, report } = readMidiDetailed(bytes);
  assertEquals(score, readMidi(plain));
  assertEquals(score, s);
  assertEquals(report.texts, [
    { track: 1, tick: 0, text: record },
    { track: 1, tick: 0, text: "second" },
  ]);
  assertEquals(readMidiDetailed(plain).report.texts, []);
  // Taking the events out (read byte by byte, not by lib/midi) gives exactly the bytes written without them.
  const first = stripLeadingText(bytes);
  assertEquals(first.text, record);
  const second = stripLeadingText(first.bytes);
  assertEquals(second.text, "second");
  assertEquals(second.bytes, plain);
});

Deno.test("midi text: UTF-8 and long texts round-trip; empty texts are not written; a non-string is a MidiError", () => {
  const s = piece();
  const long = "x".repeat(70_000); // a 3-byte length
  const bytes = writeMidi(s, { text: ["", "café ♪", long] });
  assertEquals(readMidiDetailed(bytes).report.texts.map((t) => t.text), ["café ♪", long]);
  assertEquals(writeMidi(s, { text: [""] }), writeMidi(s), "an empty text writes nothing");
  assertThrows(() => writeMidi(s, { text: [3 as unknown as string] }), {
    name: "MidiError",
    message: "cannot write text 0: not a string",
  });
});

Deno.test("midi text: the empty events that bridge a long gap are not reported", () => {
  const s = emptyScore(480);
  s.notes.push({ pitch: 60, velocity: 90, start: 0x0fffffff + 5, duration: 10 });
  const { report } = readMidiDetailed(writeMidi(s, { text: ["hello"] }), { maxGapSeconds: Infinity });
  assertEquals(report.texts, [{ track: 1, tick: 0, text: "hello" }]);
});

Deno.test("midi text: format 2 texts are placed on the piece's timeline; tracks are numbered from 1", () => {
  // Two format 2 sequences of one bar each; the second has a text event at its own tick 0.
  const mtrk = (events: number[][]) => {
    const body = events.flat().concat([0x00, 0xff, 0x2f, 0x00]);
    return [0x4d, 0x54, 0x72, 0x6b, 0, 0, (body.length >> 8) & 255, body.length & 255, ...body];
  };
  const bytes = Uint8Array.from([
    ...[0x4d, 0x54, 0x68, 0x64, 0, 0, 0, 6, 0, 2, 0, 2, 0x01, 0xe0],
    ...mtrk([[0x00, 0x90, 60, 90], [0x83, 0x60, 0x80, 60, 0]]),
    ...mtrk([[0x00, 0xff, 0x01, 0x02, 0x68, 0x69], [0x00, 0x90, 62, 90], [0x83, 0x60, 0x80, 62, 0]]),
  ]);
  assertEquals(readMidiDetailed(bytes).report.texts, [{ track: 2, tick: 480, text: "hi" }]);
});

Deno.test("midi text: @tonejs/midi reads the file with its text as a header meta event", () => {
  const s = piece();
  const bytes = writeMidi(s, { text: ['etude:{"v":1}'] });
  const midi = new Midi(bytes);
  assertEquals(midi.header.meta.map((m) => [m.type, m.ticks, m.text]), [["text", 0, 'etude:{"v":1}']]);
  const notes = midi.tracks.flatMap((t) => t.notes);
  assertEquals(notes.length, s.notes.length);
  assert(notes.every((n, i) => n.midi === s.notes[i].pitch && n.ticks === s.notes[i].start));
  assertEquals(midi.header.tempos.map((t) => Math.round(t.bpm)), [100, 80]);
});
