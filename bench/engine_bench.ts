/**
 * The WebGPU engine in the bench: decode tokens/s (many tokens per submit, sampling on the GPU, no grammar mask so
 * every model is comparable) and full-sequence logits for the check against the PyTorch peer.
 *
 * @module
 */
import { Engine } from "../lib/infer/engine.ts";
import { initialState } from "../lib/infer/grammar.ts";
import { readEngineModel } from "../lib/infer/model_loader.ts";
import { BOS_ID } from "../lib/tokenizers/tokenizer.ts";

/** Result of {@link engineDecodeThroughput}. */
export interface EngineDecodeResult {
  adapter: string;
  batch: number;
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
}

/**
 * Loads `ckptDir` into the engine and times decoding `tokens` tokens per sequence for `batch` sequences from BOS
 * (after a short warm-up decode that compiles pipelines).
 *
 * @example
 * ```ts ignore
 * import { engineDecodeThroughput } from "./engine_bench.ts";
 * const r = await engineDecodeThroughput("/tmp/v8", { batch: 1, tokens: 64 });
 * ```
 */
export async function engineDecodeThroughput(
  ckptDir: string,
  o: { batch: number; tokens: number; chunk?: number },
): Promise<EngineDecodeResult> {
  const { config, weights } = await readEngineModel(ckptDir);
  const engine = await Engine.create(config, weights, { maxBatch: o.batch });
  try {
    const run = (maxTokens: number) =>
      engine.decode({
        prompt: [BOS_ID],
        grammarState: initialState(),
        batch: o.batch,
        maxTokens,
        temperature: 1,
        topK: 0,
        topP: 1,
        seed: 1,
        chunk: o.chunk,
      });
    await run(Math.min(8, o.tokens));
    const t0 = performance.now();
    const r = await run(o.tokens);
    const seconds = (performance.now() - t0) / 1000;
    const tokens = r.ids.reduce((a, ids) => a + ids.length, 0);
    return {
      adapter: engine.adapter,
      batch: o.batch,
      tokens: tokens / o.batch,
      seconds,
      tokensPerSecond: tokens / seconds,
    };
  } finally {
    engine.dispose();
  }
}

/**
 * Engine logits for every position of `ids` (one prefill).
 *
 * @example
 * ```ts ignore
 * import { engineLogits } from "./engine_bench.ts";
 * const { logits, adapter } = await engineLogits("/tmp/v8", [1, 5, 9]);
 * ```
 */
export async function engineLogits(
  ckptDir: string,
  ids: number[],
): Promise<{ logits: Float32Array; adapter: string }> {
  const { config, weights } = await readEngineModel(ckptDir);
  const engine = await Engine.create(config, weights, { maxBatch: 1 });
  try {
    return { logits: await engine.forward(ids, { allRows: true }), adapter: engine.adapter };
  } finally {
    engine.dispose();
  }
}
