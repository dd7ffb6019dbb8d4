import { join } from "node:path";
import { assert, assertAlmostEquals, assertEquals } from "../_assert.ts";
import { barLines, folderNll, readMidiFolder, sliceBars } from "../../lib/eval/midi_folder.ts";
import { evaluate, formatEvalReport } from "../../lib/eval/evaluate.ts";
import { type LogitsFn, modelNll } from "../../lib/eval/nll.ts";
import { listMidiFiles } from "../../lib/util/fs.ts";
import { writeMidi } from "../../lib/midi/mod.ts";
import { emptyScore, type Score } from "../../lib/score.ts";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import { benchModelConfig, writeRandomCheckpoint } from "../../bench/random_checkpoint.ts";

const FIXTURES = new URL("../testdata/midi", import.meta.url).pathname;

/** A causal logits function: row t depends on the window's ids up to t only (so windows can be compared). */
function causal(vocab: number): LogitsFn & { calls: number } {
  const fn = ((ids: readonly number[]) => {
    fn.calls++;
    const out = new Float32Array(ids.length * vocab);
    let h = 7;
    ids.forEach((id, t) => {
      h = (h * 31 + id) % 9973;
      for (let j = 0; j < vocab; j++) out[t * vocab + j] = Math.sin(h + j * 1.7);
    });
    return out;
  }) as LogitsFn & { calls: number };
  fn.calls = 0;
  return fn;
}

Deno.test("barLines / sliceBars follow the time signatures: a change takes effect at the next bar line", () => {
  const s = emptyScore(4); // 4/4 bars of 16 ticks
  s.timeSignatures.push({ tick: 20, numerator: 3, denominator: 4 }); // mid bar 1: 3/4 (12 ticks) from tick 32
  s.tempos.push({ tick: 40, bpm: 60 });
  assertEquals(barLines(s, 4).lines, [0, 16, 32, 44, 56]);
  for (let b = 0; b < 4; b++) {
    const start = barLines(s, 4).lines[b];
    s.notes.push({ pitch: 60 + b, velocity: 80, start, duration: 30 }, {
      pitch: 50,
      velocity: 80,
      start: start + 2,
      duration: 1,
    });
  }
  const mid = sliceBars(s, 2, 4, { clip: true });
  assertEquals(mid.notes.map((n) => [n.pitch, n.start, n.duration]), [
    [62, 0, 24],
    [50, 2, 1],
    [63, 12, 12],
    [50, 14, 1],
  ]);
  assertEquals(mid.timeSignatures, [{ tick: 0, numerator: 3, denominator: 4 }]);
  assertEquals(mid.tempos, [{ tick: 0, bpm: 120 }, { tick: 8, bpm: 60 }]);
  assertEquals(barLines(mid, 2).lines, [0, 12, 24]);
  const head = sliceBars(s, 0, 3);
  assertEquals(head.timeSignatures.map((t) => [t.tick, t.numerator]), [[0, 4], [32, 3]]);
  assertEquals(head.notes.find((n) => n.pitch === 60)!.duration, 30); // not clipped
});

Deno.test("modelNll scoreFrom: the prompt is context only, over one window or several", async () => {
  const V = 12;
  const ids = [1, ...Array.from({ length: 150 }, (_, i) => 4 + ((i * 5) % 8)), 2];
  for (const context of [512, 32]) {
    for (const k of [1, 20, 70, 140]) {
      const full = causal(V), from = causal(V), head = causal(V);
      const all = await modelNll(full, [ids], { vocab: V, context });
      const tail = await modelNll(from, [ids], { vocab: V, context, scoreFrom: [k] });
      const before = await modelNll(head, [ids.slice(0, k)], { vocab: V, context });
      assertEquals(tail.tokens, ids.length - k);
      assertAlmostEquals(before.nll + tail.nll, all.nll, 1e-6, `context ${context}, from ${k}`);
      if (context === 32 && k === 140) {
        assert(from.calls < full.calls, `${from.calls} windows vs ${full.calls}`);
      }
    }
  }
});

Deno.test("folderNll on the real fixture folder: bad files listed with why, the rest scored with the tokenizer", async () => {
  const tok = new RemiTokenizer();
  const V = tok.vocab.length;
  const uniform: LogitsFn = (ids) => new Float32Array(ids.length * V);
  const folder = await readMidiFolder(FIXTURES);
  assertEquals(folder.found, listMidiFiles(FIXTURES).length);
  assertEquals(folder.pieces.length + folder.skipped.length, folder.found);
  const empty = folder.skipped.find((s) => s.file === "jazz-soft-test-empty-file.mid");
  assert(empty && /empty|0 bytes/i.test(empty.reason), JSON.stringify(empty));
  assert(folder.skipped.some((s) => s.file === "jazz-soft-test-not-a-midi-file.mid"));
  assert(folder.pieces.some((p) => p.file === "jazz-soft-test-c-major-scale.mid"));
  const r = await folderNll(folder, tok, { fn: uniform, vocab: V, context: 64 }, { maxTokens: 0 });
  assertEquals(r.pieces, r.scorable);
  assertEquals(r.scorable + r.leftOut.length, folder.found);
  assertAlmostEquals(r.model.perToken, Math.log(V), 1e-9);
  assert(r.model.notes > 0 && r.model.seconds > 0);
  // tokens: BOS … EOS per file, every one after BOS scored
  const want = folder.pieces.reduce((a, p) => {
    try {
      return a + tok.encode(p.score).length + 1;
    } catch {
      return a;
    }
  }, 0);
  assertEquals(r.model.tokens, want);
});

/** `bars` bars of `num`/4 at 480 ticks per beat; bar b: one quarter note per beat, all of pitch 48 + b. */
function barPiece(bars: number, num: number): Score {
  const s = emptyScore(480);
  s.timeSignatures = [{ tick: 0, numerator: num, denominator: 4 }];
  for (let b = 0; b < bars; b++) {
    for (let beat = 0; beat < num; beat++) {
      s.notes.push({ pitch: 48 + b, velocity: 64 + 8 * beat, start: (b * num + beat) * 480, duration: 480 });
    }
  }
  return s;
}

const hasGpu = "gpu" in navigator;

Deno.test({
  name: "eval --midi: NLL on the files and the continuation test (prompt bars → generated vs real bars)",
  ignore: !hasGpu,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "etude_eval_midi_" });
    try {
      const midi = join(tmp, "midi");
      await Deno.mkdir(midi);
      await Deno.writeFile(join(midi, "a_four.mid"), writeMidi(barPiece(9, 4)));
      await Deno.writeFile(join(midi, "b_three.mid"), writeMidi(barPiece(7, 3)));
      await Deno.writeFile(join(midi, "c_short.mid"), writeMidi(barPiece(4, 4)));
      await Deno.copyFile(join(FIXTURES, "nfroidure-MIDIBadHeaderChunk.mid"), join(midi, "d_broken.mid"));
      // a small vocabulary (pitches 40–70, no tempo tokens) so a random model reaches its bar lines soon
      const tj = new RemiTokenizer({ pitchRange: [40, 70], numVelocities: 8, useTempos: false }).toJSON();
      const V = tj.vocab.length;
      await writeRandomCheckpoint(
        join(tmp, "model"),
        benchModelConfig({ layers: 1, dim: 16, heads: 2, ffn: 32, vocab: V, seqLen: 256 }),
        { seed: 9, std: 1e-4, tokenizerJson: tj },
      );
      const r = await evaluate({
        modelDir: join(tmp, "model"),
        midiDir: midi,
        samples: 0,
        promptBars: 2,
        continuationBars: 3,
        continuationPieces: 5,
        seed: 4,
        backend: "reference",
        log: () => {},
      });
      // NLL on the files: the near-uniform model gives ln V per token; the broken file is listed, not fatal
      if ("skipped" in r.midiNll) throw new Error(`midi NLL skipped: ${r.midiNll.skipped}`);
      assertEquals(r.midiNll.pieces, 3);
      assertAlmostEquals(r.midiNll.model.perToken, Math.log(V), 1e-3);
      assertEquals(r.midiNll.leftOut.map((s) => s.file), ["d_broken.mid"]);

      const c = r.continuation;
      if ("skipped" in c) throw new Error(`continuation skipped: ${c.skipped}`);
      assertEquals([c.promptBars, c.bars, c.seed], [2, 3, 4]);
      assertEquals(c.perPiece.map((p) => [p.file, p.seed]), [["a_four.mid", 4], ["b_three.mid", 5]]);
      assertEquals(c.leftOut.map((s) => s.file).sort(), ["c_short.mid", "d_broken.mid"]);
      assert(c.leftOut.find((s) => s.file === "c_short.mid")!.reason.includes("shorter than 5 bars"));
      for (const p of c.perPiece) {
        // the real next 3 bars are bars 2–4 of the piece, whatever the meter: pitches 50, 51, 52, one per bar
        assertEquals([p.real.nPitchesUsed, p.real.pitchRange, p.real.grooveConsistency], [3, 2, 1]);
        assertEquals(p.realNotes, 3 * (p.file === "a_four.mid" ? 4 : 3));
        assert(p.promptTokens > 0 && p.realTokens > 0 && p.generatedTokens > 0, JSON.stringify(p));
        assertAlmostEquals(p.nllPerToken, Math.log(V), 1e-3);
        for (const k of Object.keys(p.real) as (keyof typeof p.real)[]) {
          const d = Math.abs(p.generated[k] - p.real[k]);
          if (Number.isFinite(d)) assert(d >= 0);
        }
      }
      assertEquals(c.nll.tokens, c.perPiece.reduce((a, p) => a + p.realTokens, 0));
      assertEquals(c.nll.notes, 12 + 9);
      // 3 bars of 4/4 and 3 bars of 3/4 at 120 bpm
      assertAlmostEquals(c.nll.seconds, 6 + 4.5, 1e-9);
      assertAlmostEquals(
        c.absoluteDifference.pitchRange,
        (Math.abs(c.perPiece[0].generated.pitchRange - 2) +
          Math.abs(c.perPiece[1].generated.pitchRange - 2)) / 2,
        1e-9,
      );
      const text = formatEvalReport(r);
      assert(text.includes("Continuation test") && text.includes("NLL of the real next 3 bars"), text);
      assert(text.includes("d_broken.mid"), text);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
