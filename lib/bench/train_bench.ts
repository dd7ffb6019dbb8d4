/**
 * Training throughput (tokens/s) for a checkpoint's shape on a tfjs backend: random ids, next-token cross-entropy,
 * an Adam-family optimizer step, the first step (kernel compiles, allocations) excluded from the timing.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { selectBackend } from "../model/backend.ts";
import { crossEntropy, TfModel } from "../model/model.ts";

/** Options for {@link tfjsTrainThroughput}. */
export interface TrainBenchOptions {
  backend: "wasm" | "cpu" | "webgpu";
  batch: number;
  seq: number;
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
  optimizer: string;
}

/**
 * Loads `ckptDir` on the backend and times `steps` optimizer steps of `batch × seq` tokens.
 *
 * @example
 * ```ts ignore
 * import { tfjsTrainThroughput } from "./train_bench.ts";
 * const r = await tfjsTrainThroughput("/tmp/v8", { backend: "wasm", batch: 8, seq: 256, steps: 2 });
 * ```
 */
export async function tfjsTrainThroughput(ckptDir: string, o: TrainBenchOptions): Promise<TrainBenchResult> {
  const backend = await selectBackend(o.backend);
  const { model } = await TfModel.load(ckptDir);
  const vocab = model.config.vocabSize;
  // tfjs-core's Adam (bias-corrected); lib/train's AdamW adds decoupled decay and clipping on top of the same cost
  const opt = tf.train.adam(3e-4, 0.9, 0.95, 1e-8);
  const varList = Object.values(model.vars);
  let s = (o.seed ?? 1) >>> 0;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const step = async (): Promise<number> => {
    const ids = new Int32Array(o.batch * (o.seq + 1)).map(() => 4 + Math.floor(rand() * (vocab - 4)));
    const loss = tf.tidy(() => {
      const all = tf.tensor2d(ids, [o.batch, o.seq + 1], "int32");
      const x = tf.slice(all, [0, 0], [o.batch, o.seq]) as tf.Tensor2D;
      const y = tf.slice(all, [0, 1], [o.batch, o.seq]) as tf.Tensor2D;
      return opt.minimize(() => crossEntropy(model.apply(x), y), true, varList)!;
    });
    const v = (await loss.data())[0];
    loss.dispose();
    return v;
  };
  const t0 = performance.now();
  await step();
  const warmupSeconds = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  let loss = NaN;
  for (let i = 0; i < o.steps; i++) loss = await step();
  const seconds = (performance.now() - t1) / 1000;
  opt.dispose();
  model.dispose();
  return {
    backend,
    tokensPerSecond: (o.batch * o.seq * o.steps) / seconds,
    secondsPerStep: seconds / o.steps,
    warmupSeconds,
    loss,
    optimizer: "tfjs Adam",
  };
}
