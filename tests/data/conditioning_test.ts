/**
 * Conditioning tokens (lib/data/conditioning.ts, `tokenize --conditioning`): features and classes of written pieces,
 * the dropout's rate and determinism, the vocabulary (old tokenizers unchanged, the new tokens after REMI and before
 * the merges), and a prepared dataset whose every piece leads with tokens that match an independent measurement of
 * its (shifted) source file — on written MIDI files and on real ones (../shared/midi, ignored when absent).
 */
import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { join } from "node:path";
import { CORPUS } from "../_corpus.ts";
import { emptyScore, type Score } from "../../lib/score.ts";
import { readMidiFile, writeMidi } from "../../lib/midi/mod.ts";
import { estimateKey, keyFromIndex } from "../../lib/score/key.ts";
import {
  classOf,
  conditionIds,
  CONDITIONING_TOKENS,
  conditioningIds,
  conditionTokens,
  dropConditions,
  keyToken,
  pieceFeatures,
  tertiles,
} from "../../lib/data/conditioning.ts";
import { prepareDataset } from "../../lib/data/dataset.ts";
import { openShards } from "../../lib/data/shards.ts";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import { trainBpe } from "../../lib/tokenizers/bpe.ts";
import { loadTokenizer, loadTokenizerFile, tokenizerJsonText } from "../../lib/tokenizers/load.ts";
import { BOS_ID, EOS_ID } from "../../lib/tokenizers/tokenizer.ts";
import { mulberry32 } from "../../lib/util/rng.ts";

const MAJOR = [0, 2, 4, 5, 7, 9, 11];

/** `bars` bars of 4/4 (or `num`/4) at `bpm`, `perBar` notes per bar walking the major scale of `tonic`. */
function piece(o: { tonic: number; bpm: number; perBar: number; bars?: number; num?: number }): Score {
  const s = emptyScore(480);
  const bars = o.bars ?? 8, num = o.num ?? 4, barTicks = num * 480;
  s.tempos = [{ tick: 0, bpm: o.bpm }];
  s.timeSignatures = [{ tick: 0, numerator: num, denominator: 4 }];
  for (let b = 0; b < bars; b++) {
    for (let k = 0; k < o.perBar; k++) {
      const deg = (b + k) % 7;
      s.notes.push({
        pitch: 60 + o.tonic + MAJOR[deg],
        velocity: 80,
        start: b * barTicks + Math.floor(k * barTicks / o.perBar),
        duration: deg === 0 ? barTicks : Math.floor(barTicks / o.perBar),
      });
    }
  }
  return s;
}

Deno.test("pieceFeatures: tick-weighted tempo, notes per bar by the meter, the key; a lone 120 bpm takes the onsets' beat", () => {
  const s = piece({ tonic: 2, bpm: 60, perBar: 6, num: 3 });
  s.tempos.push({ tick: 4 * 1440, bpm: 180 }); // half the piece at 60, half at 180
  const f = pieceFeatures(s);
  assertEquals(f.bpm, 120);
  assertEquals(f.notesPerBar, 6);
  assertEquals([f.key.tonic, f.key.mode], [2, "major"]);
  // a map that says nothing (a lone 120, or none): the beat of the onsets
  const placeholder = pieceFeatures(piece({ tonic: 0, bpm: 120, perBar: 4 }));
  assertEquals(placeholder.bpmFrom, "onsets");
  assert(Math.abs(placeholder.bpm! - 120) < 3, `${placeholder.bpm}`);
  assertEquals(pieceFeatures({ ...piece({ tonic: 0, bpm: 90, perBar: 4 }), tempos: [] }).bpmFrom, "onsets");
  assertEquals(pieceFeatures(piece({ tonic: 0, bpm: 90, perBar: 4 })).bpmFrom, "map");
  const few = piece({ tonic: 0, bpm: 120, perBar: 4 });
  few.notes = few.notes.slice(0, 5);
  assertEquals(pieceFeatures(few).bpm, undefined);
});

Deno.test("classes: tertiles, thresholds, and the key moving with a pitch shift", () => {
  assertEquals(tertiles([6, 5, 4, 3, 2, 1]), [3, 5]);
  assertThrows(() => tertiles([]), RangeError);
  assertEquals([classOf(2, [3, 5]), classOf(3, [3, 5]), classOf(4.9, [3, 5]), classOf(5, [3, 5])], [
    0,
    1,
    1,
    2,
  ]);
  const f = { key: { tonic: 9, mode: "minor" as const }, bpm: 70, notesPerBar: 3 };
  const o = { tempoBpm: [80, 120] as [number, number], notesPerBar: [4, 8] as [number, number] };
  assertEquals(conditionTokens(f, { ...o, style: "classical" }), [
    "Style_classical",
    "Key_A:min",
    "TempoClass_slow",
    "Density_low",
  ]);
  assertEquals(conditionTokens({ ...f, bpm: undefined, notesPerBar: 9 }, o, 4), [
    "Style_none",
    "Key_C#:min",
    "TempoClass_none",
    "Density_high",
  ]);
  assertEquals(conditionTokens(f, o, -10)[1], "Key_B:min");
});

Deno.test("vocabulary: old tokenizers unchanged; --conditioning's tokens follow REMI, before the BPE merges", async () => {
  const plain = new RemiTokenizer();
  assertEquals(plain.vocab.length, 314);
  assert(!("extraTokens" in plain.toJSON().config));
  assertEquals(conditioningIds(plain.vocab), undefined);
  const def = await loadTokenizerFile("models/maestro-2m/tokenizer.json");
  assertEquals(conditioningIds(def.vocab), undefined);
  const text = await Deno.readTextFile("models/maestro-2m/tokenizer.json");
  assertEquals(
    tokenizerJsonText(loadTokenizer(text)),
    text,
    "the default model's tokenizer.json round-trips byte for byte",
  );

  const cond = new RemiTokenizer({ extraTokens: [...CONDITIONING_TOKENS] });
  assertEquals(cond.vocab.slice(0, 314), plain.vocab);
  assertEquals(cond.vocab.slice(314), CONDITIONING_TOKENS);
  const c = conditioningIds(cond.vocab)!;
  assertEquals(c.byName.get("Style_classical"), 314);
  assertEquals(c.fim, { pre: 350, suf: 351, mid: 352 });
  // encode never produces them, decode skips them
  const s = piece({ tonic: 0, bpm: 100, perBar: 4 });
  assertEquals(cond.encode(s), plain.encode(s));
  assertEquals(
    cond.decode([BOS_ID, ...c.none, ...cond.encode(s), c.fim.mid]).notes,
    plain.decode(plain.encode(s)).notes,
  );
  const bpe = trainBpe(cond, [s], { vocabSize: 400 });
  assertEquals(bpe.vocab.slice(0, 353), cond.vocab);
  assertEquals(loadTokenizer(tokenizerJsonText(bpe)).vocab, bpe.vocab);
  assertThrows(() => new RemiTokenizer({ extraTokens: ["Bar_None"] }), Error, "RemiConfig.extraTokens");
  assertThrows(() => new RemiTokenizer({ extraTokens: ["a+b"] }), Error, "RemiConfig.extraTokens");
});

Deno.test("conditionIds: a prompt's four ids, _none for what is not asked; one-line errors", () => {
  const vocab = new RemiTokenizer({ extraTokens: [...CONDITIONING_TOKENS] }).vocab;
  const c = conditioningIds(vocab)!;
  const names = (ids: number[]) => ids.map((i) => vocab[i]);
  assertEquals(names(conditionIds(c, { style: "pop", key: "E minor", density: "high" })), [
    "Style_pop",
    "Key_E:min",
    "TempoClass_none",
    "Density_high",
  ]);
  assertEquals(names(conditionIds(c, { key: "Bb major", tempo: "slow" })).slice(1, 3), [
    "Key_A#:maj",
    "TempoClass_slow",
  ]);
  assertEquals(names(conditionIds(c, {})), ["Style_none", "Key_none", "TempoClass_none", "Density_none"]);
  assertThrows(() => conditionIds(c, { style: "jazz" as never }), Error, "style: expected classical, pop");
  assertThrows(
    () => conditionIds(c, { density: "huge" as never }),
    Error,
    "density: expected low, medium, high",
  );
  assertThrows(() => conditionIds(c, { key: "E dorian" }), Error, "key: expected");
});

Deno.test("dropConditions: the seed decides; the rate is p + (1 − p)·all; all dropped together ≈ all", () => {
  const vocab = new RemiTokenizer({ extraTokens: [...CONDITIONING_TOKENS] }).vocab;
  const c = conditioningIds(vocab)!;
  const lead = conditionIds(c, { style: "pop", key: "C major", tempo: "fast", density: "low" });
  const run = (seed: number) => {
    const rng = mulberry32(seed);
    let dropped = 0, allNone = 0;
    const rows: number[][] = [];
    for (let w = 0; w < 20000; w++) {
      const row = Int32Array.from([BOS_ID, ...lead, 4, 100, EOS_ID]);
      dropped += dropConditions(row, row.length, c, rng, 0.3, 0.1);
      if (row.slice(1, 5).every((id, k) => id === c.none[k])) allNone++;
      assertEquals([row[0], ...row.slice(5)], [BOS_ID, 4, 100, EOS_ID]);
      if (w < 50) rows.push([...row]);
    }
    return { rate: dropped / 80000, allNone: allNone / 20000, rows };
  };
  const a = run(7), b = run(7), d = run(8);
  assertEquals(a, b);
  assert(JSON.stringify(a.rows) !== JSON.stringify(d.rows));
  // expected 0.3 + 0.7 × 0.1 = 0.37; all four none: 0.1 + 0.9 × 0.3⁴ ≈ 0.107
  assert(Math.abs(a.rate - 0.37) < 0.01, `rate ${a.rate}`);
  assert(Math.abs(a.allNone - 0.107) < 0.01, `all none ${a.allNone}`);
  // _none tokens stay; non-condition ids untouched even at p = 1
  const row = Int32Array.from([BOS_ID, ...c.none, 5, 6]);
  assertEquals(dropConditions(row, row.length, c, mulberry32(1), 1, 1), 0);
});

/** Checks every piece of a prepared dataset against its source file, measured here. */
async function checkPrepared(dir: string, pathOf: (source: string) => string, style: string | undefined) {
  const ds = await openShards(dir);
  const tok = loadTokenizer(ds.tokenizer);
  const c = conditioningIds(tok.vocab)!;
  assert(c, "the tokenizer has the conditioning tokens");
  const m = ds.meta.conditioning!;
  assertEquals(m.tokens, CONDITIONING_TOKENS);
  // the thresholds: tertiles of the training sources' measurements (unshifted, once per file)
  const trainFiles = [...new Set(ds.meta.splits.train.items.map((it) => it.source))];
  const feats = new Map<string, ReturnType<typeof pieceFeatures>>();
  const keys = new Map<string, ReturnType<typeof estimateKey>>();
  for (const f of new Set(Object.values(ds.meta.splits).flatMap((sp) => sp.items.map((it) => it.source)))) {
    const score = await readMidiFile(pathOf(f));
    feats.set(f, pieceFeatures(score));
    keys.set(f, estimateKey(score.notes, score.ticksPerBeat));
  }
  assertEquals(m.notesPerBar, tertiles(trainFiles.map((f) => feats.get(f)!.notesPerBar)));
  let checked = 0;
  for (const split of ["train", "validation", "test"] as const) {
    ds.meta.splits[split].items.forEach((it, i) => {
      const ids = ds.splits[split][i];
      assertEquals(ids[0], BOS_ID);
      assertEquals(ids[ids.length - 1], EOS_ID);
      const names = Array.from(ids.slice(1, 5), (id) => tok.vocab[id]);
      const f = feats.get(it.source)!;
      const want = conditionTokens(f, {
        style: style as never,
        tempoBpm: m.tempoBpm,
        notesPerBar: m.notesPerBar,
      }, it.shift);
      assertEquals(names, want, `${it.source} shift ${it.shift}: ${names} vs ${want}`);
      // and the key independently: K-S on the file's notes moved by the shift
      const e = keys.get(it.source)!;
      assertEquals(
        names[1],
        keyToken(keyFromIndex(((e.tonic + it.shift) % 12 + 12) % 12 + (e.mode === "minor" ? 12 : 0))),
      );
      // the music after them decodes like the file does (the tokens are only a prefix)
      assert(!Array.from(ids.slice(5, ids.length - 1)).some((id) => c.category[id] >= 0));
      checked++;
    });
  }
  return checked;
}

Deno.test("tokenize --conditioning on written MIDI files: every piece leads with its own four tokens", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "etude_cond_" });
  try {
    const src = join(tmp, "songs");
    await Deno.mkdir(src);
    const plan = [
      { tonic: 0, bpm: 60, perBar: 2 },
      { tonic: 7, bpm: 90, perBar: 4 },
      { tonic: 2, bpm: 100, perBar: 6 },
      { tonic: 9, bpm: 140, perBar: 8 },
      { tonic: 5, bpm: 170, perBar: 12 },
      { tonic: 4, bpm: 75, perBar: 3 },
      { tonic: 11, bpm: 130, perBar: 10 },
      { tonic: 3, bpm: 110, perBar: 5 },
      { tonic: 10, bpm: 95, perBar: 7 },
    ];
    for (const [i, p] of plan.entries()) await Deno.writeFile(join(src, `p${i}.mid`), writeMidi(piece(p)));
    const { dir, meta } = await prepareDataset({
      dataset: src,
      out: join(tmp, "prepared"),
      tokenizer: "remi",
      conditioning: true,
      style: "pop",
      shifts: 2,
      workers: 0,
    });
    assert(dir.endsWith("songs-remi-cond"));
    assertEquals(meta.vocabSize, 314 + CONDITIONING_TOKENS.length);
    const n = await checkPrepared(dir, (f) => join(src, f), "pop");
    assertEquals(n, meta.splits.train.pieces + meta.splits.validation.pieces + meta.splits.test.pieces);
    // the written keys are what the tokens say (the unshifted copies)
    const ds = await openShards(dir);
    const tok = loadTokenizer(ds.tokenizer);
    for (const split of ["train", "validation", "test"] as const) {
      ds.meta.splits[split].items.forEach((it, i) => {
        if (it.shift !== 0) return;
        const p = plan[Number(/p(\d)/.exec(it.source)![1])];
        assertEquals(
          tok.vocab[ds.splits[split][i][2]],
          keyToken({ tonic: p.tonic, mode: "major" }),
          it.source,
        );
      });
    }
    // without --conditioning: the plain vocabulary and no leading tokens
    const plain = await prepareDataset({
      dataset: src,
      out: join(tmp, "prepared"),
      tokenizer: "remi",
      workers: 0,
    });
    assertEquals(plain.meta.vocabSize, 314);
    assertEquals(plain.meta.conditioning, undefined);
    await assertRejects(() =>
      prepareDataset({
        dataset: src,
        out: join(tmp, "p2"),
        tokenizer: "pitch",
        conditioning: true,
        workers: 0,
      })
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

async function assertRejects(f: () => Promise<unknown>) {
  let threw = false;
  try {
    await f();
  } catch {
    threw = true;
  }
  assert(threw, "expected a rejection");
}

Deno.test({
  name:
    "tokenize --conditioning on real MIDI (../shared/midi piano-midi.de, remi-bpe): tokens match the files",
  ignore: !CORPUS,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "etude_cond_real_" });
    try {
      const src = join(tmp, "piano");
      await Deno.mkdir(src);
      const files = [
        "Chopin/chpn-p1.mid",
        "Chopin/chpn-p4.mid",
        "Chopin/chpn-p7.mid",
        "Chopin/chpn-p20.mid",
        "Bach/bach_846.mid",
        "Beethoven/elise.mid",
        "Schumann/scn15_1.mid",
        "Grieg/grieg_walzer.mid",
      ];
      for (const f of files) {
        await Deno.copyFile(join(CORPUS!, "piano-midi-de", "midis", f), join(src, f.replace("/", "_")));
      }
      const { dir, meta } = await prepareDataset({
        dataset: src,
        out: join(tmp, "prepared"),
        tokenizer: "remi-bpe",
        vocab: 500,
        conditioning: true,
        shifts: 1,
        workers: 2,
      });
      assertEquals(meta.vocabSize, 500);
      const n = await checkPrepared(dir, (f) => join(src, f), undefined);
      assert(n >= files.length);
      // piano-midi.de has real tempo maps: no TempoClass_none
      assertEquals(meta.conditioning!.counts["TempoClass_none"], undefined);
      assertEquals(meta.conditioning!.counts["Style_none"], n);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
