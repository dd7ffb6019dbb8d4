/**
 * lib/midi on committed fixtures (jazz-soft, nfroidure: MIT; note-seq: Apache-2.0) and on MIDI bytes written
 * here by hand. The corpus-wide checks are in midi_corpus_test.ts.
 */
import midiPkg from "@tonejs/midi";
import { MidiError, readMidi, readMidiDetailed, readMidiFile, writeMidi } from "../../lib/midi/mod.ts";
import { emptyScore, type Score, ticksToSeconds } from "../../lib/score.ts";
import { assert, assertAlmostEquals, assertEquals, assertRejects, assertThrows } from "../_assert.ts";

const { Midi } = midiPkg;
const FIXTURES = new URL("../testdata/midi/", import.meta.url);
const fixture = (name: string) => Deno.readFileSync(new URL(name, FIXTURES));

// ---- building MIDI bytes by hand ----

function vlq(value: number): number[] {
  const out = [value & 0x7f];
  for (let v = value >>> 7; v > 0; v >>>= 7) out.unshift((v & 0x7f) | 0x80);
  return out;
}
function u32(n: number): number[] {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
}
function ascii(s: string): number[] {
  return [...s].map((c) => c.charCodeAt(0));
}
/** An MTrk chunk from [delta, ...eventBytes] entries; appends End-of-Track unless `eot` is false. */
function mtrk(events: number[][], eot = true): number[] {
  const body: number[] = [];
  for (const [delta, ...bytes] of events) body.push(...vlq(delta), ...bytes);
  if (eot) body.push(0, 0xff, 0x2f, 0);
  return [...ascii("MTrk"), ...u32(body.length), ...body];
}
function smf(
  format: number,
  division: [number, number],
  tracks: number[][],
  ntracks = tracks.length,
): Uint8Array {
  return new Uint8Array([
    ...ascii("MThd"),
    ...u32(6),
    0,
    format,
    ntracks >> 8,
    ntracks & 255,
    ...division,
    ...tracks.flat(),
  ]);
}
const PPQ96: [number, number] = [0, 96];
const on = (delta: number, pitch: number, vel = 100, ch = 0) => [delta, 0x90 | ch, pitch, vel];
const off = (delta: number, pitch: number, ch = 0) => [delta, 0x80 | ch, pitch, 64];
const cc = (delta: number, num: number, value: number, ch = 0) => [delta, 0xb0 | ch, num, value];
const tempo = (
  delta: number,
  micros: number,
) => [delta, 0xff, 0x51, 3, micros >> 16, (micros >> 8) & 255, micros & 255];
const timeSig = (delta: number, num: number, denPow: number) => [delta, 0xff, 0x58, 4, num, denPow, 24, 8];
const brief = (s: Score) => s.notes.map((n) => [n.pitch, n.start, n.duration]);

const C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72].map((p, i) => [p, i * 96, 96]);

// ---- valid files ----

Deno.test("midi: jazz-soft valid edge cases read as the C major scale they encode", () => {
  for (
    const f of [
      "jazz-soft-test-c-major-scale.mid",
      "jazz-soft-test-running-status-metaevent.mid", // running status continues after a meta event
      "jazz-soft-test-running-status-sysex.mid", // ... and after a sysex
      "jazz-soft-test-vlq-4-byte.mid",
      "jazz-soft-test-non-midi-track.mid", // an unknown "Junk" chunk before the MTrk, skipped
      "jazz-soft-test-corrupt-file-extra-byte.mid", // one stray byte after the last chunk: data intact
    ]
  ) {
    const { score, report } = readMidiDetailed(fixture(f), { name: f });
    assertEquals(brief(score), C_MAJOR, f);
    assertEquals(score.ticksPerBeat, 96);
    assertEquals(score.tempos, [{ tick: 0, bpm: 120 }]);
    assertEquals(score.timeSignatures, [{ tick: 0, numerator: 4, denominator: 4 }]);
    if (f.includes("non-midi")) assertEquals(report.unknownChunks, 1);
    if (f.includes("extra-byte")) assertEquals(report.trailingBytes, 1);
    const warnings = f.includes("non-midi")
      ? ["1 unknown chunk(s) skipped"]
      : f.includes("extra-byte")
      ? ["1 byte(s) after the last chunk ignored"]
      : [];
    assertEquals(report.warnings, warnings, f);
  }
});

Deno.test("midi: format 2 tracks are played one after another", () => {
  const { score, report } = readMidiDetailed(fixture("jazz-soft-test-2-tracks-type-2.mid"));
  assertEquals(report.format, 2);
  assertEquals(report.tracks, 2);
  // "Two scales in two tracks must play sequentially": track 1 (C D E F G A B C from tick 96) ends at 864, so
  // track 2 (C# D# F F# G# A# C C#, also from its tick 96) is moved by 864.
  assertEquals(brief(score).map((n) => n[1]), [
    96,
    192,
    288,
    384,
    480,
    576,
    672,
    768,
    ...[96, 192, 288, 384, 480, 576, 672, 768].map((t) => t + 864),
  ]);
  assertEquals(score.notes.slice(8).map((n) => n.pitch), [61, 63, 65, 66, 68, 70, 72, 73]);
  // Hand-built: each track's tempo moves with it.
  const bytes = smf(2, PPQ96, [
    mtrk([tempo(0, 1_000_000), on(0, 60), off(96, 60)]),
    mtrk([tempo(0, 250_000), on(0, 62), off(48, 62)]),
  ]);
  const s = readMidi(bytes);
  assertEquals(brief(s), [[60, 0, 96], [62, 96, 48]]);
  assertEquals(s.tempos, [{ tick: 0, bpm: 60 }, { tick: 96, bpm: 240 }]);
});

Deno.test("midi: nfroidure format 1 files (MIDIBadFormat1 is structurally valid: only a longer first track)", () => {
  const ok = readMidi(fixture("nfroidure-MIDIOkFormat1.mid"));
  const bad = readMidi(fixture("nfroidure-MIDIBadFormat1.mid"));
  assertEquals(ok, bad);
  assertEquals(ok.notes.length, 4);
  assertEquals(ok.tempos, [{ tick: 0, bpm: 120 }]);
  assertEquals(ok.timeSignatures, [{ tick: 0, numerator: 4, denominator: 4 }]);
});

Deno.test("midi: lenient cases that lose no data are read and reported", () => {
  // Format 0 with two tracks (jazz-soft's "technically invalid" test-2-tracks-type-0): overlaid like format 1.
  const two = readMidiDetailed(
    smf(0, PPQ96, [mtrk([on(0, 60), off(96, 60)]), mtrk([on(0, 64), off(96, 64)])]),
  );
  assertEquals(brief(two.score), [[60, 0, 96], [64, 0, 96]]);
  assertEquals(two.report.warnings, ["format 0 with 2 tracks (overlaid)"]);
  // Bytes after End-of-Track inside the chunk; a tempo of 0 and a 1/128 time signature are skipped.
  const body = [
    ...mtrk([tempo(0, 0), timeSig(0, 3, 7), timeSig(0, 5, 3), on(0, 60), off(96, 60)]).slice(8),
    1,
    2,
    3,
  ];
  const r = readMidiDetailed(smf(0, PPQ96, [[...ascii("MTrk"), ...u32(body.length), ...body]]));
  assertEquals(brief(r.score), [[60, 0, 96]]);
  assertEquals(r.score.tempos, [{ tick: 0, bpm: 120 }]);
  assertEquals(r.score.timeSignatures, [{ tick: 0, numerator: 5, denominator: 8 }]);
  assertEquals([r.report.bytesAfterEndOfTrack, r.report.invalidMetaEvents], [3, 2]);
  assertEquals(r.report.warnings, [
    "3 byte(s) after End-of-Track ignored",
    "2 invalid tempo/time-signature event(s) skipped",
  ]);
});

// ---- broken files ----

Deno.test("midi: broken fixtures are rejected with a MidiError naming the problem", () => {
  const cases: [string, RegExp][] = [
    [
      "jazz-soft-test-corrupt-file-missing-byte.mid",
      /track 1: chunk length 246 runs past the end of the file \(267 bytes\)/,
    ],
    ["jazz-soft-test-empty-file.mid", /empty file \(0 bytes\)/],
    ["jazz-soft-test-not-a-midi-file.mid", /not a MIDI file/],
    ["jazz-soft-test-illegal-message-f1-xx.mid", /track 1, offset 216: illegal status byte 0xF1/],
    ["jazz-soft-test-illegal-message-fe.mid", /illegal status byte 0xFE/],
    ["nfroidure-MIDIBadHeaderChunk.mid", /not a MIDI file/],
    ["nfroidure-MIDIBadHeaderFormat.mid", /format 3 is not 0, 1 or 2/],
    ["nfroidure-MIDIBadHeaderLength.mid", /expected a chunk \(MTrk\) at offset 30/],
    ["nfroidure-MIDIBadHeaderSMTPE.mid", /SMPTE division with 16 frames per second/],
    ["nfroidure-MIDIBadHeaderTracksNum.mid", /header declares 2 tracks but the file has 1 MTrk chunks/],
    ["nfroidure-MIDIBadTrackHdr.mid", /header declares 1 tracks but the file has 0 MTrk chunks/],
    [
      "nfroidure-MIDIBadTrackLength.mid",
      /track 1: chunk length 16777275 runs past the end of the file \(81 bytes\)/,
    ],
    ["note-seq-example_is_drum.mid", /track 1: no End-of-Track event/],
  ];
  for (const [f, re] of cases) {
    assertThrows(() => readMidi(fixture(f), { name: f }), (e: unknown) => {
      assert(e instanceof MidiError, `${f}: ${e}`);
      assert(re.test(e.message), `${f}: ${e.message}`);
      assert(e.message.startsWith(`${f}: `), e.message);
      assertEquals(e.file, f);
      return true;
    });
  }
});

Deno.test("midi: hand-built structural errors", () => {
  const good = mtrk([on(0, 60), off(96, 60)]);
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array(ascii("MThd")), /truncated header: 4 bytes/],
    [new Uint8Array([...ascii("MThd"), ...u32(4), 0, 0, 0, 1, ...good]), /MThd length 4 is shorter than 6/],
    [
      new Uint8Array([...ascii("MThd"), ...u32(1000), 0, 0, 0, 1, 0, 96]),
      /MThd length 1000 runs past the end/,
    ],
    [smf(0, [0, 0], [good]), /division is 0/],
    [smf(1, PPQ96, [good], 0), /header declares 0 tracks/],
    [smf(1, PPQ96, [good, good], 1), /header declares 1 tracks but the file has more MTrk chunks/],
    [smf(0, PPQ96, [[...ascii("MTrk"), ...u32(0xffffffff), 0, 0x90]]), /chunk length 4294967295 runs past/],
    [
      smf(0, PPQ96, [mtrk([[0, 0xff, 0x01, 0x81, 0x80, 0x80, 0x80, 0x00]])]),
      /variable-length number longer than 4 bytes/,
    ],
    [smf(0, PPQ96, [mtrk([[0, 60, 100]])]), /data byte 0x3C with no running status/],
    [smf(0, PPQ96, [mtrk([[0, 0x90, 60, 0x90]])]), /status byte 0x90 where a data byte was expected/],
    [
      smf(0, PPQ96, [mtrk([[0, 0xff, 0x01, 100, 65]])]),
      /meta event 0x01 of length 100 runs past the end of the track/,
    ],
    [smf(0, PPQ96, [mtrk([[0, 0xf0, 50, 1, 2]])]), /sysex event of length 50 runs past/],
    [smf(0, PPQ96, [mtrk([on(0, 60), off(96, 60)], false)]), /track 1: no End-of-Track event/],
    [smf(0, PPQ96, [mtrk([[0, 0x90, 60]], false)]), /event runs past the end of the track/],
  ];
  const huge = new Uint8Array(16 * 1024 * 1024 + 1);
  huge.set(smf(0, PPQ96, [good]));
  cases.push([huge, /file is 16777217 bytes, more than the 16777216 accepted/]);
  for (const [bytes, re] of cases) {
    assertThrows(() => readMidi(bytes), (e: unknown) => e instanceof MidiError && re.test(e.message));
  }
});

Deno.test("midi: truncations and byte mutations of real files give a Score or a MidiError, nothing else", () => {
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const sources = [fixture("jazz-soft-test-control-40-damper.mid"), fixture("nfroidure-MIDIOkFormat1.mid")];
  let rejected = 0;
  let read = 0;
  const attempt = (b: Uint8Array) => {
    try {
      readMidiDetailed(b);
      read++;
    } catch (e) {
      if (!(e instanceof MidiError)) throw e;
      rejected++;
    }
  };
  for (const src of sources) {
    for (let n = 0; n < src.length; n++) attempt(src.subarray(0, n));
    for (let i = 0; i < 1500; i++) {
      const b = src.slice();
      const flips = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < flips; k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      attempt(b);
    }
  }
  // Every proper prefix loses its End-of-Track or chunk tail, so all truncations are rejected.
  assert(rejected >= sources[0].length + sources[1].length, `${rejected} rejected`);
  assert(read > 0, "some mutations (e.g. inside text) still read");
});

Deno.test("midi: name option and readMidiFile put the file in the message", async () => {
  assertThrows(() => readMidi(new Uint8Array(0), { name: "x.mid" }), /^MidiError: x\.mid: empty file/);
  const path = new URL("jazz-soft-test-empty-file.mid", FIXTURES).pathname;
  await assertRejects(() => readMidiFile(path), (e: unknown) => e instanceof MidiError && e.file === path);
  await assertRejects(
    () => readMidiFile("/nonexistent/none.mid"),
    /\/nonexistent\/none\.mid: cannot read file/,
  );
  const s = await readMidiFile(new URL("jazz-soft-test-c-major-scale.mid", FIXTURES).pathname);
  assertEquals(brief(s), C_MAJOR);
});

// ---- time ----

Deno.test("midi: SMPTE division 0xE7 0x28 (25 fps × 40) keeps seconds: tick 1000 is 1.0 s", () => {
  const bytes = smf(0, [0xe7, 0x28], [
    mtrk([tempo(0, 300_000), on(1000, 60), off(500, 60), on(1500, 64), off(1000, 64)]),
  ]);
  const { score, report } = readMidiDetailed(bytes);
  assertEquals(report.smpte, { framesPerSecond: 25, ticksPerFrame: 40 });
  assertEquals(score.ticksPerBeat, 1000);
  assertEquals(score.tempos, [{ tick: 0, bpm: 60 }]); // the file's tempo event does not drive SMPTE time
  assertEquals(brief(score), [[60, 1000, 500], [64, 3000, 1000]]);
  assertAlmostEquals(ticksToSeconds(score, score.notes[0].start), 1.0, 1e-12);
  assertAlmostEquals(ticksToSeconds(score, 1500), 1.5, 1e-12);
  assertAlmostEquals(ticksToSeconds(score, score.notes[1].start), 3.0, 1e-12);
  // 29.97 drop-frame (30000/1001 fps), 4 ticks per frame: 120,000 ticks last 1001 s.
  const df = readMidi(smf(0, [0xe3, 4], [mtrk([on(120_000, 60), off(4, 60)])]));
  assertEquals(df.ticksPerBeat, 120);
  assertAlmostEquals(ticksToSeconds(df, 120_000), 1001, 1e-9);
  // The written SMPTE score keeps its seconds through a round trip.
  assertEquals(readMidi(writeMidi(score)), score);
});

Deno.test("midi: tempo and time-signature lists start at tick 0, sorted, last wins at one tick", () => {
  const bytes = smf(1, PPQ96, [
    mtrk([tempo(96, 400_000), tempo(0, 600_000), timeSig(192, 3, 2), timeSig(0, 6, 3), tempo(96, 500_000)]),
    mtrk([tempo(48, 1_000_000), on(0, 60), off(96, 60)]),
  ]);
  const s = readMidi(bytes);
  assertEquals(s.tempos, [{ tick: 0, bpm: 120 }, { tick: 48, bpm: 60 }, { tick: 96, bpm: 100 }, {
    tick: 384,
    bpm: 120,
  }]);
  assertEquals(s.timeSignatures, [{ tick: 0, numerator: 4, denominator: 4 }, {
    tick: 288,
    numerator: 6,
    denominator: 8,
  }]);
  const dup = readMidi(
    smf(0, PPQ96, [mtrk([tempo(0, 500_000), timeSig(0, 3, 2), tempo(0, 250_000), timeSig(0, 2, 2)])]),
  );
  assertEquals(dup.tempos, [{ tick: 0, bpm: 240 }]);
  assertEquals(dup.timeSignatures, [{ tick: 0, numerator: 2, denominator: 4 }]);
  assertEquals(dup.notes, []);
});

// ---- notes ----

Deno.test("midi: overlapping same-pitch notes end at the new onset; re-strike written before the old note-off", () => {
  const r1 = readMidiDetailed(smf(0, PPQ96, [mtrk([on(0, 60), on(100, 60), off(100, 60), off(100, 60)])]));
  assertEquals(brief(r1.score), [[60, 0, 100], [60, 100, 100]]);
  assertEquals([r1.report.overlapsCut, r1.report.strayNoteOffs], [1, 1]);
  // Note-on of the re-strike before the note-off of the old note at the same tick (sloppy writers).
  const r2 = readMidiDetailed(smf(0, PPQ96, [mtrk([on(0, 60), on(100, 60), off(0, 60), off(100, 60)])]));
  assertEquals(brief(r2.score), [[60, 0, 100], [60, 100, 100]]);
  // A duplicate note-on at the same tick is ignored; velocity 0 note-on is a note-off.
  const r3 = readMidiDetailed(
    smf(0, PPQ96, [mtrk([on(0, 62, 70), on(0, 62, 90), [50, 0x90, 62, 0], off(10, 62)])]),
  );
  assertEquals(r3.score.notes, [{ pitch: 62, velocity: 70, start: 0, duration: 50 }]);
  assertEquals([r3.report.duplicateNotes, r3.report.strayNoteOffs], [1, 1]);
  // The same key in two tracks: merged so that it never sounds twice.
  const r4 = readMidiDetailed(
    smf(1, PPQ96, [mtrk([on(0, 64), off(200, 64)]), mtrk([on(50, 64), off(100, 64)])]),
  );
  assertEquals(brief(r4.score), [[64, 0, 50], [64, 50, 100]]);
  // Different channels in one track pair independently; a note never released ends at End-of-Track.
  const r5 = readMidiDetailed(
    smf(0, PPQ96, [
      mtrk(
        [on(0, 60, 100, 0), on(0, 67, 100, 1), off(10, 60, 1), off(10, 60, 0), [300, 0xff, 0x2f, 0]],
        false,
      ),
    ]),
  );
  assertEquals(brief(r5.score), [[60, 0, 20], [67, 0, 320]]);
  assertEquals([r5.report.strayNoteOffs, r5.report.unterminatedNotes], [1, 1]);
});

Deno.test("midi: zero-length notes are kept with 1 tick and counted", () => {
  const r = readMidiDetailed(
    smf(0, PPQ96, [mtrk([on(0, 60), off(0, 60), on(10, 62), off(0, 62), on(5, 62), off(0, 62)])]),
  );
  assertEquals(brief(r.score), [[60, 0, 1], [62, 10, 1], [62, 15, 1]]);
  assertEquals(r.report.zeroLengthNotes, 3);
  // The Bartók pattern (on, off, on at one tick, off later): a zero-length note and a real one; one note remains.
  const b = readMidiDetailed(smf(0, PPQ96, [mtrk([on(96, 72), off(0, 72), on(0, 72), off(79, 72)])]));
  assertEquals(brief(b.score), [[72, 96, 79]]);
  assertEquals([b.report.zeroLengthNotes, b.report.duplicateNotes], [1, 1]);
});

Deno.test("midi: drums (channel 10) are dropped and counted", () => {
  const bytes = smf(1, PPQ96, [
    mtrk([on(0, 60), off(96, 60)]),
    mtrk([
      on(0, 36, 100, 9),
      off(48, 36, 9),
      on(0, 38, 100, 9),
      off(48, 38, 9),
      on(0, 65, 90, 3),
      off(10, 65, 3),
    ]),
  ]);
  const { score, report } = readMidiDetailed(bytes);
  assertEquals(brief(score), [[60, 0, 96], [65, 96, 10]]);
  assertEquals(report.droppedDrumNotes, 2);
  const perc = readMidiDetailed(fixture("jazz-soft-test-all-gm-percussion.mid"));
  const tone = new Midi(fixture("jazz-soft-test-all-gm-percussion.mid"));
  const toneDrums = tone.tracks.filter((t) => t.channel === 9).reduce((a, t) => a + t.notes.length, 0);
  assert(toneDrums > 40);
  assertEquals(perc.report.droppedDrumNotes, toneDrums);
  assertEquals(
    perc.score.notes.length,
    tone.tracks.filter((t) => t.channel !== 9).reduce((a, t) => a + t.notes.length, 0),
  );
});

// ---- sustain ----

Deno.test("midi: sustain pedal lengthens released notes until pedal-up or a re-strike (note_seq semantics)", () => {
  const bytes = smf(0, PPQ96, [
    mtrk([
      on(0, 60), // 60: 0..100, pedal down at 50 → sounds until pedal-up at 400
      cc(50, 64, 127),
      off(50, 60),
      cc(300, 64, 0), // t=400
      on(50, 62), // t=450 pedal down at 500: 62 released at 550, re-struck at 700 → first ends at 700
      cc(50, 64, 100),
      off(50, 62),
      on(150, 62), // t=700, released 750, pedal up at 1000
      off(50, 62),
      cc(250, 64, 63), // t=1000: 63 is "up"
      on(100, 64), // t=1100..1200 with pedal at 63 (up): not extended
      cc(50, 64, 63),
      off(50, 64),
      on(0, 65, 80, 1), // t=1200 channel 2, pedal down on channel 1 only at 1250: not extended
      cc(50, 64, 127, 0),
      off(50, 65, 1),
      on(0, 67), // t=1300..1350 on channel 1, pedal never released: ends at the last event (1500)
      off(50, 67),
      cc(150, 10, 64), // t=1500, unrelated controller
    ]),
  ]);
  const { score, report } = readMidiDetailed(bytes);
  assertEquals(brief(score), [
    [60, 0, 400],
    [62, 450, 250],
    [62, 700, 300],
    [64, 1100, 100],
    [65, 1200, 100],
    [67, 1300, 200],
  ]);
  assertEquals(report.sustainExtended, 4);
  const raw = readMidiDetailed(bytes, { sustain: false });
  assertEquals(brief(raw.score), [[60, 0, 100], [62, 450, 100], [62, 700, 50], [64, 1100, 100], [
    65,
    1200,
    100,
  ], [67, 1300, 50]]);
  assertEquals(raw.report.sustainExtended, 0);
  // The real jazz-soft damper test: the second scale (pedal down) rings until pedal-up at 1440.
  const damper = readMidi(fixture("jazz-soft-test-control-40-damper.mid"));
  assertEquals(brief(damper).slice(4), [[60, 864, 576], [64, 960, 480], [67, 1056, 384], [72, 1152, 288]]);
  assertEquals(brief(damper).slice(0, 4), [[60, 0, 96], [64, 96, 96], [67, 192, 96], [72, 288, 96]]);
});

// ---- writing ----

function handScore(): Score {
  const s = emptyScore(480);
  s.tempos = [{ tick: 0, bpm: 120 }, { tick: 960, bpm: 60_000_000 / 468_750 }, { tick: 1920, bpm: 75 }];
  s.timeSignatures = [{ tick: 0, numerator: 3, denominator: 4 }, {
    tick: 1440,
    numerator: 7,
    denominator: 8,
  }];
  s.notes = [
    { pitch: 0, velocity: 1, start: 0, duration: 1 },
    { pitch: 60, velocity: 64, start: 0, duration: 480 },
    { pitch: 64, velocity: 127, start: 0, duration: 240 },
    { pitch: 60, velocity: 90, start: 480, duration: 480 }, // re-strike right at the previous note's end
    { pitch: 127, velocity: 33, start: 500, duration: 3_000_000 },
    { pitch: 72, velocity: 100, start: 2_000_000, duration: 7 },
  ];
  return s;
}

Deno.test("midi: writeMidi → readMidi is exact; @tonejs/midi reads the written file the same way", () => {
  const s = handScore();
  const bytes = writeMidi(s);
  assertEquals(readMidi(bytes), s);
  const { report } = readMidiDetailed(bytes);
  assertEquals([report.format, report.tracks, report.strayNoteOffs, report.unterminatedNotes], [1, 2, 0, 0]);
  const tone = new Midi(bytes);
  assertEquals(tone.header.ppq, 480);
  assertEquals(tone.header.tempos.map((t) => [t.ticks, t.bpm]), s.tempos.map((t) => [t.tick, t.bpm]));
  assertEquals(
    tone.header.timeSignatures.map((t) => [t.ticks, ...t.timeSignature]),
    s.timeSignatures.map((t) => [t.tick, t.numerator, t.denominator]),
  );
  assertEquals(tone.tracks.length, 1);
  assertEquals([tone.tracks[0].channel, tone.tracks[0].instrument.number], [0, 0]);
  const toneNotes = tone.tracks[0].notes.map((n) => ({
    pitch: n.midi,
    velocity: Math.round(n.velocity * 127),
    start: n.ticks,
    duration: n.durationTicks,
  }));
  assertEquals(toneNotes.sort((a, b) => a.start - b.start || a.pitch - b.pitch), s.notes);
  // Round trip of real fixtures.
  for (
    const f of [
      "jazz-soft-test-control-40-damper.mid",
      "nfroidure-MIDIOkFormat1.mid",
      "note-seq-melody.mid",
      "jazz-soft-test-2-tracks-type-2.mid",
    ]
  ) {
    const r = readMidi(fixture(f));
    assertEquals(readMidi(writeMidi(r)), r, f);
  }
  assertEquals(readMidi(writeMidi(emptyScore(96))), emptyScore(96));
});

Deno.test("midi: a 200,000-note score round-trips (no argument-spread or stack limits)", () => {
  const s = emptyScore(480);
  for (let i = 0; i < 200_000; i++) {
    s.notes.push({ pitch: 21 + (i % 88), velocity: 1 + (i % 127), start: i * 3, duration: 5 + (i % 300) });
  }
  const back = readMidiDetailed(writeMidi(s), { sustain: false });
  // Same-key overlaps are trimmed (key i and i+88 overlap when duration > 264): count them independently.
  let overlaps = 0;
  for (let i = 0; i + 88 < s.notes.length; i++) {
    if (s.notes[i].start + s.notes[i].duration > s.notes[i + 88].start) overlaps++;
  }
  assert(overlaps > 1000, `${overlaps}`);
  assertEquals(back.score.notes.length, 200_000);
  assertEquals(back.report.overlapsCut, overlaps);
  assertEquals(back.score.notes.map((n) => n.start), s.notes.map((n) => n.start));
});

Deno.test("midi: writeMidi rejects what a MIDI file cannot hold", () => {
  const bad = (edit: (s: Score) => void, re: RegExp) => {
    const s = handScore();
    edit(s);
    assertThrows(() => writeMidi(s), (e: unknown) => e instanceof MidiError && re.test(e.message));
  };
  bad((s) => s.notes[1].pitch = 128, /note 1: pitch 128 not in 0\.\.127/);
  bad((s) => s.ticksPerBeat = 0, /ticksPerBeat 0/);
  bad((s) => s.ticksPerBeat = 40000, /ticksPerBeat 40000/);
  bad((s) => s.timeSignatures[1].denominator = 6, /time signature 1 \(7\/6\)/);
  bad((s) => s.tempos[0].bpm = 0, /tempo 0 \(0 bpm\)/);
  bad((s) => s.notes[0].start = -5, /note 0: tick -5/);
  bad((s) => s.notes[0].start = NaN, /note 0: tick NaN/);
});
