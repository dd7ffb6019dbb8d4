/**
 * Reads an etude checkpoint directory (`model.safetensors` + `config.json` + `tokenizer.json`, Hugging Face Llama
 * names and layouts) into plain Float32Arrays, independently of tfjs.
 *
 * @module
 */
import { decodeSafetensors, type SafeTensor, toFloat32 } from "../util/safetensors.ts";
import type { TokenizerJson } from "../tokenizers/tokenizer.ts";

/** The Llama hyper-parameters the engine needs (from `config.json`). */
export interface LlamaConfig {
  vocabSize: number;
  hidden: number;
  ffn: number;
  layers: number;
  heads: number;
  eps: number;
  ropeTheta: number;
  maxPos: number;
  bosId: number;
  eosId: number;
  /** `etude.arch`: "transformer" (default) or "lstm". */
  arch: string;
  /** The whole parsed `config.json`. */
  raw: Record<string, unknown>;
}

/** One transformer block's weights (nn.Linear layout [out, in], row-major). */
export interface LayerWeights {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  o: Float32Array;
  gate: Float32Array;
  up: Float32Array;
  down: Float32Array;
  ln1: Float32Array;
  ln2: Float32Array;
}

/** All weights of a Llama checkpoint (tied output projection = `embed`). */
export interface ModelWeights {
  embed: Float32Array;
  layers: LayerWeights[];
  norm: Float32Array;
}

/** A checkpoint read from disk. */
export interface Checkpoint {
  config: LlamaConfig;
  weights: ModelWeights;
  tokenizer: TokenizerJson;
}

/** Error for a malformed checkpoint; the message names the file and field. */
export class CheckpointFormatError extends Error {
  override name = "CheckpointFormatError";
}

/**
 * Validates and converts a parsed `config.json`.
 *
 * @example
 * ```ts
 * import { parseLlamaConfig } from "./model_loader.ts";
 * const c = parseLlamaConfig({ vocab_size: 10, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2 });
 * c.eps; // 1e-5
 * ```
 */
export function parseLlamaConfig(raw: Record<string, unknown>, file = "config.json"): LlamaConfig {
  const int = (name: string, def?: number) => {
    const v = raw[name] ?? def;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
      throw new CheckpointFormatError(
        `${file}: ${name} must be a non-negative integer, got ${JSON.stringify(v)}`,
      );
    }
    return v;
  };
  const num = (name: string, def: number) => {
    const v = raw[name] ?? def;
    if (typeof v !== "number" || !(v > 0)) {
      throw new CheckpointFormatError(`${file}: ${name} must be a positive number, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const etude = (raw.etude ?? {}) as Record<string, unknown>;
  const arch = typeof etude.arch === "string" ? etude.arch : "transformer";
  const c: LlamaConfig = {
    vocabSize: int("vocab_size"),
    hidden: arch === "lstm" ? 0 : int("hidden_size"),
    ffn: arch === "lstm" ? 0 : int("intermediate_size"),
    layers: arch === "lstm" ? 0 : int("num_hidden_layers"),
    heads: arch === "lstm" ? 1 : int("num_attention_heads"),
    eps: num("rms_norm_eps", 1e-5),
    ropeTheta: num("rope_theta", 10000),
    maxPos: int("max_position_embeddings", 512),
    bosId: int("bos_token_id", 1),
    eosId: int("eos_token_id", 2),
    arch,
    raw,
  };
  if (arch !== "lstm" && (c.hidden % c.heads !== 0 || (c.hidden / c.heads) % 2 !== 0)) {
    throw new CheckpointFormatError(
      `${file}: hidden_size ${c.hidden} must split into num_attention_heads ${c.heads} heads of even size`,
    );
  }
  if (raw.tie_word_embeddings === false) {
    throw new CheckpointFormatError(
      `${file}: tie_word_embeddings must be true (untied lm_head is not supported)`,
    );
  }
  return c;
}

/**
 * Extracts and shape-checks the Llama weights from decoded safetensors tensors.
 *
 * @example
 * ```ts ignore
 * import { weightsFromTensors } from "./model_loader.ts";
 * const w = weightsFromTensors(tensors, config);
 * ```
 */
export function weightsFromTensors(
  tensors: Record<string, SafeTensor>,
  c: LlamaConfig,
  file = "model.safetensors",
): ModelWeights {
  const get = (name: string, shape: number[]) => {
    const t = tensors[name];
    if (!t) throw new CheckpointFormatError(`${file}: missing tensor ${name}`);
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
      throw new CheckpointFormatError(`${file}: tensor ${name} has shape [${t.shape}], expected [${shape}]`);
    }
    return toFloat32(t);
  };
  const d = c.hidden, f = c.ffn;
  const layers: LayerWeights[] = [];
  for (let i = 0; i < c.layers; i++) {
    const p = `model.layers.${i}.`;
    layers.push({
      q: get(p + "self_attn.q_proj.weight", [d, d]),
      k: get(p + "self_attn.k_proj.weight", [d, d]),
      v: get(p + "self_attn.v_proj.weight", [d, d]),
      o: get(p + "self_attn.o_proj.weight", [d, d]),
      gate: get(p + "mlp.gate_proj.weight", [f, d]),
      up: get(p + "mlp.up_proj.weight", [f, d]),
      down: get(p + "mlp.down_proj.weight", [d, f]),
      ln1: get(p + "input_layernorm.weight", [d]),
      ln2: get(p + "post_attention_layernorm.weight", [d]),
    });
  }
  return {
    embed: get("model.embed_tokens.weight", [c.vocabSize, d]),
    layers,
    norm: get("model.norm.weight", [d]),
  };
}

/**
 * Reads a checkpoint directory.
 *
 * @example
 * ```ts ignore
 * import { readCheckpoint } from "./model_loader.ts";
 * const { config, weights, tokenizer } = await readCheckpoint("models/default");
 * ```
 */
export async function readCheckpoint(dir: string): Promise<Checkpoint> {
  const readJson = async (name: string) => {
    const path = `${dir}/${name}`;
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      throw new CheckpointFormatError(`${path}: cannot read (${(e as Error).message})`);
    }
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new CheckpointFormatError(`${path}: not valid JSON (${(e as Error).message})`);
    }
  };
  const config = parseLlamaConfig(await readJson("config.json"), `${dir}/config.json`);
  const tokenizer = await readJson("tokenizer.json") as TokenizerJson;
  if (!Array.isArray(tokenizer.vocab)) {
    throw new CheckpointFormatError(`${dir}/tokenizer.json: vocab must be an array of token names`);
  }
  if (tokenizer.vocab.length > config.vocabSize) {
    throw new CheckpointFormatError(
      `${dir}/tokenizer.json: ${tokenizer.vocab.length} tokens but config.json vocab_size is ${config.vocabSize}`,
    );
  }
  const bytes = await Deno.readFile(`${dir}/model.safetensors`);
  const { tensors } = decodeSafetensors(bytes);
  const weights = config.arch === "lstm"
    ? { embed: new Float32Array(0), layers: [], norm: new Float32Array(0) }
    : weightsFromTensors(tensors, config, `${dir}/model.safetensors`);
  return { config, weights, tokenizer };
}
