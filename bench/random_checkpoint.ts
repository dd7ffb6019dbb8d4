/**
 * Random-weight checkpoints for the bench: the v8 shape (or any Transformer config) written as a real checkpoint
 * directory (model.safetensors + config.json) so the engine, tfjs and the PyTorch peer all read the same bytes.
 *
 * @module
 */
import {
  applyOverrides,
  getPreset,
  type Overrides,
  tensorShapes,
  type TransformerConfig,
} from "../lib/model/config.ts";
import { saveCheckpoint } from "../lib/model/checkpoint.ts";
import { RemiTokenizer } from "../lib/tokenizers/remi.ts";

/**
 * A seeded normal generator (xorshift32 + Box–Muller).
 *
 * @example
 * ```ts
 * import { normalRng } from "./random_checkpoint.ts";
 * const next = normalRng(1);
 * next(); // a standard normal draw
 * ```
 */
export function normalRng(seed: number): () => number {
  let s = (seed >>> 0) || 0x9e3779b9;
  const u = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s + 0.5) / 2 ** 32;
  };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

/**
 * The v8 model config, optionally overridden (e.g. a tiny shape for tests).
 *
 * @example
 * ```ts
 * import { benchModelConfig } from "./random_checkpoint.ts";
 * benchModelConfig().dim; // 512
 * ```
 */
export function benchModelConfig(overrides: Overrides = {}): TransformerConfig {
  const m = applyOverrides(getPreset("v8"), overrides).model;
  if (m.arch !== "transformer") throw new Error("bench model must be a Transformer");
  return m;
}

/**
 * Writes a checkpoint with N(0, std²) matrices and unit norms into `dir`; returns the weight bytes (fp32). Without a
 * `tokenizerJson`, the default REMI tokenizer's is written when it fits the vocabulary (the engine's loader wants
 * one).
 *
 * @example
 * ```ts
 * import { benchModelConfig, writeRandomCheckpoint } from "./random_checkpoint.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomCheckpoint(dir, benchModelConfig({ layers: 1, dim: 16, heads: 2, ffn: 32, vocab: 32 }));
 * ```
 */
export async function writeRandomCheckpoint(
  dir: string,
  model: TransformerConfig,
  opts: { seed?: number; std?: number; tokenizerJson?: unknown } = {},
): Promise<{ weightBytes: number }> {
  const rnd = normalRng(opts.seed ?? 1);
  const std = opts.std ?? 0.02;
  const weights: Record<string, Float32Array> = {};
  let bytes = 0;
  for (const [name, shape] of Object.entries(tensorShapes(model))) {
    const n = shape.reduce((a, b) => a * b, 1);
    const t = new Float32Array(n);
    if (name.endsWith("norm.weight")) t.fill(1);
    else for (let i = 0; i < n; i++) t[i] = rnd() * std;
    weights[name] = t;
    bytes += n * 4;
  }
  let tokenizerJson = opts.tokenizerJson;
  if (tokenizerJson === undefined) {
    const remi = new RemiTokenizer();
    if (remi.vocab.length <= model.vocabSize) tokenizerJson = remi.toJSON();
  }
  await saveCheckpoint(dir, { config: model, weights, tokenizerJson });
  return { weightBytes: bytes };
}
