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
import { type GenerationPlan, prepareGeneration } from "../../lib/infer/plan.ts";
import type { LoadedModel } from "../../lib/infer/load.ts";
import { cpuRows } from "../../lib/infer/_cpu_loop.ts";
import { guidanceMix, guidancePlan, guidedRows } from "../../lib/infer/guidance.ts";
import { readEngineModel } from "../../lib/infer/model_loader.ts";
import { referenceForward } from "../../lib/infer/reference.ts";
import { conditioningIds } from "../../lib/data/conditioning.ts";
import { makeProvenance } from "../../lib/infer/provenance.ts";
import { parseGenerationConfig } from "../../lib/infer/generation_config.ts";
import { checkGenerateParams } from "../../lib/infer/param_check.ts";

/**
 * The largest gap between the guided rows the sampling loop draws from (over the tokens `ids` drawn after the plan's
 * prompt, the CPU decoder running every sequence of the mix) and `want(p)`, the reference row at position `p`.
 */
async function worstGuidedError(
  model: LoadedModel,
  plan: GenerationPlan,
  ids: readonly number[],
  want: (p: number) => ArrayLike<number>,
): Promise<number> {
  const slots = 1 + plan.guidance!.twins.length;
  const hist = [[...plan.prompt]];
  const src = guidedRows(
    cpuRows(model.cpuDecoder!(slots), slots, model.context, plan.windowStart),
    plan.guidance!,
  )(
    hist,
  );
  let worst = 0;
  for (let t = 0; t < ids.length; t++) {
    await src.room?.();
    const row = (await src.rows(t))[0];
    const w = want(plan.prompt.length - 1 + t);
    for (let j = 0; j < row.length; j++) worst = Math.max(worst, Math.abs(row[j] - w[j]));
    hist[0].push(ids[t]);
  }
  return worst;
}

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
    assertEquals([g.weight, g.twins.length, g.twins[0].weight], [2.5, 1, -1.5], "2.5 c − 1.5 u");
    const unconditional = g.twins[0].prompt;
    assertEquals(unconditional.slice(0, 5), [1, ...c.none], "the twin: BOS and four _none");
    assertEquals(unconditional.length, plan.prompt.length);
    const { ids } = await generate({ ...opts, guidanceScale: 2.5 });
    const unguided = await generate(opts);
    assertNotEquals(ids[0], unguided.ids[0], "guidance changes the draws");
    // the rows the loop sampled from, over the drawn tokens, against the reference forward run per prompt
    const { config, weights } = await readEngineModel(dir);
    const condRef = referenceForward(config, weights, [...plan.prompt, ...ids[0]]);
    const uncondRef = referenceForward(config, weights, [...unconditional, ...ids[0]]);
    const worst = await worstGuidedError(
      model,
      plan,
      ids[0],
      (p) => guidanceMix(condRef[p], uncondRef[p], 2.5),
    );
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
    assertEquals(
      prepareGeneration({ model, conditions: { style: "pop" }, maxTokens: 8 }).guidance?.weight,
      3,
    );
    assertEquals(
      prepareGeneration({ model, conditions: { style: "pop" }, maxTokens: 8, guidanceScale: 1 }).guidance,
      undefined,
    );
  } finally {
    model.dispose();
  }
});

Deno.test("guidancePlan: u + Σ sⱼ (pⱼ − pⱼ₋₁) as row weights, equal prompts merged, zero weights dropped", () => {
  const u = [1, 11, 21, 31, 41],
    style = [1, 10, 21, 31, 41],
    dens = [1, 10, 21, 31, 40],
    c = [1, 10, 20, 31, 40];
  const chain = (s: number, sd: number, sk: number, p = [style, dens, c]) =>
    guidancePlan(u, [{ prompt: p[0], scale: s }, { prompt: p[1], scale: sd }, { prompt: p[2], scale: sk }]);
  // u + 2 (style − u) + 3 (dens − style) + 4 (c − dens)
  assertEquals(chain(2, 3, 4), {
    weight: 4,
    twins: [{ prompt: dens, weight: -1 }, { prompt: style, weight: -1 }, { prompt: u, weight: -1 }],
  });
  // one scale: the plain form, the inner twins' weights 0
  assertEquals(chain(3, 3, 3), { weight: 3, twins: [{ prompt: u, weight: -2 }] });
  // the key alone guided: c against the twin without the key only
  assertEquals(chain(1, 1, 5), { weight: 5, twins: [{ prompt: dens, weight: -4 }] });
  // no density asked (its step repeats the style's): merged, u + 2 (style − u) + 4 (c − style)
  assertEquals(chain(2, 7, 4, [style, style, c]), {
    weight: 4,
    twins: [{ prompt: style, weight: -2 }, { prompt: u, weight: -1 }],
  });
  // only the key asked: every step before it is u
  assertEquals(chain(1, 1, 5, [u, u, c]), { weight: 5, twins: [{ prompt: u, weight: -4 }] });
  assertEquals(chain(5, 5, 1, [style, style, style]), { weight: 5, twins: [{ prompt: u, weight: -4 }] });
  assertEquals(chain(1, 1, 1), undefined, "every scale 1: the plain prompt");
  assertEquals(chain(4, 4, 4, [u, u, u]), undefined, "nothing asked: every twin is the prompt");
});

Deno.test("key and density guidance: four sequences mixed as the reference forward of each prompt; the record keeps the scale", async () => {
  const dir = await writeCondModel(undefined, 5);
  const model = await loadModel(dir, { device: "cpu" });
  try {
    const c = conditioningIds(model.tokenizer.vocab)!;
    const opts = {
      model,
      conditions: { style: "pop" as const },
      controls: { key: "E minor", density: "low" as const },
      maxTokens: 20,
      seed: 3,
      guidanceScale: 2,
      densityGuidanceScale: 3,
      keyGuidanceScale: 4,
    };
    const plan = prepareGeneration(opts);
    const g = plan.guidance!;
    const keyAt = plan.prompt.findIndex((id) => id === c.byName.get("Key_E:min"));
    assert(keyAt > 0, "the key token leads the prompt");
    const densAt = plan.prompt.findIndex((id) => id === c.byName.get("Density_low"));
    assert(densAt > keyAt, "the density token leads the prompt too");
    const noKey = plan.prompt.map((id, i) => i === keyAt ? c.none[1] : id);
    const styleOnly = noKey.map((id, i) => i === densAt ? c.none[3] : id);
    assertEquals(g.weight, 4);
    assertEquals(g.twins.map((t) => t.weight), [-1, -1, -1]);
    assertEquals(g.twins[0].prompt, noKey, "twin 1 drops only the key");
    assertEquals(g.twins[1].prompt, styleOnly, "twin 2 the key and the density");
    assertEquals(g.twins[2].prompt.slice(0, 5), [1, ...c.none], "twin 3 every condition");
    const { ids } = await generate(opts);
    assertNotEquals(
      ids[0],
      (await generate({ ...opts, keyGuidanceScale: 1 })).ids[0],
      "the key's scale matters",
    );
    const { config, weights } = await readEngineModel(dir);
    const refs = [plan.prompt, noKey, styleOnly, g.twins[2].prompt].map((p) =>
      referenceForward(config, weights, [...p, ...ids[0]])
    );
    // u + 2 (style − u) + 3 (style, density − style) + 4 (c − style, density), written out
    const worst = await worstGuidedError(model, plan, ids[0], (p) => {
      const [c, k, st, u] = refs.map((r) => r[p]);
      return c.map((cj, j) => u[j] + 2 * (st[j] - u[j]) + 3 * (k[j] - st[j]) + 4 * (cj - k[j]));
    });
    assertAlmostEquals(worst, 0, 2e-3, `largest |guided − reference| ${worst}`);
    // a key guided harder than the rest is recorded; without a key, or at or below guidanceScale, it is not
    const m = { path: "models/default", sha256: "ab".repeat(32) };
    const rec = (p: Record<string, unknown>) =>
      makeProvenance({ model: m, params: { seed: 1, bars: 4, ...p } }).params;
    assertEquals(rec({ key: "E minor", keyGuidanceScale: 5 }).keyGuidanceScale, 5);
    assert(!("keyGuidanceScale" in rec({ keyGuidanceScale: 5 })));
    assert(!("keyGuidanceScale" in rec({ key: "E minor", guidanceScale: 5, keyGuidanceScale: 5 })));
    assertEquals(rec({ density: "low", densityGuidanceScale: 3 }).densityGuidanceScale, 3);
    assert(!("densityGuidanceScale" in rec({ key: "E minor", densityGuidanceScale: 3 })), "no density asked");
  } finally {
    model.dispose();
  }
});

Deno.test("a model's key_guidance_scale and density_guidance_scale guide what is asked by default, and nothing else", async () => {
  const dir = await writeCondModel(undefined, 9);
  await Deno.writeTextFile(
    join(dir, "generation_config.json"),
    '{"key_guidance_scale": 5, "density_guidance_scale": 3}',
  );
  const model = await loadModel(dir, { device: "cpu" });
  try {
    assertEquals(model.sampling?.keyGuidanceScale, 5);
    const keyed = prepareGeneration({ model, controls: { key: "C major" }, maxTokens: 8 }).guidance;
    assertEquals([keyed?.weight, keyed?.twins.map((t) => t.weight)], [5, [-4]]);
    assertEquals(
      prepareGeneration({ model, conditions: { style: "pop" }, maxTokens: 8 }).guidance,
      undefined,
    );
    const dense = prepareGeneration({ model, controls: { density: "high" }, maxTokens: 8 }).guidance;
    assertEquals([dense?.weight, dense?.twins.map((t) => t.weight)], [3, [-2]]);
    assertEquals(
      prepareGeneration({ model, controls: { key: "C major" }, maxTokens: 8, keyGuidanceScale: 1 }).guidance,
      undefined,
    );
    assertThrows(
      () => parseGenerationConfig('{"key_guidance_scale": 20}', "m/generation_config.json"),
      /m\/generation_config\.json: key_guidance_scale: .*\[1, 10\]/,
    );
  } finally {
    model.dispose();
  }
});
