/**
 * Training throughput (tokens/s) of etude's own WGSL kernels (lib/gpu `GpuTrainer`, `deno task train --backend
 * gpu`) for a checkpoint's shape on random windows, with the dispatches and readbacks a step costs. The first step
 * (pipeline compiles, allocations) is excluded from the timing; the timed steps read the loss back only at the end
 * (what a run that logs every N steps pays), so the time covers the GPU's work to the last step.
 *
 * @module
 */
import { CpuTransformer } from "../lib/cpu/model.ts";
import { getPreset } from "../lib/model/config.ts";
import type { TrainKernelPath } from "../lib/gpu/kernels.ts";
import { GpuTrainer } from "../lib/gpu/train.ts";

/** Options for {@link gpuTrainThroughput}. */
export interface GpuTrainBenchOptions {
  batch: number;
  seq: number;
  /** Timed steps after one warm-up step. */
  steps: number;
  /** Rows per forward/backward (0: the whole batch). */
  microBatch?: number;
  /** Kernel path (default: chosen for the adapter). */
  kernels?: TrainKernelPath;
  seed?: number;
}

/** Result of {@link gpuTrainThroughput}. */
export interface GpuTrainBenchResult {
  adapter: string;
  tokensPerSecond: number;
  secondsPerStep: number;
  warmupSeconds: number;
  /** Compute dispatches in one step (one command buffer). */
  dispatchesPerStep: number;
  layers: number;
  /** Readbacks of a timed step that does not log (should be 0). */
  readbacksQuietStep: number;
  loss: number;
}

/**
 * Loads `ckptDir` onto the GPU and times `steps` optimizer steps of `batch × seq` tokens.
 *
 * @example
 * ```ts ignore
 * import { gpuTrainThroughput } from "./gpu_train_bench.ts";
 * const r = await gpuTrainThroughput("/tmp/v8", { batch: 1, seq: 64, steps: 2 });
 * ```
 */
export async function gpuTrainThroughput(
  ckptDir: string,
  o: GpuTrainBenchOptions,
): Promise<GpuTrainBenchResult> {
  const cpu = await CpuTransformer.load(ckptDir);
  const vocab = cpu.config.vocabSize;
  const train = { ...getPreset("v8").train, microBatch: o.microBatch ?? 0 };
  const trainer = await GpuTrainer.create(cpu.config, cpu.params, train, {
    readEvery: Math.max(1, o.steps),
    kernels: o.kernels,
  });
  let s = (o.seed ?? 1) >>> 0;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const windows = () => new Int32Array(o.batch * (o.seq + 1)).map(() => 4 + Math.floor(rand() * (vocab - 4)));
  try {
    const t0 = performance.now();
    await trainer.step(windows(), o.batch, 3e-4, { read: true });
    const warmupSeconds = (performance.now() - t0) / 1000;
    const batches = Array.from({ length: o.steps }, windows);
    let quiet = -1, loss = NaN;
    const t1 = performance.now();
    for (const [i, w] of batches.entries()) {
      const r = await trainer.step(w, o.batch, 3e-4);
      if (i === 0 && !r.read) quiet = trainer.counters.readbacks;
      if (r.read) loss = r.loss;
    }
    const seconds = (performance.now() - t1) / 1000;
    return {
      adapter: trainer.model.gpu.adapter,
      tokensPerSecond: (o.batch * o.seq * o.steps) / seconds,
      secondsPerStep: seconds / o.steps,
      warmupSeconds,
      dispatchesPerStep: trainer.counters.dispatches,
      layers: cpu.config.layers,
      readbacksQuietStep: quiet,
      loss,
    };
  } finally {
    trainer.destroy();
  }
}
