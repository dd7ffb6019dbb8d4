import { assert, assertEquals } from "../_assert.ts";
import {
  allowedMask,
  grammarErrors,
  grammarTables,
  initialState,
  nextState,
} from "../../lib/infer/grammar.ts";
import { loadModel } from "../../lib/infer/load.ts";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import { BpeTokenizer } from "../../lib/tokenizers/bpe.ts";
import { emptyScore } from "../../lib/score.ts";
import { writeTinyCheckpoint } from "./_fixtures.ts";
import { CORPUS, pianoCorpusFiles } from "../_corpus.ts";
import { readMidi } from "../../lib/midi/mod.ts";

const base = new RemiTokenizer();
const id = (n: string) => {
  const i = base.tokenId(n);
  if (i === undefined) throw new Error(`no token ${n}`);
  return i;
};

function piece() {
  const s = emptyScore(480);
  for (let i = 0; i < 40; i++) {
    s.notes.push({
      pitch: 48 + (i * 7) % 36,
      velocity: 40 + (i * 13) % 80,
      start: i * 240,
      duration: 240 + (i % 3) * 120,
    });
    if (i % 4 === 0) s.notes.push({ pitch: 36 + (i % 12), velocity: 70, start: i * 240, duration: 960 });
  }
  s.notes.sort((a, b) => a.start - b.start || a.pitch - b.pitch);
  return s;
}

Deno.test("grammar: real REMI token streams have no errors; broken ones are counted", () => {
  const ids = base.encode(piece());
  assertEquals(grammarErrors(ids, base.toJSON()), { type: 0, time: 0, dupn: 0, tokens: ids.length });
  // Every token of a real stream is allowed by the mask in the state before it.
  const g = grammarTables(base.toJSON());
  let s = initialState(g);
  for (const t of ids) {
    assertEquals(allowedMask(g, s)[t], 1, `${base.vocab[t]} after state ${JSON.stringify(s)}`);
    s = nextState(g, s, t);
  }
  const pitch = ids.findIndex((t) => base.vocab[t].startsWith("Pitch_"));
  const swapped = [...ids];
  [swapped[pitch], swapped[pitch + 1]] = [swapped[pitch + 1], swapped[pitch]]; // Velocity before Pitch
  assert(grammarErrors(swapped, base.toJSON()).type >= 2);
  const back = [id("Bar_None"), id("Position_8"), id("Pitch_60"), id("Velocity_95"), id("Position_4")];
  assertEquals(grammarErrors(back, base.toJSON()).time, 1);
  const dup = [id("Bar_None"), id("Position_0"), id("Pitch_60"), id("Velocity_95"), id("Duration_1.0.8")];
  // 4/4 has 32 positions; after TimeSig_3/4 only 24.
  assertEquals(grammarErrors([id("Bar_None"), id("Position_40")], base.toJSON()).time, 1);
  assertEquals(
    grammarErrors(
      [id("Bar_None"), id("Position_0"), id("TimeSig_3/4"), id("Bar_None"), id("Position_26")],
      base.toJSON(),
    ).time,
    1,
  );
  assertEquals(
    grammarErrors(
      [id("Bar_None"), id("Position_0"), id("TimeSig_6/4"), id("Bar_None"), id("Position_40")],
      base.toJSON(),
    ).time,
    0,
  );
  assertEquals(grammarErrors([...dup, ...dup.slice(2)], base.toJSON()).dupn, 1);
  // A TimeSig opens a bar (after Bar or Position_0), never inside one: an error, and masked.
  const sig = id("TimeSig_3/4");
  assertEquals(grammarErrors([id("Bar_None"), id("Position_8"), sig], base.toJSON()).time, 1);
  assertEquals(grammarErrors([id("Bar_None"), sig, id("Position_0")], base.toJSON()).time, 0);
  const g2 = grammarTables(base.toJSON());
  const after = (ids: number[]) => ids.reduce((st, t) => nextState(g2, st, t), initialState(g2));
  assertEquals(allowedMask(g2, after([id("Bar_None")]))[sig], 1);
  assertEquals(allowedMask(g2, after([id("Bar_None"), id("Position_0")]))[sig], 1);
  assertEquals(allowedMask(g2, after([id("Bar_None"), id("Position_8")]))[sig], 0);
  // A note sits at a Position: `Bar TimeSig Pitch` is an error and masked; `Bar Position_0 TimeSig Pitch` is not.
  const c4 = id("Pitch_60");
  const note = [c4, id("Velocity_95"), id("Duration_1.0.8")];
  assertEquals(grammarErrors([id("Bar_None"), sig, ...note], base.toJSON()).time, 1);
  assertEquals(grammarErrors([id("Bar_None"), id("Position_0"), sig, ...note], base.toJSON()).time, 0);
  assertEquals(allowedMask(g2, after([id("Bar_None"), sig]))[c4], 0);
  assertEquals(allowedMask(g2, after([id("Bar_None"), sig, id("Position_0")]))[c4], 1);
  assertEquals(allowedMask(g2, after([id("Bar_None"), id("Position_0"), sig]))[c4], 1);
});

Deno.test("grammar: BPE tokens enter and leave with their first and last base types; broken merges are never allowed", async () => {
  const pv = [id("Pitch_60"), id("Velocity_95")] as [number, number];
  const n0 = base.vocab.length;
  const merges: [number, number][] = [
    pv, // n0: Pitch+Velocity
    [n0, id("Duration_1.0.8")], // n0+1: a whole note
    [id("Position_4"), n0 + 1], // n0+2: Position_4 + note
    [id("Bar_None"), id("Position_0")], // n0+3
    [id("Pitch_60"), id("Pitch_62")], // n0+4: broken inside
    [id("Position_8"), id("Position_2")], // n0+5: backwards inside
    [id("Position_8"), id("TimeSig_3/4")], // n0+6: a meter inside a bar
    [id("TimeSig_3/4"), id("Position_8")], // n0+7: a meter, then a step of the bar it opens
    [id("TimeSig_3/4"), id("Pitch_60")], // n0+8: a meter, then a note: needs a Position before it
    [id("Bar_None"), id("TimeSig_3/4")], // n0+9
    [n0 + 9, id("Pitch_60")], // n0+10: a note after Bar inside: never
  ];
  const bpe = new BpeTokenizer(base, merges);
  const json = bpe.toJSON();
  const g = grammarTables(json);
  assertEquals([...g.gtab.subarray((n0 + 2) * 16, (n0 + 2) * 16 + 7)], [2, 8, 4, 4, 4, -1, 1]);
  assertEquals(g.gtab[(n0 + 4) * 16], -1);
  assertEquals(g.gtab[(n0 + 5) * 16], -1);
  assertEquals(g.gtab[(n0 + 6) * 16], -1);
  assertEquals(g.gtab[(n0 + 7) * 16 + 2], 1, "TimeSig + Position_8 needs the bar's first step at most");
  // After Position_4 inside a bar, a token starting with Position_4 is not allowed; after Bar it is.
  let s = nextState(g, nextState(g, initialState(g), id("Bar_None")), id("Position_4"));
  s = nextState(g, nextState(g, nextState(g, s, id("Pitch_64")), id("Velocity_95")), id("Duration_1.0.8"));
  assertEquals(allowedMask(g, s)[n0 + 2], 0);
  assertEquals(allowedMask(g, nextState(g, s, id("Bar_None")))[n0 + 2], 1);
  assertEquals(allowedMask(g, s)[n0 + 7], 0, "no meter inside the bar");
  assertEquals(allowedMask(g, nextState(g, s, id("Bar_None")))[n0 + 7], 1);
  assertEquals(g.gtab[(n0 + 8) * 16 + 6] & 2, 2, "TimeSig + Pitch needs a Position already");
  assertEquals(g.gtab[(n0 + 10) * 16], -1);
  const bar = nextState(g, initialState(g), id("Bar_None"));
  assertEquals(allowedMask(g, bar)[n0 + 8], 0);
  assertEquals(allowedMask(g, nextState(g, bar, id("Position_0")))[n0 + 8], 1);
  // Generation from a random model with this BPE vocabulary: no grammar errors in the expanded stream.
  const dir = await writeTinyCheckpoint(
    { vocab: json.vocab.length, d: 20, ffn: 36, layers: 1, heads: 2, maxPos: 64 },
    4,
    json,
  );
  const model = await loadModel(dir);
  try {
    const engine = await model.engine(4);
    const r = await engine.decode({
      prompt: [1],
      grammarState: initialState(model.grammar),
      grammar: model.grammar,
      nextState: (st, t) => nextState(model.grammar, st, t),
      batch: 4,
      maxTokens: 300,
      seed: 3,
      temperature: 1.5,
      topK: 0,
      topP: 1,
    });
    let errors = 0, merged = 0;
    for (const ids of r.ids) {
      const e = grammarErrors(ids, json);
      errors += e.type + e.time + e.dupn;
      merged += ids.filter((t) => t >= n0).length;
    }
    console.log(`BPE: ${merged} merged tokens sampled, ${errors} type/time/duplicate errors`);
    assertEquals(errors, 0);
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "grammar: real corpus pieces tokenised with REMI (with and without rests) have no grammar errors",
  ignore: !CORPUS,
  fn: () => {
    const files = pianoCorpusFiles().slice(0, 12);
    for (const cfg of [{}, { useRests: true }]) {
      const tok = new RemiTokenizer(cfg);
      const g = grammarTables(tok.toJSON());
      let tokens = 0;
      for (const f of files) {
        const e = grammarErrors(tok.encode(readMidi(Deno.readFileSync(f))), g);
        assertEquals([e.type, e.time, e.dupn], [0, 0, 0], `${f} ${JSON.stringify(cfg)}`);
        tokens += e.tokens;
      }
      assert(tokens > 10000);
    }
  },
});
