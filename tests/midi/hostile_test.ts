/**
 * lib/midi against hostile files (issue 11): the size limits of `readMidi` (longest silence, longest piece in seconds
 * and bars, largest tick) on the reproducers and on hand-built files, `writeMidi` writing whatever `readMidi`
 * returns, and real music left exactly as it was.
 */
import { join } from "node:path";
import {
  DEFAULT_READ_LIMITS,
  MAX_SCORE_TICK,
  measureScore,
  MidiError,
  readMidi,
  readMidiDetailed,
  writeMidi,
} from "../../lib/midi/mod.ts";
import { applySustain, type PedalEvent } from "../../lib/midi/_sustain.ts";
import type { RawNote } from "../../lib/midi/_notes.ts";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import { ticksToSeconds } from "../../lib/score.ts";
import { CORPUS } from "../_corpus.ts";
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "../_assert.ts";

/** Runs `fn`, which must throw a `cls` whose message contains `part`; returns that error. */
// deno-lint-ignore no-explicit-any
function caught<E extends Error>(fn: () => unknown, cls: new (...args: any[]) => E, part = ""): E {
  try {
    fn();
  } catch (e) {
    assert(e instanceof cls, `expected a ${cls.name}, got ${e}`);
    assert(e.message.includes(part), `${JSON.stringify(e.message)} does not contain ${JSON.stringify(part)}`);
    return e;
  }
  throw new Error(`expected a ${cls.name}, nothing was thrown`);
}

const hex = (h: string) => new Uint8Array(h.match(/../g)!.map((x) => parseInt(x, 16)));

/** F1: a delta of 0x0FFFFFFF ticks at 1 tick per beat between two notes (67 M REMI tokens before the limits). */
const F1 = hex("4d546864000000060000000100014d54726b0000001700903c4001803c00ffffff7f903e4001803e0000ff2f00");
/** F2: a 16.7 s beat (tempo 0xFFFFFF µs) and a note at beat 3,001 (a 4.4 GB WAV before the limits). */
const F2 = hex(
  "4d546864000000060000000100014d54726b0000001c00ff5103ffffff00903c4001803c009738903e4001803e0000ff2f00",
);
/** F3: a 2²² tick gap at 1 tick per beat; decoded from REMI at 480 ticks per beat it reaches tick 2,013,266,400. */
const F3 = hex("4d546864000000060000000100014d54726b0000001700903c4001803c0082808000903e4001803e0000ff2f00");

const NO_LIMITS = { maxSeconds: Infinity, maxBars: Infinity, maxGapSeconds: Infinity };

// ---- building MIDI bytes by hand ----

function vlq(value: number): number[] {
  const out = [value & 0x7f];
  for (let v = Math.floor(value / 128); v > 0; v = Math.floor(v / 128)) out.unshift((v & 0x7f) | 0x80);
  return out;
}
const u32 = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));
function mtrk(events: number[][]): number[] {
  const body: number[] = [];
  for (const [delta, ...bytes] of events) body.push(...vlq(delta), ...bytes);
  body.push(0, 0xff, 0x2f, 0);
  return [...ascii("MTrk"), ...u32(body.length), ...body];
}
function smf(tpb: number, tracks: number[][]): Uint8Array {
  return new Uint8Array([
    ...ascii("MThd"),
    ...u32(6),
    0,
    1,
    0,
    tracks.length,
    tpb >> 8,
    tpb & 255,
    ...tracks.flat(),
  ]);
}
const on = (delta: number, pitch: number, vel = 100) => [delta, 0x90, pitch, vel];
const off = (delta: number, pitch: number) => [delta, 0x80, pitch, 64];
const tempo = (
  delta: number,
  micros: number,
) => [delta, 0xff, 0x51, 3, micros >> 16, (micros >> 8) & 255, micros & 255];
const timeSig = (delta: number, num: number, denPow: number) => [delta, 0xff, 0x58, 4, num, denPow, 24, 8];

// ---- the reproducers ----

Deno.test("hostile F1: a 0x0FFFFFFF delta is shortened to the 600 s maximum gap; REMI stays a few hundred tokens", () => {
  const { score, report } = readMidiDetailed(F1, { name: "f1.mid" });
  assertEquals(score.notes.map((n) => [n.pitch, n.start, n.duration]), [[60, 0, 1], [62, 1200, 1]]);
  // 1 tick = 0.5 s: the silence from tick 1 to 1200 is 599.5 s ≤ 600 s, and the cut is whole 4/4 bars.
  assertEquals(report.shortenedGaps, 1);
  assertEquals(report.notes, 2);
  assertEquals(report.warnings, [
    "1 silence(s) longer than 600 s shortened to it (37282.5 h removed; ReadMidiOptions.maxGapSeconds)",
  ]);
  const m = measureScore(score);
  assert(m.longestSilence <= 600 && m.longestSilence > 598, `${m.longestSilence}`);
  assertEquals(F1.length, 45);
  // The tokens: one Bar per bar of 4 ticks, not 67 million.
  const ids = new RemiTokenizer().encode(score);
  assertEquals(ids.length, 301 + 2 * 4 + 2); // 301 bars, 2 × (Position Pitch Velocity Duration), TimeSig, Tempo
  // Refused with one line when asked to.
  assertThrows(
    () => readMidi(F1, { name: "f1.mid", onLimit: "refuse" }),
    (e: unknown) =>
      e instanceof MidiError && !e.message.includes("\n") &&
      e.message ===
        "f1.mid: a silence of 37282.7 h (ticks 1–268435456) is longer than the maximum gap of 600 s " +
          "(ReadMidiOptions.maxGapSeconds)",
  );
  // Without the gap and length limits the note keeps its tick (still below MAX_SCORE_TICK).
  assertEquals(readMidi(F1, NO_LIMITS).notes[1].start, 0x10000000);
});

Deno.test("hostile F2: a 16.7 s beat and a note at beat 3,001 read as about 9 minutes, not 14 hours", () => {
  const { score, report } = readMidiDetailed(F2);
  const beat = 0xffffff / 1e6;
  assertAlmostEquals(60 / score.tempos[0].bpm, beat, 1e-9);
  // 600 s is 35.8 beats; the cut is whole bars of 4 beats, leaving 32 beats of silence.
  assertEquals(score.notes.map((n) => [n.pitch, n.start]), [[60, 0], [62, 33]]);
  assertEquals(report.shortenedGaps, 1);
  assertAlmostEquals(ticksToSeconds(score, 34), 34 * beat, 1e-6);
  assert(measureScore(score).seconds < DEFAULT_READ_LIMITS.maxGapSeconds + 2 * beat);
  // Unlimited, the piece lasts 14 hours: the audio limit (tests/audio/limits_test.ts) refuses it.
  assertAlmostEquals(measureScore(readMidi(F2, NO_LIMITS)).seconds, 3002 * beat, 1e-6);
});

Deno.test("hostile F3: writeMidi writes whatever readMidi returns, ticks past 2²⁸ included", () => {
  const tok = new RemiTokenizer();
  for (const [name, bytes] of [["F1", F1], ["F2", F2], ["F3", F3]] as const) {
    for (const opts of [{}, NO_LIMITS]) {
      const s = readMidi(bytes, opts);
      assertEquals(readMidi(writeMidi(s), opts), s, `${name} ${JSON.stringify(opts)}`);
    }
    // The path: read → REMI → decode at 480 ticks per beat → write (tempos come back rounded to whole µs).
    const decoded = tok.decode(tok.encode(readMidi(bytes)));
    assertEquals(readMidi(writeMidi(decoded)).notes, decoded.notes, name);
  }
  // F3 read without limits and decoded at 480 ticks per beat: the tick of the issue, past one delta time.
  const far = readMidi(F3, NO_LIMITS);
  far.ticksPerBeat = 480;
  for (const n of far.notes) [n.start, n.duration] = [n.start * 480, n.duration * 480];
  assertEquals(far.notes[1].start, 2013266400);
  const bytes = writeMidi(far);
  // 2,013,265,920 ticks from the first note's end to the second note: seven empty text events (FF 01 00) bridge them.
  let fillers = 0;
  for (let i = 0; i + 2 < bytes.length; i++) {
    if (bytes[i] === 0xff && bytes[i + 1] === 1 && bytes[i + 2] === 0) fillers++;
  }
  assertEquals(fillers, 7);
  assertEquals(readMidi(bytes, NO_LIMITS).notes, far.notes);
  // Read with the default limits, the silence is shortened like any other.
  assertEquals(readMidi(bytes).notes[1].start, 480 + 480 * 1200);
});

// ---- the limits on hand-built files ----

Deno.test("limits: a long silence is cut in whole bars; tempo and meter changes inside it move to the cut", () => {
  // 480 ticks per beat, 120 bpm, 3/4: a note, 30 minutes of silence with a tempo change to 60 bpm 20 bars before
  // the next note, then that note at beat 1 of its bar (tick 2,160,000 + 480).
  const bar = 3 * 480;
  const gapTicks = 1500 * bar; // 1500 bars: 1480 at 120 bpm (1,110 s) and 20 at 60 bpm (60 s)
  const bytes = smf(480, [
    mtrk([timeSig(0, 3, 2), tempo(0, 500_000), tempo(1480 * bar, 1_000_000)]),
    mtrk([on(0, 60), off(480, 60), on(gapTicks - 480 + 480, 64), off(480, 64)]),
  ]);
  const { score, report } = readMidiDetailed(bytes);
  assertEquals(report.shortenedGaps, 1);
  const [a, b] = score.notes;
  assertEquals([a.start, a.duration, b.duration], [0, 480, 480]);
  // The second note keeps its place in the bar (beat 2) and the silence is at most 600 s, less than a bar shorter.
  assertEquals(b.start % bar, 480);
  const silence = ticksToSeconds(score, b.start) - ticksToSeconds(score, 480);
  assert(silence <= 600 && silence > 600 - 3, `${silence}`);
  // The change to 60 bpm sat inside the removed stretch: it moves to the end of the kept silence (600 s at 120 bpm,
  // 1,100 whole bars removed), where the next note now starts and still plays at 60 bpm.
  assertEquals(score.tempos, [{ tick: 0, bpm: 120 }, { tick: b.start, bpm: 60 }]);
  assertEquals(b.start, 480 + 1200 * 480);
  assertEquals(score.timeSignatures, [{ tick: 0, numerator: 3, denominator: 4 }]);
  // A lower limit is an option.
  const short = readMidi(bytes, { maxGapSeconds: 10 });
  assert(ticksToSeconds(short, short.notes[1].start) <= 10.5, "10 s gap + the first note");
  // A silence before the first note counts too.
  const late = readMidiDetailed(smf(480, [mtrk([on(1000 * bar, 60), off(480, 60)])]));
  assertEquals(late.report.shortenedGaps, 1);
  assert(measureScore(late.score).longestSilence <= 600);
});

Deno.test("limits: the piece ends at maxSeconds: later notes dropped, sounding ones cut, counted and refused on request", () => {
  // 1 beat = 0.5 s: notes every beat for 20 beats, one held from beat 4 to beat 40 (20 s).
  const track: number[][] = [];
  for (let i = 0; i < 20; i++) track.push(on(i ? 48 : 0, 60 + i), off(48, 60 + i));
  const bytes = smf(96, [mtrk([on(4 * 96, 40), off(36 * 96, 40)]), mtrk(track)]);
  const full = readMidi(bytes);
  assertEquals(full.notes.length, 21);
  const { score, report } = readMidiDetailed(bytes, { maxSeconds: 5 });
  // 5 s = tick 960: the ten notes from tick 960 on are dropped, the long note (tick 384–3840) ends at 960.
  assertEquals(score.notes.length, 11);
  assertEquals(report.notesPastLimit, 10);
  assertEquals(report.notesCutAtLimit, 1);
  assertEquals(score.notes.find((n) => n.pitch === 40), {
    pitch: 40,
    velocity: 100,
    start: 384,
    duration: 576,
  });
  assertEquals(report.warnings, [
    "piece cut at the maximum length of 5 s (ReadMidiOptions.maxSeconds): 10 note(s) after it dropped, 1 cut short",
  ]);
  caught(
    () => readMidi(bytes, { maxSeconds: 5, onLimit: "refuse", name: "x.mid" }),
    MidiError,
    "x.mid: the piece ends at tick 3840 (20 s, 10 bars), past the maximum length of 5 s (ReadMidiOptions.maxSeconds)",
  );
  caught(() => readMidi(bytes, { maxSeconds: -1 }), RangeError, "ReadMidiOptions.maxSeconds");
  caught(() => readMidi(bytes, { onLimit: "drop" as "clip" }), RangeError, "ReadMidiOptions.onLimit");
});

Deno.test("limits: a 1 µs beat cannot buy millions of bars: the piece ends at maxBars", () => {
  // Tempo 1 µs per beat: 200,000 bars of 4/4 last 0.8 s, so only the bar limit sees them.
  const bytes = smf(96, [
    mtrk([tempo(0, 1), on(0, 60), off(96, 60), on(800_000 * 96 - 96, 62), off(96, 62)]),
  ]);
  const { score, report } = readMidiDetailed(bytes);
  assertEquals(score.notes.length, 1);
  assertEquals(report.notesPastLimit, 1);
  assert(
    report.warnings[0].includes("the maximum of 20000 bars (ReadMidiOptions.maxBars)"),
    report.warnings[0],
  );
  assertEquals(readMidi(bytes, { maxBars: 300_000 }).notes.length, 2);
  // The same with a meter of 1/64 (16 bars per beat): the bars are counted in the file's own meter.
  const tiny = smf(96, [
    mtrk([tempo(0, 1), timeSig(0, 1, 6), on(0, 60), off(6, 60), on(30_000 * 6, 62), off(6, 62)]),
  ]);
  assertEquals(readMidiDetailed(tiny).report.notesPastLimit, 1);
});

Deno.test("limits: ticks stay below 2³¹ (Int32 in lib/data) whatever the other limits say", () => {
  // Format 2 plays tracks one after another: 12 tracks of 2²⁸ − 1 ticks put the last note near tick 3.2 × 10⁹.
  const tracks: number[][] = [];
  for (let k = 0; k < 12; k++) {
    tracks.push(mtrk([on(0, 60 + k), off(1, 60 + k), [0x0fffffff - 1, 0xff, 0x01, 0]]));
  }
  const bytes = smf(32767, tracks);
  bytes[9] = 2; // format 2
  const { score, report } = readMidiDetailed(bytes, NO_LIMITS);
  assert(score.notes.every((n) => n.start + n.duration <= MAX_SCORE_TICK));
  assertEquals(report.notesPastLimit, 3); // track k starts at k × (2²⁸ − 1): tracks 9–11 start past 2³¹ − 1
  assert(report.warnings.some((w) => w.includes(`the largest tick a score may hold (${MAX_SCORE_TICK})`)));
  assertEquals(readMidi(writeMidi(score), NO_LIMITS), score);
});

// ---- sustain stays linear and exact ----

/** note_seq's sustain as lib/midi had it before (a scan of every sounding note per event): the oracle. */
function sustainReference(notes: RawNote[], pedal: PedalEvent[], endTick: number): void {
  const events: [number, number, number][] = [];
  pedal.forEach((p, i) => events.push([p.tick, p.value >= 64 ? 0 : 1, i]));
  notes.forEach((n, i) => {
    events.push([n.start, 2, i]);
    events.push([n.end, 3, i]);
  });
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
  let down = false;
  const active = new Set<number>();
  for (const [tick, kind, i] of events) {
    if (kind === 0) down = true;
    else if (kind === 1) {
      down = false;
      for (const j of active) {
        if (notes[j].end < tick) {
          notes[j].end = tick;
          active.delete(j);
        }
      }
    } else if (kind === 2) {
      if (down) {
        for (const j of active) {
          if (notes[j].pitch === notes[i].pitch) {
            notes[j].end = tick;
            active.delete(j);
          }
        }
      }
      active.add(i);
    } else if (!down) active.delete(i);
  }
  if (down) { for (const j of active) notes[j].end = Math.max(notes[j].end, endTick); }
}

Deno.test("sustain: same ends as the per-event scan it replaced, on 3,000 random pieces (overlapping keys included)", () => {
  let seed = 7;
  const rand = (n: number) => (seed = (seed * 48271) % 2147483647) % n;
  for (let round = 0; round < 3000; round++) {
    const notes: RawNote[] = [];
    for (let i = 0, n = 1 + rand(12); i < n; i++) {
      const start = rand(40);
      notes.push({ channel: 0, pitch: 60 + rand(3), velocity: 80, start, end: start + 1 + rand(15) });
    }
    const pedal: PedalEvent[] = [];
    for (let i = 0, n = rand(8); i < n; i++) pedal.push({ tick: rand(60), value: rand(2) ? 127 : 0 });
    pedal.sort((a, b) => a.tick - b.tick);
    const mine = structuredClone(notes), ref = structuredClone(notes);
    applySustain(mine, pedal, 70);
    sustainReference(ref, pedal, 70);
    assertEquals(mine, ref, `round ${round}`);
  }
});

// ---- real music is untouched ----

Deno.test({
  name:
    "limits: the longest, barest and gappiest real files read exactly as without limits, and pass `refuse`",
  ignore: !CORPUS,
  fn() {
    const files = [
      join(CORPUS!, "jazz-soft-test-midi-files/midi/test-all-gs-sounds.mid"), // 58 min, 1,734 bars
      join(CORPUS!, "miditok/tests/MIDIs_one_track/Maestro_6.mid"), // 39 min, a 20 s silence
      join(CORPUS!, "..", "midi-corpus", "asap-unmapped/Bach/Fugue/bwv_880/Sun02.mid"), // a 269 s silence
      join(CORPUS!, "..", "midi-corpus", "pop909/247.mid"), // a 52 s silence
    ].filter((f) => {
      try {
        return Deno.statSync(f).isFile;
      } catch {
        return false;
      }
    });
    assert(files.length >= 2);
    for (const f of files) {
      const bytes = Deno.readFileSync(f);
      const { score, report } = readMidiDetailed(bytes, { onLimit: "refuse" });
      assertEquals([report.shortenedGaps, report.notesPastLimit, report.notesCutAtLimit], [0, 0, 0], f);
      assertEquals(score, readMidi(bytes, NO_LIMITS), f);
    }
  },
});
