/**
 * GpuTrainer against CpuTrainer and lib/train's tfjs Trainer: 20 steps of a small Transformer from the same initial
 * weights on the same batches (losses to 1e-3 relative); gradients of one batch tensor by tensor; micro-batches;
 * validation; dispatches and readbacks per step; an exact resume from saved weights and AdamW moments.
 */
import { assert, assertEquals } from "../_assert.ts";
import { selectBackend } from "../../lib/model/backend.ts";
import { applyOverrides, getPreset, type TransformerConfig } from "../../lib/model/config.ts";
import { TfModel } from "../../lib/model/model.ts";
import { Trainer } from "../../lib/train/step.ts";
import { CpuTransformer, toCpuConfig } from "../../lib/cpu/model.ts";
import { CpuTrainer } from "../../lib/cpu/train.ts";
import { GpuTrainer } from "../../lib/gpu/train.ts";
import { Rng } from "../../lib/util/rng.ts";
import { close, PATHS } from "./_util.ts";

let backend = "wasm";
try {
  await selectBackend("wasm");
} catch {
  backend = await selectBackend("cpu");
}

// d 40 (not a multiple of 64), 4 heads of 10, a vocabulary of 161, T 19
const preset = applyOverrides(getPreset("v8"), {
  layers: 2,
  dim: 40,
  heads: 4,
  ffn: 56,
  vocab: 161,
  seqLen: 19,
});
const cfg = preset.model as TransformerConfig;
const ccfg = toCpuConfig(cfg);
const opts = { beta1: 0.9, beta2: 0.95, adamEps: 1e-8, weightDecay: 0.1, clip: 1, microBatch: 0 };

/**
 * `batch` windows of seqLen + 1 ids, each an arithmetic run (something to learn); trailing PADs (0) in some rows,
 * as packed data has at piece ends.
 */
function windows(batch: number, seed: number, T = cfg.seqLen): Int32Array {
  const r = new Rng(seed), w = T + 1;
  const out = new Int32Array(batch * w);
  for (let b = 0; b < batch; b++) {
    const pad = b % 3 === 1 ? 1 + r.int(4) : 0, s0 = r.int(150), k = 1 + r.int(3);
    for (let t = 0; t < w; t++) out[b * w + t] = t === 0 ? 1 : t >= w - pad ? 0 : 3 + (s0 + t * k) % 150;
  }
  return out;
}

Deno.test(`20 steps: GpuTrainer (both kernel paths), CpuTrainer and lib/train's Trainer (tfjs-${backend}) from the same init`, async () => {
  const train = { ...preset.train, ...opts, microBatch: 2 };
  const tfm = TfModel.init(cfg, 21);
  const ref = new Trainer(tfm, train);
  const cpu = new CpuTrainer(CpuTransformer.init(ccfg, 21), train);
  const gpus = await Promise.all(
    PATHS.map((kernels) => GpuTrainer.create(ccfg, cpu.model.params, train, { readEvery: 20, kernels })),
  );
  try {
    const B = 3;
    const rows: [number, number][] = [];
    for (let s = 0; s < 20; s++) {
      const win = windows(B, 100 + s), lr = 1e-2 * Math.min(1, (s + 1) / 5);
      for (const gpu of gpus) {
        const g = await gpu.step(win, B, lr);
        assertEquals(g.read, s === 19, "the numbers come back on the 20th step only");
        assertEquals(gpu.counters.readbacks, s === 19 ? 1 : 0);
      }
      const c = cpu.step(win, B, lr), t = await ref.step(win, B, lr);
      rows.push([c.loss, t.loss]);
    }
    for (const [i, gpu] of gpus.entries()) {
      let worst = 0, worstTf = 0;
      const got = gpu.history;
      assertEquals(got.length, 20);
      for (let s = 0; s < 20; s++) {
        const [c, t] = rows[s], g = got[s].loss;
        worst = Math.max(worst, Math.abs(g - c) / c);
        worstTf = Math.max(worstTf, Math.abs(g - t) / t);
        assert(Math.abs(g - c) <= 1e-3 * c, `step ${s}: loss ${g} vs cpu ${c}`);
        assert(Math.abs(g - t) <= 1e-3 * t, `step ${s}: loss ${g} vs tfjs ${t}`);
      }
      assert(got[19].loss < got[0].loss - 0.1, "the loss went down");
      const w = await gpu.weights(), tw = await tfm.weights();
      let wd = 0;
      for (const p of cpu.model.layout) {
        close(w[p.name], cpu.model.w.byName[p.name], 1e-2, `${p.name} vs cpu`);
        close(w[p.name], tw[p.name], 1e-2, `${p.name} vs tfjs`);
        const d = w[p.name].reduce((a, v, i) => Math.max(a, Math.abs(v - cpu.model.w.byName[p.name][i])), 0);
        wd = Math.max(wd, d);
      }
      console.log(
        `  ${PATHS[i]}: losses ${got[0].loss.toFixed(4)} → ${
          got[19].loss.toFixed(4)
        }; worst relative diff vs cpu ${worst.toExponential(2)}, vs tfjs ${
          worstTf.toExponential(2)
        }; weights max |gpu − cpu| ${wd.toExponential(2)}`,
      );
    }
  } finally {
    for (const g of gpus) g.destroy();
    ref.dispose();
    tfm.dispose();
  }
});

Deno.test("GpuTrainer: one batch's loss and every gradient tensor equal CpuTrainer's; micro-batches add up", async () => {
  const m = CpuTransformer.init(ccfg, 5);
  const cpu = new CpuTrainer(m, opts);
  const whole = await GpuTrainer.create(ccfg, m.params, opts);
  const micro = await GpuTrainer.create(ccfg, m.params, { ...opts, microBatch: 2 });
  try {
    const win = windows(5, 9);
    const lc = cpu.gradients(win, 5), lg = await whole.gradients(win, 5), lm = await micro.gradients(win, 5);
    assert(Math.abs(lg - lc) <= 1e-5 * lc, `loss ${lg} vs ${lc}`);
    assert(Math.abs(lm - lc) <= 1e-5 * lc, `micro-batched loss ${lm} vs ${lc}`);
    const g = await whole.model.readGrads(), gm = await micro.model.readGrads();
    for (const p of m.layout) {
      const want = cpu.model.gradViews.byName[p.name];
      close(g.subarray(p.offset, p.offset + p.size), want, 1e-4, p.name);
      close(gm.subarray(p.offset, p.offset + p.size), want, 1e-4, `${p.name} (micro-batches)`);
    }
    // validation: the same mean loss, no update
    const ev = await micro.evaluate(win, 5), ec = cpu.evaluate(win, 5);
    assert(
      Math.abs(ev.loss - ec.loss) <= 1e-5 * ec.loss && ev.tokens === ec.tokens,
      `${ev.loss} vs ${ec.loss}`,
    );
    close(await micro.model.readParams(), m.params, 0, "evaluate and gradients leave the weights");
  } finally {
    whole.destroy();
    micro.destroy();
  }
});

Deno.test("GpuTrainer: ≤ 40 dispatches per layer in one command buffer, 0 readbacks on steps that do not log", async () => {
  const m = CpuTransformer.init(ccfg, 3);
  const tr = await GpuTrainer.create(ccfg, m.params, opts, { readEvery: 4 });
  try {
    const win = windows(2, 1);
    const reads: number[] = [];
    for (let s = 0; s < 8; s++) {
      const r = await tr.step(win, 2, 1e-3);
      reads.push(tr.counters.readbacks);
      assertEquals(r.read, (s + 1) % 4 === 0);
      assert(r.read ? Number.isFinite(r.loss) : Number.isNaN(r.loss));
    }
    assertEquals(reads, [0, 0, 0, 1, 0, 0, 0, 1]);
    const perStep = tr.counters.dispatches;
    // 9 forward + 14 backward per layer; embedding, final norm, head, loss, head backward ×2, norm, embedding
    // backward, gradient norm, AdamW
    assertEquals(perStep, 23 * ccfg.layers + 10);
    assert(perStep / ccfg.layers <= 40);
    await tr.step(win, 2, 1e-3);
    assertEquals((await tr.flush()).length, 1, "flush reads the pending step");
    assertEquals(tr.counters.readbacks, 0);
    assertEquals(tr.history.length, 9);
  } finally {
    tr.destroy();
  }
});

Deno.test("GpuTrainer: resuming from saved weights and AdamW state continues exactly", async () => {
  const m = CpuTransformer.init(ccfg, 8);
  const a = await GpuTrainer.create(ccfg, m.params, opts);
  let b: GpuTrainer | undefined;
  try {
    for (let s = 0; s < 3; s++) await a.step(windows(2, 50 + s), 2, 2e-3);
    const weights = await a.weights(), state = await a.optimizerState();
    assertEquals(state.step, 3);
    const r: GpuTrainer = b = await GpuTrainer.create(ccfg, m.params, opts);
    r.setWeights(weights);
    r.setOptimizerState(state);
    for (let s = 3; s < 6; s++) {
      const ra = await a.step(windows(2, 50 + s), 2, 2e-3), rb = await r.step(windows(2, 50 + s), 2, 2e-3);
      assertEquals(rb.loss, ra.loss);
      assertEquals(rb.gradNorm, ra.gradNorm);
    }
    close(await r.model.readParams(), await a.model.readParams(), 0, "weights after the resumed steps");
    // a step that only measures moves nothing
    const before = await a.model.readParams();
    await a.step(windows(2, 99), 2, 1e-2, { update: false, read: true });
    close(await a.model.readParams(), before, 0, "update: false");
    assertEquals(a.adamStep, 6);
  } finally {
    a.destroy();
    b?.destroy();
  }
});

Deno.test("GpuTrainer: a larger batch or sequence reallocates and rebuilds; steps before and after match CpuTrainer", async () => {
  const m = CpuTransformer.init(ccfg, 12);
  const gpu = await GpuTrainer.create(ccfg, m.params, opts);
  const cpu = new CpuTrainer(m, opts);
  try {
    for (const [B, T, seed] of [[2, 19, 1], [4, 19, 2], [2, 7, 3], [3, 25, 4], [2, 19, 5]]) {
      const win = windows(B, seed, T);
      const ev = await gpu.evaluate(win, B), ec = cpu.evaluate(win, B);
      assert(Math.abs(ev.loss - ec.loss) <= 1e-5 * ec.loss, `evaluate ${B}×${T}: ${ev.loss} vs ${ec.loss}`);
      const g = await gpu.step(win, B, 5e-3), c = cpu.step(win, B, 5e-3);
      assert(Math.abs(g.loss - c.loss) <= 1e-5 * c.loss, `step ${B}×${T}: ${g.loss} vs ${c.loss}`);
      assert(Math.abs(g.gradNorm - c.gradNorm) <= 1e-4 * c.gradNorm, `norm ${B}×${T}`);
    }
  } finally {
    gpu.destroy();
  }
});
