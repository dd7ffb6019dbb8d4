import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { CORPUS, pianoCorpusFiles } from "../_corpus.ts";
import { readMidiFile } from "../../lib/midi/mod.ts";
import { emptyScore, type Score } from "../../lib/score.ts";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import {
  BpeTokenizer,
  MAX_MERGE_EXPANSION,
  mergeExpansion,
  splitWords,
  trainBpe,
} from "../../lib/tokenizers/bpe.ts";

function rng(seed: number) {
  return () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
}

/** Small scores with a few recurring pitches, velocities and durations, so that pairs repeat. */
function randomScores(count: number, seed: number): Score[] {
  const r = rng(seed);
  const out: Score[] = [];
  for (let k = 0; k < count; k++) {
    const s = emptyScore(480);
    let t = 0;
    for (let i = 0; i < 40; i++) {
      t += [0, 240, 480, 960, 2400][Math.floor(r() * 5)];
      s.notes.push({
        pitch: [60, 62, 64, 67, 72][Math.floor(r() * 5)],
        velocity: [64, 80, 96][Math.floor(r() * 3)],
        start: t,
        duration: [240, 480][Math.floor(r() * 2)],
      });
    }
    s.notes.sort((a, b) => a.start - b.start || a.pitch - b.pitch);
    out.push(s);
  }
  return out;
}

/** Reference BPE: recount every pair over every (non-deduplicated) word at each merge. */
function naiveBpe(seqs: number[][], bar: number, n0: number, numMerges: number) {
  let words: number[][] = [];
  for (const s of seqs) {
    let cur: number[] = [];
    for (const id of s) {
      if (id === bar && cur.length) {
        words.push(cur);
        cur = [];
      }
      cur.push(id);
    }
    if (cur.length) words.push(cur);
  }
  const merges: [number, number][] = [];
  while (merges.length < numMerges) {
    const counts = new Map<number, number>();
    for (const w of words) {
      for (let i = 0; i + 1 < w.length; i++) {
        const k = w[i] * 65536 + w[i + 1];
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
    }
    let best = -1, bestCount = 1;
    for (const [k, c] of counts) {
      if (c > bestCount || (c === bestCount && c > 1 && k < best)) [best, bestCount] = [k, c];
    }
    if (best < 0) break;
    const a = Math.floor(best / 65536), b = best % 65536, id = n0 + merges.length;
    merges.push([a, b]);
    words = words.map((w) => {
      const o: number[] = [];
      for (let i = 0; i < w.length;) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) {
          o.push(id);
          i += 2;
        } else o.push(w[i++]);
      }
      return o;
    });
  }
  return { merges, words };
}

Deno.test("bpe: incremental training learns exactly the merges of a full-recount reference", () => {
  const base = new RemiTokenizer();
  const scores = randomScores(25, 7);
  const seqs = scores.map((s) => base.encode(s));
  const n0 = base.vocab.length;
  const bpe = trainBpe(base, scores, { vocabSize: n0 + 80 });
  const ref = naiveBpe(seqs, base.tables.bar, n0, 80);
  assertEquals(bpe.merges.map(([a, b]) => [a, b]), ref.merges);
  // Encoding the training sequences gives the training segmentation.
  assertEquals(seqs.flatMap((s) => bpe.encodeBase(s)), ref.words.flat());
  // Training from id sequences is the same as from scores.
  assertEquals(trainBpe(base, seqs, { vocabSize: n0 + 80 }).merges, bpe.merges);
});

Deno.test("bpe: merged tokens never cross a bar, names and expansions describe them", () => {
  const base = new RemiTokenizer();
  const bpe = trainBpe(base, randomScores(20, 3), { vocabSize: base.vocab.length + 60 });
  const bar = base.tables.bar;
  assertEquals(bpe.vocab.length, base.vocab.length + 60);
  for (let id = 0; id < bpe.vocab.length; id++) {
    const e = bpe.tokenBaseIds(id);
    assert(e.length >= 1 && e.indexOf(bar, 1) === -1, `${bpe.vocab[id]} holds a Bar after its start`);
    assertEquals(bpe.vocab[id], e.map((b) => base.vocab[b]).join("+"));
    if (id < base.vocab.length) assertEquals(e, [id]);
  }
  assert(bpe.vocab.some((n) => n.startsWith("Bar_None+")), "Bar may start a merged token");
  assertEquals(bpe.tokenBaseIds(99999), []);
  assertEquals(splitWords([5, bar, 6, 7, bar, bar], bar), [[5], [bar, 6, 7], [bar], [bar]]);
});

Deno.test("bpe: lossless on arbitrary base sequences; decode equals REMI decode of the expansion", () => {
  const base = new RemiTokenizer();
  const bpe = trainBpe(base, randomScores(20, 11), { vocabSize: base.vocab.length + 100 });
  const r = rng(99);
  for (let k = 0; k < 50; k++) {
    const x = Array.from(
      { length: 300 },
      () => (r() < 0.05 ? base.tables.bar : Math.floor(r() * base.vocab.length)),
    );
    const y = bpe.encodeBase(x);
    assertEquals(bpe.decodeToBase(y), x);
    assertEquals(bpe.encodeBase(x), y, "cached encoding is stable");
  }
  for (const s of randomScores(5, 123)) {
    const ids = bpe.encode(s);
    assert(ids.length < base.encode(s).length);
    assertEquals(bpe.decode(ids), base.decode(base.encode(s)));
  }
  // Random (garbage) ids decode without throwing.
  const garbage = Array.from({ length: 500 }, () => Math.floor(r() * (bpe.vocab.length + 20)) - 10);
  bpe.decode(garbage);
});

Deno.test("bpe: JSON round trip and validation of merges", () => {
  const base = new RemiTokenizer({ useChords: true });
  const bpe = trainBpe(base, randomScores(10, 5), { vocabSize: base.vocab.length + 30 });
  const back = BpeTokenizer.fromJSON(JSON.parse(JSON.stringify(bpe.toJSON())));
  assertEquals(back.vocab, bpe.vocab);
  const s = randomScores(1, 77)[0];
  assertEquals(back.encode(s), bpe.encode(s));
  const j = bpe.toJSON();
  j.merges = [[base.tables.pitch, base.tables.bar]];
  let msg = "";
  try {
    BpeTokenizer.fromJSON(j);
  } catch (e) {
    msg = (e as Error).message;
  }
  assert(msg.includes("merges[0]"), msg);
  let msg2 = "";
  try {
    trainBpe(base, [], { vocabSize: 10 });
  } catch (e) {
    msg2 = (e as Error).message;
  }
  assert(msg2.includes("vocabSize"), msg2);
});

Deno.test({
  name: "bpe: at 1,024 on held-out piano corpus: shorter, lossless",
  ignore: !CORPUS,
  async fn() {
    const base = new RemiTokenizer();
    const seqs: number[][] = [];
    for (const f of pianoCorpusFiles()) seqs.push(base.encode(await readMidiFile(f)));
    const train = seqs.filter((_, i) => i % 5 !== 0), heldOut = seqs.filter((_, i) => i % 5 === 0);
    for (const vocabSize of [512, 1024]) {
      let t0 = performance.now();
      const bpe = trainBpe(base, train, { vocabSize });
      const trainMs = performance.now() - t0;
      let baseLen = 0, bpeLen = 0;
      t0 = performance.now();
      const encoded = heldOut.map((s) => bpe.encodeBase(s));
      const encMs = performance.now() - t0;
      for (let i = 0; i < heldOut.length; i++) {
        baseLen += heldOut[i].length;
        bpeLen += encoded[i].length;
        assertEquals(bpe.decodeToBase(encoded[i]), heldOut[i]);
      }
      const reduction = 1 - bpeLen / baseLen;
      const perToken = bpe.merges.length ? baseLen / bpeLen : 1;
      console.log(
        `BPE ${vocabSize}: trained on ${train.length} pieces in ${(trainMs / 1000).toFixed(2)} s ` +
          `(${bpe.merges.length} merges); held-out ${heldOut.length} pieces ${baseLen} → ${bpeLen} tokens ` +
          `(−${(100 * reduction).toFixed(1)}%, ${perToken.toFixed(2)} base tokens per token), ` +
          `encoded at ${(baseLen / encMs / 1000).toFixed(2)}M base tokens/s`,
      );
      if (vocabSize === 1024) {
        assert(reduction >= 0.3, `expected ≥ 30% shorter, got ${(100 * reduction).toFixed(1)}%`);
      } else assert(reduction >= 0.2, `expected ≥ 20% shorter, got ${(100 * reduction).toFixed(1)}%`);
    }
  },
});

Deno.test("merges that double their last token are refused at a bounded size, with one line naming the merge", () => {
  const base = new RemiTokenizer();
  const n0 = base.vocab.length;
  // merge j joins merge j-1 with itself: 2^(j+1) base ids; 40 of them would be 2^41 ids (and a 2^41-part name)
  const merges: [number, number][] = [[5, 5]];
  for (let j = 1; j < 40; j++) merges.push([n0 + j - 1, n0 + j - 1]);
  // the first merge past the bound: sum over k ≤ j of 2^(k+1) = 2^(j+2) − 2 > 2^21 from j = 20
  assertThrows(() => new BpeTokenizer(base, merges), {
    message: `BPE merges[20]: the merges expand to more than ${MAX_MERGE_EXPANSION} base tokens in all`,
  });
  assertThrows(
    () => mergeExpansion(n0, merges, "tokenizer.json merges"),
    /^Error: tokenizer\.json merges\[20\]: /,
  );
  // below the bound the same chain loads, and each name is its base names joined
  const ok = new BpeTokenizer(base, merges.slice(0, 4));
  assertEquals(ok.tokenBaseIds(n0 + 3).length, 16);
  assertEquals(ok.vocab[n0 + 1], Array(4).fill(base.vocab[5]).join("+"));
});
