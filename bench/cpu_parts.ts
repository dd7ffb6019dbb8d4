/**
 * The bench parts for the CPU backend (lib/cpu through the system BLAS): read bandwidth and the decode limit it
 * implies, decode at batch 1 and 16 with a per-step breakdown, and training v8 at 8 × 256 (1 and 2 threads) and
 * 32 × 256 with a per-step breakdown. Without a BLAS every row is skipped with the reason (and how to install one).
 *
 * @module
 */
import type { BenchResult } from "../lib/util/table.ts";
import type { BenchPart, RowSpec } from "./parts.ts";
import type { CpuDecodeResult } from "./cpu_bench.ts";

function row(
  section: string,
  spec: RowSpec,
  value: number | null,
  extra: Partial<BenchResult> = {},
): BenchResult {
  return { id: spec.id, section, label: spec.label, unit: spec.unit, value, ...extra };
}

const cores = () => navigator.hardwareConcurrency || 1;
const f2 = (x: number) => x.toFixed(2);

/** The native BLAS, or the reason there is none. */
async function nativeBlas() {
  const { loadBlas } = await import("../lib/cpu/blas.ts");
  return loadBlas();
}

/**
 * `bandwidth.read`: read bandwidth over 256 MiB on every core (a TypeScript sum in workers, and BLAS `sgemv`), and
 * the batch-1 decode limit = the better read figure ÷ fp32 weight bytes.
 *
 * @example
 * ```ts ignore
 * import { readBandwidth } from "./cpu_parts.ts";
 * readBandwidth.rows(ctx).map((r) => r.id); // memory.read.deno, memory.read.blas, decode.limit.read.b1
 * ```
 */
export const readBandwidth: BenchPart = {
  id: "bandwidth.read",
  section: "memory",
  requires: ["bench/cpu_bench.ts", "lib/cpu/blas.ts"],
  rows: () => [
    {
      id: "memory.read.deno",
      label: "read bandwidth, Float32Array sum in workers (all cores)",
      unit: "GB/s",
    },
    {
      id: "memory.read.blas",
      label: "read bandwidth, BLAS sgemv over the buffer (all threads)",
      unit: "GB/s",
    },
    {
      id: "decode.limit.read.b1",
      label: "batch-1 decode limit = read bandwidth ÷ fp32 weight bytes",
      unit: "tokens/s",
    },
  ],
  timeoutS: () => 120,
  async run(ctx) {
    const [deno, viaBlas, limit] = this.rows(ctx);
    const { measureReadBandwidth, measureBlasReadBandwidth } = await import("./cpu_bench.ts");
    const mb = 256, reps = ctx.quick ? 3 : 7;
    const ts = await measureReadBandwidth(mb, reps, cores());
    const out = [
      row("memory", deno, ts.gbPerSecond, { note: `${mb} MiB, ${ts.threads} workers, best of ${reps}` }),
    ];
    let best = ts.gbPerSecond, from = "TS workers";
    const { blas, reason } = await nativeBlas();
    if (blas) {
      blas.setThreads(cores());
      const b = measureBlasReadBandwidth(blas, mb, reps);
      out.push(
        row("memory", viaBlas, b.gbPerSecond, { note: `${mb} MiB, ${b.threads} threads, ${blas.name}` }),
      );
      if (b.gbPerSecond > best) [best, from] = [b.gbPerSecond, "BLAS sgemv"];
    } else out.push(row("memory", viaBlas, null, { skipped: reason }));
    out.push(row("decode", limit, best * 1e9 / ctx.weightBytes, {
      note: `${(ctx.weightBytes / 1e6).toFixed(1)} MB at ${best.toFixed(1)} GB/s (${from})`,
    }));
    return out;
  },
};

const DECODE_PARTS = ["gemv", "attention", "norms", "elementwise", "sampling", "js"] as const;
const WEIGHTS = ["bf16", "int8"] as const;
const SMALL_BATCHES = [2, 4] as const;

/**
 * `decode.cpu`: the CPU backend's KV-cache decode of the v8 checkpoint at batch 1, 2, 4 and 16 (sampling included; 2
 * and 4 rows run as one GEMV per row, 16 as a GEMM: lib/cpu/decode.ts `GEMV_ROWS`), in f32
 * (BLAS) and with bf16 / int8 weights (WASM SIMD) with their logit error vs f32, and where a batch-1 step's
 * milliseconds go.
 *
 * @example
 * ```ts ignore
 * import { decodeCpu } from "./cpu_parts.ts";
 * decodeCpu.rows(ctx).map((r) => r.id); // decode.cpu.b1, decode.cpu.b16, decode.cpu.b1.bf16, …
 * ```
 */
export const decodeCpu: BenchPart = {
  id: "decode.cpu",
  section: "decode",
  requires: ["bench/cpu_bench.ts", "lib/cpu/decode.ts", "lib/cpu/model.ts"],
  rows: () => [
    { id: "decode.cpu.b1", label: "CPU backend (BLAS), KV cache, batch 1", unit: "tokens/s" },
    { id: "decode.cpu.b16", label: "CPU backend (BLAS), KV cache, batch 16", unit: "tokens/s" },
    ...SMALL_BATCHES.map((b) => ({
      id: `decode.cpu.b${b}`,
      label: `CPU backend (BLAS), KV cache, batch ${b} (a GEMV per row)`,
      unit: "tokens/s",
    })),
    {
      id: "decode.cpu.b16.ceiling",
      label: "CPU backend b16 ÷ b1 ceiling: 16 b1 steps ÷ the b16 step's products + attention alone",
      unit: "×",
    },
    ...WEIGHTS.flatMap((w) => [
      { id: `decode.cpu.b1.${w}`, label: `CPU backend, ${w} weights (WASM SIMD), batch 1`, unit: "tokens/s" },
      {
        id: `decode.cpu.b16.${w}`,
        label: `CPU backend, ${w} weights (WASM SIMD), batch 16`,
        unit: "tokens/s",
      },
      {
        id: `decode.cpu.${w}.error`,
        label: `CPU backend, ${w} weights: max |logit − f32 logit| ÷ logit range (64 positions)`,
        unit: "ratio",
      },
    ]),
    ...DECODE_PARTS.map((p) => ({
      id: `decode.cpu.b1.${p}`,
      label: `CPU backend batch-1 step: ${
        {
          gemv: "weight GEMVs",
          attention: "attention over the cache",
          norms: "RMSNorms",
          elementwise: "embedding + SwiGLU",
          sampling: "sampling (top-p)",
          js: "JS between parts",
        }[p]
      }`,
      unit: "ms",
    })),
  ],
  timeoutS: (ctx) => (ctx.quick ? 150 : 480),
  async run(ctx) {
    const specs = this.rows(ctx);
    const { blas, reason } = await nativeBlas();
    if (!blas) return specs.map((s) => row("decode", s, null, { skipped: reason }));
    blas.setThreads(cores());
    const { CpuTransformer } = await import("../lib/cpu/model.ts");
    const { cpuDecodeThroughput, weightError } = await import("./cpu_bench.ts");
    const m = await CpuTransformer.load(ctx.ckptDir, blas);
    const out: BenchResult[] = [];
    // f32, bf16 and int8 measured in turns (best of `reps` each): a shared machine's load drifts between them alike
    const reps = ctx.quick ? 1 : 3, best: Record<string, CpuDecodeResult> = {};
    const keep = (k: string, r: CpuDecodeResult) => {
      if (!best[k] || r.tokensPerSecond > best[k].tokensPerSecond) best[k] = r;
    };
    for (let rep = 0; rep < reps; rep++) {
      for (const w of ["f32", ...WEIGHTS] as const) {
        keep(
          `${w}.b1`,
          cpuDecodeThroughput(m, { batch: 1, steps: ctx.quick ? 32 : 128, reps: 1, weights: w }),
        );
        keep(
          `${w}.b16`,
          cpuDecodeThroughput(m, { batch: 16, steps: ctx.quick ? 8 : 32, reps: 1, weights: w }),
        );
      }
      for (const b of SMALL_BATCHES) {
        keep(`f32.b${b}`, cpuDecodeThroughput(m, { batch: b, steps: ctx.quick ? 16 : 64, reps: 1 }));
      }
    }
    const b1 = best["f32.b1"], b16 = best["f32.b16"];
    const threads = `${blas.getThreads()} BLAS threads`;
    const parts = (r: CpuDecodeResult) => DECODE_PARTS.map((p) => `${p} ${f2(r.breakdown[p])}`).join(", ");
    out.push(row("decode", specs[0], b1.tokensPerSecond, {
      note: `${f2(b1.msPerStep)} ms/step, ${threads}, best of ${reps}`,
    }));
    out.push(row("decode", specs[1], b16.tokensPerSecond, {
      note: `${f2(b16.msPerStep)} ms/step (${parts(b16)} ms), ${threads}`,
    }));
    const byId = (id: string) => specs.find((s) => s.id === id)!;
    for (const b of SMALL_BATCHES) {
      const r = best[`f32.b${b}`];
      out.push(row("decode", byId(`decode.cpu.b${b}`), r.tokensPerSecond, {
        note: `${f2(r.msPerStep)} ms/step (${f2(r.msPerStep / b1.msPerStep)}× the batch-1 step), ${threads}`,
      }));
    }
    // what batch 16 could reach over batch 1 if its norms, SwiGLU, sampling and JS cost nothing: the weight GEMMs
    // (each weight read from memory, then multiplied by 16 rows) and the attention (16 rows' own KV caches read)
    // bound it
    const floor = b16.breakdown.gemv + b16.breakdown.attention;
    out.push(row("decode", byId("decode.cpu.b16.ceiling"), (16 * b1.msPerStep) / floor, {
      note: `16 × ${f2(b1.msPerStep)} ms ÷ (${f2(b16.breakdown.gemv)} GEMM + ${
        f2(b16.breakdown.attention)
      } attention ms); measured ${f2(b16.tokensPerSecond / b1.tokensPerSecond)}×`,
    }));
    for (const w of WEIGHTS) {
      const q1 = best[`${w}.b1`], q16 = best[`${w}.b16`];
      out.push(row("decode", byId(`decode.cpu.b1.${w}`), q1.tokensPerSecond, {
        note: `${f2(q1.tokensPerSecond / b1.tokensPerSecond)}× f32 (${parts(q1)} ms), 1 thread`,
      }));
      out.push(row("decode", byId(`decode.cpu.b16.${w}`), q16.tokensPerSecond, {
        note: `${f2(q16.tokensPerSecond / b16.tokensPerSecond)}× f32 b16, ${f2(q16.msPerStep)} ms/step`,
      }));
      const e = weightError(m, w, 64);
      out.push(row("decode", byId(`decode.cpu.${w}.error`), e.maxAbs / e.range, {
        note: `max |Δ| ${e.maxAbs.toFixed(4)} of range ${e.range.toFixed(2)}, rms ${
          e.rms.toExponential(2)
        } of the logits', argmax ${e.agree}/${e.positions} (random-weight v8: near-ties)`,
      }));
    }
    DECODE_PARTS.forEach((p) => out.push(row("decode", byId(`decode.cpu.b1.${p}`), b1.breakdown[p])));
    return out;
  },
};

const TRAIN_PARTS = ["forwardGemm", "backwardGemm", "elementwise", "adamw"] as const;

/**
 * `train.cpu`: training the v8 checkpoint on the CPU backend at 8 × 256 with 1 and 2 BLAS threads (and the better of
 * the two, for the PyTorch comparison) and at 32 × 256 on every core, with the best 8 × 256 step's breakdown.
 *
 * @example
 * ```ts ignore
 * import { trainCpu } from "./cpu_parts.ts";
 * trainCpu.rows(ctx).map((r) => r.id); // train.cpu.t1, train.cpu.t2, train.cpu.best, train.cpu.b32, …
 * ```
 */
export const trainCpu: BenchPart = {
  id: "train.cpu",
  section: "train",
  requires: ["bench/cpu_bench.ts", "lib/cpu/train.ts", "lib/cpu/model.ts"],
  rows: () => [
    { id: "train.cpu.t1", label: "CPU backend (BLAS), seq 256 × batch 8, 1 thread", unit: "tokens/s" },
    { id: "train.cpu.t2", label: "CPU backend (BLAS), seq 256 × batch 8, 2 threads", unit: "tokens/s" },
    {
      id: "train.cpu.best",
      label: "CPU backend, seq 256 × batch 8, best of 1 and 2 threads",
      unit: "tokens/s",
    },
    { id: "train.cpu.b32", label: "CPU backend (BLAS), seq 256 × batch 32, all cores", unit: "tokens/s" },
    ...TRAIN_PARTS.map((p) => ({
      id: `train.cpu.${p}`,
      label: `CPU backend 8 × 256 step: ${
        {
          forwardGemm: "forward GEMM",
          backwardGemm: "backward GEMM",
          elementwise: "elementwise (norms, RoPE, softmax, SwiGLU, loss)",
          adamw: "clip + AdamW",
        }[p]
      }`,
      unit: "ms",
    })),
  ],
  timeoutS: (ctx) => (ctx.quick ? 200 : 600),
  async run(ctx) {
    const specs = this.rows(ctx);
    const { blas, reason } = await nativeBlas();
    if (!blas) return specs.map((s) => row("train", s, null, { skipped: reason }));
    const { CpuTransformer } = await import("../lib/cpu/model.ts");
    const { cpuTrainThroughput } = await import("./cpu_bench.ts");
    const m = await CpuTransformer.load(ctx.ckptDir, blas);
    const steps = ctx.quick ? 1 : 3;
    const note = (r: { msPerStep: number; gflops: number }, t: number) =>
      `${(r.msPerStep / 1000).toFixed(2)} s/step (best of ${steps} after a warm-up), ${t} thread(s), BLAS ${
        r.gflops.toFixed(0)
      } GFLOP/s`;
    const out: BenchResult[] = [];
    const at = (threads: number, batch: number) => {
      blas.setThreads(threads);
      return cpuTrainThroughput(m.config, m.params, blas, { batch, seq: 256, steps });
    };
    const t1 = at(1, 8), t2 = at(2, 8);
    out.push(row("train", specs[0], t1.tokensPerSecond, { note: note(t1, 1) }));
    out.push(row("train", specs[1], t2.tokensPerSecond, { note: note(t2, 2) }));
    const best = t2.tokensPerSecond > t1.tokensPerSecond ? t2 : t1;
    out.push(row("train", specs[2], best.tokensPerSecond, { note: best === t1 ? "1 thread" : "2 threads" }));
    if (ctx.quick) {
      out.push(row("train", specs[3], null, { skipped: "--quick: 32 × 256 takes ≈ 30 s a step" }));
    } else {
      const b32 = at(cores(), 32);
      out.push(row("train", specs[3], b32.tokensPerSecond, { note: note(b32, cores()) }));
    }
    TRAIN_PARTS.forEach((p, i) =>
      out.push(
        row("train", specs[4 + i], best.breakdown[p], { note: i === 0 ? `of ${f2(best.msPerStep)} ms` : "" }),
      )
    );
    return out;
  },
};
