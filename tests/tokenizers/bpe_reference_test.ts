import { assert, assertEquals } from "../_assert.ts";
import { CORPUS, pianoCorpusFiles } from "../_corpus.ts";
import { readMidiFile } from "../../lib/midi/mod.ts";
import type { Score } from "../../lib/score.ts";
import {
  DEFAULT_REMI_CONFIG,
  FRADET_REMI_CONFIG,
  REMI_PRESETS,
  RemiTokenizer,
} from "../../lib/tokenizers/remi.ts";
import { trainBpe } from "../../lib/tokenizers/bpe.ts";

Deno.test("remi: FRADET_REMI_CONFIG has the vocabulary of the BPE paper's REMI (MidiTok 2.x, constants.py)", () => {
  const tok = new RemiTokenizer(FRADET_REMI_CONFIG);
  const of = (type: string) => tok.vocab.filter((n) => n.startsWith(`${type}_`));
  assertEquals(tok.vocab.length, 161);
  assertEquals(of("Pitch").length, 88);
  // MidiTok 2.x: np.linspace(0, 127, nb_velocities + 1, dtype=np.intc)[1:] with 16 velocities.
  assertEquals(
    of("Velocity").map((n) => Number(n.slice(9))),
    [7, 15, 23, 31, 39, 47, 55, 63, 71, 79, 87, 95, 103, 111, 119, 127],
  );
  // BEAT_RES {(0, 1): 8, (1, 2): 4, (2, 4): 2, (4, 8): 1}: 8 + 4 + 4 + 4 + 1 tuples, minus the zero duration.
  const durs = of("Duration");
  assertEquals(durs.length, 20);
  assertEquals([durs[0], durs[7], durs[11], durs[15], durs[19]], [
    "Duration_0.1.8",
    "Duration_1.0.4",
    "Duration_2.0.2",
    "Duration_4.0.1",
    "Duration_8.0.1",
  ]);
  assertEquals(of("Position").length, 32, "a 4/4 bar at 8 positions per beat");
  for (const t of ["Tempo", "TimeSig", "Chord", "Rest"]) assertEquals(of(t), [], t);
  assertEquals(REMI_PRESETS.fradet, FRADET_REMI_CONFIG);
  assertEquals(REMI_PRESETS.default, DEFAULT_REMI_CONFIG);
  assertEquals(new RemiTokenizer().vocab.length, 314, "the default is unchanged");
});

/** Held-out shortening at `vocabSize`: BPE learned on 4 of every 5 pieces, measured on the fifth. */
function heldOut(base: RemiTokenizer, scores: Score[], vocabSize: number) {
  const seqs = scores.map((s) => base.encode(s));
  const train = seqs.filter((_, i) => i % 5 !== 0), test = seqs.filter((_, i) => i % 5 === 0);
  const bpe = trainBpe(base, train, { vocabSize });
  let before = 0, after = 0;
  for (const s of test) {
    const ids = bpe.encodeBase(s);
    assertEquals(bpe.decodeToBase(ids), s);
    before += s.length;
    after += ids.length;
  }
  return { before, after, reduction: 1 - after / before, pieces: test.length };
}

Deno.test({
  name:
    "bpe: with the BPE paper's REMI setting, 1,024 tokens shorten held-out piano ≥ 40% (paper: −45% on MAESTRO)",
  ignore: !CORPUS,
  async fn() {
    const files = pianoCorpusFiles();
    const scores: Score[] = [], unpedalled: Score[] = [];
    for (const f of files) {
      scores.push(await readMidiFile(f));
      unpedalled.push(await readMidiFile(f, { sustain: false }));
    }
    const rows: [string, RemiTokenizer, Score[]][] = [
      ["etude default (32 velocities, Tempo, TimeSig)", new RemiTokenizer(), scores],
      ["FRADET_REMI_CONFIG (16 velocities, no Tempo/TimeSig)", new RemiTokenizer(FRADET_REMI_CONFIG), scores],
      // MidiTok reads note-off durations and ignores the sustain pedal; etude lengthens notes by it.
      [
        "FRADET_REMI_CONFIG, pedal ignored as MidiTok does",
        new RemiTokenizer(FRADET_REMI_CONFIG),
        unpedalled,
      ],
    ];
    const res = rows.map(([name, base, corpus]) => {
      const r = heldOut(base, corpus, 1024);
      console.log(
        `${name}: base vocab ${base.vocab.length}, held-out ${r.pieces} pieces ${r.before} → ${r.after} tokens ` +
          `(−${(100 * r.reduction).toFixed(1)}%) at 1,024`,
      );
      return r;
    });
    assert(res[1].reduction >= 0.4, `expected ≥ 40% shorter, got ${(100 * res[1].reduction).toFixed(1)}%`);
    assert(res[1].reduction > res[0].reduction, "the paper's setting compresses more than the default");
    assert(res[2].reduction > res[1].reduction, "pedal-lengthened durations are harder to merge");
  },
});
