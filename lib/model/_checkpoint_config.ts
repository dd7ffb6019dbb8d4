/**
 * `config.json`, etude's schema for it: Hugging Face LlamaConfig fields for the Transformer (a minimal header for the
 * LSTM) plus an `etude` block (preset, the full model config, the training state, the save tag). Written by
 * {@link checkpointConfigJson}, read and checked by {@link parseCheckpointConfig}: every failure is a one-line
 * {@link CheckpointFormatError} naming the file and the field. ./checkpoint.ts re-exports what is public.
 *
 * @module
 */
import { BOS_ID, EOS_ID, PAD_ID } from "../tokenizers/tokenizer.ts";
import {
  countParams,
  type LstmConfig,
  type ModelConfig,
  type ModelTokenizerKind,
  type TrainConfig,
  type TransformerConfig,
  validateModelConfig,
} from "./config.ts";

/** Error for a malformed checkpoint; the message names the file and the field or tensor. */
export class CheckpointFormatError extends Error {
  /** Always `CheckpointFormatError`. */
  override name = "CheckpointFormatError";
}

/**
 * Where training stands; stored in `config.json` → `etude.state` so `--resume` continues exactly.
 *
 * @example
 * ```ts ignore
 * import { readCheckpoint } from "./checkpoint.ts";
 * const { state } = await readCheckpoint("models/run/last");
 * if (state) console.log(`epoch ${state.epoch}, step ${state.step}, best ${state.bestValLoss} at ${state.bestEpoch}`);
 * ```
 */
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
  /** A fine-tune's starting point (`--init-from`): the checkpoint directory and the step it had reached. */
  initFrom?: { dir: string; step: number | null };
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
  /**
   * Which save wrote this set (a hash of its weights): `model.safetensors` and `optimizer.safetensors` carry the
   * same tag (`etude_save` in their metadata), so a directory mixing files of two saves is refused.
   */
  saveTag?: string;
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

/**
 * Builds `config.json` for a model (HF LlamaConfig for the Transformer).
 *
 * @example
 * ```ts
 * import { getPreset } from "./config.ts";
 * import { checkpointConfigJson } from "./checkpoint.ts"; // re-exported there
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
    preset: model.preset,
    arch: model.arch,
    seqLen: model.seqLen,
    tokenizer,
    params: countParams(model),
    model,
    state,
  };
  const common = {
    bos_token_id: BOS_ID,
    eos_token_id: EOS_ID,
    pad_token_id: PAD_ID,
    torch_dtype: "float32" as const,
  };
  if (model.arch === "transformer") {
    return {
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      vocab_size: model.vocabSize,
      hidden_size: model.dim,
      intermediate_size: model.ffn,
      num_hidden_layers: model.layers,
      num_attention_heads: model.heads,
      num_key_value_heads: model.heads,
      rms_norm_eps: model.normEps,
      rope_theta: model.ropeTheta,
      max_position_embeddings: model.maxPositions,
      tie_word_embeddings: true,
      hidden_act: "silu",
      ...common,
      etude,
    };
  }
  return {
    architectures: ["EtudeLSTM"],
    model_type: "etude-lstm",
    vocab_size: model.vocabSize,
    ...common,
    etude,
  };
}

/** The tokenizer kinds a checkpoint may name. */
export const TOKENIZER_KINDS: readonly ModelTokenizerKind[] = ["pitch", "remi", "remi-bpe"];

/** A JSON object. */
export type Obj = Record<string, unknown>;

/** Whether `v` is a JSON object (not null, not an array). */
export function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A value as an error quotes it. */
export function show(v: unknown): string {
  return v === undefined ? "nothing (the field is missing)" : JSON.stringify(v);
}

/** Typed reads of one JSON object's fields; every failure names the file and the field. */
export class Fields {
  constructor(readonly obj: Obj, readonly file: string, readonly prefix = "") {}

  fail(name: string, must: string, v: unknown = this.obj[name]): never {
    throw new CheckpointFormatError(`${this.file}: ${this.prefix}${name} must be ${must}, got ${show(v)}`);
  }

  /** A field's value, or `def` when it is absent or null (HF writes null for unset ids). */
  #get(name: string, def: unknown): unknown {
    const v = this.obj[name];
    return v === undefined || v === null ? def : v;
  }

  posInt(name: string, def?: number): number {
    const v = this.#get(name, def);
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1) this.fail(name, "a positive integer");
    return v;
  }

  nonNegInt(name: string, def?: number): number {
    const v = this.#get(name, def);
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) this.fail(name, "a non-negative integer");
    return v;
  }

  posNum(name: string, def?: number): number {
    const v = this.#get(name, def);
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) this.fail(name, "a positive number");
    return v;
  }

  str(name: string, def?: string): string {
    const v = this.#get(name, def);
    if (typeof v !== "string") this.fail(name, "a string");
    return v;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], def?: T): T {
    const v = this.#get(name, def);
    if (!allowed.includes(v as T)) this.fail(name, allowed.map((a) => JSON.stringify(a)).join(" or "));
    return v as T;
  }

  posIntArray(name: string): number[] {
    const v = this.obj[name];
    if (!Array.isArray(v) || v.length < 1) this.fail(name, "a non-empty array of positive integers");
    v.forEach((x, i) => {
      if (typeof x !== "number" || !Number.isInteger(x) || x < 1) {
        this.fail(`${name}[${i}]`, "a positive integer", x);
      }
    });
    return v as number[];
  }

  /** An object field (absent or null → undefined). */
  object(name: string): Obj | undefined {
    const v = this.obj[name];
    if (v === undefined || v === null) return undefined;
    if (!isObj(v)) this.fail(name, "an object");
    return v;
  }
}

/** The HF LlamaConfig fields, checked; defaults are transformers' own (what it assumes for a field left out). */
function transformerFromHf(
  f: Fields,
  etude: Obj,
  tokenizerKind: string | undefined,
): TransformerConfig {
  const file = f.file;
  const modelType = f.str("model_type", "llama");
  if (modelType !== "llama") f.fail("model_type", `"llama" (etude's Transformer is a Llama)`);
  const vocabSize = f.posInt("vocab_size");
  const dim = f.posInt("hidden_size");
  const ffn = f.posInt("intermediate_size");
  const layers = f.posInt("num_hidden_layers");
  const heads = f.posInt("num_attention_heads");
  const kvHeads = f.posInt("num_key_value_heads", heads);
  if (kvHeads !== heads) {
    f.fail("num_key_value_heads", `num_attention_heads (${heads}): grouped-query attention is not supported`);
  }
  if (dim % heads !== 0 || (dim / heads) % 2 !== 0) {
    f.fail("hidden_size", `num_attention_heads (${heads}) × an even head size (RoPE)`);
  }
  if (f.obj.head_dim !== undefined && f.obj.head_dim !== null && f.obj.head_dim !== dim / heads) {
    f.fail("head_dim", `hidden_size / num_attention_heads = ${dim / heads}`);
  }
  const normEps = f.posNum("rms_norm_eps", 1e-6);
  const ropeTheta = f.posNum("rope_theta", 10000);
  const maxPositions = f.posInt("max_position_embeddings", 2048);
  // transformers unties the output when the field is left out: only an explicit true is etude's model
  if (f.obj.tie_word_embeddings !== true) {
    f.fail(
      "tie_word_embeddings",
      "true (the output projection is the embedding; an untied lm_head is not supported)",
    );
  }
  if (f.str("hidden_act", "silu") !== "silu") f.fail("hidden_act", `"silu" (SwiGLU)`);
  if (f.obj.rope_scaling !== undefined && f.obj.rope_scaling !== null) {
    f.fail("rope_scaling", "null (plain RoPE)");
  }
  for (const b of ["attention_bias", "mlp_bias"]) {
    if (f.obj[b] !== undefined && f.obj[b] !== false) f.fail(b, "false (the projections have no bias)");
  }
  const hf = { vocabSize, dim, ffn, layers, heads, maxPositions, ropeTheta, normEps };
  const hfName: Record<keyof typeof hf, string> = {
    vocabSize: "vocab_size",
    dim: "hidden_size",
    ffn: "intermediate_size",
    layers: "num_hidden_layers",
    heads: "num_attention_heads",
    maxPositions: "max_position_embeddings",
    ropeTheta: "rope_theta",
    normEps: "rms_norm_eps",
  };
  const e = new Fields(etude, file, "etude.");
  const em = e.object("model");
  if (em) {
    // etude's own copy (what lib/model rebuilds from) must say the same as the HF fields transformers reads
    const m = new Fields(em, file, "etude.model.");
    m.oneOf("arch", ["transformer"]);
    for (const k of Object.keys(hf) as (keyof typeof hf)[]) {
      if (em[k] !== hf[k]) {
        throw new CheckpointFormatError(
          `${file}: etude.model.${k} ${show(em[k])} disagrees with ${hfName[k]} ${hf[k]}`,
        );
      }
    }
    return {
      arch: "transformer",
      preset: m.str("preset"),
      tokenizer: m.oneOf("tokenizer", TOKENIZER_KINDS),
      ...hf,
      seqLen: m.posInt("seqLen"),
    };
  }
  // a plain HF config (or a test fixture's): what is not in the Llama fields comes from the etude block or the tokenizer
  return {
    arch: "transformer",
    preset: e.str("preset", "hf"),
    tokenizer: e.oneOf(
      "tokenizer",
      TOKENIZER_KINDS,
      TOKENIZER_KINDS.includes(tokenizerKind as ModelTokenizerKind)
        ? tokenizerKind as ModelTokenizerKind
        : "remi-bpe",
    ),
    ...hf,
    seqLen: e.posInt("seqLen", maxPositions),
  };
}

/** The LSTM's config lives in `etude.model` (its `config.json` header has only the vocabulary size). */
function lstmFromEtude(f: Fields, etude: Obj): LstmConfig {
  const file = f.file;
  const em = new Fields(etude, file, "etude.").object("model");
  if (!em) {
    throw new CheckpointFormatError(
      `${file}: etude.model must be the LSTM's config, got nothing (the field is missing)`,
    );
  }
  const m = new Fields(em, file, "etude.model.");
  m.oneOf("arch", ["lstm"]);
  const vocabSize = f.posInt("vocab_size");
  if (em.vocabSize !== vocabSize) {
    throw new CheckpointFormatError(
      `${file}: etude.model.vocabSize ${show(em.vocabSize)} disagrees with vocab_size ${vocabSize}`,
    );
  }
  return {
    arch: "lstm",
    preset: m.str("preset"),
    tokenizer: m.oneOf("tokenizer", TOKENIZER_KINDS),
    vocabSize,
    input: m.oneOf("input", ["float", "embedding"] as const),
    embedDim: m.posInt("embedDim"),
    hidden: m.posIntArray("hidden"),
    seqLen: m.posInt("seqLen"),
  };
}

function trainStateFrom(etude: Obj, file: string): TrainState | null {
  const st = new Fields(etude, file, "etude.").object("state");
  if (!st) return null;
  const f = new Fields(st, file, "etude.state.");
  for (const k of ["epoch", "step", "stepInEpoch", "stepsPerEpoch"]) f.nonNegInt(k);
  f.object("train") ?? f.fail("train", "the training recipe (an object)");
  if (!Array.isArray(st.valLosses)) f.fail("valLosses", "an array of numbers");
  return st as unknown as TrainState;
}

/**
 * Checks a parsed `config.json` and converts it to the model config: the Transformer from its HF LlamaConfig fields
 * (`etude.model`, when present, must agree with them), the LSTM from `etude.model`. `file` is what errors name;
 * `tokenizerKind` (from `tokenizer.json`) fills in the tokeniser of a plain HF config.
 *
 * @example
 * ```ts
 * import { parseCheckpointConfig } from "./checkpoint.ts"; // re-exported there
 * const { config } = parseCheckpointConfig({
 *   vocab_size: 10, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2,
 *   tie_word_embeddings: true,
 * });
 * config.arch === "transformer" && config.normEps; // 1e-6 (transformers' default)
 * ```
 */
export function parseCheckpointConfig(
  raw: unknown,
  file = "config.json",
  tokenizerKind?: string,
): { config: ModelConfig; state: TrainState | null } {
  if (!isObj(raw)) throw new CheckpointFormatError(`${file}: must hold a JSON object, got ${show(raw)}`);
  const f = new Fields(raw, file);
  const etude = f.object("etude") ?? {};
  const em = isObj(etude.model) ? etude.model : undefined;
  const arch = new Fields(etude, file, "etude.").oneOf(
    "arch",
    ["transformer", "lstm"] as const,
    em?.arch === "lstm" || raw.model_type === "etude-lstm" ? "lstm" : "transformer",
  );
  for (
    const [name, id, what] of [["bos_token_id", BOS_ID, "BOS"], ["eos_token_id", EOS_ID, "EOS"], [
      "pad_token_id",
      PAD_ID,
      "PAD",
    ]] as const
  ) {
    const v = raw[name];
    if (v !== undefined && v !== null && v !== id) f.fail(name, `${id} (${what} in every etude tokenizer)`);
  }
  const config = arch === "transformer"
    ? transformerFromHf(f, etude, tokenizerKind)
    : lstmFromEtude(f, etude);
  try {
    validateModelConfig(config);
  } catch (e) {
    throw new CheckpointFormatError(`${file}: ${(e as Error).message}`);
  }
  return { config, state: trainStateFrom(etude, file) };
}
