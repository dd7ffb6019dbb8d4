import { assert, assertAlmostEquals, assertEquals, assertRejects } from "../_assert.ts";
import { evaluate, formatEvalReport, type SplitNll } from "../../lib/eval/evaluate.ts";
import { evalSvg } from "../../lib/eval/svg.ts";
import { computeMetrics } from "../../lib/eval/metrics.ts";
import { prepareDataset } from "../../lib/data/dataset.ts";
import { writeMidi } from "../../lib/midi/mod.ts";
import { emptyScore } from "../../lib/score.ts";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import { benchModelConfig, writeRandomCheckpoint } from "../../bench/random_checkpoint.ts";

/** 12 short seeded pieces in C major (quarter/eighth notes, some chords), written as MIDI into `dir`. */
async function writeCorpus(dir: string): Promise<void> {
  let s = 12345;
  const rand = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const scale = [60, 62, 64, 65, 67, 69, 71, 72];
  await Deno.mkdir(dir, { recursive: true });
  for (let f = 0; f < 12; f++) {
    const sc = emptyScore(480);
    let t = 0;
    for (let i = 0; i < 48; i++) {
      const d = rand() < 0.5 ? 240 : 480;
      const p = scale[Math.floor(rand() * scale.length)];
      sc.notes.push({ pitch: p, velocity: 80, start: t, duration: d });
      if (rand() < 0.3) sc.notes.push({ pitch: p - 12, velocity: 70, start: t, duration: d });
      t += d;
    }
    await Deno.writeFile(`${dir}/piece${f}.mid`, writeMidi(sc));
  }
}

const hasGpu = "gpu" in navigator;

Deno.test({
  name: "eval end to end: random model NLL ≈ ln V, bigram far below it, samples and metrics reported",
  ignore: !hasGpu,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "etude_eval_test_" });
    try {
      await writeCorpus(`${tmp}/midi`);
      const prep = await prepareDataset({
        dataset: `${tmp}/midi`,
        out: tmp,
        name: "data",
        tokenizer: "remi",
        shifts: 0,
        workers: 0,
        fractions: [0.6, 0.2, 0.2],
        log: () => {},
      });
      const tj = prep.tokenizer.toJSON();
      const V = tj.vocab.length;
      const model = benchModelConfig({ layers: 1, dim: 16, heads: 2, ffn: 32, vocab: V, seqLen: 64 });
      // tiny weights: logits ≈ 0, so the model is ≈ uniform and its NLL ≈ ln V
      await writeRandomCheckpoint(`${tmp}/model`, model, { seed: 5, std: 1e-4, tokenizerJson: tj });
      const r = await evaluate({
        modelDir: `${tmp}/model`,
        dataDir: prep.dir,
        samples: 2,
        sampleTokens: 48,
        seed: 3,
        backend: "reference",
        log: () => {},
      });
      const nll = r.nll;
      if ("skipped" in nll) throw new Error(`NLL skipped: ${nll.skipped}`);
      for (const split of ["validation", "test"]) {
        const s: SplitNll = nll.splits[split];
        assert(s && s.model.tokens > 0, split);
        assertAlmostEquals(s.model.perToken, Math.log(V), 1e-3);
        assert(
          s.bigram.perToken < s.model.perToken - 1,
          `bigram ${s.bigram.perToken} vs ${s.model.perToken}`,
        );
        assertEquals(s.model.tokens, s.bigram.tokens);
        assert(s.model.notes > 0 && s.model.seconds > 0);
        assertAlmostEquals(s.model.perNote, s.model.perToken * s.model.tokens / s.model.notes, 1e-9);
      }
      assert(!("skipped" in r.reference), JSON.stringify(r.reference));
      // the reference corpus is C major throughout
      assertEquals(r.reference.metrics.scaleConsistency, 1);
      assert(!("skipped" in r.samples), JSON.stringify(r.samples));
      assertEquals(r.samples.count, 2);
      assert(r.relativeDifference !== null);
      assert(!("skipped" in r.syntaxErrors), JSON.stringify(r.syntaxErrors));
      assertEquals(r.syntaxErrors.withGrammar.typePer1k, 0);
      const text = formatEvalReport(r);
      assert(
        text.includes("bigram") && text.includes("scaleConsistency") && text.includes("grammar mask"),
        text,
      );
      // a model whose tokenizer differs from the data's is refused
      const otherTok = new RemiTokenizer({ useChords: !tj.config.useChords }).toJSON();
      await writeRandomCheckpoint(
        `${tmp}/other`,
        benchModelConfig({ layers: 1, dim: 16, heads: 2, ffn: 32, vocab: 512 }),
        {
          tokenizerJson: otherTok,
        },
      );
      await assertRejects(
        () => evaluate({ modelDir: `${tmp}/other`, dataDir: prep.dir, samples: 0 }),
        /differs from/,
      );
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("eval SVG: one bar pair per metric, 12 pitch-class pairs, escaped title", () => {
  const s = emptyScore(480);
  for (const p of [60, 64, 67, 72]) s.notes.push({ pitch: p, velocity: 80, start: 0, duration: 480 });
  const m = computeMetrics(s);
  const svg = evalSvg({
    title: "a <b> & c",
    sample: m,
    reference: m,
    samplePitchClasses: [0.5, 0, 0, 0, 0.25, 0, 0, 0.25, 0, 0, 0, 0],
    referencePitchClasses: new Array(12).fill(1 / 12),
  });
  assert(svg.startsWith("<svg") && svg.trimEnd().endsWith("</svg>"));
  assert(svg.includes("a &lt;b&gt; &amp; c"));
  assert(svg.includes(">scaleConsistency<") && svg.includes(">G#<"));
  // 9 metrics × 2 bars + 12 × 2 histogram bars + 2 legend swatches + background
  assertEquals((svg.match(/<rect /g) ?? []).length, 9 * 2 + 24 + 2 + 1);
});
