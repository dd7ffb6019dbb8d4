/**
 * Decode throughput of the tfjs model, token by token: tfjs has no KV cache, so every new token runs the model over
 * the whole prefix (what "the tfjs model generating token by token" costs). Greedy argmax, batch B from BOS.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { selectBackend } from "../lib/model/backend.ts";
import { TfModel } from "../lib/model/model.ts";

/** Result of {@link tfjsDecodeThroughput}. */
export interface DecodeBenchResult {
  backend: string;
  batch: number;
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
}

/**
 * Loads `ckptDir` on the backend and generates `tokens` tokens for each of `batch` sequences (first step excluded
 * from the timing as warm-up).
 *
 * @example
 * ```ts ignore
 * import { tfjsDecodeThroughput } from "./decode_bench.ts";
 * const r = await tfjsDecodeThroughput("/tmp/v8", { backend: "wasm", batch: 1, tokens: 16 });
 * ```
 */
export async function tfjsDecodeThroughput(
  ckptDir: string,
  o: { backend: "wasm" | "cpu" | "webgpu"; batch: number; tokens: number },
): Promise<DecodeBenchResult> {
  const backend = await selectBackend(o.backend);
  const { model } = await TfModel.load(ckptDir);
  const B = o.batch;
  const seqs: number[][] = Array.from({ length: B }, () => [1]);
  const step = async () => {
    const T = seqs[0].length;
    const next = tf.tidy(() => {
      const ids = tf.tensor2d(Int32Array.from(seqs.flat()), [B, T], "int32");
      const logits = model.apply(ids);
      const last = tf.slice(logits, [0, T - 1, 0], [B, 1, model.config.vocabSize]);
      return tf.argMax(tf.reshape(last, [B, model.config.vocabSize]), 1);
    });
    const v = await next.data();
    next.dispose();
    for (let b = 0; b < B; b++) seqs[b].push(v[b]);
  };
  await step();
  const t0 = performance.now();
  for (let i = 0; i < o.tokens; i++) await step();
  const seconds = (performance.now() - t0) / 1000;
  model.dispose();
  return { backend, batch: B, tokens: o.tokens, seconds, tokensPerSecond: (B * o.tokens) / seconds };
}
