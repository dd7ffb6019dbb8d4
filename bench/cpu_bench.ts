/**
 * The CPU backend (lib/cpu: the Transformer with its matrix products in the system BLAS) measured on the bench's v8
 * checkpoint: read bandwidth (the real decode ceiling: a decode step reads every weight once and writes almost
 * nothing), decode tokens/s with a per-step breakdown, and training tokens/s with a per-step breakdown.
 *
 * @module
 */
import { type Blas, profileBlas } from "../lib/cpu/blas.ts";
import { type LogitError, logitError } from "../lib/cpu/logit_error.ts";
import { CpuDecoder } from "../lib/cpu/decode.ts";
import type { WeightFormat } from "../lib/cpu/qgemv.ts";
import { gradNorm } from "../lib/cpu/loss.ts";
import { CpuTransformer } from "../lib/cpu/model.ts";
import type { CpuModelConfig } from "../lib/cpu/layout.ts";
import { CpuTrainer } from "../lib/cpu/train.ts";
import { sampleFast } from "../lib/infer/sample_fast.ts";

/** A read-bandwidth measurement. */
export interface ReadBandwidth {
  /** Bytes read per pass. */
  bytes: number;
  /** Best pass (seconds). */
  seconds: number;
  /** Bytes read per second ÷ 1e9. */
  gbPerSecond: number;
  /** Threads that read. */
  threads: number;
}

// a worker summing its share of a shared Float32Array (4 running sums: the loop is load-bound, not add-bound)
const READ_WORKER = `
self.onmessage = (e) => {
  const { buf, start, end } = e.data;
  const a = new Float32Array(buf);
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (let i = start; i < end; i += 4) { s0 += a[i]; s1 += a[i + 1]; s2 += a[i + 2]; s3 += a[i + 3]; }
  self.postMessage(s0 + s1 + s2 + s3);
};`;

/**
 * Read bandwidth of a sum over a `mb` MiB `Float32Array` (in shared memory), split between `threads` workers; best of
 * `reps` passes. Only reads are counted (a decode step's weight traffic).
 *
 * @example
 * ```ts ignore
 * import { measureReadBandwidth } from "./cpu_bench.ts";
 * const { gbPerSecond } = await measureReadBandwidth(256, 5, navigator.hardwareConcurrency);
 * ```
 */
export async function measureReadBandwidth(mb = 256, reps = 5, threads = 2): Promise<ReadBandwidth> {
  const n = (mb * 1024 * 1024) / 4;
  const buf = new SharedArrayBuffer(n * 4);
  new Float32Array(buf).fill(1); // touch every page
  const url = URL.createObjectURL(new Blob([READ_WORKER], { type: "application/javascript" }));
  const workers = Array.from({ length: threads }, () => new Worker(url, { type: "module" }));
  const pass = () =>
    Promise.all(workers.map((w, i) =>
      new Promise<number>((resolve) => {
        w.onmessage = (e) => resolve(e.data as number);
        const per = Math.ceil(n / threads / 4) * 4;
        w.postMessage({ buf, start: i * per, end: Math.min(n, (i + 1) * per) });
      })
    ));
  try {
    await pass(); // compile the loop
    let best = Infinity;
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      const sums = await pass();
      best = Math.min(best, (performance.now() - t0) / 1000);
      if (sums.reduce((a, b) => a + b, 0) !== n) throw new Error("read check failed");
    }
    return { bytes: n * 4, seconds: best, gbPerSecond: (n * 4) / best / 1e9, threads };
  } finally {
    for (const w of workers) w.terminate();
    URL.revokeObjectURL(url);
  }
}

/**
 * Read bandwidth through the BLAS: `sgemv` of a `mb` MiB matrix [rows, 1024] with a vector (every matrix element
 * read once, on the library's threads), best of `reps`.
 *
 * @example
 * ```ts ignore
 * import { getBlas } from "../lib/cpu/blas.ts";
 * import { measureBlasReadBandwidth } from "./cpu_bench.ts";
 * const { gbPerSecond } = measureBlasReadBandwidth(getBlas(), 256, 5);
 * ```
 */
export function measureBlasReadBandwidth(blas: Blas, mb = 256, reps = 5): ReadBandwidth {
  const cols = 1024, rows = (mb * 1024 * 1024) / 4 / cols;
  const a = new Float32Array(rows * cols).fill(0.5), x = new Float32Array(cols).fill(1);
  const y = new Float32Array(rows);
  blas.sgemv(false, rows, cols, 1, a, cols, x, 0, y);
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    blas.sgemv(false, rows, cols, 1, a, cols, x, 0, y);
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  if (y[rows - 1] !== 512) throw new Error("sgemv check failed");
  return {
    bytes: a.byteLength,
    seconds: best,
    gbPerSecond: a.byteLength / best / 1e9,
    threads: blas.getThreads(),
  };
}

/** Milliseconds per decode step, by part. */
export interface DecodeBreakdown {
  /** Weight products (GEMV at batch 1, GEMM above). */
  gemv: number;
  /** Attention over the KV cache (RoPE, cache writes, scores, softmax, weighted sum). */
  attention: number;
  /** RMSNorms. */
  norms: number;
  /** Embedding and SwiGLU. */
  elementwise: number;
  /** Sampling each row's token from its logits (the fast sampler, `sampleFast`: temperature, top-k, top-p). */
  sampling: number;
  /** The rest: JS between the parts, the loop, the profiler. */
  js: number;
}

/** A decode measurement. */
export interface CpuDecodeResult {
  /** Tokens per second over all rows. */
  tokensPerSecond: number;
  /** Milliseconds per step (batch rows each). */
  msPerStep: number;
  /** Where a step's time goes. */
  breakdown: DecodeBreakdown;
}

/**
 * Decodes `steps` tokens in each of `batch` KV-cache slots after a `prompt`-token prefill, sampling every row's next
 * token from its logits as generation does; best of `reps` runs.
 *
 * @example
 * ```ts ignore
 * import { CpuTransformer } from "../lib/cpu/model.ts";
 * import { cpuDecodeThroughput } from "./cpu_bench.ts";
 * const m = await CpuTransformer.load("bench/.cache/v8-random");
 * const r = cpuDecodeThroughput(m, { batch: 1, steps: 128 });
 * ```
 */
export function cpuDecodeThroughput(
  m: CpuTransformer,
  o: {
    batch: number;
    steps: number;
    prompt?: number;
    reps?: number;
    weights?: WeightFormat;
    threads?: number;
  },
): CpuDecodeResult {
  const prompt = o.prompt ?? 16, V = m.config.vocabSize;
  const params = { temperature: 1, topK: 0, topP: 0.95, seed: 1 };
  let best: CpuDecodeResult | undefined;
  for (let rep = 0; rep < (o.reps ?? 2); rep++) {
    const dec = new CpuDecoder(m, { maxBatch: o.batch, weights: o.weights, threads: o.threads });
    const ids = Array.from({ length: prompt }, (_, i) => 4 + ((i * 37) % (V - 4)));
    for (let s = 0; s < o.batch; s++) dec.prefill(ids, { seq: s });
    const toks = new Int32Array(o.batch).fill(7);
    for (let i = 0; i < 2; i++) dec.step(toks);
    const p = dec.resetProfile();
    let sampling = 0;
    const t0 = performance.now();
    for (let i = 0; i < o.steps; i++) {
      const logits = dec.step(toks);
      const ts = performance.now();
      for (let b = 0; b < o.batch; b++) {
        toks[b] = sampleFast(logits.subarray(b * V, (b + 1) * V), params, b, i).token;
      }
      sampling += performance.now() - ts;
    }
    const ms = (performance.now() - t0) / o.steps, n = p.steps;
    const part = {
      gemv: p.gemv / n,
      attention: p.attention / n,
      norms: p.norms / n,
      elementwise: p.elementwise / n,
    };
    const r: CpuDecodeResult = {
      tokensPerSecond: (o.batch * 1000) / ms,
      msPerStep: ms,
      breakdown: {
        ...part,
        sampling: sampling / o.steps,
        js: ms - sampling / o.steps - (part.gemv + part.attention + part.norms + part.elementwise),
      },
    };
    dec.dispose();
    if (!best || r.tokensPerSecond > best.tokensPerSecond) best = r;
  }
  return best!;
}

/** Logit error of reduced-precision weights against f32. */
/** The logit error of reduced-precision weights against f32 (lib/cpu/logit_error.ts). */
export type WeightError = LogitError;

/**
 * Logits of `weights` against f32 over the f32 model's greedy continuation of BOS (`positions` tokens, one prefill
 * each).
 *
 * @example
 * ```ts ignore
 * import { CpuTransformer } from "../lib/cpu/model.ts";
 * import { weightError } from "./cpu_bench.ts";
 * const e = weightError(await CpuTransformer.load("models/default"), "int8", 64); // e.maxAbs / e.range ≈ 5e-3
 * ```
 */
export function weightError(m: CpuTransformer, weights: WeightFormat, positions: number): WeightError {
  const V = m.config.vocabSize, f32 = new CpuDecoder(m), ids = [1];
  let lg = f32.prefill(ids);
  while (ids.length < positions) {
    let am = 0;
    for (let v = 1; v < V; v++) if (lg[v] > lg[am]) am = v;
    ids.push(am);
    lg = f32.step([am]);
  }
  const ref = f32.prefill(ids, { allRows: true }).slice();
  const dec = new CpuDecoder(m, { weights });
  const got = dec.prefill(ids, { allRows: true });
  const e = logitError(ref, got, V);
  dec.dispose();
  return e;
}

/** Milliseconds per training step, by part. */
export interface TrainBreakdown {
  /** Forward matrix products (BLAS sgemm). */
  forwardGemm: number;
  /** Backward matrix products (BLAS sgemm). */
  backwardGemm: number;
  /** Everything else in forward and backward: RMSNorm, RoPE, attention softmax, SwiGLU, cross-entropy (JS). */
  elementwise: number;
  /** Gradient norm, clipping and the AdamW update. */
  adamw: number;
}

/** A training measurement. */
export interface CpuTrainResult {
  /** Input tokens per second of the best step. */
  tokensPerSecond: number;
  /** Milliseconds of the best step. */
  msPerStep: number;
  /** Where the best step's time goes. */
  breakdown: TrainBreakdown;
  /** BLAS GFLOP/s over the measured steps. */
  gflops: number;
}

/**
 * Training steps (forward, backward, clip, AdamW: lib/cpu's `CpuTrainer` split into its parts) of `batch` × `seq`
 * windows on a copy of `weights`, after one warm-up step; the best of `steps`.
 *
 * @example
 * ```ts ignore
 * import { getBlas } from "../lib/cpu/blas.ts";
 * import { CpuTransformer } from "../lib/cpu/model.ts";
 * import { cpuTrainThroughput } from "./cpu_bench.ts";
 * const m = await CpuTransformer.load("bench/.cache/v8-random");
 * const r = cpuTrainThroughput(m.config, m.params, getBlas(), { batch: 8, seq: 256, steps: 2 });
 * ```
 */
export function cpuTrainThroughput(
  config: CpuModelConfig,
  weights: Float32Array,
  inner: Blas,
  o: { batch: number; seq: number; steps: number },
): CpuTrainResult {
  const { blas, profile } = profileBlas(inner);
  const m = new CpuTransformer(config, weights.slice(), blas);
  const tr = new CpuTrainer(m, {
    beta1: 0.9,
    beta2: 0.95,
    adamEps: 1e-8,
    weightDecay: 0.1,
    clip: 1,
    microBatch: 0,
  });
  const { batch, seq: T } = o, V = config.vocabSize;
  const win = Int32Array.from({ length: batch * (T + 1) }, (_, i) => 4 + ((i * 7919) % (V - 4)));
  const x = new Int32Array(batch * T), y = new Int32Array(batch * T);
  for (let b = 0; b < batch; b++) {
    x.set(win.subarray(b * (T + 1), b * (T + 1) + T), b * T);
    y.set(win.subarray(b * (T + 1) + 1, (b + 1) * (T + 1)), b * T);
  }
  tr.step(win, batch, 1e-4); // warm-up: activations and gradients allocated
  let best: CpuTrainResult | undefined;
  const g0 = profile.gemmMs, f0 = profile.flops;
  for (let s = 0; s < o.steps; s++) {
    const t0 = performance.now(), b0 = profile.gemmMs;
    m.zeroGrad();
    m.loss(x, y, batch, T);
    const b1 = profile.gemmMs;
    m.backward();
    const t2 = performance.now(), b2 = profile.gemmMs;
    const norm = gradNorm(m.grads);
    tr.optimizer.apply(m.params, m.grads, 1e-4, norm > 1 ? 1 / (norm + 1e-6) : 1);
    const t3 = performance.now();
    const ms = t3 - t0;
    if (!best || ms < best.msPerStep) {
      best = {
        tokensPerSecond: (batch * T * 1000) / ms,
        msPerStep: ms,
        breakdown: {
          forwardGemm: b1 - b0,
          backwardGemm: b2 - b1,
          elementwise: (t2 - t0) - (b2 - b0),
          adamw: t3 - t2,
        },
        gflops: 0,
      };
    }
  }
  m.release();
  best!.gflops = (profile.flops - f0) / ((profile.gemmMs - g0) / 1000) / 1e9;
  return best!;
}
