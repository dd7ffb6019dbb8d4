import { assert, assertEquals } from "../_assert.ts";
import { CORPUS } from "../_corpus.ts";
import { join } from "node:path";
import { readMidiFile } from "../../lib/midi/mod.ts";
import { emptyScore, type Score } from "../../lib/score.ts";
import {
  noteName,
  parseNoteName,
  pitchStrings,
  PitchStringTokenizer,
} from "../../lib/tokenizers/pitch_strings.ts";

function score(notes: [number, number][], tpb = 480): Score {
  const s = emptyScore(tpb);
  for (const [pitch, start] of notes) s.notes.push({ pitch, velocity: 80, start, duration: tpb });
  s.notes.sort((a, b) => a.start - b.start || a.pitch - b.pitch);
  return s;
}

Deno.test("pitch strings: note names use sharps with middle C = C4", () => {
  assertEquals([noteName(60), noteName(61), noteName(70), noteName(21), noteName(108), noteName(0)], [
    "C4",
    "C#4",
    "A#4",
    "A0",
    "C8",
    "C-1",
  ]);
  for (let p = 0; p < 128; p++) assertEquals(parseNoteName(noteName(p)), p);
  assertEquals(parseNoteName("E-4"), 63); // music21's flat spelling is understood
  assertEquals(parseNoteName("H2"), undefined);
});

Deno.test("pitch strings: one token per onset, chords as sorted pitch-class sets", () => {
  // C major in first inversion (E3 G3 C4), a lone F#3, F major spread over three octaves, an octave C3+C4.
  const s = score([[52, 0], [55, 0], [60, 0], [54, 480], [65, 960], [69, 960], [48, 960], [48, 1440], [
    60,
    1440,
  ]]);
  assertEquals(pitchStrings(s), ["0.4.7", "F#3", "0.5.9", "0"]);
  // Onsets 10 ticks apart round to the same grid step (12 per beat = 40 ticks); 40 ticks apart do not.
  assertEquals(pitchStrings(score([[60, 0], [64, 10]])), ["0.4"]);
  assertEquals(pitchStrings(score([[60, 0], [64, 40]])), ["C4", "E4"]);
  // The same pitch twice on one onset is one note.
  assertEquals(pitchStrings(score([[60, 0], [60, 0]])), ["C4"]);
});

Deno.test("pitch strings: vocabulary from data, UNK for unseen onsets, decode on a fixed step", () => {
  const train = score([[60, 0], [64, 480], [60, 960], [64, 960], [67, 960], [55, 1440]]);
  const tok = PitchStringTokenizer.fromScores([train]);
  assertEquals(tok.vocab, [
    "PAD_None",
    "BOS_None",
    "EOS_None",
    "MASK_None",
    "UNK_None",
    "G3",
    "C4",
    "E4",
    "0.4.7",
  ]);
  assertEquals(tok.encode(train), [6, 7, 8, 5]);
  assertEquals(tok.encode(score([[61, 0], [60, 480]])), [4, 6]);
  const d = tok.decode([6, 0, 8, 4, 5, 999, -1]);
  assertEquals(d.notes.map((n) => [n.pitch, n.start, n.duration]), [
    [60, 0, 240],
    [60, 240, 240],
    [64, 240, 240],
    [67, 240, 240],
    [55, 720, 240],
  ]);
  const rare = PitchStringTokenizer.fromScores([train], { minCount: 2 });
  assertEquals(rare.vocab.length, 5);
  const back = PitchStringTokenizer.fromJSON(JSON.parse(JSON.stringify(tok.toJSON())));
  assertEquals(back.vocab, tok.vocab);
  assertEquals(back.encode(train), tok.encode(train));
});

Deno.test({
  name: "pitch strings: Bach's Prelude in C (BWV 846) opens with its broken chords",
  ignore: !CORPUS,
  async fn() {
    const s = await readMidiFile(join(CORPUS!, "piano-midi-de", "midis", "Bach", "bach_846.mid"));
    const tokens = pitchStrings(s);
    // Each bar is one five-note figure played as 1 2 3 4 5 3 4 5, twice (sixteenths, no two notes at once):
    // bar 1 C major (C4 E4 G4 C5 E5), bar 2 D minor 7 over C (C4 D4 A4 D5 F5), bar 3 G7 over B (B3 D4 G4 D5 F5),
    // bar 4 C major (C4 E4 G4 C5 E5).
    const bar = (a: string, b: string, c: string, d: string, e: string) => {
      const half = [a, b, c, d, e, c, d, e];
      return [...half, ...half];
    };
    const expected = [
      ...bar("C4", "E4", "G4", "C5", "E5"),
      ...bar("C4", "D4", "A4", "D5", "F5"),
      ...bar("B3", "D4", "G4", "D5", "F5"),
      ...bar("C4", "E4", "G4", "C5", "E5"),
    ];
    assertEquals(tokens.slice(0, expected.length), expected);
    const tok = PitchStringTokenizer.fromScores([s]);
    console.log(`pitch strings, BWV 846: ${tokens.length} onsets, vocab ${tok.vocab.length}`);
    assert(tok.encode(s).every((id) => id > 4));
  },
});
