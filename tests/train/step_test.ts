import { assert, assertAlmostEquals, assertEquals } from "../_assert.ts";
import * as tf from "@tensorflow/tfjs-core";
import { selectBackend } from "../../lib/model/backend.ts";
import { applyOverrides, getPreset } from "../../lib/model/config.ts";
import { TfModel } from "../../lib/model/model.ts";
import { startGradientWorkers } from "../../lib/train/parallel.ts";
import { accumulateGradients, countTargets, Trainer } from "../../lib/train/step.ts";

await selectBackend("wasm");

Deno.test("gradient accumulation over micro-batches gives the whole-batch update (padding included)", async () => {
  const p = applyOverrides(getPreset("v8"), {
    layers: 1,
    dim: 16,
    heads: 2,
    ffn: 32,
    vocab: 20,
    seqLen: 8,
    batch: 4,
  });
  const windows = new Int32Array(4 * 9).map((_, i) => 4 + ((i * 7) % 16));
  windows.fill(0, 3 * 9 + 4, 4 * 9); // the last window is a padded tail: fewer targets
  const results = [];
  for (const microBatch of [0, 1, 3]) {
    const trainer = new Trainer(TfModel.init(p.model, 3), { ...p.train, microBatch });
    const r = await trainer.step(windows, 4, 1e-2);
    results.push({ ...r, w: await trainer.model.weights() });
    trainer.dispose();
    trainer.model.dispose();
  }
  for (const r of results.slice(1)) {
    assertAlmostEquals(r.loss, results[0].loss, 1e-5);
    assertAlmostEquals(r.gradNorm, results[0].gradNorm, 1e-4);
    let maxDiff = 0;
    for (const [k, v] of Object.entries(r.w)) {
      for (let i = 0; i < v.length; i++) maxDiff = Math.max(maxDiff, Math.abs(v[i] - results[0].w[k][i]));
    }
    assert(maxDiff < 1e-5, `weights differ by ${maxDiff}`);
  }
});

Deno.test("data-parallel workers give the single-thread update", async () => {
  const p = applyOverrides(getPreset("v8"), {
    layers: 1,
    dim: 16,
    heads: 2,
    ffn: 32,
    vocab: 20,
    seqLen: 8,
    batch: 5,
  });
  const windows = new Int32Array(5 * 9).map((_, i) => 4 + ((i * 5) % 16));
  windows.fill(0, 4 * 9 + 3, 5 * 9);
  const one = new Trainer(TfModel.init(p.model, 4), { ...p.train, microBatch: 2 });
  const helpers = await startGradientWorkers(p.model, "wasm", 2);
  const par = new Trainer(TfModel.init(p.model, 4), { ...p.train, microBatch: 2 }, helpers);
  for (let s = 0; s < 3; s++) {
    const a = await one.step(windows, 5, 1e-2), b = await par.step(windows, 5, 1e-2);
    assertAlmostEquals(b.loss, a.loss, 1e-5);
    assertAlmostEquals(b.gradNorm, a.gradNorm, 1e-4);
  }
  const [wa, wb] = [await one.model.weights(), await par.model.weights()];
  for (const k of Object.keys(wa)) {
    for (let i = 0; i < wa[k].length; i++) assertAlmostEquals(wb[k][i], wa[k][i], 1e-5);
  }
  for (const t of [one, par]) {
    t.dispose();
    t.model.dispose();
  }
});

Deno.test("no tensor survives a step: a gradient worker's setWeights + gradients, and Trainer.step", async () => {
  // a leaked weight upload per step filled a worker's 4 GB wasm heap after ~360 steps of the default model
  const p = applyOverrides(getPreset("v8"), {
    layers: 1,
    dim: 16,
    heads: 2,
    ffn: 32,
    vocab: 20,
    seqLen: 8,
    batch: 4,
  });
  const windows = new Int32Array(4 * 9).map((_, i) => 4 + ((i * 5) % 16));
  const model = TfModel.init(p.model, 4);
  const weights = await model.weights();
  const held = () => [tf.memory().numTensors, tf.memory().numBytes];
  const grad = () => {
    const { grads, loss } = accumulateGradients(model, windows, 4, 2, countTargets(windows, 4));
    tf.dispose([loss, ...Object.values(grads)]);
  };
  grad(); // the first pass caches RoPE tables for this length
  const before = held();
  for (let i = 0; i < 3; i++) {
    model.setWeights(weights); // what the worker does with the weights it is sent
    grad();
  }
  assertEquals(held(), before);
  const trainer = new Trainer(model, { ...p.train, microBatch: 2 });
  await trainer.step(windows, 4, 1e-2); // creates the AdamW moments
  const afterFirst = held();
  for (let i = 0; i < 2; i++) await trainer.step(windows, 4, 1e-2);
  assertEquals(held(), afterFirst);
  trainer.dispose();
  model.dispose();
});
