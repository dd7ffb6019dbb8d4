/**
 * Infilling and learned conditioning through `generate()` (lib/infer/generate.ts) on tiny random-weight models whose
 * vocabulary has the conditioning and FIM tokens (`tokenize --conditioning`): the written .mid, read back by
 * @tonejs/midi (an independent reader), has every bar outside i..j note for note as the prompt's, on a written piece
 * with meter changes and on 20 real pieces of ../shared/midi (ignored when absent); the middle has exactly j − i + 1
 * bars and no note sounding past bar j; the condition tokens reach the prompt and are never sampled; a model without
 * them refuses `infill` and `style` with one-line errors naming the field; without any new option the prompt and
 * the ids are those of before (the golden test pins the default model's bytes).
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import { join } from "node:path";
import midiPkg from "@tonejs/midi";
import { CORPUS, walkFiles } from "../_corpus.ts";
import { condRemi as remi, writeCondModel } from "./_cond_model.ts";
import { generate } from "../../lib/infer/generate.ts";
import { type LoadedModel, loadModel } from "../../lib/infer/load.ts";
import { modelSupports } from "../../lib/infer/conditions.ts";
import { prepareGeneration } from "../../lib/infer/plan.ts";
import { barStarts, infillPositions } from "../../lib/infer/infill.ts";
import { readMidiFile, writeMidi } from "../../lib/midi/mod.ts";
import { emptyScore, type Score } from "../../lib/score.ts";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import { trainBpe } from "../../lib/tokenizers/bpe.ts";
import type { TokenizerJson } from "../../lib/tokenizers/tokenizer.ts";
import { BOS_ID } from "../../lib/tokenizers/tokenizer.ts";
import { conditioningIds } from "../../lib/data/conditioning.ts";

const { Midi } = midiPkg;

async function tinyModel(tok: TokenizerJson, seed = 3): Promise<{ model: LoadedModel; dir: string }> {
  const dir = await writeCondModel(tok, seed);
  return { model: await loadModel(dir, { device: "cpu" }), dir };
}

/** A written piece: 12 bars, 4/4 then 3/4 from bar 5, a tempo change inside bar 3, notes off the grid. */
function writtenPiece(): Score {
  const s = emptyScore(480);
  s.timeSignatures = [{ tick: 0, numerator: 4, denominator: 4 }, {
    tick: 4 * 1920,
    numerator: 3,
    denominator: 4,
  }];
  s.tempos = [{ tick: 0, bpm: 100 }, { tick: 2 * 1920 + 480, bpm: 140 }];
  let t = 0;
  for (let bar = 0; bar < 12; bar++) {
    const len = bar < 4 ? 1920 : 1440;
    for (let k = 0; k < len / 240; k++) {
      s.notes.push({
        pitch: 48 + ((bar * 5 + k * 7) % 36),
        velocity: 40 + ((bar + k) * 9) % 80,
        start: t + k * 240 + (k % 3),
        duration: 230,
      });
    }
    t += len;
  }
  return s;
}

/** A regular expression matching `text` literally (node's assert.rejects/throws match messages by RegExp). */
const esc = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

type Row = [number, number, number, number];

/**
 * The notes of a written .mid by bar, read by @tonejs/midi: bar = the measure of the note's onset as REMI places it
 * (rounded to the tokenizer's grid of 8 per beat), by the file's own meter map.
 */
function notesByBar(bytes: Uint8Array): { bars: Map<number, Row[]>; tempos: number[][]; notes: Row[] } {
  const midi = new Midi(bytes);
  const tpb = midi.header.ppq;
  const bars = new Map<number, Row[]>();
  const notes: Row[] = [];
  for (const tr of midi.tracks) {
    for (const n of tr.notes) {
      const grid = Math.round(n.ticks * 8 / tpb) * tpb / 8;
      const bar = Math.floor(midi.header.ticksToMeasures(grid) + 1e-9);
      const row: Row = [n.ticks, n.midi, Math.round(n.velocity * 127), n.durationTicks];
      if (!bars.has(bar)) bars.set(bar, []);
      bars.get(bar)!.push(row);
      notes.push(row);
    }
  }
  for (const l of bars.values()) l.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2] || a[3] - b[3]);
  return { bars, tempos: midi.header.tempos.map((t) => [t.ticks, t.bpm]), notes };
}

/**
 * Infills bars from..to of `prompt` and checks the written file against the prompt's, read by @tonejs/midi: every
 * measure outside the regenerated span note for note (all the measures outside i..j where the file's meters are
 * the tokenizer's; a meter the tokenizer lacks, like 12/16, makes REMI's bars differ from the file's measures, and
 * then the measures the span overlaps are left out of that comparison), every note outside the span, the tempo map.
 */
async function checkInfill(model: LoadedModel, prompt: Score, from: number, to: number, seed: number) {
  const r = await generate({ model, prompt, infill: { from, to }, seed });
  const n = to - from + 1;
  assertEquals(barStarts(model.tokenizer, r.ids[0]).length, n, "the middle has exactly the bars asked for");
  const before = notesByBar(writeMidi(prompt)), after = notesByBar(writeMidi(r.scores[0]));
  const midi = new Midi(writeMidi(r.scores[0]));
  const ppq = midi.header.ppq;
  // the span in grid positions (8 a beat), as REMI places the bars, and in the file's measures
  const [a, b] = infillPositions(model.tokenizer, model.tokenizer.encode(prompt), { from, to });
  const ka = midi.header.ticksToMeasures(a * ppq / 8), kb = midi.header.ticksToMeasures(b * ppq / 8);
  let compared = 0, inside = 0;
  for (const k of new Set([...before.bars.keys(), ...after.bars.keys()])) {
    if (k < kb && k + 1 > ka) continue;
    compared++;
    assertEquals(after.bars.get(k) ?? [], before.bars.get(k) ?? [], `measure ${k + 1} is kept note for note`);
  }
  assert(compared > 0);
  const pos = (row: Row) => Math.round(row[0] * 8 / ppq);
  const out = (rows: Row[]) => rows.filter((x) => pos(x) < a || pos(x) >= b).map((x) => x.join()).sort();
  assertEquals(out(after.notes), out(before.notes), "every note outside the span");
  assertEquals(after.tempos, before.tempos, "the tempo map");
  // The middle ends with bar `to`: no regenerated note sounds past its end.
  for (const row of after.notes) {
    if (pos(row) < a || pos(row) >= b) continue;
    inside++;
    assert(row[0] + row[3] <= Math.round(b * ppq / 8) + 1, "a regenerated note ends in bar j");
  }
  return { r, inside, aligned: ka === from - 1 && kb === to };
}

Deno.test("infill through generate: a written piece with a meter change, REMI and BPE; replayable by seed", async () => {
  const s = writtenPiece();
  const bpe = trainBpe(remi, [s], { vocabSize: remi.vocab.length + 40 });
  for (const tok of [remi.toJSON(), bpe.toJSON()]) {
    const { model } = await tinyModel(tok);
    try {
      assertEquals(modelSupports(model), { conditioning: true, infill: true });
      let inside = 0;
      for (const [from, to] of [[5, 8], [1, 2], [11, 12], [4, 5]]) {
        inside += (await checkInfill(model, s, from, to, from * 7)).inside;
      }
      assert(inside > 0, "the regenerated bars hold notes");
      const a = await generate({ model, prompt: s, infill: "5:8", seed: 9 });
      const b = await generate({ model, prompt: s, infill: { from: 5, to: 8 }, seed: 9 });
      assertEquals(writeMidi(a.scores[0]), writeMidi(b.scores[0]), "same seed, same bytes");
      // the FIM prompt: BOS, four _none, FIM_PRE … FIM_SUF … FIM_MID
      const c = conditioningIds(model.tokenizer.vocab)!;
      const plan = prepareGeneration({ model, prompt: s, infill: "5:8", conditions: { style: "pop" } });
      assertEquals(plan.prompt.slice(0, 6), [
        BOS_ID,
        c.byName.get("Style_pop")!,
        ...c.none.slice(1),
        c.fim.pre,
      ]);
      assertEquals(plan.prompt.at(-1), c.fim.mid);
      assertEquals(plan.grammarState.type, 0, "the middle starts at a bar line");
    } finally {
      model.dispose();
    }
  }
});

Deno.test("infill: one-line errors (no prompt, bars past the piece, a length unit besides)", async () => {
  const { model } = await tinyModel(remi.toJSON());
  try {
    const s = writtenPiece();
    await assertRejects(() => generate({ model, infill: "1:2" }), new RegExp(esc("infill: needs a prompt")));
    await assertRejects(
      () => generate({ model, prompt: s, infill: "11:13" }),
      new RegExp(esc("infill: bars 11:13: the prompt has 12 bars")),
    );
    await assertRejects(
      () => generate({ model, prompt: s, infill: "2:1" }),
      new RegExp(esc("infill: expected bars FROM:TO")),
    );
    await assertRejects(
      () => generate({ model, prompt: s, infill: "2:3", bars: 4 }),
      new RegExp(esc("bars: give only one of")),
    );
  } finally {
    model.dispose();
  }
});

Deno.test("conditions: the leading tokens reach the prompt (flags and conditions), never sampled", async () => {
  const { model } = await tinyModel(remi.toJSON());
  try {
    const c = conditioningIds(model.tokenizer.vocab)!;
    const id = (n: string) => c.byName.get(n)!;
    assertEquals(
      prepareGeneration({ model }).prompt,
      [BOS_ID, ...c.none],
      "unconditional: BOS and four _none",
    );
    assertEquals(
      prepareGeneration({
        model,
        conditions: { style: "pop" },
        controls: { key: "Bb major", density: "high", tempo: 130 },
      }).prompt,
      [BOS_ID, id("Style_pop"), id("Key_A#:maj"), id("TempoClass_fast"), id("Density_high")],
    );
    assertEquals(
      prepareGeneration({ model, conditions: { style: "classical", tempo: "slow", key: "E minor" } }).prompt,
      [BOS_ID, id("Style_classical"), id("Key_E:min"), id("TempoClass_slow"), c.none[3]],
    );
    assertEquals(prepareGeneration({ model, controls: { tempo: 96, density: 1 } }).prompt.slice(3), [
      id("TempoClass_medium"),
      c.none[3],
    ]);
    assertThrows(
      () => prepareGeneration({ model, conditions: { style: "jazz" as "pop" } }),
      new RegExp(esc('style: expected classical, pop, got "jazz"')),
    );
    // never sampled, even without the grammar mask
    const special = new Set([...c.byName.values()]);
    for (const grammar of [true, false]) {
      const r = await generate({ model, maxTokens: 400, seed: 5, grammar, batch: 2 });
      assert(r.ids.every((ids) => ids.every((t) => !special.has(t))), `grammar ${grammar}`);
    }
  } finally {
    model.dispose();
  }
});

Deno.test("a model without the tokens refuses infill and style; other options give the ids of before", async () => {
  const plain = new RemiTokenizer();
  const { model } = await tinyModel(plain.toJSON());
  try {
    const s = writtenPiece();
    assertEquals(modelSupports(model), { conditioning: false, infill: false });
    await assertRejects(
      () => generate({ model, prompt: s, infill: "2:3" }),
      new RegExp(
        esc(
          "infill: this model was not trained with infilling (its vocabulary has no FIM_PRE/FIM_SUF/FIM_MID tokens",
        ),
      ),
    );
    await assertRejects(
      () => generate({ model, conditions: { style: "pop" } }),
      new RegExp(esc("style: this model was not trained with conditioning")),
    );
    // --key / --density stay hard controls there: no error, BOS alone
    assertEquals(prepareGeneration({ model, controls: { key: "E minor", density: "high" } }).prompt, [
      BOS_ID,
    ]);
    const ids = plain.encode(s), plan = prepareGeneration({ model, prompt: s });
    assertEquals(plan.prompt[0], BOS_ID);
    assertEquals(plan.prompt.slice(1), ids.slice(ids.length - plan.prompt.length + 1), "the prompt's tail");
  } finally {
    model.dispose();
  }
});

/** 20 real pieces of the corpus with at least 12 bars (piano-midi.de first, then the rest, sorted). */
async function realPieces(): Promise<{ name: string; score: Score }[]> {
  const files = walkFiles(CORPUS!).filter((f) => /\.midi?$/i.test(f) && f.includes("piano-midi-de"));
  const out: { name: string; score: Score }[] = [];
  for (const f of files) {
    if (out.length >= 20) break;
    let score: Score;
    try {
      score = await readMidiFile(f);
    } catch {
      continue;
    }
    const ids = remi.encode(score);
    if (barStarts(remi, ids).length >= 12) out.push({ name: f.slice(CORPUS!.length + 1), score });
  }
  return out;
}

Deno.test({
  name: "infill on 20 real pieces (../shared/midi): every bar outside i..j identical in the written file",
  ignore: !CORPUS,
  fn: async () => {
    const pieces = await realPieces();
    assertEquals(pieces.length, 20);
    const { model } = await tinyModel(remi.toJSON(), 11);
    try {
      let inside = 0, aligned = 0;
      for (const [i, p] of pieces.entries()) {
        const from = 3 + (i % 5), to = from + (i % 4);
        try {
          const c = await checkInfill(model, p.score, from, to, i);
          inside += c.inside;
          if (c.aligned) aligned++;
        } catch (e) {
          throw new Error(`${p.name} bars ${from}:${to}: ${(e as Error).message}`);
        }
      }
      assert(inside > 0);
      // most pieces' meters are the tokenizer's: there every measure outside i..j was compared
      assert(aligned >= 15, `${aligned} of 20 pieces with REMI bars = the file's measures`);
    } finally {
      model.dispose();
    }
  },
});

Deno.test("infill on a written .mid read back from disk", async () => {
  const dir = await Deno.makeTempDir({ prefix: "etude_infill_" });
  const path = join(dir, "take.mid");
  await Deno.writeFile(path, writeMidi(writtenPiece()));
  const { model } = await tinyModel(remi.toJSON(), 5);
  try {
    await checkInfill(model, await readMidiFile(path), 6, 9, 1);
  } finally {
    model.dispose();
  }
});

Deno.test({
  name: "infill and conditions on the WebGPU engine: its per-step bias gives the CPU decoder's ids",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await writeCondModel(remi.toJSON(), 5);
    const s = writtenPiece();
    const ids: number[][][] = [];
    for (const device of ["cpu", "gpu"] as const) {
      const model = await loadModel(dir, { device });
      try {
        const a = await generate({ model, prompt: s, infill: "5:7", seed: 4 });
        const b = await generate({
          model,
          conditions: { style: "pop" },
          controls: { key: "E minor" },
          maxTokens: 48,
          seed: 2,
        });
        ids.push([a.ids[0], b.ids[0]]);
        if (device === "gpu") await checkInfill(model, s, 2, 3, 1);
      } finally {
        model.dispose();
      }
    }
    assertEquals(barStarts(remi, ids[0][0]).length, 3);
    assertEquals(ids[1], ids[0]);
  },
});
