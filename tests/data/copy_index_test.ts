import { join } from "node:path";
import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import { CORPUS } from "../_corpus.ts";
import {
  buildCopyIndex,
  COPY_INDEX_BIN,
  COPY_INDEX_JSON,
  copyIndexInto,
  copyIndexOfShards,
  readCopyIndex,
  suffixArray,
  writeCopyIndex,
} from "../../lib/data/copy_index.ts";
import { prepareDataset } from "../../lib/data/dataset.ts";
import { openShards, type PreparedDataset } from "../../lib/data/shards.ts";
import { writeMidi } from "../../lib/midi/mod.ts";
import { emptyScore } from "../../lib/score.ts";

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

/** The longest common run of `q` and `text`, by trying every pair of starts. */
function bruteLongest(text: readonly number[], q: readonly number[]): number {
  let best = 0;
  for (let i = 0; i < q.length; i++) {
    for (let p = 0; p < text.length; p++) {
      let k = 0;
      while (i + k < q.length && p + k < text.length && q[i + k] === text[p + k]) k++;
      best = Math.max(best, k);
    }
  }
  return best;
}

function occurrences(text: readonly number[], run: readonly number[]): number {
  let n = 0;
  for (let p = 0; p + run.length <= text.length; p++) if (run.every((v, i) => text[p + i] === v)) n++;
  return n;
}

Deno.test("suffixArray (SA-IS) equals sorting the suffixes, on random strings over small and large alphabets", () => {
  const rnd = lcg(11);
  for (let t = 0; t < 300; t++) {
    const n = 1 + Math.floor(rnd() * (t < 200 ? 120 : 2000));
    const upper = t % 3 === 0 ? 1 : t % 3 === 1 ? 4 : 300;
    const s = Int32Array.from({ length: n }, () => Math.floor(rnd() * (upper + 1)));
    const naive = Array.from({ length: n }, (_, i) => i).sort((a, b) => {
      while (a < n && b < n) {
        if (s[a] !== s[b]) return s[a] - s[b];
        a++;
        b++;
      }
      return a === n ? -1 : 1;
    });
    assertEquals(Array.from(suffixArray(s, upper)), naive, `case ${t} (n ${n}, upper ${upper})`);
  }
});

Deno.test("longestCopy agrees with brute force on random small data: length, where, how often", () => {
  const rnd = lcg(5);
  for (let t = 0; t < 250; t++) {
    const V = 2 + Math.floor(rnd() * 30);
    const N = Math.floor(rnd() * 500);
    const text = Array.from({ length: N }, () => 1 + Math.floor(rnd() * (V - 1)));
    const index = buildCopyIndex(text, { vocabSize: V });
    for (let k = 0; k < 6; k++) {
      let q: number[];
      if (k % 2 === 0 || N === 0) {
        // random, with out-of-vocabulary ids (0 and V) mixed in
        q = Array.from({ length: Math.floor(rnd() * 80) }, () => Math.floor(rnd() * (V + 1)));
      } else {
        // a slice of the text with one token changed, between foreign ids
        const a = Math.floor(rnd() * N);
        q = text.slice(a, a + 1 + Math.floor(rnd() * 120));
        q[Math.floor(rnd() * q.length)] = 1 + Math.floor(rnd() * (V - 1));
        q = [0, ...q, V];
      }
      const m = index.longestCopy(q);
      const want = bruteLongest(text, q);
      assertEquals(m.length, want, `case ${t}.${k}`);
      if (want === 0) {
        assertEquals([m.start, m.trainOffset, m.occurrences], [-1, -1, 0]);
        continue;
      }
      const run = q.slice(m.start, m.start + m.length);
      assertEquals(text.slice(m.trainOffset, m.trainOffset + m.length), run, `case ${t}.${k}: located`);
      assertEquals(m.occurrences, occurrences(text, run), `case ${t}.${k}: occurrences`);
      assertEquals(index.count(run), m.occurrences);
      assertEquals(text.slice(index.find(run), index.find(run) + run.length), run);
    }
  }
});

Deno.test("copy index: bad ids refused with their place; a saved index reads back and answers the same", async () => {
  assertThrows(() => buildCopyIndex([1, 5, 0, 2], { vocabSize: 8 }), RangeError, "id 0 at 2");
  assertThrows(() => buildCopyIndex([1, 9, 2], { vocabSize: 8 }), RangeError, "id 9 at 1");
  const rnd = lcg(3);
  const text = Array.from({ length: 5000 }, () => 1 + Math.floor(rnd() * 40));
  const pieces = [{ source: "a.mid", shift: 0, offset: 0, length: 2500 }, {
    source: "b.mid",
    shift: 2,
    offset: 2500,
    length: 2500,
  }];
  const index = buildCopyIndex(text, { vocabSize: 41, pieces, tokenizerSha256: "ab".repeat(32) });
  const tmp = await Deno.makeTempDir({ prefix: "etude_copy_" });
  try {
    assertEquals(await readCopyIndex(tmp), undefined); // none there
    await writeCopyIndex(tmp, index);
    const back = (await readCopyIndex(tmp))!;
    assertEquals(back.header, index.header);
    const q = [...text.slice(3000, 3100), 0, ...text.slice(100, 150)];
    const m = back.longestCopy(q);
    assertEquals(m, index.longestCopy(q));
    assertEquals([m.length, m.start, m.trainOffset], [100, 0, 3000]);
    assertEquals(m.piece, { index: 1, source: "b.mid", shift: 2, offsetInPiece: 500 });
    // a .bin from another build beside this header is refused, naming the file
    const other = buildCopyIndex(text, { vocabSize: 41, pieces });
    await Deno.writeFile(join(tmp, COPY_INDEX_BIN), other.toBytes());
    await assertRejects(() => readCopyIndex(tmp), Error, `${join(tmp, COPY_INDEX_BIN)}: id`);
    await Deno.writeFile(join(tmp, COPY_INDEX_BIN), index.toBytes().subarray(0, 100));
    await assertRejects(() => readCopyIndex(tmp), Error, "100 bytes");
    await Deno.writeTextFile(join(tmp, COPY_INDEX_JSON), "{");
    await assertRejects(() => readCopyIndex(tmp), Error, join(tmp, COPY_INDEX_JSON));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

/** Ids of a training piece (BOS and EOS left out) and its meta item. */
function trainPiece(ds: PreparedDataset, k: number) {
  return { ids: Array.from(ds.splits.train[k].subarray(1, -1)), item: ds.meta.splits.train.items[k] };
}

/** Plants a training piece's ids (ends changed) in a "generation" and checks the index catches it. */
async function checkPlanted(dir: string, ds: PreparedDataset): Promise<void> {
  const index = await readCopyIndex(dir);
  assert(index, `${dir}: prepareDataset wrote no copy index`);
  assertEquals(index.tokens, ds.meta.splits.train.tokens);
  assertEquals(index.header.tokenizer.sha256, ds.meta.tokenizer.sha256);
  // the longest training piece (unaugmented), its first and last 3 tokens changed, a few foreign tokens around
  let k = 0;
  ds.splits.train.forEach((p, i) => {
    const it = ds.meta.splits.train.items[i];
    if (it.shift === 0 && p.length > ds.splits.train[k].length) k = i;
  });
  const { ids, item } = trainPiece(ds, k);
  const bump = (id: number) => (id % 7) + 4; // some other regular id
  const copy = [...ids];
  for (const i of [0, 1, 2, copy.length - 3, copy.length - 2, copy.length - 1]) {
    copy[i] = copy[i] === bump(copy[i]) ? copy[i] + 1 : bump(copy[i]);
  }
  const generated = [...ids.slice(50, 60).reverse(), ...copy];
  const m = index.longestCopy(generated);
  assert(m.length >= ids.length - 6, `copy of ${ids.length - 6} tokens reported as ${m.length}`);
  assert(m.piece, "the piece is named");
  assertEquals(m.piece.source, item.source);
  assertEquals(m.piece.shift, 0);
  assertEquals(m.start, 10 + 3);
  // an unrelated sequence (a test-split piece, never trained on) shares only short runs
  const test = ds.splits.test.length ? ds.splits.test : ds.splits.validation;
  const other = Array.from(test[0].subarray(1, -1));
  const u = index.longestCopy(other);
  assert(u.length < 32 && u.length < m.length / 4, `unrelated piece: ${u.length}`);
  // the index built again from train.bin answers the same
  const again = await copyIndexOfShards(dir);
  assertEquals(again.longestCopy(generated).length, m.length);
  assertEquals(again.longestCopy(other).length, u.length);
}

Deno.test("planted training piece: prepareDataset's copy index catches a generation that copies it (synthetic)", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "etude_copy_plant_" });
  try {
    const rnd = lcg(2024);
    await Deno.mkdir(join(tmp, "midi"));
    for (let f = 0; f < 12; f++) {
      const s = emptyScore(480);
      let t = 0;
      for (let i = 0; i < 120; i++) {
        const d = [120, 240, 480][Math.floor(rnd() * 3)];
        s.notes.push({
          pitch: 48 + Math.floor(rnd() * 36),
          velocity: 40 + Math.floor(rnd() * 80),
          start: t,
          duration: d,
        });
        if (rnd() < 0.4) {
          s.notes.push({ pitch: 36 + Math.floor(rnd() * 12), velocity: 60, start: t, duration: 2 * d });
        }
        t += d;
      }
      await Deno.writeFile(join(tmp, "midi", `piece${f}.mid`), writeMidi(s));
    }
    const prep = await prepareDataset({
      dataset: join(tmp, "midi"),
      out: tmp,
      name: "data",
      tokenizer: "remi",
      shifts: 1,
      workers: 0,
      fractions: [0.75, 0.125, 0.125],
      log: () => {},
    });
    await checkPlanted(prep.dir, await openShards(prep.dir));

    // shipped beside a model with the same tokenizer; refused beside one with another
    await Deno.mkdir(join(tmp, "model"));
    await Deno.copyFile(join(prep.dir, "tokenizer.json"), join(tmp, "model", "tokenizer.json"));
    const h = await copyIndexInto(prep.dir, join(tmp, "model"));
    assertEquals((await readCopyIndex(join(tmp, "model")))!.header, h);
    await Deno.mkdir(join(tmp, "other"));
    await Deno.copyFile("models/maestro-2m/tokenizer.json", join(tmp, "other", "tokenizer.json"));
    await assertRejects(() => copyIndexInto(prep.dir, join(tmp, "other")), Error, "made with tokenizer");
    for (const f of [COPY_INDEX_BIN, COPY_INDEX_JSON]) {
      await Deno.copyFile(join(prep.dir, f), join(tmp, "other", f));
    }
    await assertRejects(() => readCopyIndex(join(tmp, "other")), Error, "made with tokenizer");
    // a dataset prepared before the index existed: built from train.bin on the way
    await Deno.remove(join(prep.dir, COPY_INDEX_BIN));
    await Deno.remove(join(prep.dir, COPY_INDEX_JSON));
    const h2 = await copyIndexInto(prep.dir, join(tmp, "model"));
    assertEquals(h2.tokens, h.tokens);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test({
  name: "planted training piece: the copy index of real piano MIDI catches a copy, not an unrelated piece",
  ignore: !CORPUS,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "etude_copy_real_" });
    try {
      const src = join(CORPUS!, "piano-midi-de", "midis");
      await Deno.mkdir(join(tmp, "midi"));
      for (
        const f of [
          "Haydn/haydn_7_1.mid",
          "Haydn/haydn_8_4.mid",
          "Mozart/mz_545_1.mid",
          "Chopin/chpn_op10_e01.mid",
        ]
      ) {
        await Deno.copyFile(join(src, f), join(tmp, "midi", f.replace("/", "_")));
      }
      for (
        const f of [
          "Bach/bach_846.mid",
          "Schumann/scn15_1.mid",
          "Grieg/grieg_walzer.mid",
          "Liszt/liz_et1.mid",
        ]
      ) {
        await Deno.copyFile(join(src, f), join(tmp, "midi", f.replace("/", "_")));
      }
      const prep = await prepareDataset({
        dataset: join(tmp, "midi"),
        out: tmp,
        name: "data",
        tokenizerFrom: "models/maestro-2m",
        shifts: 2,
        workers: 0,
        fractions: [0.75, 0.125, 0.125],
        log: () => {},
      });
      await checkPlanted(prep.dir, await openShards(prep.dir));
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
