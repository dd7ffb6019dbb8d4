/**
 * Classifier-free guidance (lib/infer/guidance.ts) through `generate()`: every draw's row is
 * u + scale × (c − u) of the conditional and unconditional prompts run separately by the plain reference forward
 * (lib/infer/reference.ts) over the same drawn tokens; the CPU decoder and the WebGPU engine draw the same ids; scale
 * 1, or no condition asked, is the unguided path; the scale reaches the provenance record only when it is not 1;
 * out-of-range scales and `generation_config.json` values are one-line errors naming the field.
 */
import { assert, assertAlmostEquals, assertEquals, assertNotEquals, assertThrows } from "../_assert.ts";
import { join } from "node:path";
import { writeCondModel } from "./_cond_model.ts";
import { generate } from "../../lib/infer/generate.ts";
import { loadModel } from "../../lib/infer/load.ts";
import { prepareGeneration } from "../../lib/infer/plan.ts";
import { cpuRows } from "../../lib/infer/_cpu_loop.ts";
import { guidanceMix, guidedRows } from "../../lib/infer/guidance.ts";
import { readEngineModel } from "../../lib/infer/model_loader.ts";
import { referenceForward } from "../../lib/infer/reference.ts";
import { conditioningIds } from "../../lib/data/conditioning.ts";
import { makeProvenance } from "../../lib/infer/provenance.ts";
import { parseGenerationConfig } from "../../lib/infer/generation_config.ts";
import { checkGenerateParams } from "../../lib/infer/param_check.ts";

Deno.test("guidanceMix: u + s (c − u), s = 1 is the conditional row", () => {
  const c = new Float32Array([2, -1, 0.5]), u = new Float32Array([1, 1, 0.5]);
  assertEquals(Array.from(guidanceMix(c, u, 3)), [4, -5, 0.5]);
  assertEquals(Array.from(guidanceMix(c, u, 1)), Array.from(c));
});

Deno.test("guided rows = the reference forward of both prompts, mixed, at every draw of a generation", async () => {
  const dir = await writeCondModel(undefined, 7);
  const model = await loadModel(dir, { device: "cpu" });
  try {
    const opts = { model, conditions: { style: "pop" as const, key: "E minor" }, maxTokens: 24, seed: 4 };
    const plan = prepareGeneration({ ...opts, guidanceScale: 2.5 });
    const g = plan.guidance!;
    const c = conditioningIds(model.tokenizer.vocab)!;
    assertEquals(g.scale, 2.5);
    assertEquals(g.unconditional.slice(0, 5), [1, ...c.none], "the twin: BOS and four _none");
    assertEquals(g.unconditional.length, plan.prompt.length);
    const { ids } = await generate({ ...opts, guidanceScale: 2.5 });
    const unguided = await generate(opts);
    assertNotEquals(ids[0], unguided.ids[0], "guidance changes the draws");
    // the rows the loop sampled from, over the drawn tokens, against the reference forward run per prompt
    const { config, weights } = await readEngineModel(dir);
    const condRef = referenceForward(config, weights, [...plan.prompt, ...ids[0]]);
    const uncondRef = referenceForward(config, weights, [...g.unconditional, ...ids[0]]);
    const hist = [[...plan.prompt]];
    const src = guidedRows(
      cpuRows(model.cpuDecoder!(2), 2, model.context, plan.windowStart),
      g.unconditional,
      2.5,
    )(hist);
    let worst = 0;
    for (let t = 0; t < ids[0].length; t++) {
      await src.room?.();
      const row = (await src.rows(t))[0];
      const p = plan.prompt.length - 1 + t;
      const want = guidanceMix(condRef[p], uncondRef[p], 2.5);
      for (let j = 0; j < row.length; j++) worst = Math.max(worst, Math.abs(row[j] - want[j]));
      hist[0].push(ids[0][t]);
    }
    assertAlmostEquals(worst, 0, 2e-3, `largest |guided − reference| ${worst}`);
  } finally {
    model.dispose();
  }
});

Deno.test("guidance: the engine draws the CPU decoder's ids; scale 1 or no condition is the unguided path", async () => {
  const dir = await writeCondModel(undefined, 9);
  const cpu = await loadModel(dir, { device: "cpu" });
  const gpu = await loadModel(dir, { device: "gpu" });
  try {
    const opts = { conditions: { style: "classical" as const }, maxTokens: 40, seed: 11, batch: 2 };
    const a = await generate({ model: cpu, ...opts, guidanceScale: 4 });
    const b = await generate({ model: gpu, ...opts, guidanceScale: 4 });
    assertEquals(b.ids, a.ids);
    assertEquals(prepareGeneration({ model: cpu, ...opts, guidanceScale: 1 }).guidance, undefined);
    assertEquals(prepareGeneration({ model: cpu, maxTokens: 8, guidanceScale: 4 }).guidance, undefined);
    const plain = await generate({ model: cpu, ...opts });
    assertEquals((await generate({ model: cpu, ...opts, guidanceScale: 1 })).ids, plain.ids);
    assertEquals(
      (await generate({ model: cpu, maxTokens: 40, seed: 11, guidanceScale: 4 })).ids,
      (await generate({ model: cpu, maxTokens: 40, seed: 11 })).ids,
    );
  } finally {
    cpu.dispose();
    gpu.dispose();
  }
});

Deno.test("guidance: range errors name the field; the record holds the scale only when it is not 1", () => {
  assertThrows(() => checkGenerateParams({ guidanceScale: 11 }), Error, "guidanceScale");
  assertThrows(() => checkGenerateParams({ guidanceScale: "x" }), Error, "guidanceScale");
  assertEquals(checkGenerateParams({}).guidanceScale, 1);
  assertThrows(
    () => parseGenerationConfig('{"guidance_scale": 0.5}', "m/generation_config.json"),
    Error,
    "m/generation_config.json: guidance_scale",
  );
  assertEquals(parseGenerationConfig('{"guidance_scale": 3}', "f").guidanceScale, 3);
  const model = { path: "models/default", sha256: "ab".repeat(32) };
  assert(!("guidanceScale" in makeProvenance({ model, params: { seed: 1, bars: 4 } }).params));
  assertEquals(
    makeProvenance({ model, params: { seed: 1, bars: 4, guidanceScale: 3 } }).params.guidanceScale,
    3,
  );
});

Deno.test("a model's generation_config.json guidance_scale is its default; a given scale wins", async () => {
  const dir = await writeCondModel(undefined, 9);
  await Deno.writeTextFile(join(dir, "generation_config.json"), '{"guidance_scale": 3}');
  const model = await loadModel(dir, { device: "cpu" });
  try {
    assertEquals(model.sampling?.guidanceScale, 3);
    assertEquals(prepareGeneration({ model, conditions: { style: "pop" }, maxTokens: 8 }).guidance?.scale, 3);
    assertEquals(
      prepareGeneration({ model, conditions: { style: "pop" }, maxTokens: 8, guidanceScale: 1 }).guidance,
      undefined,
    );
  } finally {
    model.dispose();
  }
});
