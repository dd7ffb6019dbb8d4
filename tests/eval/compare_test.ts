/**
 * `--compare` (lib/eval/compare.ts) on two tiny random models with different tokenizers, over the test split of a
 * written MAESTRO-layout folder, cropped: both models in the report, on the same files; NLL over exactly the crops'
 * tokens (no EOS: a crop does not end there); the ratios, "within 10 %" flags and their count follow from the
 * numbers; 0 grammar errors with the mask. The CPU backend's NLL equals the plain-TS reference's.
 */
import { join } from "node:path";
import { assert, assertAlmostEquals, assertEquals } from "../_assert.ts";
import { compareModels, formatComparison, WITHIN } from "../../lib/eval/compare.ts";
import { evaluate } from "../../lib/eval/evaluate.ts";
import { cropSeconds } from "../../lib/eval/split.ts";
import { METRIC_NAMES } from "../../lib/eval/metrics.ts";
import { readMidiFile, writeMidi } from "../../lib/midi/mod.ts";
import { emptyScore, type Score } from "../../lib/score.ts";
import { loadTokenizer } from "../../lib/tokenizers/load.ts";
import { readCheckpoint } from "../../lib/model/checkpoint.ts";
import { tinyModelsDir } from "../server/_tiny_model.ts";
import { conditionedTinyModel } from "./_cond_model.ts";

function piece(seed: number): Score {
  const s = emptyScore(480);
  let x = seed;
  for (let i = 0; i < 24; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    s.notes.push({ pitch: 55 + (x % 17), velocity: 70, start: i * 240, duration: 240 + (x % 3) * 120 });
  }
  return s;
}

async function maestroFolder(dir: string): Promise<string[]> {
  await Deno.mkdir(join(dir, "2017"), { recursive: true });
  const rows = ["canonical_composer,canonical_title,split,year,midi_filename,audio_filename,duration"];
  const test: string[] = [];
  for (let i = 0; i < 6; i++) {
    const split = i % 2 ? "test" : "train", file = `2017/p${i}.midi`;
    rows.push(`C,"T, ${i}",${split},2017,${file},2017/p${i}.wav,3.0`);
    await Deno.writeFile(join(dir, file), writeMidi(piece(i + 1)));
    if (split === "test") test.push(file);
  }
  await Deno.writeTextFile(join(dir, "maestro-v3.0.0.csv"), rows.join("\n") + "\n");
  return test;
}

Deno.test({
  name:
    "compareModels: both models on the same test files, NLL of the crops, flags and ratios from the numbers",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const root = await tinyModelsDir();
    const { tmp, dir: condDir } = await conditionedTinyModel(7);
    const midi = join(tmp, "maestro");
    try {
      const testFiles = await maestroFolder(midi);
      const a = condDir, b = join(root, "default");
      const base = {
        midiDir: midi,
        split: "test",
        cropSeconds: 2,
        samples: 2,
        sampleTokens: 48,
        nllMaxTokens: 0,
        continuationPieces: 0,
        backend: "cpu" as const,
        log: () => {},
      };
      const c = await compareModels(base, [a, b]);
      assertEquals(c.models.map((m) => m.dir), [a, b]);
      assertEquals(c.warnings, []);
      for (const [i, r] of c.reports.entries()) {
        assertEquals(r.folder?.files, testFiles);
        // the tokens scored: each crop's ids with BOS before them and no EOS after
        const tok = loadTokenizer((await readCheckpoint(c.models[i].dir)).tokenizerJson!);
        let tokens = 0;
        for (const f of testFiles) {
          tokens += tok.encode(cropSeconds(await readMidiFile(join(midi, f)), 2)).length;
        }
        const m = c.models[i];
        assertEquals(m.nll?.files, 3);
        assertEquals(m.nll?.tokens, tokens);
        assertAlmostEquals(m.nll!.perNote * m.nll!.notes, m.nll!.perToken * m.nll!.tokens, 1e-6);
        for (const k of METRIC_NAMES) {
          assertEquals(m.withinFlags![k], Math.abs(m.relativeDifference![k]) <= WITHIN, k);
        }
        assertEquals(m.within, METRIC_NAMES.filter((k) => m.withinFlags![k]).length);
        assertEquals(m.grammarErrors?.withMask, 0);
        assert(!("skipped" in r.samples) && r.samples.count === 2);
      }
      assertAlmostEquals(c.ratios[0].perNote, c.models[0].nll!.perNote / c.models[1].nll!.perNote, 1e-12);
      const text = formatComparison(c);
      assert(text.includes(a) && text.includes(b) && text.includes("within 10%"), text);
      // the CPU backend's NLL = the plain-TS reference's
      const ref = await evaluate({ ...base, modelDir: a, samples: 0, backend: "reference" });
      assert(!("skipped" in ref.midiNll));
      assertAlmostEquals(ref.midiNll.model.perToken, c.models[0].nll!.perToken, 1e-4);
    } finally {
      await Deno.remove(root, { recursive: true });
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
