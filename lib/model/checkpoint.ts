/**
 * Checkpoint directories: `model.safetensors` (F32, Hugging Face Llama names and layouts for the Transformer),
 * `config.json` (LlamaConfig fields + an `etude` block), `tokenizer.json`, and for resumable runs
 * `optimizer.safetensors` (AdamW `m.<name>` / `v.<name>`). Free of tfjs: the WebGPU engine loads these directly.
 *
 * @module
 */
import { writeFileAtomic } from "../util/atomic.ts";
import { decodeSafetensors, encodeSafetensors, toFloat32 } from "../util/safetensors.ts";
import {
  countParams,
  type ModelConfig,
  tensorShapes,
  type TrainConfig,
  validateModelConfig,
} from "./config.ts";

/** Where training stands; stored in `config.json` → `etude.state` so `--resume` continues exactly. */
export interface TrainState {
  /** Epochs fully completed. */
  epoch: number;
  /** Optimizer steps taken in total. */
  step: number;
  /** Batches already taken inside the current (incomplete) epoch. */
  stepInEpoch: number;
  /** Steps per epoch for the schedule (fixed at the start of the run). */
  stepsPerEpoch: number;
  /** Best validation loss so far (nats/token). */
  bestValLoss: number | null;
  /** Epoch (1-based) of the best validation loss. */
  bestEpoch: number;
  /** Epochs since the last improvement. */
  epochsWithoutImprovement: number;
  /** Validation loss after each completed epoch. */
  valLosses: number[];
  /** The training recipe. */
  train: TrainConfig;
  /** Set once training ended (early stop or all epochs done). */
  finished: boolean;
  /** Backend of the invocation that wrote this state. */
  backend?: string;
}

/** The `etude` block of `config.json`. */
export interface EtudeBlock {
  /** Preset name (`v2`…`v8`, kept after overrides). */
  preset: string;
  /** Model family. */
  arch: "transformer" | "lstm";
  /** Training window length (tokens). */
  seqLen: number;
  /** Tokeniser the model was trained with. */
  tokenizer: string | null;
  /** Parameter count. */
  params: number;
  /** The full model config (what `lib/model` rebuilds the model from). */
  model: ModelConfig;
  /** Training state, or null. */
  state: TrainState | null;
}

/** `config.json`: LlamaConfig fields for the Transformer (a minimal header for the LSTM) plus `etude`. */
export interface CheckpointConfigJson {
  /** HF architectures (`LlamaForCausalLM` for the Transformer). */
  architectures: string[];
  /** HF model type (`llama`). */
  model_type: string;
  /** Vocabulary size. */
  vocab_size: number;
  /** Hidden size. */
  hidden_size?: number;
  /** SwiGLU hidden size. */
  intermediate_size?: number;
  /** Blocks. */
  num_hidden_layers?: number;
  /** Attention heads. */
  num_attention_heads?: number;
  /** Key/value heads (= attention heads). */
  num_key_value_heads?: number;
  /** RMSNorm ε. */
  rms_norm_eps?: number;
  /** RoPE base θ. */
  rope_theta?: number;
  /** Context the model is declared for. */
  max_position_embeddings?: number;
  /** Output tied to the embedding. */
  tie_word_embeddings?: boolean;
  /** `silu`. */
  hidden_act?: string;
  /** 1. */
  bos_token_id: number;
  /** 2. */
  eos_token_id: number;
  /** 0. */
  pad_token_id: number;
  /** Stored dtype. */
  torch_dtype: "float32";
  /** etude's own block. */
  etude: EtudeBlock;
}

/** What {@link loadCheckpoint} returns. */
export interface LoadedCheckpoint {
  /** The parsed `config.json`. */
  config: CheckpointConfigJson;
  /** The model config. */
  model: ModelConfig;
  /** F32 weights by tensor name. */
  weights: Record<string, Float32Array>;
  /** Shapes by tensor name. */
  shapes: Record<string, number[]>;
  /** The parsed `tokenizer.json`, or null. */
  tokenizerJson: unknown | null;
  /** Training state, or null. */
  state: TrainState | null;
}

/**
 * Builds `config.json` for a model (HF LlamaConfig for the Transformer).
 *
 * @example
 * ```ts
 * import { getPreset } from "./config.ts";
 * import { checkpointConfigJson } from "./checkpoint.ts";
 * checkpointConfigJson(getPreset("v8").model).hidden_size; // 512
 * ```
 */
export function checkpointConfigJson(
  /** The model config. */
  model: ModelConfig,
  /** Training state, or null. */
  state: TrainState | null = null,
  /** Tokeniser the model was trained with. */
  tokenizer: string | null = model.tokenizer,
): CheckpointConfigJson {
  const etude: EtudeBlock = {
    /** Preset name (`v2`…`v8`, kept after overrides). */
    preset: model.preset,
    /** Model family. */
    arch: model.arch,
    /** Training window length (tokens). */
    seqLen: model.seqLen,
    tokenizer,
    /** Parameter count. */
    params: countParams(model),
    model,
    state,
  };
  const common = { bos_token_id: 1, eos_token_id: 2, pad_token_id: 0, torch_dtype: "float32" as const };
  if (model.arch === "transformer") {
    return {
      /** HF architectures (`LlamaForCausalLM` for the Transformer). */
      architectures: ["LlamaForCausalLM"],
      /** HF model type (`llama`). */
      model_type: "llama",
      /** Vocabulary size. */
      vocab_size: model.vocabSize,
      /** Hidden size. */
      hidden_size: model.dim,
      /** SwiGLU hidden size. */
      intermediate_size: model.ffn,
      /** Blocks. */
      num_hidden_layers: model.layers,
      /** Attention heads. */
      num_attention_heads: model.heads,
      /** Key/value heads (= attention heads). */
      num_key_value_heads: model.heads,
      /** RMSNorm ε. */
      rms_norm_eps: model.normEps,
      /** RoPE base θ. */
      rope_theta: model.ropeTheta,
      /** Context the model is declared for. */
      max_position_embeddings: model.maxPositions,
      /** Output tied to the embedding. */
      tie_word_embeddings: true,
      /** `silu`. */
      hidden_act: "silu",
      ...common,
      etude,
    };
  }
  return {
    /** HF architectures (`LlamaForCausalLM` for the Transformer). */
    architectures: ["EtudeLSTM"],
    /** HF model type (`llama`). */
    model_type: "etude-lstm",
    /** Vocabulary size. */
    vocab_size: model.vocabSize,
    ...common,
    etude,
  };
}

/** Inputs of {@link saveCheckpoint}. */
export interface SaveCheckpointInput {
  /** The parsed `config.json`. */
  config: ModelConfig;
  /** F32 weights by tensor name. */
  weights: Record<string, Float32Array>;
  /** The tokenizer: an object (serialised) or the text of a `tokenizer.json` (written unchanged). */
  tokenizerJson?: unknown;
  /** Training state, or null. */
  state?: TrainState | null;
  /** AdamW moments, written to `optimizer.safetensors` when given. */
  optimizer?: { m: Record<string, Float32Array>; v: Record<string, Float32Array>; step: number };
}

/**
 * Writes a checkpoint directory atomically file by file (weights first, `config.json` last).
 *
 * @example
 * ```ts
 * import { getPreset, applyOverrides, tensorShapes } from "./config.ts";
 * import { saveCheckpoint } from "./checkpoint.ts";
 * const { model } = applyOverrides(getPreset("v8"), { layers: 1, dim: 8, heads: 2, ffn: 16, vocab: 8 });
 * const weights = Object.fromEntries(
 *   Object.entries(tensorShapes(model)).map(([k, s]) => [k, new Float32Array(s.reduce((a, b) => a * b, 1))]),
 * );
 * await saveCheckpoint("/tmp/etude_ckpt", { config: model, weights });
 * ```
 */
export async function saveCheckpoint(dir: string, input: SaveCheckpointInput): Promise<void> {
  const shapes = tensorShapes(input.config);
  const tensors: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const data = input.weights[name];
    const n = shape.reduce((a, b) => a * b, 1);
    if (!data || data.length !== n) {
      throw new Error(
        `saveCheckpoint: tensor ${name} has ${data?.length ?? 0} values, expected ${n} for [${shape}]`,
      );
    }
    tensors[name] = { dtype: "F32", shape, data };
  }
  await Deno.mkdir(dir, { recursive: true });
  await writeFileAtomic(`${dir}/model.safetensors`, encodeSafetensors(tensors, { format: "pt" }));
  if (input.optimizer) {
    const opt: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
    for (const [name, shape] of Object.entries(shapes)) {
      opt[`m.${name}`] = { dtype: "F32", shape, data: input.optimizer.m[name] };
      opt[`v.${name}`] = { dtype: "F32", shape, data: input.optimizer.v[name] };
    }
    await writeFileAtomic(
      `${dir}/optimizer.safetensors`,
      encodeSafetensors(opt, { step: String(input.optimizer.step) }),
    );
  }
  const tj = input.tokenizerJson;
  if (tj !== undefined && tj !== null) {
    // a string is written byte for byte (a copy of the data's tokenizer.json keeps its sha256)
    await writeFileAtomic(`${dir}/tokenizer.json`, typeof tj === "string" ? tj : JSON.stringify(tj));
  }
  const parsed = typeof tj === "string" ? JSON.parse(tj) : tj;
  const tokKind = (parsed as { kind?: string } | undefined)?.kind ?? input.config.tokenizer;
  const cfg = checkpointConfigJson(input.config, input.state ?? null, tokKind);
  await writeFileAtomic(`${dir}/config.json`, JSON.stringify(cfg, null, 2) + "\n");
}

/**
 * Reads a checkpoint directory written by {@link saveCheckpoint}; checks every tensor's name and shape against the
 * config and throws a one-line error naming the file and tensor otherwise.
 *
 * @example
 * ```ts
 * import { loadCheckpoint } from "./checkpoint.ts";
 * const { model, weights } = await loadCheckpoint("/tmp/etude_ckpt");
 * ```
 */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  let config: CheckpointConfigJson;
  try {
    config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  } catch (e) {
    throw new Error(`${dir}/config.json: ${(e as Error).message}`);
  }
  const model = config.etude?.model;
  if (!model) throw new Error(`${dir}/config.json: missing etude.model (not an etude checkpoint)`);
  validateModelConfig(model);
  const file = `${dir}/model.safetensors`;
  const { tensors } = decodeSafetensors(await Deno.readFile(file));
  const expected = tensorShapes(model);
  const weights: Record<string, Float32Array> = {};
  for (const [name, shape] of Object.entries(expected)) {
    const t = tensors[name];
    if (!t) throw new Error(`${file}: missing tensor ${name}`);
    if (t.shape.join(",") !== shape.join(",")) {
      throw new Error(`${file}: tensor ${name} has shape [${t.shape}], expected [${shape}]`);
    }
    weights[name] = toFloat32(t);
  }
  let tokenizerJson: unknown = null;
  try {
    tokenizerJson = JSON.parse(await Deno.readTextFile(`${dir}/tokenizer.json`));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new Error(`${dir}/tokenizer.json: ${(e as Error).message}`);
    }
  }
  return { config, model, weights, shapes: expected, tokenizerJson, state: config.etude.state ?? null };
}

/**
 * Reads `optimizer.safetensors` (AdamW moments and step) from a checkpoint directory, or null when absent.
 *
 * @example
 * ```ts
 * import { loadOptimizerState } from "./checkpoint.ts";
 * const opt = await loadOptimizerState("/tmp/etude_ckpt");
 * ```
 */
export async function loadOptimizerState(
  dir: string,
): Promise<{ m: Record<string, Float32Array>; v: Record<string, Float32Array>; step: number } | null> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(`${dir}/optimizer.safetensors`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  const { tensors, metadata } = decodeSafetensors(bytes);
  const m: Record<string, Float32Array> = {}, v: Record<string, Float32Array> = {};
  for (const [name, t] of Object.entries(tensors)) {
    if (name.startsWith("m.")) m[name.slice(2)] = toFloat32(t);
    else if (name.startsWith("v.")) v[name.slice(2)] = toFloat32(t);
  }
  return { m, v, step: Number(metadata.step ?? 0) };
}
