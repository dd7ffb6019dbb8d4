/**
 * The engine's view of a checkpoint: a Transformer's Hugging Face-named tensors arranged as per-layer weights.
 * Reading and checking the directory is `readCheckpoint`'s job (lib/model/checkpoint.ts, free of tfjs); this module
 * only arranges what it returns.
 *
 * @module
 */
import { type Checkpoint, CheckpointFormatError, readCheckpoint } from "../model/checkpoint.ts";
import type { TransformerConfig } from "../model/config.ts";

/** One transformer block's weights (nn.Linear layout [out, in], row-major). */
export interface LayerWeights {
  /** `self_attn.q_proj.weight` [d, d]. */
  q: Float32Array;
  /** `self_attn.k_proj.weight` [d, d]. */
  k: Float32Array;
  /** `self_attn.v_proj.weight` [d, d]. */
  v: Float32Array;
  /** `self_attn.o_proj.weight` [d, d]. */
  o: Float32Array;
  /** `mlp.gate_proj.weight` [ffn, d]. */
  gate: Float32Array;
  /** `mlp.up_proj.weight` [ffn, d]. */
  up: Float32Array;
  /** `mlp.down_proj.weight` [d, ffn]. */
  down: Float32Array;
  /** `input_layernorm.weight` [d]. */
  ln1: Float32Array;
  /** `post_attention_layernorm.weight` [d]. */
  ln2: Float32Array;
}

/** All weights of a Llama checkpoint (tied output projection = `embed`). */
export interface ModelWeights {
  /** `model.embed_tokens.weight` [vocab, d], also the output projection. */
  embed: Float32Array;
  /** The blocks, in order. */
  layers: LayerWeights[];
  /** `model.norm.weight` [d]. */
  norm: Float32Array;
}

/** What the engine and the plain-TS reference take: the Transformer's config and its arranged weights. */
export interface EngineModel {
  /** The model config (lib/model's one config type). */
  config: TransformerConfig;
  /** The weights per layer. */
  weights: ModelWeights;
}

/**
 * Arranges a checkpoint's tensors (already checked by `readCheckpoint`) per layer; the arrays are shared, not
 * copied. Throws for an LSTM checkpoint (those run through tfjs).
 *
 * @example
 * ```ts ignore
 * import { readCheckpoint } from "../model/checkpoint.ts";
 * import { engineModel } from "./model_loader.ts";
 * const { config, weights } = engineModel(await readCheckpoint("models/default"));
 * ```
 */
export function engineModel(ck: Pick<Checkpoint, "dir" | "config" | "weights">): EngineModel {
  const c = ck.config;
  if (c.arch !== "transformer") {
    throw new CheckpointFormatError(
      `${ck.dir}/config.json: etude.arch is "${c.arch}": the WebGPU engine runs Transformers only`,
    );
  }
  const get = (name: string) => {
    const t = ck.weights[name];
    if (!t) throw new CheckpointFormatError(`${ck.dir}/model.safetensors: missing tensor ${name}`);
    return t;
  };
  const layers: LayerWeights[] = [];
  for (let i = 0; i < c.layers; i++) {
    const p = `model.layers.${i}.`;
    layers.push({
      q: get(p + "self_attn.q_proj.weight"),
      k: get(p + "self_attn.k_proj.weight"),
      v: get(p + "self_attn.v_proj.weight"),
      o: get(p + "self_attn.o_proj.weight"),
      gate: get(p + "mlp.gate_proj.weight"),
      up: get(p + "mlp.up_proj.weight"),
      down: get(p + "mlp.down_proj.weight"),
      ln1: get(p + "input_layernorm.weight"),
      ln2: get(p + "post_attention_layernorm.weight"),
    });
  }
  return {
    config: c,
    weights: { embed: get("model.embed_tokens.weight"), layers, norm: get("model.norm.weight") },
  };
}

/**
 * `readCheckpoint` then {@link engineModel}: a Transformer checkpoint directory as the engine takes it.
 *
 * @example
 * ```ts ignore
 * import { Engine } from "./engine.ts";
 * import { readEngineModel } from "./model_loader.ts";
 * const { config, weights } = await readEngineModel("models/default");
 * const engine = await Engine.create(config, weights);
 * ```
 */
export async function readEngineModel(dir: string): Promise<EngineModel> {
  return engineModel(await readCheckpoint(dir));
}
