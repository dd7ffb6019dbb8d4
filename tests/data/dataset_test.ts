import { join } from "node:path";
import { assert, assertEquals } from "../_assert.ts";
import { CORPUS } from "../_corpus.ts";
import { fetchMaestro } from "../../lib/data/maestro.ts";
import { chooseShifts, prepareDataset } from "../../lib/data/dataset.ts";
import { openShards, type ShardMeta } from "../../lib/data/shards.ts";
import { readMidiFile, writeMidi } from "../../lib/midi/mod.ts";
import { emptyScore } from "../../lib/score.ts";
import { loadTokenizer } from "../../lib/tokenizers/mod.ts";
import type { Score } from "../../lib/score.ts";
import { buildMaestroZip } from "./_fixture.ts";

function shifted(s: Score, shift: number): Score {
  return { ...s, notes: s.notes.map((n) => ({ ...n, pitch: n.pitch + shift })) };
}

/** Checks that meta.json's counts add up and agree with the files. */
async function checkCounts(dir: string, meta: ShardMeta): Promise<void> {
  let used = 0;
  for (const [split, m] of Object.entries(meta.splits)) {
    const bytes = (await Deno.stat(join(dir, m.file))).size;
    assertEquals(bytes, m.tokens * (meta.dtype === "uint16" ? 2 : 4), `${split} size`);
    assertEquals(m.pieces, m.items.length);
    assertEquals(m.tokens, m.items.reduce((a, it) => a + it.length, 0));
    assertEquals(m.notes, m.items.reduce((a, it) => a + it.notes, 0));
    assertEquals(m.sources, new Set(m.items.map((it) => it.source)).size);
    used += m.sources;
  }
  assertEquals(used, meta.dataset.filesUsed);
  // Splits are disjoint by source file.
  const owner = new Map<string, string>();
  for (const [split, m] of Object.entries(meta.splits)) {
    for (const it of m.items) {
      assert(
        owner.get(it.source) === undefined || owner.get(it.source) === split,
        `${it.source} in two splits`,
      );
      owner.set(it.source, split);
    }
  }
  // Augmentation only in train.
  for (const s of ["validation", "test"] as const) assert(meta.splits[s].items.every((it) => it.shift === 0));
  assertEquals(meta.augmentation.applied, meta.splits.train.items.filter((it) => it.shift !== 0).length);
}

Deno.test("chooseShifts: seeded, distinct, in range; shifts that push notes out of the pitch range are dropped", () => {
  const hist = new Uint32Array(128);
  hist[60] = 3;
  hist[100] = 1; // 100 + 9 > 108: shifts above +8 would leave the piano range
  const o = { count: 2, range: 6, seed: 5, pitchRange: [21, 108] as [number, number] };
  const a = chooseShifts(hist, "x.mid", o);
  assertEquals(chooseShifts(hist, "x.mid", o), a);
  assertEquals(a.kept.length + a.dropped, 2);
  assert(a.kept.every((s) => s !== 0 && Math.abs(s) <= 6));
  assertEquals(new Set(a.kept).size, a.kept.length);
  const all = chooseShifts(hist, "x.mid", { ...o, count: "all" });
  assertEquals(all.kept, [-6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6]);
  hist[106] = 1;
  const high = chooseShifts(hist, "x.mid", { ...o, count: "all" });
  assertEquals(high.kept, [-6, -5, -4, -3, -2, -1, 1, 2]);
  assertEquals(high.dropped, 4);
});

Deno.test({
  name:
    "tokenize: MAESTRO layout → disjoint splits, train-only augmentation, counts add up, shards decode to the source",
  ignore: !CORPUS,
  fn: async () => {
    const fx = await buildMaestroZip();
    const tmp = await Deno.makeTempDir({ prefix: "etude_tok_" });
    try {
      const zip = join(tmp, "maestro-v3.0.0-midi.zip");
      await Deno.writeFile(zip, fx.zip);
      const { root } = await fetchMaestro({ out: tmp, zip, sha256: fx.sha256, progress: false });
      const { dir, meta } = await prepareDataset({
        dataset: root,
        out: join(tmp, "prepared"),
        tokenizer: "remi-bpe",
        vocab: 600,
        seed: 1,
        workers: 2,
      });
      assertEquals(dir, join(tmp, "prepared", "maestro-v3.0.0-remi-bpe-600"));
      assertEquals(meta.dataset.kind, "maestro");
      assertEquals(meta.vocabSize, 600);
      assertEquals(meta.tokenizer.bpe?.pieces, meta.splits.train.sources);
      await checkCounts(dir, meta);
      // MAESTRO's own split, from the CSV.
      for (const s of ["train", "validation", "test"] as const) {
        assertEquals(
          [...new Set(meta.splits[s].items.map((it) => it.source))].sort(),
          fx.files.filter((f) => f.split === s).map((f) => f.midiFilename).sort(),
        );
      }
      // Every training piece: the original plus up to two distinct shifts.
      for (const f of fx.files.filter((f) => f.split === "train")) {
        const shifts = meta.splits.train.items.filter((it) => it.source === f.midiFilename).map((it) =>
          it.shift
        );
        assertEquals(shifts[0], 0);
        assert(shifts.length >= 1 && shifts.length <= 3 && new Set(shifts).size === shifts.length);
      }
      assert(meta.augmentation.applied > 0);
      // Shards decode back: the ids of every piece equal the tokenizer's own encoding of the (shifted) source.
      const ds = await openShards(dir);
      const tok = loadTokenizer(ds.tokenizer);
      for (const s of ["train", "validation", "test"] as const) {
        const items = meta.splits[s].items;
        for (let i = 0; i < items.length; i++) {
          const it = items[i];
          const src = await readMidiFile(join(root, it.source));
          const ids = Array.from(ds.splits[s][i].subarray(1, -1));
          assertEquals(ids, tok.encode(shifted(src, it.shift)), `${s} ${it.source} shift ${it.shift}`);
          if (it.shift !== 0) {
            // A shifted piece decodes to the original's notes, transposed.
            const orig = tok.decode(tok.encode(src)).notes.map((n: { pitch: number }) => n.pitch + it.shift);
            assertEquals(tok.decode(ids).notes.map((n: { pitch: number }) => n.pitch), orig);
          }
        }
      }
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "tokenize: a plain folder gets a seeded split by file; bad and duplicate files are skipped and listed",
  ignore: !CORPUS,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "etude_tok_" });
    try {
      const src = join(tmp, "midi");
      await Deno.mkdir(join(src, "haydn"), { recursive: true });
      const pick = ["haydn_7_1", "haydn_7_3", "haydn_8_2", "haydn_8_3", "haydn_8_4", "haydn_9_3"];
      for (const p of pick) {
        await Deno.copyFile(
          join(CORPUS!, "piano-midi-de/midis/Haydn", `${p}.mid`),
          join(src, "haydn", `${p}.mid`),
        );
      }
      await Deno.copyFile(join(src, "haydn", "haydn_8_4.mid"), join(src, "zz_copy_of_8_4.MIDI"));
      await Deno.writeTextFile(join(src, "broken.mid"), "this is not a MIDI file");
      await Deno.writeFile(join(src, "empty.mid"), new Uint8Array());
      await Deno.writeTextFile(join(src, "notes.txt"), "not MIDI, not looked at");
      const run = (workers: number, name: string) =>
        prepareDataset({
          dataset: src,
          out: join(tmp, "prepared"),
          name,
          tokenizer: "remi",
          shifts: 2,
          seed: 3,
          workers,
        });
      await Deno.mkdir(join(tmp, "prepared", ".a.tmp-0badc0de"), { recursive: true }); // a killed run's leftover
      const { dir, meta } = await run(2, "a");
      await checkCounts(dir, meta);
      assertEquals(meta.dataset.kind, "folder");
      assertEquals(meta.dataset.filesFound, 9);
      assertEquals(meta.dataset.filesUsed, 6);
      const reasons = new Map(meta.skipped.map((s) => [s.file, s.reason]));
      assertEquals([...reasons.keys()].sort(), ["broken.mid", "empty.mid", "zz_copy_of_8_4.MIDI"]);
      assertEquals(reasons.get("zz_copy_of_8_4.MIDI"), "duplicate of haydn/haydn_8_4.mid");
      assert(reasons.get("broken.mid")!.length > 0 && !reasons.get("broken.mid")!.includes("\n"));
      assertEquals([meta.splits.validation.sources, meta.splits.test.sources], [1, 1]);
      assertEquals(meta.split.method, "seeded-by-file");
      // Same seed on the main thread only: identical shards (the worker schedule does not matter).
      const b = await run(0, "b");
      for (const f of ["train.bin", "validation.bin", "test.bin", "tokenizer.json"]) {
        assertEquals(await Deno.readFile(join(b.dir, f)), await Deno.readFile(join(dir, f)), f);
      }
      assertEquals(b.meta.splits, meta.splits);
      assertEquals([...Deno.readDirSync(join(tmp, "prepared"))].map((e) => e.name).sort(), ["a", "b"]);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

/** A one-track MIDI file (96 ticks per beat) from [delta, ...bytes] events; End-of-Track appended. */
function midiFile(events: number[][]): Uint8Array {
  const body: number[] = [];
  for (const [delta, ...bytes] of events) {
    const v = [delta & 0x7f];
    for (let d = Math.floor(delta / 128); d > 0; d = Math.floor(d / 128)) v.unshift((d & 0x7f) | 0x80);
    body.push(...v, ...bytes);
  }
  body.push(0, 0xff, 0x2f, 0);
  const n = body.length;
  return new Uint8Array([
    ...[0x4d, 0x54, 0x68, 0x64, 0, 0, 0, 6, 0, 0, 0, 1, 0, 96],
    ...[0x4d, 0x54, 0x72, 0x6b, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255],
    ...body,
  ]);
}
const hexBytes = (h: string) => new Uint8Array(h.match(/../g)!.map((x) => parseInt(x, 16)));

Deno.test({
  name:
    "tokenize (issue 11, F4): files the reader clipped or that take too many tokens per note are skipped and listed",
  ignore: !CORPUS,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "etude_tok_" });
    try {
      const src = join(tmp, "midi");
      await Deno.mkdir(src, { recursive: true });
      for (const p of ["haydn_7_1", "haydn_7_3", "haydn_8_2", "haydn_8_3", "haydn_8_4", "haydn_9_3"]) {
        await Deno.copyFile(join(CORPUS!, "piano-midi-de/midis/Haydn", `${p}.mid`), join(src, `${p}.mid`));
      }
      // The reproducers: a 0x0FFFFFFF delta (F1) and a 16.7 s beat with a note at beat 3,001 (F2).
      await Deno.writeFile(
        join(src, "f1.mid"),
        hexBytes(
          "4d546864000000060000000100014d54726b0000001700903c4001803c00ffffff7f903e4001803e0000ff2f00",
        ),
      );
      await Deno.writeFile(
        join(src, "f2.mid"),
        hexBytes(
          "4d546864000000060000000100014d54726b0000001c00ff5103ffffff00903c4001803c009738903e4001803e0000ff2f00",
        ),
      );
      // Within every read limit but mostly empty bars: 10 notes 300 bars apart at 240 bpm (5 min silences).
      const sparse: number[][] = [[0, 0xff, 0x51, 3, 0x03, 0xd0, 0x90]];
      for (let i = 0; i < 10; i++) sparse.push([i ? 1199 * 96 : 0, 0x90, 60 + i, 80], [96, 0x80, 60 + i, 0]);
      await Deno.writeFile(join(src, "sparse.mid"), midiFile(sparse));
      // Two notes 4,900 bars apart at 2,000 bpm (a 588 s silence): over the REMI token cap.
      await Deno.writeFile(
        join(src, "capped.mid"),
        midiFile([[0, 0xff, 0x51, 3, 0, 0x75, 0x30], [0, 0x90, 60, 80], [96, 0x80, 60, 0], [
          4900 * 4 * 96 - 96,
          0x90,
          62,
          80,
        ], [
          96,
          0x80,
          62,
          0,
        ]]),
      );
      const { dir, meta } = await prepareDataset({
        dataset: src,
        out: join(tmp, "prepared"),
        name: "f4",
        tokenizer: "remi-bpe",
        vocab: 400,
        seed: 5,
        workers: 2,
      });
      await checkCounts(dir, meta);
      const reasons = new Map(meta.skipped.map((s) => [s.file, s.reason]));
      assertEquals([...reasons.keys()].sort(), ["capped.mid", "f1.mid", "f2.mid", "sparse.mid"]);
      assertEquals(
        reasons.get("f1.mid"),
        "over a read limit: a silence of 37282.7 h (ticks 1–268435456) is longer than the maximum gap of 600 s " +
          "(ReadMidiOptions.maxGapSeconds)",
      );
      assert(
        reasons.get("f2.mid")!.startsWith("over a read limit: a silence of 14 h"),
        reasons.get("f2.mid"),
      );
      assertEquals(
        reasons.get("sparse.mid"),
        "2743 REMI tokens for 10 note(s): more than 12 per note (+ 64; PrepareOptions.maxTokensPerNote), " +
          "mostly empty bars",
      );
      assert(reasons.get("capped.mid")!.startsWith("REMI: the piece needs more than 4128 tokens"));
      for (const why of reasons.values()) assert(!why.includes("\n"));
      assertEquals(meta.dataset.filesUsed, 6);
      // Only the Haydn pieces are in the shards: a few base tokens per note, not hundreds of megabytes.
      const tokens = Object.values(meta.splits).reduce((a, s) => a + s.tokens, 0);
      const notes = Object.values(meta.splits).reduce((a, s) => a + s.notes, 0);
      assert(tokens < 5 * notes, `${tokens} tokens for ${notes} notes`);
      // A looser threshold keeps the sparse piece (the others are over hard limits).
      const loose = await prepareDataset({
        dataset: src,
        out: join(tmp, "prepared"),
        name: "loose",
        tokenizer: "remi",
        shifts: 0,
        maxTokensPerNote: 400,
        workers: 0,
      });
      assertEquals(loose.meta.skipped.map((s) => s.file).sort(), ["capped.mid", "f1.mid", "f2.mid"]);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("tokenize --tokenizer-from a model: its tokenizer.json copied byte for byte, no BPE, pieces in its ids", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "etude_tok_from_" });
  const model = new URL("../../models/maestro-2m", import.meta.url).pathname;
  try {
    const src = join(tmp, "midi");
    await Deno.mkdir(src);
    const fx = new URL("../testdata/midi/", import.meta.url).pathname;
    for (
      const f of ["note-seq-melody.mid", "jazz-soft-test-c-major-scale.mid", "nfroidure-MIDIOkFormat1.mid"]
    ) {
      await Deno.copyFile(join(fx, f), join(src, f));
    }
    const text = await Deno.readTextFile(join(model, "tokenizer.json"));
    const { dir, meta } = await prepareDataset({
      dataset: src,
      tokenizerFrom: model,
      out: join(tmp, "prepared"),
      shifts: 0,
      fractions: [1, 0, 0],
      workers: 0,
    });
    assertEquals(dir, join(tmp, "prepared", "midi-from-maestro-2m"));
    assertEquals(await Deno.readTextFile(join(dir, "tokenizer.json")), text);
    assertEquals(meta.tokenizer.kind, "remi-bpe");
    assertEquals(meta.tokenizer.from, join(model, "tokenizer.json"));
    assertEquals(meta.tokenizer.bpe, undefined);
    assertEquals(meta.vocabSize, 1024);
    const tok = loadTokenizer(text);
    const ds = await openShards(dir);
    for (const [i, it] of meta.splits.train.items.entries()) {
      const score = await readMidiFile(join(src, it.source));
      assertEquals(Array.from(ds.splits.train[i]), [1, ...tok.encode(score), 2], it.source);
    }
    // options that ask for another tokenizer are refused, naming the flag
    for (
      const [o, re] of [
        [{ tokenizer: "remi" as const }, /--tokenizer remi: .*tokenizer\.json is a remi-bpe tokenizer/],
        [{ vocab: 512 }, /--vocab: the vocabulary comes from/],
        [{ remiPreset: "fradet" as const }, /--remi-config: the REMI configuration comes from/],
        [{ tokenizerFrom: join(tmp, "nope") }, /--tokenizer-from: .*nope: not found/],
      ] as const
    ) {
      let msg = "";
      await prepareDataset({ dataset: src, tokenizerFrom: model, out: join(tmp, "p2"), ...o }).catch((e) =>
        msg = e.message
      );
      assert(re.test(msg), `${JSON.stringify(o)}: ${msg}`);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("tokenize --bpe-sample: BPE learns on whole training pieces up to the cap, seeded, recorded in meta.json", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "etude_bpe_sample_" });
  try {
    const src = join(tmp, "midi");
    await Deno.mkdir(src);
    // eight pieces the test writes, each different (so BPE's sample and the whole differ)
    for (let f = 0; f < 8; f++) {
      const sc = emptyScore(480);
      for (let i = 0; i < 150; i++) {
        sc.notes.push({
          pitch: 40 + ((i * (f + 3)) % 45),
          velocity: 40 + ((i * 7 + f) % 80),
          start: i * 120 * (1 + (f % 3)),
          duration: 120 + ((i + f) % 4) * 120,
        });
      }
      await Deno.writeFile(join(src, `piece${f}.mid`), writeMidi(sc));
    }
    const prep = (name: string, bpeSampleTokens?: number) =>
      prepareDataset({
        dataset: src,
        name,
        out: join(tmp, "prepared"),
        tokenizer: "remi-bpe",
        vocab: 400,
        shifts: 0,
        fractions: [1, 0, 0],
        workers: 0,
        bpeSampleTokens,
      });
    const all = (await prep("all", 0)).meta;
    const bpeAll = all.tokenizer.bpe!;
    assertEquals(bpeAll.baseTokens, bpeAll.trainBaseTokens);
    assertEquals(bpeAll.pieces, all.splits.train.pieces);
    assert(bpeAll.trainBaseTokens! > 4000, `${bpeAll.trainBaseTokens}`);
    const cap = Math.floor(bpeAll.trainBaseTokens! / 3);
    const a = (await prep("a", cap)).meta, b = (await prep("b", cap)).meta;
    const s = a.tokenizer.bpe!;
    // whole pieces until the cap is reached: at least the cap, fewer pieces than all, the same draw twice
    assert(s.baseTokens >= cap && s.baseTokens < bpeAll.trainBaseTokens!, `${s.baseTokens} vs cap ${cap}`);
    assert(s.pieces < bpeAll.pieces, `${s.pieces} of ${bpeAll.pieces}`);
    assertEquals(s.trainBaseTokens, bpeAll.trainBaseTokens);
    assertEquals(s.sampleCap, cap);
    assertEquals(b.tokenizer.bpe, s, "the same seeded sample twice");
    assert(s.trainedOn.includes(`up to ${cap} base tokens`), s.trainedOn);
    assertEquals(
      await Deno.readTextFile(join(tmp, "prepared", "a", "tokenizer.json")),
      await Deno.readTextFile(join(tmp, "prepared", "b", "tokenizer.json")),
    );
    // every training piece is still encoded (the sample only chooses what BPE learns on)
    assertEquals(a.splits.train.pieces, all.splits.train.pieces);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
