/**
 * Fill-in-the-middle windows (lib/data/fim.ts): bar-start table, PSM reordering that reorders back to the window it
 * came from, cut at bar lines, the condition lead kept in front; the training transform deterministic under (seed,
 * epoch, batch) — a batch changes the same way whatever came before it (`--resume` exact) — with the FIM share and
 * dropout rate asked for, and absent for a tokenizer without the tokens (the old default model's).
 */
import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { join } from "node:path";
import { CORPUS } from "../_corpus.ts";
import { emptyScore, type Score } from "../../lib/score.ts";
import { readMidiFile } from "../../lib/midi/mod.ts";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import { trainBpe } from "../../lib/tokenizers/bpe.ts";
import { BOS_ID, EOS_ID, PAD_ID } from "../../lib/tokenizers/tokenizer.ts";
import { conditionIds, CONDITIONING_TOKENS, conditioningIds } from "../../lib/data/conditioning.ts";
import { barStartTable, fimWindow, fromPsm, toPsm, windowTransform } from "../../lib/data/fim.ts";
import { windowBatches } from "../../lib/data/windows.ts";
import { mulberry32 } from "../../lib/util/rng.ts";

const remi = new RemiTokenizer({ extraTokens: [...CONDITIONING_TOKENS] });
const c = conditioningIds(remi.vocab)!;

function written(): Score {
  const s = emptyScore(480);
  for (let i = 0; i < 200; i++) {
    s.notes.push({
      pitch: 50 + (i * 7) % 30,
      velocity: 60 + i % 40,
      start: i * 240,
      duration: 240 + (i % 3) * 240,
    });
  }
  return s;
}

async function pieces(): Promise<{ tok: RemiTokenizer | ReturnType<typeof trainBpe>; ids: number[][] }[]> {
  const scores = [written()];
  if (CORPUS) {
    scores.push(await readMidiFile(join(CORPUS, "piano-midi-de", "midis", "Chopin", "chpn-p7.mid")));
  }
  const bpe = trainBpe(remi, scores, { vocabSize: remi.vocab.length + 100 });
  return [remi, bpe].map((tok) => ({
    tok,
    ids: scores.map((s, i) => [
      BOS_ID,
      ...conditionIds(c, { style: i ? "classical" : "pop", key: "C major", tempo: "fast", density: "low" }),
      ...tok.encode(s),
      EOS_ID,
    ]),
  }));
}

Deno.test("barStartTable, toPsm/fromPsm", () => {
  const vocab = ["PAD_None", "BOS_None", "EOS_None", "MASK_None", "Bar_None", "Position_0", "Pitch_60"];
  assertEquals(Array.from(barStartTable(vocab.concat(["a", "b"]), [[4, 5], [6, 7]])), [
    0,
    0,
    0,
    0,
    1,
    0,
    0,
    1,
    0,
  ]);
  const f = { pre: 90, suf: 91, mid: 92 };
  const psm = toPsm([1, 80], [10, 11], [12, 13], [14], f);
  assertEquals(psm, [1, 80, 90, 10, 11, 91, 14, 92, 12, 13]);
  assertEquals(fromPsm(psm, f), [1, 80, 10, 11, 12, 13, 14]);
  assertEquals(fromPsm(toPsm([], [], [5], [], f), f), [5]);
  assertThrows(() => fromPsm([90, 92, 91], f), Error, "fromPsm");
  assertThrows(() => fromPsm([90, 91, 92, 92], f), Error, "fromPsm");
});

Deno.test("fimWindow: every window of real pieces reorders back to itself, cut at bar lines, the lead in front", async () => {
  for (const { tok, ids } of await pieces()) {
    const isBar = barStartTable(tok.vocab, "merges" in tok ? tok.merges : []);
    const rng = mulberry32(3);
    let reordered = 0, emptyPrefix = 0, emptySuffix = 0;
    for (const seqLen of [32, 128]) {
      for (const b of windowBatches(ids, { seqLen, batchSize: 4, seed: 1 })) {
        const w = seqLen + 1;
        for (let r = 0; r < b.rows; r++) {
          const row = b.tokens.slice(r * w, (r + 1) * w);
          const len = b.windows[r].length;
          const before = Array.from(row.subarray(0, Math.min(len, w - 3)));
          const n = fimWindow(row, len, w, c.fim, isBar, c, rng);
          if (!row.includes(c.fim.pre)) {
            assertEquals(n, len);
            assertEquals(Array.from(row.subarray(0, before.length)), before);
            // no bar line after the lead: unchanged
            assert(!before.slice(before[0] === BOS_ID ? 5 : 0).some((id) => isBar[id]));
            continue;
          }
          reordered++;
          assertEquals(n, before.length + 3);
          assert(Array.from(row.subarray(n)).every((id) => id === PAD_ID));
          const got = Array.from(row.subarray(0, n));
          assertEquals(fromPsm(got, c.fim), before, "reordered back, the window it came from");
          const lead = before[0] === BOS_ID ? 5 : 0;
          assertEquals(got.slice(0, lead), before.slice(0, lead));
          assertEquals(got[lead], c.fim.pre);
          const mid = got.indexOf(c.fim.mid), suf = got.indexOf(c.fim.suf);
          assert(isBar[got[mid + 1]], "the middle starts at a bar line");
          if (suf + 1 < mid) assert(isBar[got[suf + 1]], "the suffix starts at a bar line");
          else emptySuffix++;
          if (suf === lead + 1) emptyPrefix++;
        }
      }
    }
    assert(reordered > 20, `${reordered}`);
    assert(emptyPrefix > 0 && emptySuffix > 0, `${emptyPrefix} ${emptySuffix}`);
  }
});

Deno.test("windowTransform: deterministic per (seed, epoch, batch), the FIM share asked for", async () => {
  const [{ tok, ids }] = await pieces();
  const json = tok.toJSON();
  const t = windowTransform(json, { seed: 5 })!;
  const batches = (
    epoch: number,
  ) => [...windowBatches(ids.concat(ids, ids, ids), { seqLen: 24, batchSize: 8, seed: 5, epoch })];
  const run = (tr: typeof t, epoch: number, only?: number) => {
    const out: Int32Array[] = [];
    batches(epoch).forEach((b, i) => {
      if (only !== undefined && i !== only) return;
      tr(b.tokens, b.rows, epoch, i);
      out.push(b.tokens);
    });
    return out;
  };
  const a = run(t, 0), again = run(windowTransform(JSON.stringify(json), { seed: 5 })!, 0);
  assertEquals(a, again);
  // a batch changes the same way when it is the first one drawn (a resumed run starts mid-epoch)
  assertEquals(run(t, 0, 7)[0], a[7]);
  assert(JSON.stringify(run(t, 1).map((x) => Array.from(x))) !== JSON.stringify(a.map((x) => Array.from(x))));
  const other = run(windowTransform(json, { seed: 6 })!, 0);
  assert(JSON.stringify(other.map((x) => Array.from(x))) !== JSON.stringify(a.map((x) => Array.from(x))));
  // the FIM share among windows with a bar line (the others cannot be cut), over many windows
  const isBar = barStartTable(tok.vocab);
  let rows = 0, fim = 0;
  for (let e = 0; e < 40; e++) {
    for (const [i, b] of batches(e).entries()) {
      const hasBar = Array.from(
        { length: b.rows },
        (_, r) =>
          Array.from(b.tokens.subarray(r * 25 + 5, r * 25 + 22)).some((id) => isBar[id]) ||
          (b.tokens[r * 25] !== BOS_ID &&
            Array.from(b.tokens.subarray(r * 25, r * 25 + 5)).some((id) => isBar[id])),
      );
      t(b.tokens, b.rows, e, i);
      for (let r = 0; r < b.rows; r++) {
        if (!hasBar[r]) continue;
        rows++;
        if (b.tokens.subarray(r * 25, r * 25 + 25).includes(c.fim.pre)) fim++;
      }
    }
  }
  const share = fim / rows;
  assert(rows > 1000 && Math.abs(share - 0.5) < 0.04, `FIM share ${share} of ${rows}`);
  const none = windowTransform(json, {
    seed: 5,
    fimRate: 0,
    conditionDropout: 0,
    conditionDropAll: 0,
    keyBars: 0,
  })!;
  assertEquals(run(none, 0), batches(0).map((b) => b.tokens));
  assertThrows(() => windowTransform(json, { seed: 1, fimRate: 2 }), RangeError, "fimRate");
});

Deno.test("windowTransform: nothing for a tokenizer without the tokens (the default model's: training unchanged)", async () => {
  assertEquals(
    windowTransform(await Deno.readTextFile("models/maestro-2m/tokenizer.json"), { seed: 1 }),
    undefined,
  );
  assertEquals(windowTransform(new RemiTokenizer().toJSON(), { seed: 1 }), undefined);
  assertEquals(windowTransform(undefined, { seed: 1 }), undefined);
});

Deno.test("training with the window transform: applied to the drawn windows, and --resume still exact", async () => {
  const { selectBackend } = await import("../../lib/model/backend.ts");
  const { applyOverrides, getPreset } = await import("../../lib/model/config.ts");
  const { trainModel } = await import("../../lib/train/loop.ts");
  const backend = await selectBackend("wasm");
  const [{ ids }] = await pieces();
  const piecesOf = (k: number) => Array.from({ length: k }, (_, i) => Int32Array.from(ids[i % ids.length]));
  const data = { train: piecesOf(4), validation: piecesOf(1), tokenizerJson: remi.toJSON() };
  const p = applyOverrides(getPreset("v8"), {
    layers: 1,
    dim: 16,
    heads: 2,
    ffn: 32,
    vocab: remi.vocab.length,
    seqLen: 32,
    batch: 8,
    epochs: 2,
    warmup: 2,
    stride: 32,
  });
  const losses = async (dir: string) =>
    (await Deno.readTextFile(`${dir}/train_log.jsonl`)).trim().split("\n").map((l) => JSON.parse(l))
      .filter((r) => r.type === "step").map((r) => r.loss);
  const root = await Deno.makeTempDir({ prefix: "etude_fim_train_" });
  const quiet = () => {};
  try {
    await trainModel({ ...p, data, out: `${root}/full`, backend, log: quiet });
    await trainModel({ ...p, data, out: `${root}/plain`, backend, log: quiet, windowTransform: false });
    await trainModel({ ...p, data, out: `${root}/cut`, backend, log: quiet, stopAfterSteps: 3 });
    await trainModel({ ...p, data, out: `${root}/cut`, backend, log: quiet, resume: true });
    const full = await losses(`${root}/full`),
      plain = await losses(`${root}/plain`),
      cut = await losses(`${root}/cut`);
    assertEquals(cut, full, "a resumed run reorders the same windows the same way");
    assert(JSON.stringify(full) !== JSON.stringify(plain), "the transform changes what is trained on");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
