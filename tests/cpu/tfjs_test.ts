/**
 * The CPU backend against tfjs (lib/model's TfModel / transformerForward / crossEntropy and lib/train's Trainer and
 * AdamW, on tfjs-wasm): the same init; loss and every gradient tensor from the same weights; AdamW updates; and 20
 * training steps from the same init on the same batches.
 */
import * as tf from "@tensorflow/tfjs-core";
import { assert } from "../_assert.ts";
import { selectBackend } from "../../lib/model/backend.ts";
import { applyOverrides, getPreset, type TransformerConfig } from "../../lib/model/config.ts";
import { crossEntropy, TfModel } from "../../lib/model/model.ts";
import { AdamW } from "../../lib/train/adamw.ts";
import { Trainer } from "../../lib/train/step.ts";
import { CpuAdamW } from "../../lib/cpu/adamw.ts";
import { CpuTransformer, toCpuConfig } from "../../lib/cpu/model.ts";
import { CpuTrainer } from "../../lib/cpu/train.ts";
import { Rng } from "../../lib/util/rng.ts";
import { BLASES, maxDiff, randn } from "./_util.ts";

let backend = "wasm";
try {
  await selectBackend("wasm");
} catch {
  backend = await selectBackend("cpu");
}

const preset = applyOverrides(getPreset("v8"), {
  layers: 2,
  dim: 32,
  heads: 4,
  ffn: 48,
  vocab: 40,
  seqLen: 12,
});
const cfg = preset.model as TransformerConfig;

/** `batch` windows of seqLen + 1 ids; a few trailing PADs (0) in some rows, as packed data has at piece ends. */
function windows(batch: number, seed: number, T = cfg.seqLen): Int32Array {
  const r = new Rng(seed), w = T + 1;
  const out = new Int32Array(batch * w);
  for (let b = 0; b < batch; b++) {
    const pad = b % 3 === 1 ? 1 + r.int(4) : 0;
    for (let t = 0; t < w; t++) {
      out[b * w + t] = t === 0 ? 1 : t >= w - pad ? 0 : 3 + r.int(cfg.vocabSize - 3);
    }
  }
  return out;
}

Deno.test(`CpuTransformer.init(seed) draws the same weights as TfModel.init(seed) (tfjs ${backend})`, async () => {
  const tfm = TfModel.init(cfg, 7);
  try {
    const w = await tfm.weights(), m = CpuTransformer.init(toCpuConfig(cfg), 7);
    for (const p of m.layout) assert(w[p.name].every((v, i) => v === m.w.byName[p.name][i]), p.name);
  } finally {
    tfm.dispose();
  }
});

for (const [blas, T] of BLASES.flatMap((b) => [[b, cfg.seqLen], [b, 70]] as const)) {
  Deno.test(`${blas.kind}: loss (1e-4) and every gradient tensor (1e-3) equal tfjs-${backend}'s, T ${T}`, async () => {
    const tfm = TfModel.init(cfg, 11);
    try {
      const m = CpuTransformer.fromWeights(toCpuConfig(cfg), await tfm.weights(), blas);
      const B = 3, win = windows(B, 5, T);
      const x = new Int32Array(B * T), y = new Int32Array(B * T);
      for (let b = 0; b < B; b++) {
        x.set(win.subarray(b * (T + 1), b * (T + 1) + T), b * T);
        y.set(win.subarray(b * (T + 1) + 1, (b + 1) * (T + 1)), b * T);
      }
      const vars = Object.values(tfm.vars);
      const names = new Map(Object.entries(tfm.vars).map(([k, v]) => [v.name, k]));
      const { value, grads } = tf.tidy(() =>
        tf.variableGrads(
          () => crossEntropy(tfm.apply(tf.tensor2d(x, [B, T], "int32")), tf.tensor2d(y, [B, T], "int32")),
          vars,
        )
      );
      const tfLoss = (await value.data())[0];
      const loss = m.loss(x, y, B, T);
      m.zeroGrad();
      m.backward();
      assert(Math.abs(loss - tfLoss) <= 1e-4 * Math.abs(tfLoss), `loss ${loss} vs tfjs ${tfLoss}`);
      let worst = 0;
      for (const [vn, g] of Object.entries(grads)) {
        const name = names.get(vn)!;
        const r = maxDiff(m.gradViews.byName[name], (await g.data()) as Float32Array);
        assert(r.scale > 0, `${name}: zero gradient`);
        worst = Math.max(worst, r.diff / r.scale);
        assert(r.diff <= 1e-3 * r.scale, `${name}: max |diff| ${r.diff} vs scale ${r.scale}`);
      }
      console.log(
        `  loss ${loss.toFixed(6)} (tfjs ${tfLoss.toFixed(6)}); worst gradient diff ${
          worst.toExponential(2)
        } of scale`,
      );
      tf.dispose([value, ...Object.values(grads)]);
    } finally {
      tfm.dispose();
    }
  });
}

Deno.test(`CpuAdamW = lib/train's AdamW on tfjs-${backend} (5 steps with clipping scales, 1e-6 relative)`, async () => {
  const shapes: Record<string, number[]> = { "a.weight": [6, 5], "a_norm.weight": [5] };
  const layout = [
    { name: "a.weight", shape: [6, 5], offset: 0, size: 30, decay: true },
    { name: "a_norm.weight", shape: [5], offset: 30, size: 5, decay: false },
  ];
  const init = randn(35, 31);
  const flat = init.slice();
  const vars: Record<string, tf.Variable> = {};
  for (const p of layout) {
    vars[p.name] = tf.variable(tf.tensor(init.slice(p.offset, p.offset + p.size), shapes[p.name]));
  }
  const opts = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
  const ref = new AdamW(vars, opts), opt = new CpuAdamW(layout, opts);
  try {
    for (let s = 0; s < 5; s++) {
      const g = randn(35, 40 + s, s === 2 ? 1e-5 : 1);
      const scale = [1, 0.5, 1, 0.03, 1][s], lr = 1e-2 * (s + 1);
      const tg: Record<string, tf.Tensor> = {};
      for (const p of layout) tg[p.name] = tf.tensor(g.slice(p.offset, p.offset + p.size), shapes[p.name]);
      ref.apply(tg, lr, scale);
      opt.apply(flat, g, lr, scale);
      tf.dispose(Object.values(tg));
    }
    for (const p of layout) {
      const want = (await vars[p.name].data()) as Float32Array;
      const r = maxDiff(flat.subarray(p.offset, p.offset + p.size), want);
      assert(r.diff <= 1e-6 * r.scale, `${p.name}: ${r.diff}`);
    }
    const st = await ref.state(), mine = opt.state();
    assert(st.step === mine.step);
    for (const p of layout) {
      assert(
        maxDiff(mine.m[p.name], st.m[p.name]).diff <= 1e-6 * maxDiff(
              st.m[p.name],
              st.m[p.name].map(() => 0),
            ).scale,
      );
    }
    // the norm weight was not decayed: with zero gradients only decayed weights move
    const still = new CpuAdamW(layout, opts), p2 = init.slice();
    still.apply(p2, new Float32Array(35), 0.1);
    assert(p2.subarray(30).every((v, i) => v === init[30 + i]), "norm weights must not decay");
    assert(p2.subarray(0, 30).every((v, i) => v !== init[i] || v === 0), "matrices decay");
  } finally {
    ref.dispose();
    tf.dispose(Object.values(vars));
  }
});

Deno.test(`20 training steps: CpuTrainer and lib/train's Trainer (tfjs-${backend}) from the same init, same batches`, async () => {
  const train = { ...preset.train, microBatch: 2, clip: 1.0, weightDecay: 0.1 };
  const tfm = TfModel.init(cfg, 21);
  const ref = new Trainer(tfm, train);
  const cpu = new CpuTrainer(CpuTransformer.init(toCpuConfig(cfg), 21), train);
  try {
    const B = 4, losses: [number, number][] = [];
    let worst = 0;
    for (let s = 0; s < 20; s++) {
      const win = windows(B, 100 + s), lr = 3e-3 * Math.min(1, (s + 1) / 5);
      const a = cpu.step(win, B, lr), b = await ref.step(win, B, lr);
      losses.push([a.loss, b.loss]);
      const rel = Math.abs(a.loss - b.loss) / b.loss;
      worst = Math.max(worst, rel);
      assert(rel <= 1e-3, `step ${s}: loss ${a.loss} vs tfjs ${b.loss}`);
      assert(
        Math.abs(a.gradNorm - b.gradNorm) <= 1e-3 * b.gradNorm,
        `step ${s}: grad norm ${a.gradNorm} vs ${b.gradNorm}`,
      );
    }
    console.log(
      `  losses ${losses[0][0].toFixed(4)} → ${losses[19][0].toFixed(4)} (tfjs ${losses[0][1].toFixed(4)} → ${
        losses[19][1].toFixed(4)
      }); worst relative loss diff ${worst.toExponential(2)}`,
    );
    assert(losses[19][0] < losses[0][0], "the loss went down");
    const w = await tfm.weights();
    let wd = 0;
    for (const p of cpu.model.layout) {
      const r = maxDiff(cpu.model.w.byName[p.name], w[p.name]);
      wd = Math.max(wd, r.diff / r.scale);
    }
    console.log(`  weights after 20 steps: worst relative diff ${wd.toExponential(2)}`);
    assert(wd <= 1e-2, `weights drifted ${wd}`);
  } finally {
    ref.dispose();
    tfm.dispose();
  }
});
