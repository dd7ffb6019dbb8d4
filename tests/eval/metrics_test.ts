import { assert, assertAlmostEquals, assertEquals } from "../_assert.ts";
import {
  barStarts,
  computeMetrics,
  emptyBeatRate,
  entropyBits,
  grooveConsistency,
  meanMetrics,
  nPitchClassesUsed,
  nPitchesUsed,
  pitchClassDistribution,
  pitchClassEntropy,
  pitchRange,
  polyphony,
  polyphonyRate,
  relativeDifference,
  scaleConsistency,
} from "../../lib/eval/metrics.ts";
import { emptyScore, type Score } from "../../lib/score.ts";

const TPB = 480;

function score(notes: [pitch: number, startBeats: number, durBeats: number][], tpb = TPB): Score {
  const s = emptyScore(tpb);
  for (const [pitch, st, d] of notes) {
    s.notes.push({ pitch, velocity: 80, start: Math.round(st * tpb), duration: Math.round(d * tpb) });
  }
  return s;
}

Deno.test("C-major scale: 7 pitch classes, scale consistency 1, range 11, entropy log2 7", () => {
  const s = score([60, 62, 64, 65, 67, 69, 71].map((p, i) => [p, i, 1]));
  assertEquals(nPitchesUsed(s), 7);
  assertEquals(nPitchClassesUsed(s), 7);
  assertEquals(pitchRange(s), 11);
  assertEquals(scaleConsistency(s), 1);
  assertAlmostEquals(pitchClassEntropy(s), Math.log2(7), 1e-12);
  // monophonic, back to back: polyphony 1, never > 2 voices, no empty beat
  assertEquals(polyphony(s), 1);
  assertEquals(polyphonyRate(s), 0);
  assertEquals(emptyBeatRate(s), 0);
});

Deno.test("chromatic scale: 12 classes, entropy log2 12, best scale holds 7 of 12", () => {
  const s = score(Array.from({ length: 12 }, (_, i) => [60 + i, i, 1] as [number, number, number]));
  assertEquals(nPitchClassesUsed(s), 12);
  assertAlmostEquals(pitchClassEntropy(s), Math.log2(12), 1e-12);
  assertAlmostEquals(scaleConsistency(s), 7 / 12, 1e-12);
  assertAlmostEquals(entropyBits(new Array(12).fill(5)), Math.log2(12), 1e-12);
  assertEquals(entropyBits([0, 0, 3]), 0);
});

Deno.test("A harmonic-minor line is not fully in any of the 24 scales; A natural minor is", () => {
  const natural = score([57, 59, 60, 62, 64, 65, 67].map((p, i) => [p, i, 1]));
  assertEquals(scaleConsistency(natural), 1);
  const harmonic = score([57, 59, 60, 62, 64, 65, 68].map((p, i) => [p, i, 1]));
  assertAlmostEquals(scaleConsistency(harmonic), 6 / 7, 1e-12);
});

Deno.test("a single sustained C-major triad: polyphony 3, polyphony rate 1", () => {
  const s = score([[60, 0, 4], [64, 0, 4], [67, 0, 4]]);
  assertEquals(polyphony(s), 3);
  assertEquals(polyphonyRate(s), 1);
  assertEquals(pitchRange(s), 7);
});

Deno.test("polyphony weights by time and counts a doubled pitch once", () => {
  // beats 0-2: C and E (2 pitches); beats 2-4: C only; a second C overlapping does not add a voice
  const s = score([[60, 0, 4], [64, 0, 2], [60, 1, 1]]);
  assertAlmostEquals(polyphony(s), (2 * 2 + 1 * 2) / 4, 1e-12);
  assertEquals(polyphonyRate(s), 0);
  // silence in between is excluded from polyphony but counted in the rate's denominator
  const gap = score([[60, 0, 1], [64, 0, 1], [67, 0, 1], [72, 3, 1]]);
  assertAlmostEquals(polyphony(gap), (3 + 1) / 2, 1e-12);
  assertAlmostEquals(polyphonyRate(gap), 1 / 4, 1e-12);
});

Deno.test("an empty bar between two full bars: empty-beat rate 4/12", () => {
  const notes: [number, number, number][] = [];
  for (let b = 0; b < 4; b++) notes.push([60, b, 1]);
  for (let b = 8; b < 12; b++) notes.push([62, b, 1]);
  const s = score(notes);
  assertAlmostEquals(emptyBeatRate(s), 4 / 12, 1e-12);
  // a note held across the empty bar fills it
  s.notes.push({ pitch: 40, velocity: 60, start: 3 * TPB, duration: 5 * TPB });
  assertEquals(emptyBeatRate(s), 0);
  // a note ending exactly on a beat line does not touch the next beat
  const edge = score([[60, 0, 1], [60, 2, 1]]);
  assertAlmostEquals(emptyBeatRate(edge), 1 / 3, 1e-12);
});

Deno.test("groove consistency: identical bars → 1; alternating full/empty onset patterns → known value", () => {
  const notes: [number, number, number][] = [];
  for (let bar = 0; bar < 4; bar++) for (const b of [0, 1.5, 2, 3.25]) notes.push([60, bar * 4 + b, 0.25]);
  assertEquals(grooveConsistency(score(notes)), 1);
  // bar 0 onsets on the four beats, bar 1 only on beat 1: Hamming distance 3 of 16 positions
  const two = score([[60, 0, 1], [60, 1, 1], [60, 2, 1], [60, 3, 1], [60, 4, 1]]);
  assertAlmostEquals(grooveConsistency(two), 1 - 3 / 16, 1e-12);
  // 8 positions per beat doubles the grid: 3 of 32
  assertAlmostEquals(grooveConsistency(two, 8), 1 - 3 / 32, 1e-12);
  // one bar only: undefined
  assert(Number.isNaN(grooveConsistency(score([[60, 0, 1]]))));
});

Deno.test("bar lines follow time-signature changes", () => {
  const s = emptyScore(4);
  s.timeSignatures = [{ tick: 0, numerator: 3, denominator: 4 }, { tick: 24, numerator: 6, denominator: 8 }];
  assertEquals(barStarts(s, 40), [0, 12, 24, 36]);
  s.timeSignatures = [{ tick: 0, numerator: 2, denominator: 4 }, { tick: 16, numerator: 4, denominator: 4 }];
  assertEquals(barStarts(s, 40), [0, 8, 16, 32]);
});

Deno.test("empty score: counts 0, undefined metrics NaN; means skip NaN; relative difference", () => {
  const m = computeMetrics(emptyScore(TPB));
  assertEquals(m.pitchRange, 0);
  assertEquals(m.nPitchesUsed, 0);
  assertEquals(m.pitchClassEntropy, 0);
  assert(Number.isNaN(m.scaleConsistency));
  assert(Number.isNaN(m.polyphony));
  const full = computeMetrics(score([[60, 0, 4], [64, 0, 4], [67, 0, 4]]));
  const mean = meanMetrics([m, full]);
  assertEquals(mean.polyphony, 3);
  assertEquals(mean.nPitchesUsed, 1.5);
  const rel = relativeDifference(mean, full);
  assertAlmostEquals(rel.nPitchesUsed, -0.5, 1e-12);
  assertEquals(rel.polyphony, 0);
  assert(Number.isNaN(relativeDifference(full, m).pitchRange));
  const d = pitchClassDistribution([score([[60, 0, 1], [72, 1, 1], [67, 2, 1], [61, 3, 1]])]);
  assertEquals(d[0], 0.5);
  assertEquals(d[7], 0.25);
  assertAlmostEquals(d.reduce((a, b) => a + b, 0), 1, 1e-12);
});
