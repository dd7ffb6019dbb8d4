/**
 * CPU backend speed on the v8 shape (random weights): decode tokens/s at batch 1 and 16 with a time breakdown, and
 * training-step tokens/s. Printed, never asserted. `deno run -A tests/cpu/_speed.ts [decode|train|all] [threads…]`
 * for the full measurement; tests/cpu/speed_test.ts runs a short decode print.
 */
import { type Blas, getBlas, profileBlas } from "../../lib/cpu/blas.ts";
import { CpuDecoder } from "../../lib/cpu/decode.ts";
import { type CpuModelConfig, CpuTransformer } from "../../lib/cpu/model.ts";
import { gradNorm } from "../../lib/cpu/loss.ts";
import { CpuTrainer } from "../../lib/cpu/train.ts";

/** The v8 preset's shape (34,087,424 parameters). */
export const V8: CpuModelConfig = {
  vocabSize: 1024,
  dim: 512,
  layers: 8,
  heads: 8,
  ffn: 2048,
  maxPositions: 512,
  ropeTheta: 10000,
  normEps: 1e-5,
};

const f1 = (x: number) => x.toFixed(1), f2 = (x: number) => x.toFixed(2);

/** Decode `steps` tokens after a `prompt`-token prefill in each of `batch` slots; returns a report line. */
export function decodeSpeed(
  m: CpuTransformer,
  batch: number,
  steps: number,
  prompt = 16,
  layout: "out-in" | "in-out" = "in-out",
): string {
  const dec = new CpuDecoder(m, { maxBatch: batch, layout });
  const ids = Array.from({ length: prompt }, (_, i) => 4 + ((i * 37) % 1000));
  for (let s = 0; s < batch; s++) dec.prefill(ids, { seq: s });
  const toks = new Int32Array(batch).fill(7);
  for (let i = 0; i < 3; i++) dec.step(toks);
  const p = dec.resetProfile();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) dec.step(toks);
  const ms = (performance.now() - t0) / steps, n = p.steps;
  const outside = ms - p.total / n; // the caller's loop and the profiler's own cost
  return `${layout} batch ${batch}: ${f1((batch * 1000) / ms)} tokens/s (${f2(ms)} ms/step at positions ${
    prompt + 3
  }…${prompt + 3 + steps}; weight GEMV/GEMM ${f2(p.gemv / n)}, attention ${f2(p.attention / n)}, norms ${
    f2(p.norms / n)
  }, ` +
    `SwiGLU+embed ${f2(p.elementwise / n)}, outside step() ${f2(outside)})`;
}

/** The weight products of one batch-1 token alone, in both layouts (the floor the decoder sits on). */
export function gemvFloor(m: CpuTransformer, reps = 30): string {
  const c = m.config, d = c.dim, f = c.ffn, blas = m.blas, x = new Float32Array(f).fill(0.01);
  const y = new Float32Array(2 * f);
  const mats: [Float32Array, number, number][] = [];
  for (const L of m.w.layers) mats.push([L.qkv, 3 * d, d], [L.o, d, d], [L.gu, 2 * f, d], [L.down, d, f]);
  mats.push([m.w.embed, c.vocabSize, d]);
  const tr = mats.map(([w, o, i]) => {
    const t = new Float32Array(w.length);
    for (let r = 0; r < o; r++) for (let k = 0; k < i; k++) t[k * o + r] = w[r * i + k];
    return t;
  });
  const outIn = () => mats.forEach(([w, o, i]) => blas.sgemv(false, o, i, 1, w, i, x, 0, y));
  const inOut = () => mats.forEach(([_, o, i], k) => blas.sgemv(true, i, o, 1, tr[k], o, x, 0, y));
  const best = { outIn: Infinity, inOut: Infinity };
  for (let r = 0; r < reps; r++) {
    let t = performance.now();
    outIn();
    best.outIn = Math.min(best.outIn, performance.now() - t);
    t = performance.now();
    inOut();
    best.inOut = Math.min(best.inOut, performance.now() - t);
  }
  const line = (ms: number) =>
    `${f2(ms)} ms/token = ${f1(1000 / ms)} tokens/s-equivalent, ${f1((m.size * 4) / ms / 1e6)} GB/s`;
  return `weight GEMVs alone (best of ${reps}): in-out ${line(best.inOut)}; out-in ${line(best.outIn)}`;
}

/** How busy the machine is: sgemm 2048×2048×512 GFLOP/s with the BLAS's current threads (quiet box: ≈ 100 on 1). */
export function calibrate(blas: Blas): string {
  const M = 2048,
    N = 2048,
    K = 512,
    a = new Float32Array(M * K).fill(0.5),
    b = new Float32Array(K * N).fill(0.25);
  const c = new Float32Array(M * N);
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    blas.sgemm(false, false, M, N, K, 1, a, K, b, N, 0, c, N);
    best = Math.min(best, performance.now() - t);
  }
  return `calibration: sgemm 2048×2048×512 at ${f1((2 * M * N * K) / best / 1e6)} GFLOP/s (best of 5)`;
}

/** Training steps (forward + backward + clip + AdamW) of `batch` × `T`; returns a report line with a breakdown. */
export function trainSpeed(
  cfg: CpuModelConfig,
  batch: number,
  T: number,
  steps: number,
  inner: Blas,
): string {
  const { blas, profile } = profileBlas(inner);
  const m = CpuTransformer.init(cfg, 1, blas);
  const tr = new CpuTrainer(m, {
    beta1: 0.9,
    beta2: 0.95,
    adamEps: 1e-8,
    weightDecay: 0.1,
    clip: 1,
    microBatch: 0,
  });
  const win = Int32Array.from({ length: batch * (T + 1) }, (_, i) => 4 + ((i * 7919) % (cfg.vocabSize - 4)));
  const x = new Int32Array(batch * T), y = new Int32Array(batch * T);
  for (let b = 0; b < batch; b++) {
    x.set(win.subarray(b * (T + 1), b * (T + 1) + T), b * T);
    y.set(win.subarray(b * (T + 1) + 1, (b + 1) * (T + 1)), b * T);
  }
  tr.step(win, batch, 1e-4); // warm-up (allocations)
  const acc = { fwd: 0, bwd: 0, opt: 0, fwdBlas: 0, bwdBlas: 0, total: 0 };
  const best = { total: Infinity };
  for (let s = 0; s < steps; s++) {
    const t0 = performance.now(), b0 = profile.gemmMs;
    m.zeroGrad();
    m.loss(x, y, batch, T);
    const t1 = performance.now(), b1 = profile.gemmMs;
    m.backward();
    const t2 = performance.now(), b2 = profile.gemmMs;
    const norm = gradNorm(m.grads);
    tr.optimizer.apply(m.params, m.grads, 1e-4, norm > 1 ? 1 / (norm + 1e-6) : 1);
    const t3 = performance.now();
    acc.fwd += t1 - t0;
    acc.bwd += t2 - t1;
    acc.opt += t3 - t2;
    acc.fwdBlas += b1 - b0;
    acc.bwdBlas += b2 - b1;
    acc.total += t3 - t0;
    best.total = Math.min(best.total, t3 - t0);
  }
  const n = steps, tok = batch * T;
  m.release();
  return `train ${batch}×${T}: ${f1(tok / (acc.total / n / 1000))} tokens/s mean, ${
    f1(tok / (best.total / 1000))
  } best (${f1(acc.total / n)} ms/step: forward ${f1(acc.fwd / n)} [BLAS ${f1(acc.fwdBlas / n)}], backward ${
    f1(acc.bwd / n)
  } [BLAS ${f1(acc.bwdBlas / n)}], clip+AdamW ${f1(acc.opt / n)}; BLAS ${
    f1(profile.flops / (profile.gemmMs / 1000) / 1e9)
  } GFLOP/s)`;
}

if (import.meta.main) {
  const what = Deno.args[0] ?? "all";
  const threads = Deno.args.slice(1).map(Number);
  const blas = getBlas();
  console.log(`BLAS: ${blas.name} (${blas.kind}), default threads ${blas.getThreads()}`);
  const m = what === "train" ? null : CpuTransformer.init(V8, 1);
  for (const th of threads.length ? threads : [1, 2]) {
    blas.setThreads(th);
    console.log(`threads ${th}: ${calibrate(blas)}`);
    if (m) {
      console.log(`threads ${th}: ${gemvFloor(m)}`);
      for (const layout of ["in-out", "out-in"] as const) {
        for (let r = 0; r < 3; r++) console.log(`threads ${th}: ${decodeSpeed(m, 1, 128, 16, layout)}`);
        for (let r = 0; r < 2; r++) console.log(`threads ${th}: ${decodeSpeed(m, 16, 16, 16, layout)}`);
      }
    }
    if (what !== "decode") console.log(`threads ${th}: ${trainSpeed(V8, 8, 256, 3, blas)}`);
  }
}
