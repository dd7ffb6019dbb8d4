/**
 * The infill check (lib/eval/infill_eval.ts) on a tiny random model with FIM tokens: every other bar identical, and
 * each NLL equal to one worked out here from the model's logits over a sequence laid out by hand (FIM: BOS, four
 * `_none`, FIM_PRE prefix FIM_SUF suffix FIM_MID middle; left to right: BOS, four `_none`, prefix middle suffix).
 * A piece too short is left out, with why. On the real MAESTRO test split when ../shared/midi-corpus is there.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertAlmostEquals, assertEquals } from "../_assert.ts";
import { formatInfillReport, infillCheck } from "../../lib/eval/infill_eval.ts";
import type { MidiFolder } from "../../lib/eval/midi_folder.ts";
import { makeLogits } from "../../lib/eval/logits.ts";
import { tokenNll } from "../../lib/eval/nll.ts";
import { readMidiSplit } from "../../lib/eval/split.ts";
import { readCheckpoint } from "../../lib/model/checkpoint.ts";
import { emptyScore, type Score } from "../../lib/score.ts";
import { loadExactCpuModel } from "../infer/_exact_cpu.ts";
import { conditionedTinyModel } from "./_cond_model.ts";

/** `bars` 4/4 bars, two notes each. */
function barsPiece(bars: number, seed: number): Score {
  const s = emptyScore(480);
  for (let b = 0; b < bars; b++) {
    s.notes.push({ pitch: 60 + ((b * 5 + seed) % 12), velocity: 80, start: b * 1920, duration: 960 });
    s.notes.push({ pitch: 48 + ((b * 7 + seed) % 12), velocity: 64, start: b * 1920 + 960, duration: 480 });
  }
  return s;
}

const MAESTRO = join(
  fileURLToPath(new URL("../../..", import.meta.url)),
  "shared",
  "midi-corpus",
  "maestro-asap",
  "maestro-v3.0.0",
);
const hasMaestro = (() => {
  try {
    return Deno.statSync(join(MAESTRO, "maestro-v3.0.0.csv")).isFile;
  } catch {
    return false;
  }
})();

Deno.test("infillCheck: the rest identical; both NLLs equal sums worked out from the logits", async () => {
  const { tmp, dir } = await conditionedTinyModel(9);
  const model = await loadExactCpuModel(dir);
  const lm = await makeLogits(await readCheckpoint(dir), "reference");
  try {
    const folder: MidiFolder = {
      dir: "mem",
      found: 3,
      pieces: [
        { file: "a.mid", score: barsPiece(10, 1) },
        { file: "short.mid", score: barsPiece(3, 2) },
        { file: "b.mid", score: barsPiece(8, 3) },
      ],
      skipped: [],
    };
    const r = await infillCheck(folder, model, lm, {
      range: { from: 3, to: 4 },
      after: 2,
      pieces: 5,
      temperature: 1,
      topK: 0,
      topP: 1,
      seed: 2,
    });
    assertEquals(r.pieces, 2);
    assertEquals(r.restIdentical, 2);
    assertEquals(r.leftOut.map((s) => s.file), ["short.mid"]);
    assert(r.leftOut[0].reason.includes("3 bars"), r.leftOut[0].reason);
    assertEquals(r.perPiece.map((p) => [p.prefixBars, p.suffixBars]), [[2, 2], [2, 2]]);

    // piece a, the real middle, by hand: bars 1–2 | 3–4 | 5–6 of its first 6 bars
    const tok = model.tokenizer, v = (name: string) => tok.vocab.indexOf(name);
    const ids = tok.encode(barsPiece(6, 1));
    const bar = v("Bar_None"), starts = ids.flatMap((id, i) => (id === bar ? [i] : []));
    assertEquals(starts.length, 6);
    const pre = ids.slice(0, starts[2]), mid = ids.slice(starts[2], starts[4]), suf = ids.slice(starts[4]);
    const none = ["Style_none", "Key_none", "TempoClass_none", "Density_none"].map(v);
    const score = async (seq: number[], from: number) => {
      const logits = await lm.fn(seq);
      let s = 0;
      for (let t = from; t < seq.length; t++) s += tokenNll(logits, t - 1, lm.vocab, seq[t]);
      return s;
    };
    const fim = [1, ...none, v("FIM_PRE"), ...pre, v("FIM_SUF"), ...suf, v("FIM_MID")];
    const both = await score([...fim, ...mid], fim.length);
    const left = [1, ...none, ...pre, ...mid, ...suf];
    const sufNll = await score(left, left.length - suf.length);
    const real = r.perPiece[0].real;
    assertEquals(real.tokens, mid.length);
    assertEquals(real.notes, 4);
    assertAlmostEquals(real.middleGivenBoth, both / mid.length, 1e-9);
    assertAlmostEquals(real.suffixGivenMiddle, sufNll / suf.length, 1e-9);
    // totals are sums over pieces divided by their tokens
    const t = r.perPiece.reduce((a, p) => a + p.infilled.tokens, 0);
    assertEquals(r.infilled.middleTokens, t);
    assertAlmostEquals(
      r.infilled.middleGivenBoth.perToken,
      r.perPiece.reduce((a, p) => a + p.infilled.middleGivenBoth * p.infilled.tokens, 0) / t,
      1e-9,
    );
    assert(formatInfillReport(r).includes("every other bar identical: 2/2"));
  } finally {
    lm.dispose();
    model.dispose();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test({
  name:
    "infillCheck on the real MAESTRO test split (tiny random model): pieces fit the context, the rest identical",
  ignore: !hasMaestro,
  fn: async () => {
    const { tmp, dir } = await conditionedTinyModel(4, 512);
    const model = await loadExactCpuModel(dir);
    const lm = await makeLogits(await readCheckpoint(dir), "cpu");
    try {
      const folder = await readMidiSplit(MAESTRO, "test");
      const r = await infillCheck(folder, model, lm, { range: { from: 5, to: 5 }, after: 2, pieces: 2 });
      assertEquals(r.pieces, 2);
      assertEquals(r.restIdentical, 2);
      assert(r.perPiece.every((p) => p.real.notes > 0 && Number.isFinite(p.real.middleGivenBoth)));
    } finally {
      lm.dispose();
      model.dispose();
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
