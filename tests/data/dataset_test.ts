import { join } from "node:path";
import { assert, assertEquals } from "../_assert.ts";
import { CORPUS } from "../_corpus.ts";
import { fetchMaestro } from "../../lib/data/maestro.ts";
import { chooseShifts, prepareDataset } from "../../lib/data/dataset.ts";
import { openShards, type ShardMeta } from "../../lib/data/shards.ts";
import { readMidiFile } from "../../lib/midi/mod.ts";
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
