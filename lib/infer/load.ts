/**
 * A model ready to generate ({@linkcode LoadedModel}): {@linkcode loadModel} reads a checkpoint onto the device
 * {@linkcode resolveDevice} picks (the WebGPU engine, the CPU backend, or tfjs for an LSTM), and
 * {@linkcode useModel} lets its users (`generate`, the server's batcher) take turns on it.
 *
 * @module
 */
import type { Tokenizer, TokenizerJson } from "../tokenizers/tokenizer.ts";
import { loadTokenizer } from "../tokenizers/load.ts";
import { Engine } from "./engine.ts";
import { type GrammarTables, grammarTables } from "./grammar.ts";
import { engineModel, type ModelWeights } from "./model_loader.ts";
import { type Checkpoint, CheckpointFormatError, readCheckpoint } from "../model/checkpoint.ts";
import { readGenerationConfig, type SamplingDefaults } from "./generation_config.ts";
import { type LstmConfig, type ModelConfig, trainedContext } from "../model/config.ts";
import { getGpu } from "./_gpu.ts";
import { type CpuDecoder } from "../cpu/decode.ts";
import type { WeightFormat } from "../cpu/qgemv.ts";

/**
 * A model ready to generate.
 *
 * @example
 * ```ts ignore
 * import { loadModel } from "./load.ts";
 * const model = await loadModel("models/default");
 * console.log(model.arch, model.context, model.adapter, model.tokenizer.vocab.length);
 * model.dispose();
 * ```
 */
export interface LoadedModel {
  /** The checkpoint directory. */
  readonly dir: string;
  /** The model's hyper-parameters, from the checkpoint's `etude.*` metadata. */
  readonly config: ModelConfig;
  /**
   * Positions the model sees at once: the Transformer's training length (`trainedContext`: a model trained on 256
   * with `maxPositions` 512 slides its window at 256, never using positions it was not trained on); unbounded for
   * the LSTM (it windows).
   */
  readonly context: number;
  /** The model's tokenizer (encodes a prompt, decodes the generated ids). */
  readonly tokenizer: Tokenizer;
  /** The checkpoint's `tokenizer.json`, parsed. */
  readonly tokenizerJson: TokenizerJson;
  /** The grammar tables derived from `tokenizer.json`. */
  readonly grammar: GrammarTables;
  /** Where it runs: the WebGPU adapter (transformer) or `tfjs-<backend>` (LSTM). */
  readonly adapter: string;
  /** `etude.arch` of the checkpoint. */
  readonly arch: "transformer" | "lstm";
  /** LSTM only: logits of the last position for each of B equally long id windows (via tfjs). */
  readonly lstmLogits?: (windows: number[][]) => Float32Array[];
  /** LSTM only: the training window length (the context the LSTM is run over). */
  readonly seqLen?: number;
  /** Where the Transformer decodes: `gpu` (the WebGPU engine, on whatever adapter) or `cpu` (lib/cpu, BLAS). */
  readonly device?: "gpu" | "cpu";
  /** CPU device only: the decoder (KV caches for at least `batch` sequences; recreated when larger is needed). */
  readonly cpuDecoder?: (batch: number) => CpuDecoder;
  /** The engine (recreated with a larger batch capacity when needed). */
  engine(batch: number): Promise<Engine>;
  /**
   * The model's own sampling defaults (`generation_config.json` beside it, lib/infer/generation_config.ts): what a
   * parameter left out takes before the table's default. Undefined: none shipped.
   */
  readonly sampling?: SamplingDefaults;
  /** Frees the GPU buffers (or tfjs tensors); the model cannot be used afterwards. */
  dispose(): void;
}

/** Where a Transformer decodes: `auto` (a real GPU adapter → the engine; else a BLAS found → CPU; else the engine). */
export type Device = "auto" | "gpu" | "cpu";

/** Options of {@linkcode loadModel}. */
export interface LoadModelOptions {
  /**
   * `gpu`: the WebGPU engine (on the software adapter where no GPU exists); `cpu`: lib/cpu through a system BLAS (the
   * TypeScript fallback when none is found); `auto` (default): a real GPU → `gpu`, else a BLAS found → `cpu`, else
   * `gpu`. LSTM checkpoints always run through tfjs.
   */
  device?: Device;
  /** CPU device: BLAS threads (default: the library's own default, usually all cores). */
  threads?: number;
  /**
   * CPU device: the decoder's weight format: `f32` (default), or `bf16` / `int8` (per-row scales) — reduced-precision
   * copies multiplied by WebAssembly SIMD kernels on `threads` threads: faster, with a small logit error (see
   * lib/cpu/qgemv.ts). Other devices accept only `f32`.
   */
  weights?: WeightFormat;
}

/** Adapter names of software rasterisers (as lib/infer/_kernels.ts), for drivers that do not set the flag. */
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|warp|software/i;

/** The device `auto` picks here: `gpu` for a real adapter, else `cpu` when a BLAS loads, else `gpu`. */
export async function resolveDevice(
  device: Device = "auto",
): Promise<{ device: "gpu" | "cpu"; why: string }> {
  if (device === "gpu" || device === "cpu") return { device, why: "requested" };
  let gpu: { adapter: string; software: boolean } | undefined;
  try {
    gpu = await getGpu();
  } catch (e) {
    gpu = undefined;
    if (!(e instanceof Error)) throw e;
  }
  if (gpu && !gpu.software && !SOFTWARE_ADAPTER.test(gpu.adapter)) {
    return { device: "gpu", why: `GPU adapter ${gpu.adapter}` };
  }
  const { loadBlas } = await import("../cpu/blas.ts");
  const { blas, reason } = loadBlas();
  if (blas) {
    return { device: "cpu", why: `no real GPU adapter${gpu ? ` (${gpu.adapter})` : ""}; BLAS ${blas.name}` };
  }
  return { device: "gpu", why: `no real GPU adapter and no BLAS (${reason})` };
}

/** A readable BLAS name: `OpenBLAS`, `Accelerate`, `MKL`, or the library loaded. */
function blasLabel(name: string): string {
  if (/openblas/i.test(name)) return "OpenBLAS";
  if (/accelerate/i.test(name)) return "Accelerate";
  if (/mkl/i.test(name)) return "MKL";
  return name;
}

/**
 * Loads a checkpoint onto the GPU (an LSTM onto tfjs): a directory (read with `readCheckpoint`) or a checkpoint
 * already read.
 *
 * @example
 * ```ts ignore
 * import { generate } from "./generate.ts";
 * import { loadModel } from "./load.ts";
 * const model = await loadModel("models/default");
 * const { scores } = await generate({ model, bars: 4, seed: 1 });
 * model.dispose();
 * ```
 */
export async function loadModel(
  source: string | Checkpoint,
  opts: LoadModelOptions = {},
): Promise<LoadedModel> {
  const ck = typeof source === "string" ? await readCheckpoint(source) : source;
  // the model's own sampling defaults (generation_config.json), read before the (slow) weights go anywhere
  const sampling = ck.dir ? await readGenerationConfig(ck.dir) : undefined;
  const model = await loadFrom(ck, opts);
  if (sampling) (model as { sampling?: SamplingDefaults }).sampling = sampling;
  return model;
}

async function loadFrom(ck: Checkpoint, opts: LoadModelOptions): Promise<LoadedModel> {
  const dir = ck.dir, json = ck.tokenizerJson;
  if (!json) {
    throw new CheckpointFormatError(
      `${dir}/tokenizer.json: missing (generation needs the model's tokenizer)`,
    );
  }
  const tokenizer = loadTokenizer(json);
  const grammar = grammarTables(json);
  if (ck.config.arch === "lstm") return await loadLstm(ck, ck.config, tokenizer, json, grammar);
  if ((await resolveDevice(opts.device)).device === "cpu") {
    return await loadCpu(ck, opts.threads, tokenizer, json, grammar, opts.weights);
  }
  if ((opts.weights ?? "f32") !== "f32") {
    throw new Error(`weights: ${opts.weights} needs the CPU device (--device cpu)`);
  }
  const { config, weights } = engineModel(ck);
  // the engine's context is the training length: its window slides there, and its KV caches hold no more
  const runtime = { ...config, maxPositions: trainedContext(config) };
  let engine = await Engine.create(runtime, weights, { maxBatch: 1 });
  let w: ModelWeights | undefined = weights;
  const model: LoadedModel = {
    dir,
    config,
    context: runtime.maxPositions,
    tokenizer,
    tokenizerJson: json,
    grammar,
    adapter: engine.adapter,
    arch: "transformer",
    device: "gpu",
    async engine(batch: number) {
      if (batch > engine.maxBatch) {
        if (!w) throw new Error("model was disposed");
        engine.dispose();
        engine = await Engine.create(runtime, w, { maxBatch: Math.max(batch, 2 * engine.maxBatch) });
      }
      return engine;
    },
    dispose() {
      // After the decode running on it, if any (its buffers are in use until then).
      w = undefined;
      useModel(model, () => Promise.resolve(engine.dispose()));
    },
  };
  return model;
}

/** A Transformer on the CPU backend (lib/cpu): BLAS when one loads, else its TypeScript fallback (with a warning). */
async function loadCpu(
  ck: Checkpoint,
  threads: number | undefined,
  tokenizer: Tokenizer,
  json: TokenizerJson,
  grammar: GrammarTables,
  weights: WeightFormat = "f32",
): Promise<LoadedModel> {
  const { loadBlas, getBlas } = await import("../cpu/blas.ts");
  const { toCpuConfig } = await import("../cpu/layout.ts");
  const { CpuTransformer } = await import("../cpu/model.ts");
  const { CpuDecoder } = await import("../cpu/decode.ts");
  const config = ck.config;
  if (config.arch !== "transformer") throw new Error("the CPU device runs Transformer checkpoints");
  const { blas: found, reason } = loadBlas();
  const blas = found ?? getBlas();
  let adapter: string;
  if (found) {
    if (threads !== undefined) blas.setThreads(threads);
    const n = threads ?? (Deno.env.get("OPENBLAS_NUM_THREADS") || navigator.hardwareConcurrency);
    adapter = `cpu (${blasLabel(found.name)}, ${n} thread${Number(n) === 1 ? "" : "s"})`;
  } else {
    console.warn(`etude: no BLAS, the CPU device runs its TypeScript fallback (slow): ${reason}`);
    adapter = "cpu (TypeScript fallback, no BLAS)";
  }
  if (weights !== "f32") adapter = adapter.replace(/\)$/, `, ${weights} weights)`);
  // the context is the training length (as the engine's above)
  const context = trainedContext(config);
  let m: InstanceType<typeof CpuTransformer> | undefined = CpuTransformer.fromWeights(
    toCpuConfig({ ...config, maxPositions: context }),
    ck.weights,
    blas,
  );
  let dec: CpuDecoder | undefined;
  let engine: Engine | undefined;
  const model: LoadedModel = {
    dir: ck.dir,
    config,
    context,
    tokenizer,
    tokenizerJson: json,
    grammar,
    adapter,
    arch: "transformer",
    device: "cpu",
    cpuDecoder(batch: number) {
      if (!m) throw new Error("model was disposed");
      if (!dec || dec.maxBatch < batch) {
        dec?.dispose();
        dec = new CpuDecoder(m, { maxBatch: batch, weights, threads });
      }
      return dec;
    },
    // The engine stays reachable (direct Engine users, the server's batcher): created on first use.
    async engine(batch: number) {
      if (!m) throw new Error("model was disposed");
      if (!engine || batch > engine.maxBatch) {
        const { config, weights } = engineModel(ck);
        const cap = Math.max(batch, 2 * (engine?.maxBatch ?? 0), 1);
        engine?.dispose();
        engine = await Engine.create({ ...config, maxPositions: context }, weights, { maxBatch: cap });
      }
      return engine;
    },
    dispose() {
      m = undefined;
      dec?.dispose();
      dec = undefined;
      const e = engine;
      if (e) useModel(model, () => Promise.resolve(e.dispose()));
    },
  };
  return model;
}

/** The LSTM presets run through tfjs (lib/model), imported only when such a checkpoint is loaded. */
async function loadLstm(
  ck: Checkpoint,
  config: LstmConfig,
  tokenizer: Tokenizer,
  json: TokenizerJson,
  grammar: GrammarTables,
): Promise<LoadedModel> {
  const tf = await import("@tensorflow/tfjs-core");
  const { selectBackend } = await import("../model/backend.ts");
  const { TfModel } = await import("../model/model.ts");
  const backend = await selectBackend("auto");
  const model = TfModel.fromCheckpoint(ck);
  const seqLen = config.seqLen;
  return {
    dir: ck.dir,
    config,
    context: Number.MAX_SAFE_INTEGER,
    tokenizer,
    tokenizerJson: json,
    grammar,
    adapter: `tfjs-${backend}`,
    arch: "lstm",
    seqLen,
    lstmLogits(windows: number[][]) {
      const B = windows.length, T = windows[0].length, V = config.vocabSize;
      const flat = Int32Array.from(windows.flat());
      const out = tf.tidy(() => model.apply(tf.tensor2d(flat, [B, T], "int32")).dataSync() as Float32Array);
      return windows.map((_, b) => out.slice((b * T + T - 1) * V, (b * T + T) * V));
    },
    engine() {
      return Promise.reject(new Error("LSTM checkpoints run through tfjs, not the WebGPU engine"));
    },
    dispose() {
      model.dispose();
    },
  };
}

/** Per model: the tail of the chain of its exclusive uses (one engine, one decode at a time). */
const inUse = new WeakMap<object, Promise<unknown>>();

/**
 * Runs `fn` when no other `useModel` of the same model runs: the engine's buffers serve one decode at a time, so
 * `generate` and the batcher's loops take turns, in call order.
 *
 * @example
 * ```ts ignore
 * import { loadModel, useModel } from "./load.ts";
 * const model = await loadModel("models/default");
 * const logits = await useModel(model, async () => (await model.engine(1)).forward([1]));
 * ```
 */
export function useModel<T>(model: LoadedModel, fn: () => Promise<T>): Promise<T> {
  const before = inUse.get(model) ?? Promise.resolve();
  const run = before.then(fn, fn);
  inUse.set(model, run.catch(() => {}));
  return run;
}
