import * as tf from "@tensorflow/tfjs-core";
import { assert, assertAlmostEquals, assertEquals } from "../_assert.ts";
import { selectBackend } from "../../lib/model/backend.ts";
import { AdamW } from "../../lib/train/adamw.ts";
import { learningRate } from "../../lib/train/schedule.ts";

await selectBackend("wasm");

Deno.test("AdamW matches torch.optim.AdamW's update rule; decay on matrices only", async () => {
  const opts = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
  const params = { w: tf.variable(tf.tensor2d([[0.5, -1]], [1, 2])), g: tf.variable(tf.tensor1d([2])) };
  const opt = new AdamW(params, opts);
  const grads = [[0.3, -0.2, 1.5], [0.1, 0.4, -0.5], [-0.2, 0.05, 0.25]]; // per step: w0, w1, g0
  const lrs = [1e-2, 5e-3, 2e-3];
  // scalar reference, written from the PyTorch docs: p ← p(1 − lr·λ); p ← p − lr·m̂/(√v̂ + ε)
  const ref = { p: [0.5, -1, 2], m: [0, 0, 0], v: [0, 0, 0] };
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < 3; i++) {
      const g = grads[s][i];
      ref.m[i] = 0.9 * ref.m[i] + 0.1 * g;
      ref.v[i] = 0.95 * ref.v[i] + 0.05 * g * g;
      const mh = ref.m[i] / (1 - 0.9 ** (s + 1)), vh = ref.v[i] / (1 - 0.95 ** (s + 1));
      if (i < 2) ref.p[i] *= 1 - lrs[s] * 0.1;
      ref.p[i] -= (lrs[s] * mh) / (Math.sqrt(vh) + 1e-8);
    }
    tf.tidy(() =>
      opt.apply({ w: tf.tensor2d([grads[s].slice(0, 2)], [1, 2]), g: tf.tensor1d([grads[s][2]]) }, lrs[s])
    );
  }
  const got = [...(await params.w.data()), ...(await params.g.data())];
  for (let i = 0; i < 3; i++) assertAlmostEquals(got[i], ref.p[i], 1e-6);
  assertEquals([opt.decays("w"), opt.decays("g"), opt.step], [true, false, 3]);
  // state round trip
  const st = await opt.state();
  const opt2 = new AdamW(params, opts);
  opt2.setState(st);
  assertEquals(await opt2.state(), st);
  opt.dispose();
  opt2.dispose();
  tf.dispose(Object.values(params));
});

Deno.test("schedule: linear warmup, cosine to lr·minLrFrac; warmup 0 is cosine annealing", () => {
  const s = { lr: 1e-3, warmup: 10, total: 110, minLrFrac: 0.1 };
  assertAlmostEquals(learningRate(0, s), 1e-4, 1e-12);
  assertAlmostEquals(learningRate(9, s), 1e-3, 1e-12);
  assertAlmostEquals(learningRate(10, s), 1e-3, 1e-12);
  assertAlmostEquals(learningRate(60, s), 0.55e-3, 1e-12);
  assertAlmostEquals(learningRate(110, s), 1e-4, 1e-12);
  assertAlmostEquals(learningRate(500, s), 1e-4, 1e-12);
  const c = { lr: 2e-3, warmup: 0, total: 100, minLrFrac: 0 };
  assertAlmostEquals(learningRate(0, c), 2e-3, 1e-12);
  assertAlmostEquals(learningRate(50, c), 1e-3, 1e-12);
  for (let i = 1; i < 100; i++) assert(learningRate(i, c) < learningRate(i - 1, c));
});
