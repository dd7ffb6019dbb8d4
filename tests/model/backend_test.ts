import * as tf from "@tensorflow/tfjs-core";
import { assert, assertAlmostEquals, assertEquals } from "../_assert.ts";
import { hasRealGpu, selectBackend } from "../../lib/model/backend.ts";
import { applyOverrides, getPreset } from "../../lib/model/config.ts";
import { forwardLogitsAsync, TfModel } from "../../lib/model/model.ts";
import { Trainer } from "../../lib/train/step.ts";

Deno.test("auto picks webgpu only on a real GPU, else wasm; explicit choices are honoured", async () => {
  const real = await hasRealGpu();
  assertEquals(await selectBackend("auto"), real ? "webgpu" : "wasm");
  assertEquals(await selectBackend("cpu"), "cpu");
  assertEquals(await selectBackend("wasm"), "wasm");
});

/** Five training steps and the final logits on one backend. */
async function run(backend: "cpu" | "wasm" | "webgpu") {
  assertEquals(await selectBackend(backend), backend);
  const p = applyOverrides(getPreset("v8"), { layers: 2, dim: 32, heads: 4, ffn: 64, vocab: 24, seqLen: 16 });
  const trainer = new Trainer(TfModel.init(p.model, 1), p.train);
  const windows = new Int32Array(4 * 17).map((_, i) => 4 + ((i * 7) % 20));
  const losses = [];
  for (let i = 0; i < 5; i++) losses.push((await trainer.step(windows, 4, 1e-2)).loss);
  const logits = await forwardLogitsAsync(trainer.model, [1, 5, 9]);
  trainer.dispose();
  trainer.model.dispose();
  return { losses, logits };
}

Deno.test("cpu and wasm train identically (to float rounding)", async () => {
  const a = await run("cpu"), b = await run("wasm");
  a.losses.forEach((l, i) => assertAlmostEquals(b.losses[i], l, 1e-4));
  a.logits.forEach((l, i) => assertAlmostEquals(b.logits[i], l, 1e-4));
  assert(a.losses[4] < a.losses[0] - 0.5);
});

// tfjs-webgpu compiles a pipeline per kernel: seconds on lavapipe, minutes on Mesa's GL path — opt in with Vulkan
Deno.test({
  name: "webgpu trains like cpu (software adapter; DENO_WEBGPU_BACKEND=vulkan)",
  ignore: !("gpu" in navigator) || Deno.env.get("DENO_WEBGPU_BACKEND") !== "vulkan",
  fn: async () => {
    const a = await run("cpu"), b = await run("webgpu");
    a.losses.forEach((l, i) => assertAlmostEquals(b.losses[i], l, 1e-4));
    a.logits.forEach((l, i) => assertAlmostEquals(b.logits[i], l, 1e-4));
    await selectBackend("wasm");
    tf.engine().removeBackend("webgpu");
  },
});
