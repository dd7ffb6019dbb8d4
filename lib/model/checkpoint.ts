/**
 * Checkpoint directories, read and written here and nowhere else: `config.json` (Hugging Face LlamaConfig fields for
 * the Transformer, a minimal header for the LSTM, plus an `etude` block), `model.safetensors` (Hugging Face Llama
 * names and layouts), `tokenizer.json`, and for resumable runs `optimizer.safetensors` (AdamW `m.<name>` /
 * `v.<name>`).
 *
 * {@link readCheckpoint} is the one reader: every face (the WebGPU engine, tfjs, training resume, eval, the server's
 * model list, the bench) goes through it, and it checks everything once: a malformed directory is a one-line
 * {@link CheckpointFormatError} naming the file and the field (`models/x/config.json: hidden_size must be a positive
 * integer, got "192"`). It returns the one model config type, {@link ModelConfig} (lib/model/config.ts).
 *
 * Free of tfjs (it imports only lib/util, the tokenizers' special ids and ./config.ts), so the engine and the
 * single-file bundle read checkpoints without loading a tfjs backend.
 *
 * @module
 */
import { sha256Hex } from "../util/hash.ts";
import { decodeSafetensors, encodeSafetensors, type SafeTensor, toFloat32 } from "../util/safetensors.ts";
import { BOS_ID, EOS_ID, PAD_ID, type TokenizerJson } from "../tokenizers/tokenizer.ts";
import {
  countParams,
  type LstmConfig,
  type ModelConfig,
  type ModelTokenizerKind,
  tensorShapes,
  type TrainConfig,
  type TransformerConfig,
  validateModelConfig,
} from "./config.ts";

/** The files a checkpoint directory must hold (`optimizer.safetensors` is optional: resumable runs only). */
export const CHECKPOINT_FILES = ["config.json", "model.safetensors", "tokenizer.json"] as const;

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

/**
 * Inputs of {@link saveCheckpoint}.
 *
 * @example
 * ```ts ignore
 * import { readCheckpoint, saveCheckpoint } from "./checkpoint.ts";
 * // copy a checkpoint, keeping its tokenizer.json byte for byte
 * const ck = await readCheckpoint("models/default");
 * const tokenizerJson = await Deno.readTextFile("models/default/tokenizer.json");
 * await saveCheckpoint("models/copy", { config: ck.config, weights: ck.weights, tokenizerJson, state: ck.state });
 * ```
 */
export interface SaveCheckpointInput {
  /** The model config (`config.json` is built from it). */
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

/** The files of a checkpoint set, in the order a set is committed (`config.json`, which names the save, last). */
const SET_ORDER = ["model.safetensors", "optimizer.safetensors", "tokenizer.json", "config.json"] as const;
/** Inside a staging directory: written last, it lists the set's files (the set is complete and may be moved in). */
const COMPLETE = ".complete";
const STAGE_RE = /^\.checkpoint\.tmp-[0-9a-f]{8}$/;

function splitPath(dir: string): { parent: string; base: string } {
  const d = dir.replace(/\/+$/, "") || "/";
  const i = d.lastIndexOf("/");
  return i < 0 ? { parent: ".", base: d } : { parent: i === 0 ? "/" : d.slice(0, i), base: d.slice(i + 1) };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

async function listNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) names.push(e.name);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return names.sort();
}

/** Writes `data` to `path` and flushes it to the disk before returning. */
async function writeSynced(path: string, data: Uint8Array): Promise<void> {
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    for (let off = 0; off < data.length;) off += await f.write(data.subarray(off));
    await f.sync();
  } finally {
    f.close();
  }
}

/** Flushes a directory's entries (a rename inside it) to the disk; a no-op where directories cannot be opened. */
async function syncDir(path: string): Promise<void> {
  let f: Deno.FsFile;
  try {
    f = await Deno.open(path, { read: true });
  } catch {
    return;
  }
  try {
    await f.sync();
  } catch {
    /* not supported here */
  } finally {
    f.close();
  }
}

/**
 * Finishes or undoes a save of `dir` that a kill interrupted, so `dir` holds one complete checkpoint set (or none, if
 * the first save was cut): the state {@link saveCheckpoint} guarantees after any kill. A save either swaps a whole
 * directory in (`.<name>.tmp-<tag>` beside it, the previous one parked as `.<name>.old-<tag>` until the new one is in
 * place) or, when `dir` holds more than a checkpoint (a run directory), stages the set in `dir/.checkpoint.tmp-<tag>/`
 * and moves it in once complete. Returns what it did. Training calls this before it reads or writes a checkpoint.
 *
 * @example
 * ```ts
 * import { recoverCheckpoint } from "./checkpoint.ts";
 * await recoverCheckpoint("/tmp/etude_no_such_run/last"); // "none"
 * ```
 */
export async function recoverCheckpoint(dir: string): Promise<"none" | "cleaned" | "finished" | "restored"> {
  const { parent, base } = splitPath(dir);
  let did: "none" | "cleaned" | "finished" | "restored" = "none";
  // 1. a directory swap cut between its two renames: the new set (tmp, complete once the old one was parked) wins
  const re = new RegExp(`^\\.${escapeRe(base)}\\.(tmp|old)-([0-9a-f]{8})$`);
  const side = (await listNames(parent)).map((n) => re.exec(n)).filter((m) => m !== null);
  if (side.length) {
    let present = true;
    try {
      await Deno.lstat(dir);
    } catch {
      present = false;
    }
    if (!present) {
      const olds = side.filter((m) => m[1] === "old");
      const pair = olds.find((o) => side.some((m) => m[1] === "tmp" && m[2] === o[2]));
      if (pair) {
        await Deno.rename(`${parent}/.${base}.tmp-${pair[2]}`, dir);
        did = "finished";
      } else if (olds.length) {
        await Deno.rename(`${parent}/${olds[0][0]}`, dir);
        did = "restored";
      }
      await syncDir(parent);
    }
    for (const m of side) {
      await Deno.remove(`${parent}/${m[0]}`, { recursive: true }).catch(() => {});
    }
    if (did === "none") did = "cleaned";
  }
  // 2. a staged set inside a run directory: move a complete one in, drop an incomplete one
  for (const name of (await listNames(dir)).filter((n) => STAGE_RE.test(n))) {
    const stage = `${dir}/${name}`;
    let files: string[] | null = null;
    try {
      files = JSON.parse(await Deno.readTextFile(`${stage}/${COMPLETE}`));
    } catch { /* incomplete */ }
    if (files) {
      await moveSetIn(stage, dir, files);
      did = "finished";
    } else if (did === "none") did = "cleaned";
    await Deno.remove(stage, { recursive: true }).catch(() => {});
  }
  return did;
}

/** Moves a complete staged set's files into `dir` (config.json last) and removes set files it does not have. */
async function moveSetIn(stage: string, dir: string, files: readonly string[]): Promise<void> {
  for (const f of SET_ORDER) {
    if (!files.includes(f)) continue;
    try {
      await Deno.rename(`${stage}/${f}`, `${dir}/${f}`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e; // moved before a kill
    }
  }
  for (const f of SET_ORDER) {
    if (!files.includes(f)) await Deno.remove(`${dir}/${f}`).catch(() => {});
  }
  await syncDir(dir);
}

/** Writes a set of files into `dir` as one: a kill at any moment leaves the previous set or this one. */
async function commitSet(dir: string, files: Map<string, Uint8Array>): Promise<void> {
  const { parent, base } = splitPath(dir);
  const tag = crypto.randomUUID().slice(0, 8);
  const order = SET_ORDER.filter((f) => files.has(f));
  const others = (await listNames(dir)).filter((n) => !(SET_ORDER as readonly string[]).includes(n));
  if (others.length === 0) {
    // a directory of its own (`last/`): build the new one beside it, then swap it in
    await Deno.mkdir(parent, { recursive: true });
    const tmp = `${parent}/.${base}.tmp-${tag}`, old = `${parent}/.${base}.old-${tag}`;
    try {
      await Deno.mkdir(tmp);
      for (const f of order) await writeSynced(`${tmp}/${f}`, files.get(f)!);
      await syncDir(tmp);
    } catch (e) {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
      throw e;
    }
    let parked = false;
    try {
      await Deno.rename(dir, old);
      parked = true;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    await Deno.rename(tmp, dir);
    await syncDir(parent);
    if (parked) await Deno.remove(old, { recursive: true });
    return;
  }
  // a run directory (logs, last/ beside the best checkpoint): stage the set inside it, mark it complete, move it in
  const stage = `${dir}/.checkpoint.tmp-${tag}`;
  try {
    await Deno.mkdir(stage);
    for (const f of order) await writeSynced(`${stage}/${f}`, files.get(f)!);
    await writeSynced(`${stage}/${COMPLETE}`, new TextEncoder().encode(JSON.stringify(order)));
    await syncDir(stage);
  } catch (e) {
    await Deno.remove(stage, { recursive: true }).catch(() => {});
    throw e;
  }
  await moveSetIn(stage, dir, order);
  await Deno.remove(stage, { recursive: true });
}

/**
 * Writes a checkpoint directory as one set: `model.safetensors`, `optimizer.safetensors` (when given),
 * `tokenizer.json` (when given; otherwise the directory's own is kept) and `config.json`, each flushed to the disk,
 * are built in a temporary directory beside `dir` that then replaces it (the previous set removed only after), or,
 * when `dir` holds more than a checkpoint (a run directory with its log), staged inside it and moved in once
 * complete. A kill at any moment leaves the previous set or the new one ({@link recoverCheckpoint} finishes a
 * staged one). Every file of the set names the save (`etude.saveTag`, `etude_save`), so a mix is detectable.
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
  await recoverCheckpoint(dir);
  // the tag: a hash of the weights (and the state), so equal saves write equal bytes
  const plain = encodeSafetensors(tensors, { format: "pt" });
  const stateBytes = new TextEncoder().encode(JSON.stringify(input.state ?? null));
  const both = new Uint8Array(plain.length + stateBytes.length);
  both.set(plain);
  both.set(stateBytes, plain.length);
  const saveTag = (await sha256Hex(both)).slice(0, 16);
  const files = new Map<string, Uint8Array>();
  files.set("model.safetensors", encodeSafetensors(tensors, { format: "pt", etude_save: saveTag }));
  if (input.optimizer) {
    const opt: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
    for (const [name, shape] of Object.entries(shapes)) {
      opt[`m.${name}`] = { dtype: "F32", shape, data: input.optimizer.m[name] };
      opt[`v.${name}`] = { dtype: "F32", shape, data: input.optimizer.v[name] };
    }
    files.set(
      "optimizer.safetensors",
      encodeSafetensors(opt, { step: String(input.optimizer.step), etude_save: saveTag }),
    );
  }
  let tj = input.tokenizerJson;
  if (tj === undefined || tj === null) {
    // keep the directory's own tokenizer.json (written with an earlier save)
    tj = await Deno.readTextFile(`${dir}/tokenizer.json`).catch(() => undefined);
  }
  if (tj !== undefined && tj !== null) {
    // a string is written byte for byte (a copy of the data's tokenizer.json keeps its sha256)
    files.set("tokenizer.json", new TextEncoder().encode(typeof tj === "string" ? tj : JSON.stringify(tj)));
  }
  const parsed = typeof tj === "string" ? JSON.parse(tj) : tj;
  const tokKind = (parsed as { kind?: string } | undefined)?.kind ?? input.config.tokenizer;
  const cfg = checkpointConfigJson(input.config, input.state ?? null, tokKind);
  cfg.etude.saveTag = saveTag;
  files.set("config.json", new TextEncoder().encode(JSON.stringify(cfg, null, 2) + "\n"));
  await commitSet(dir, files);
}

/**
 * What {@link readCheckpointInfo} returns: everything but the weights.
 *
 * @example
 * ```ts ignore
 * import { readCheckpointInfo } from "./checkpoint.ts";
 * const info = await readCheckpointInfo("models/default"); // reads config.json and tokenizer.json only
 * console.log(info.config.arch, info.config.vocabSize, Object.keys(info.shapes).length, "tensors");
 * ```
 */
export interface CheckpointInfo {
  /** The checkpoint directory. */
  dir: string;
  /** The parsed `config.json`, as written (HF LlamaConfig fields and, for etude's own, the `etude` block). */
  raw: Record<string, unknown>;
  /** The model config, checked (the HF fields are the truth; `etude.model` must agree with them). */
  config: ModelConfig;
  /** Tensor names and shapes the config implies (`tensorShapes(config)`). */
  shapes: Record<string, number[]>;
  /** The parsed `tokenizer.json`, or null when the directory has none. */
  tokenizerJson: TokenizerJson | null;
  /** Training state (`etude.state`), or null. */
  state: TrainState | null;
}

/**
 * What {@link readCheckpoint} returns.
 *
 * @example
 * ```ts ignore
 * import { readCheckpoint } from "./checkpoint.ts";
 * const ck = await readCheckpoint("models/default");
 * const params = Object.values(ck.weights).reduce((n, w) => n + w.length, 0);
 * console.log(`${ck.dir}: ${ck.config.preset}, ${params} parameters`);
 * ```
 */
export interface Checkpoint extends CheckpointInfo {
  /** F32 weights by tensor name: exactly the tensors of `shapes`, each checked against its shape. */
  weights: Record<string, Float32Array>;
}

const TOKENIZER_KINDS: readonly ModelTokenizerKind[] = ["pitch", "remi", "remi-bpe"];

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  return v === undefined ? "nothing (the field is missing)" : JSON.stringify(v);
}

/** Typed reads of one JSON object's fields; every failure names the file and the field. */
class Fields {
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
 * import { parseCheckpointConfig } from "./checkpoint.ts";
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

async function readJson(path: string, optional: boolean): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (optional && e instanceof Deno.errors.NotFound) return undefined;
    throw new CheckpointFormatError(`${path}: cannot read (${(e as Error).message.split("\n")[0]})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CheckpointFormatError(`${path}: not valid JSON (${(e as Error).message.split("\n")[0]})`);
  }
}

function checkTokenizerJson(t: unknown, file: string, vocabSize: number): TokenizerJson {
  if (!isObj(t)) throw new CheckpointFormatError(`${file}: must hold a JSON object, got ${show(t)}`);
  const f: Fields = new Fields(t, file);
  f.oneOf("kind", TOKENIZER_KINDS);
  const vocab = t.vocab;
  if (!Array.isArray(vocab)) f.fail("vocab", "an array of token names");
  const bad = vocab.findIndex((v) => typeof v !== "string");
  if (bad >= 0) f.fail(`vocab[${bad}]`, "a token name (a string)", vocab[bad]);
  if (vocab.length > vocabSize) {
    throw new CheckpointFormatError(
      `${file}: vocab has ${vocab.length} tokens but config.json vocab_size is ${vocabSize}`,
    );
  }
  return t as unknown as TokenizerJson;
}

/**
 * Reads and checks a checkpoint directory's `config.json` and `tokenizer.json` (not the weights): what a model list
 * or a resume needs to know.
 *
 * @example
 * ```ts ignore
 * import { readCheckpointInfo } from "./checkpoint.ts";
 * const { config, tokenizerJson } = await readCheckpointInfo("models/default");
 * ```
 */
export async function readCheckpointInfo(dir: string): Promise<CheckpointInfo> {
  const raw = await readJson(`${dir}/config.json`, false);
  const tok = await readJson(`${dir}/tokenizer.json`, true);
  const kind = isObj(tok) && typeof tok.kind === "string" ? tok.kind : undefined;
  const { config, state } = parseCheckpointConfig(raw, `${dir}/config.json`, kind);
  const tokenizerJson = tok === undefined
    ? null
    : checkTokenizerJson(tok, `${dir}/tokenizer.json`, config.vocabSize);
  return {
    dir,
    raw: raw as Record<string, unknown>,
    config,
    shapes: tensorShapes(config),
    tokenizerJson,
    state,
  };
}

/**
 * Checks decoded safetensors against the shapes a config implies and converts them to F32 (extra tensors are
 * ignored). `file` is what errors name.
 *
 * @example
 * ```ts ignore
 * import { checkpointWeights, readCheckpointInfo } from "./checkpoint.ts";
 * import { decodeSafetensors } from "../util/safetensors.ts";
 * const info = await readCheckpointInfo("models/default");
 * const bytes = await Deno.readFile("models/default/model.safetensors");
 * const weights = checkpointWeights(decodeSafetensors(bytes).tensors, info.shapes, "model.safetensors");
 * ```
 */
export function checkpointWeights(
  tensors: Record<string, SafeTensor>,
  shapes: Record<string, number[]>,
  file = "model.safetensors",
): Record<string, Float32Array> {
  const weights: Record<string, Float32Array> = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const t = tensors[name];
    if (!t) throw new CheckpointFormatError(`${file}: missing tensor ${name}`);
    if (t.shape.join(",") !== shape.join(",")) {
      throw new CheckpointFormatError(
        `${file}: tensor ${name} has shape [${t.shape}], expected [${shape}] (from config.json)`,
      );
    }
    if (t.dtype !== "F32" && t.dtype !== "F16" && t.dtype !== "BF16") {
      throw new CheckpointFormatError(
        `${file}: tensor ${name} has dtype ${t.dtype}, expected F32, F16 or BF16`,
      );
    }
    weights[name] = toFloat32(t);
  }
  return weights;
}

/**
 * THE checkpoint reader: `config.json` (checked, converted to a {@link ModelConfig}), `tokenizer.json` (null when
 * absent), the training state, and every tensor of `model.safetensors` checked by name and shape. Throws a one-line
 * {@link CheckpointFormatError} naming the file and the field or tensor otherwise.
 *
 * @example
 * ```ts ignore
 * import { readCheckpoint } from "./checkpoint.ts";
 * const { config, weights, tokenizerJson, state } = await readCheckpoint("models/default");
 * ```
 */
export async function readCheckpoint(dir: string): Promise<Checkpoint> {
  const info = await readCheckpointInfo(dir);
  const file = `${dir}/model.safetensors`;
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(file);
  } catch (e) {
    throw new CheckpointFormatError(`${file}: cannot read (${(e as Error).message.split("\n")[0]})`);
  }
  let tensors: Record<string, SafeTensor>, metadata: Record<string, string>;
  try {
    ({ tensors, metadata } = decodeSafetensors(bytes));
  } catch (e) {
    throw new CheckpointFormatError(`${file}: ${(e as Error).message}`);
  }
  checkSaveTag(info, metadata, file);
  return { ...info, weights: checkpointWeights(tensors, info.shapes, file) };
}

/** A file of the set written by another save than `config.json` (both tagged): a mixed directory. */
function checkSaveTag(info: CheckpointInfo, metadata: Record<string, string>, file: string): void {
  const etude = isObj(info.raw.etude) ? info.raw.etude : {};
  const want = etude.saveTag, got = metadata.etude_save;
  if (typeof want === "string" && got !== undefined && got !== want) {
    throw new CheckpointFormatError(
      `${file}: written by save ${got}, but config.json by save ${want} (files of two saves mixed)`,
    );
  }
}

/** AdamW moments and step, as `optimizer.safetensors` holds them. */
export interface OptimizerState {
  /** First moments by tensor name. */
  m: Record<string, Float32Array>;
  /** Second moments by tensor name. */
  v: Record<string, Float32Array>;
  /** Updates applied so far. */
  step: number;
}

async function readOptimizer(
  dir: string,
): Promise<
  { opt: OptimizerState; metadata: Record<string, string>; tensors: Record<string, SafeTensor> } | null
> {
  const file = `${dir}/optimizer.safetensors`;
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new CheckpointFormatError(`${file}: cannot read (${(e as Error).message.split("\n")[0]})`);
  }
  let tensors: Record<string, SafeTensor>, metadata: Record<string, string>;
  try {
    ({ tensors, metadata } = decodeSafetensors(bytes, file));
  } catch (e) {
    throw new CheckpointFormatError((e as Error).message);
  }
  const m: Record<string, Float32Array> = {}, v: Record<string, Float32Array> = {};
  for (const [name, t] of Object.entries(tensors)) {
    if (name.startsWith("m.")) m[name.slice(2)] = toFloat32(t);
    else if (name.startsWith("v.")) v[name.slice(2)] = toFloat32(t);
  }
  return { opt: { m, v, step: Number(metadata.step ?? 0) }, metadata, tensors };
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
export async function loadOptimizerState(dir: string): Promise<OptimizerState | null> {
  return (await readOptimizer(dir))?.opt ?? null;
}

/** What {@link readResumable} returns: a checkpoint whose parts were checked against each other. */
export interface ResumableCheckpoint extends Checkpoint {
  /** The training state (present). */
  state: TrainState;
  /** AdamW moments and step. */
  optimizer: OptimizerState;
  /** sha256 of the `tokenizer.json` bytes, or null when the directory has none. */
  tokenizerSha256: string | null;
}

/**
 * Reads a resumable checkpoint (`last/`) and checks that its parts agree, each failure a one-line
 * {@link CheckpointFormatError} naming the file: `config.json` has a training state whose step is where its epoch and
 * position in the epoch put it; `optimizer.safetensors` exists, its step is the state's, and it holds exactly
 * `m.<name>` and `v.<name>` for every weight of `model.safetensors`, shape for shape; every tagged file comes from
 * the same save; and, when `expect.tokenizerSha256` is given (the data's `meta.json`), `tokenizer.json` hashes to it.
 *
 * @example
 * ```ts ignore
 * import { readResumable } from "./checkpoint.ts";
 * import type { ShardMeta } from "../data/shards.ts";
 * const meta: ShardMeta = JSON.parse(await Deno.readTextFile("data/prepared/piano/meta.json"));
 * const ck = await readResumable("models/run/last", { tokenizerSha256: meta.tokenizer.sha256 });
 * ```
 */
export async function readResumable(
  dir: string,
  expect: {
    /** sha256 the checkpoint's `tokenizer.json` must have. */
    tokenizerSha256?: string;
    /** Where that hash comes from, for the message (e.g. `data/prepared/x/meta.json`). */
    tokenizerFrom?: string;
  } = {},
): Promise<ResumableCheckpoint> {
  const ck = await readCheckpoint(dir);
  const cfgFile = `${dir}/config.json`, optFile = `${dir}/optimizer.safetensors`;
  const st = ck.state;
  if (!st) throw new CheckpointFormatError(`${cfgFile}: no training state (etude.state), nothing to resume`);
  if (st.stepsPerEpoch > 0 && st.step !== st.epoch * st.stepsPerEpoch + st.stepInEpoch) {
    throw new CheckpointFormatError(
      `${cfgFile}: etude.state.step ${st.step} disagrees with epoch ${st.epoch} × stepsPerEpoch ` +
        `${st.stepsPerEpoch} + stepInEpoch ${st.stepInEpoch}`,
    );
  }
  const read = await readOptimizer(dir);
  if (!read) throw new CheckpointFormatError(`${optFile}: missing (cannot resume exactly)`);
  const { opt, metadata, tensors } = read;
  if (metadata.step === undefined || !/^\d+$/.test(metadata.step)) {
    throw new CheckpointFormatError(
      `${optFile}: metadata step must be an integer, got ${show(metadata.step)}`,
    );
  }
  if (opt.step !== st.step) {
    throw new CheckpointFormatError(
      `${optFile}: step ${opt.step} disagrees with config.json etude.state.step ${st.step}`,
    );
  }
  checkSaveTag(ck, metadata, optFile);
  const expected = new Set<string>();
  for (const [name, shape] of Object.entries(ck.shapes)) {
    for (const k of [`m.${name}`, `v.${name}`]) {
      expected.add(k);
      const t = tensors[k];
      if (!t) {
        throw new CheckpointFormatError(`${optFile}: missing tensor ${k} (model.safetensors has ${name})`);
      }
      if (t.shape.join(",") !== shape.join(",")) {
        throw new CheckpointFormatError(
          `${optFile}: tensor ${k} has shape [${t.shape}], model.safetensors ${name} has [${shape}]`,
        );
      }
    }
  }
  const extra = Object.keys(tensors).find((k) => !expected.has(k));
  if (extra) {
    throw new CheckpointFormatError(`${optFile}: tensor ${extra} matches no weight of model.safetensors`);
  }
  let tokenizerSha256: string | null = null;
  try {
    tokenizerSha256 = await sha256Hex(await Deno.readFile(`${dir}/tokenizer.json`));
  } catch { /* none */ }
  if (expect.tokenizerSha256 !== undefined && tokenizerSha256 !== expect.tokenizerSha256) {
    throw new CheckpointFormatError(
      `${dir}/tokenizer.json: ${
        tokenizerSha256 ? `sha256 ${tokenizerSha256.slice(0, 12)}…` : "missing"
      } differs from the data's tokenizer (${expect.tokenizerFrom ?? "meta.json"} sha256 ${
        expect.tokenizerSha256.slice(0, 12)
      }…)`,
    );
  }
  return { ...ck, state: st, optimizer: opt, tokenizerSha256 };
}
