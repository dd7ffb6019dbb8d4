/**
 * Training throughput (tokens/s) of the project's own training step (`lib/train/step.ts` `Trainer`: forward,
 * cross-entropy, backward, global-norm clipping, AdamW) for a checkpoint's shape on a tfjs backend, on random
 * windows; the first step (kernel compiles, allocations) is excluded from the timing.
 *
 * @module
 */
import { selectBackend } from "../lib/model/backend.ts";
import { getPreset } from "../lib/model/config.ts";
import { TfModel } from "../lib/model/model.ts";
import { startGradientWorkers } from "../lib/train/parallel.ts";
import { Trainer } from "../lib/train/step.ts";

/** Options for {@link tfjsTrainThroughput}. */
export interface TrainBenchOptions {
  backend: "wasm" | "cpu" | "webgpu";
  batch: number;
  seq: number;
  /** Rows per forward/backward (gradient accumulation; tfjs-wasm's 4 GB heap cannot hold v8 at 8 × 256). */
  microBatch?: number;
  /** Extra gradient workers (data parallel; 0 = this thread only). */
  workers?: number;
  /** Timed steps after one warm-up step. */
  steps: number;
  seed?: number;
}

/** Result of {@link tfjsTrainThroughput}. */
export interface TrainBenchResult {
  backend: string;
  tokensPerSecond: number;
  secondsPerStep: number;
  warmupSeconds: number;
  loss: number;
}

/**
 * Loads `ckptDir` on the backend and times `steps` optimizer steps of `batch × seq` tokens.
 *
 * @example
 * ```ts ignore
 * import { tfjsTrainThroughput } from "./train_bench.ts";
 * const r = await tfjsTrainThroughput("/tmp/v8", { backend: "wasm", batch: 8, seq: 256, microBatch: 1, steps: 1 });
 * ```
 */
export async function tfjsTrainThroughput(ckptDir: string, o: TrainBenchOptions): Promise<TrainBenchResult> {
  const backend = await selectBackend(o.backend);
  const { model } = await TfModel.load(ckptDir);
  const vocab = model.config.vocabSize;
  const train = { ...getPreset("v8").train, microBatch: o.microBatch ?? 0 };
  const helpers = await startGradientWorkers(model.config, backend, o.workers ?? 0);
  const trainer = new Trainer(model, train, helpers);
  let s = (o.seed ?? 1) >>> 0;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const windows = () => new Int32Array(o.batch * (o.seq + 1)).map(() => 4 + Math.floor(rand() * (vocab - 4)));
  try {
    const t0 = performance.now();
    await trainer.step(windows(), o.batch, 3e-4);
    const warmupSeconds = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    let loss = NaN;
    for (let i = 0; i < o.steps; i++) loss = (await trainer.step(windows(), o.batch, 3e-4)).loss;
    const seconds = (performance.now() - t1) / 1000;
    return {
      backend,
      tokensPerSecond: (o.batch * o.seq * o.steps) / seconds,
      secondsPerStep: seconds / o.steps,
      warmupSeconds,
      loss,
    };
  } finally {
    trainer.dispose();
    model.dispose();
  }
}
