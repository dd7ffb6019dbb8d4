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
import type { TokenizerJson } from "../tokenizers/tokenizer.ts";
import { type ModelConfig, tensorShapes } from "./config.ts";
import {
  checkpointConfigJson,
  CheckpointFormatError,
  Fields,
  isObj,
  parseCheckpointConfig,
  show,
  TOKENIZER_KINDS,
  type TrainState,
} from "./_checkpoint_config.ts";
import { commitSet, recoverCheckpoint } from "./_checkpoint_set.ts";

export { recoverCheckpoint };
export {
  type CheckpointConfigJson,
  checkpointConfigJson,
  CheckpointFormatError,
  type EtudeBlock,
  parseCheckpointConfig,
  type TrainState,
} from "./_checkpoint_config.ts";

/** The files a checkpoint directory must hold (`optimizer.safetensors` is optional: resumable runs only). */
export const CHECKPOINT_FILES = ["config.json", "model.safetensors", "tokenizer.json"] as const;

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
