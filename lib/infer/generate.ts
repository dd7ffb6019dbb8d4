/**
 * The one generation entry every face uses (CLI, server, compiled binary): prompt → ids → `Score`s, on the WebGPU
 * engine with GPU sampling and the REMI grammar mask.
 *
 * @module
 */
import type { Note, Score } from "../score.ts";
import { ticksToSeconds } from "../score.ts";
import type { Tokenizer, TokenizerJson } from "../tokenizers/tokenizer.ts";
import { loadTokenizer } from "../tokenizers/load.ts";
import { Engine } from "./engine.ts";
import {
  allowedMask,
  type GrammarState,
  type GrammarTables,
  grammarTables,
  initialState,
  nextState,
  TokenType,
} from "./grammar.ts";
import { engineModel, type ModelWeights } from "./model_loader.ts";
import { type Checkpoint, CheckpointFormatError, readCheckpoint } from "../model/checkpoint.ts";
import type { LstmConfig, ModelConfig } from "../model/config.ts";
import { BOS_ID, EOS_ID } from "../tokenizers/tokenizer.ts";
import type { SamplerParams } from "./sampling.ts";
import { sampleFast } from "./sample_fast.ts";
import { controlBias, type Controls } from "./controls.ts";
import { type DecodeConstraint, decodeConstraints } from "./constraints.ts";
import { NoteStream } from "./_note_stream.ts";
import { checkGenerateParams, GENERATE_PARAMS, GenerateParamError } from "./params.ts";
import {
  CATEGORIES,
  classOf,
  conditionIds,
  type ConditioningIds,
  conditioningIds,
  TEMPO_CLASSES,
} from "../data/conditioning.ts";
import {
  barStarts,
  buildInfillPrompt,
  type InfillRange,
  spliceInfill,
  spliceScore,
  splitAtBars,
} from "./infill.ts";
import { getGpu } from "./_gpu.ts";
import { type CpuDecoder } from "../cpu/decode.ts";
import type { WeightFormat } from "../cpu/qgemv.ts";

export { GenerateParamError } from "./params.ts";

/**
 * A model ready to generate.
 *
 * @example
 * ```ts ignore
 * import { loadModel } from "./generate.ts";
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
  /** Positions the model sees at once: the Transformer's `maxPositions`; unbounded for the LSTM (it windows). */
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
  /** Frees the GPU buffers (or tfjs tensors); the model cannot be used afterwards. */
  dispose(): void;
}

/**
 * Options of `generate`. The generation parameters' ranges and defaults live in one table, `GENERATE_PARAMS`
 * (lib/infer/params.ts); a value outside its range is a `GenerateParamError` naming the field.
 *
 * @example
 * ```ts ignore
 * import { generate, loadModel } from "./generate.ts";
 * import { readMidiFile } from "../midi/mod.ts";
 * const model = await loadModel("models/default");
 * const ac = new AbortController();
 * const { scores } = await generate({
 *   model,
 *   prompt: await readMidiFile("opening.mid"),
 *   seconds: 30,
 *   temperature: 0.9,
 *   topP: 0.9,
 *   seed: 42,
 *   onNotes: (notes) => console.log(`${notes.length} new notes`),
 *   signal: ac.signal,
 * });
 * model.dispose();
 * ```
 */
export interface GenerateOptions {
  /** The model to sample from (see `loadModel`). */
  model: LoadedModel;
  /** Continue this piece (tokenised with the model's tokenizer). */
  prompt?: Score;
  /** Length in tokens (`GENERATE_PARAMS.maxTokens`); the default length when no bars or seconds are given. */
  maxTokens?: number;
  /** Length in bars (`GENERATE_PARAMS.bars`); give at most one of maxTokens, bars, seconds. */
  bars?: number;
  /** Length in seconds of music after the prompt (`GENERATE_PARAMS.seconds`). */
  seconds?: number;
  /** Sampling temperature (`GENERATE_PARAMS.temperature`). */
  temperature?: number;
  /** Top-k, 0 = off (`GENERATE_PARAMS.topK`). */
  topK?: number;
  /** Top-p, nucleus (`GENERATE_PARAMS.topP`). */
  topP?: number;
  /** Sampling seed, an integer (`GENERATE_PARAMS.seed`; the library's default is fixed, faces draw one). */
  seed?: number;
  /** Grammar mask (`GENERATE_PARAMS.grammar`). */
  grammar?: boolean;
  /** Sequences generated at once (`GENERATE_PARAMS.batch`). */
  batch?: number;
  /** Streaming: new notes of sequence `sequence` as they are decoded. */
  onNotes?: (notes: Note[], sequence: number) => void;
  /** Cancels (the result holds what was generated so far). */
  signal?: AbortSignal;
  /** Tokens per GPU readback (`GENERATE_PARAMS.chunk`). */
  chunk?: number;
  /** Hard controls (key, range, stuck-note guard, tempo, time signature, density): lib/infer/controls.ts. */
  controls?: Controls;
  /**
   * Learned conditions (a model trained on `tokenize --conditioning` data; any other model refuses them with a
   * one-line `GenerateParamError` naming the field): `style` (`classical` | `pop`), `key` (`"E minor"`), `tempo`
   * (`slow` | `medium` | `fast`), `density` (`low` | `medium` | `high`), written as the four tokens after `BOS`
   * the model was trained with (a condition not asked: its `_none` token, as training's condition dropout wrote it).
   * On such a model the `key`, `tempo` (its class by {@linkcode CONDITION_TEMPO_BPM}) and `density` (a word)
   * controls also set their condition when it is not given here: one option, both mechanisms (the token steers, the
   * control's mask enforces).
   */
  conditions?: GenerateConditions;
  /**
   * Infilling: regenerate bars `from..to` (1-based, inclusive; or `"5:8"`) of `prompt`, the whole piece, so they fit
   * what comes before and after (a model trained with FIM; any other refuses it). The result is the whole piece
   * with every note outside those bars as it was (lib/infer/infill.ts); its `ids` are the middle's. The length is
   * those bars (`bars` and `seconds` conflict); `maxTokens` caps the middle's tokens (default: twice the original
   * bars' tokens + 64, at most half the context).
   */
  infill?: InfillRange | string;
}

/**
 * The learned conditions a generation asks for (`GenerateOptions.conditions`); a condition left out is its `_none`
 * token.
 *
 * @example
 * ```ts
 * import type { GenerateConditions } from "./generate.ts";
 * const c: GenerateConditions = { style: "pop", key: "E minor", density: "high" };
 * ```
 */
export interface GenerateConditions {
  /** `classical` (performance) or `pop`. */
  style?: "classical" | "pop";
  /** A key, like `"E minor"` or `"Bb major"`, or `{ tonic: 4, mode: "minor" }` (pitch class 0–11). */
  key?: string | { tonic: number; mode: "major" | "minor" };
  /** The tempo class: `slow`, `medium` or `fast`. */
  tempo?: "slow" | "medium" | "fast";
  /** The note density class: `low`, `medium` or `high`. */
  density?: "low" | "medium" | "high";
}

/**
 * What `generate` returns.
 *
 * @example
 * ```ts ignore
 * import { generate, loadModel } from "./generate.ts";
 * import { writeMidi } from "../midi/mod.ts";
 * const model = await loadModel("models/default");
 * const r = await generate({ model, batch: 4, maxTokens: 1024, seed: 1 });
 * console.log(`${r.tokens} tokens at ${r.tokensPerSecond.toFixed(0)}/s on ${r.adapter}`);
 * r.scores.forEach((s, i) => Deno.writeFileSync(`piece-${i}.mid`, writeMidi(s)));
 * model.dispose();
 * ```
 */
export interface GenerateResult {
  /** One piece per sequence (the prompt's notes included when a prompt was given). */
  scores: Score[];
  /** The generated ids per sequence (prompt excluded, cut at the stop criterion). */
  ids: number[][];
  /** Tokens sampled in all sequences. */
  tokens: number;
  /** Sampled tokens per second (all sequences, prefill included). */
  tokensPerSecond: number;
  /** Where it ran: the WebGPU adapter's description, or `tfjs-<backend>` for an LSTM. */
  adapter: string;
}

/**
 * The tempo classes' bpm thresholds a `tempo` control is read with on a conditioning model (below the first: `slow`,
 * from the second: `fast`): the tertiles of the tempo maps of `data/prepared/corpus-cond` (POP909's; its MAESTRO
 * performances carry no tempo map), the data this project's conditioning models are trained on. A model trained on
 * other data: pass `conditions.tempo` instead.
 *
 * @example
 * ```ts
 * import { CONDITION_TEMPO_BPM } from "./generate.ts";
 * CONDITION_TEMPO_BPM; // [72, 117]: --tempo 96 → TempoClass_medium
 * ```
 */
export const CONDITION_TEMPO_BPM: readonly [number, number] = Object.freeze([72, 117] as [number, number]);

/** Per tokenizer: its conditioning ids (undefined: no conditioning tokens). */
const CONDITIONING = new WeakMap<Tokenizer, { c?: ConditioningIds }>();

/** The conditioning and FIM ids of a model's vocabulary, or undefined (trained without `--conditioning`). */
function conditioningOf(model: LoadedModel): ConditioningIds | undefined {
  let e = CONDITIONING.get(model.tokenizer);
  if (!e) CONDITIONING.set(model.tokenizer, e = { c: conditioningIds(model.tokenizer.vocab) });
  return e.c;
}

/**
 * Whether a model was trained with learned conditions and infilling (its vocabulary has the condition tokens and
 * the FIM sentinels of `tokenize --conditioning`): what the faces ask before offering `style` and `infill`.
 *
 * @example
 * ```ts ignore
 * import { loadModel, modelSupports } from "./generate.ts";
 * const model = await loadModel("models/default");
 * modelSupports(model); // { conditioning: false, infill: false } for a model trained without them
 * ```
 */
export function modelSupports(model: LoadedModel): { conditioning: boolean; infill: boolean } {
  const yes = conditioningOf(model) !== undefined;
  return { conditioning: yes, infill: yes };
}

/** Why a model refuses a condition or infilling. */
function untrained(what: "conditioning" | "infilling", tokens: string): string {
  return `this model was not trained with ${what} (its vocabulary has no ${tokens} tokens; train one on data ` +
    "made with `deno task tokenize --conditioning`)";
}

/**
 * The condition ids after `BOS` (none for a model without them: explicit conditions are then refused). A condition
 * not asked is its `_none` token: training drops each condition to `_none` (`dropConditions`), and every training
 * piece starts `BOS` + four condition tokens, so `BOS` + four `_none` is the unconditional prompt the model knows.
 */
function conditionLead(c: ConditioningIds | undefined, opts: GenerateOptions): number[] {
  const req = opts.conditions ?? {};
  const fields = ["style", "key", "tempo", "density"] as const;
  if (!c) {
    fields.forEach((f, i) => {
      if (req[f] !== undefined) {
        throw new GenerateParamError(
          f,
          "a value, on a model trained with conditioning",
          req[f],
          undefined,
          undefined,
          undefined,
          untrained("conditioning", `${CATEGORIES[i]}_*`),
        );
      }
    });
    return [];
  }
  const ctl = opts.controls;
  const tempo = req.tempo ??
    (ctl?.tempo !== undefined ? TEMPO_CLASSES[classOf(ctl.tempo, CONDITION_TEMPO_BPM)] : undefined);
  const density = req.density ?? (typeof ctl?.density === "string" ? ctl.density : undefined);
  try {
    return conditionIds(c, { style: req.style, key: req.key ?? ctl?.key, tempo, density });
  } catch (e) {
    const m = /^(\w+): (.*)$/.exec((e as Error).message.split("\n")[0]);
    if (!m) throw e;
    const f = m[1] as typeof fields[number];
    throw new GenerateParamError(f, m[2], req[f], undefined, undefined, undefined, m[2]);
  }
}

/** The static bias with the condition tokens and FIM sentinels (and any BPE token holding one) at -inf. */
function conditionBias(g: GrammarTables, c: ConditioningIds | undefined, bias?: Float32Array) {
  if (!c) return bias;
  const out = bias ? Float32Array.from(bias) : new Float32Array(g.base.length);
  const fim = [c.fim.pre, c.fim.suf, c.fim.mid];
  g.base.forEach((seq, v) => {
    if (seq.some((b) => (b < c.category.length && c.category[b] >= 0) || fim.includes(b))) out[v] = -Infinity;
  });
  return out;
}

/**
 * The shortest bar length (grid positions) among the middle's bars, as the grammar reads the meters, with a Bar
 * and a TimeSig base id of that length; undefined when the vocabulary has no TimeSig.
 */
function middleMeter(
  g: GrammarTables,
  prefix: readonly number[],
  middle: readonly number[],
): { barLen: number; bar: number; timeSig: number } | undefined {
  const timeSig = g.baseBar.findIndex((len) => len > 0);
  const bar = g.baseType.indexOf(TokenType.Bar);
  if (timeSig < 0 || bar < 0) return undefined;
  let s = initialState(g);
  for (const id of prefix) s = nextState(g, s, id);
  // each bar's length: the state's at the end of the bar (REMI writes a TimeSig right after its Bar)
  let shortest = Infinity;
  middle.forEach((id, i) => {
    s = nextState(g, s, id);
    const next = middle[i + 1];
    if (next === undefined || g.baseType[g.base[next]?.[0] ?? -1] === TokenType.Bar) {
      shortest = Math.min(shortest, s.barLen);
    }
  });
  if (!Number.isFinite(shortest) || shortest >= 0x7fffffff) return undefined;
  const exact = g.baseBar.indexOf(shortest);
  return { barLen: shortest, bar, timeSig: exact >= 0 ? exact : timeSig };
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
 * import { generate, loadModel } from "./generate.ts";
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
  let engine = await Engine.create(config, weights, { maxBatch: 1 });
  let w: ModelWeights | undefined = weights;
  const model: LoadedModel = {
    dir,
    config,
    context: config.maxPositions,
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
        engine = await Engine.create(config, w, { maxBatch: Math.max(batch, 2 * engine.maxBatch) });
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
  let m: InstanceType<typeof CpuTransformer> | undefined = CpuTransformer.fromWeights(
    toCpuConfig(config),
    ck.weights,
    blas,
  );
  let dec: CpuDecoder | undefined;
  let engine: Engine | undefined;
  const model: LoadedModel = {
    dir: ck.dir,
    config,
    context: config.maxPositions,
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
        engine = await Engine.create(config, weights, { maxBatch: cap });
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

/**
 * The per-request half of {@linkcode generate}, shared with the server's batcher (lib/infer/batch.ts): the options
 * checked, the prompt tokenised and cut to what the model sees, the grammar state after it, and the stop criteria
 * (EOS, `maxTokens`, `bars`, `seconds`) and note streaming applied to each readback's tokens.
 *
 * @example
 * ```ts ignore
 * import { loadModel, prepareGeneration } from "./generate.ts";
 * const model = await loadModel("models/default");
 * const plan = prepareGeneration({ model, bars: 4, seed: 1 });
 * plan.onTokens([[5, 6, 7]]); // false: not done yet
 * const { ids } = plan.result(3, 0.1);
 * ```
 */
export interface GenerationPlan {
  /**
   * What the model sees first: BOS, a conditioning model's four condition tokens, the prompt's ids (its tail, cut at
   * a bar to fit half the context); for infilling, the FIM prompt (lib/infer/infill.ts `buildInfillPrompt`).
   */
  readonly prompt: number[];
  /** The grammar state after the prompt. */
  readonly grammarState: GrammarState;
  /** Tokens to sample at most per sequence (with bars or seconds, the safety cap). */
  readonly maxTokens: number;
  /** The checked sampling settings. */
  readonly sampling: { temperature: number; topK: number; topP: number; seed: number };
  /** Whether the grammar mask applies. */
  readonly grammar: boolean;
  /** Sequences. */
  readonly batch: number;
  /** Tokens per readback. */
  readonly chunk: number;
  /** The static controls' bias (`controlBias`), or undefined. */
  readonly bias?: Float32Array;
  /**
   * Per-sequence state of the dynamic controls (exact bars, `maxPolyphony`, `noRepeatNgram`; lib/infer/constraints.ts),
   * or undefined when there is none: a decoder calls it once per sequence, `advance`s it with every token drawn and
   * masks each draw with its `allowed()`.
   */
  readonly constraint?: () => DecodeConstraint;
  /** Takes each sequence's new tokens (one list per sequence); true once every sequence is done. */
  onTokens(fresh: number[][]): boolean;
  /** Where a full context's re-prefilled window starts in `ids` (a bar near the last half context). */
  windowStart(ids: number[]): number;
  /** The result so far, reporting `tokens` tokens sampled in `seconds`. */
  result(tokens: number, seconds: number): GenerateResult;
}

/**
 * Checks `opts` and prepares a generation: see {@linkcode GenerationPlan}. Throws `GenerateParamError` for a value
 * outside its range.
 *
 * @example
 * ```ts ignore
 * import { loadModel, prepareGeneration } from "./generate.ts";
 * const model = await loadModel("models/default");
 * const { prompt, maxTokens } = prepareGeneration({ model, maxTokens: 64 }); // [1], 64
 * ```
 */
export function prepareGeneration(opts: GenerateOptions): GenerationPlan {
  const model = opts.model;
  const {
    temperature,
    topK,
    topP,
    seed,
    batch,
    bars,
    seconds,
    chunk,
    grammar: useGrammar,
    infill: range,
    ...p
  } = checkGenerateParams(opts);
  // With bars or seconds, the token range's top is the safety cap.
  let maxTokens = p.maxTokens ?? GENERATE_PARAMS.maxTokens.max;
  const g = model.grammar, ctx = model.context, tok = model.tokenizer;
  const cids = conditioningOf(model);
  // BOS, then (a conditioning model) the four condition tokens.
  const lead = [BOS_ID, ...conditionLead(cids, opts)];

  // Prompt: the lead + tokens, cut at a bar boundary to fit half the context. The model sees only that tail, but
  // the result is the whole prompt (as the tokenizer renders it) followed by the continuation.
  const fullPromptIds = opts.prompt ? tok.encode(opts.prompt) : [];
  let promptIds = fullPromptIds;
  const isBar = (id: number) => g.baseType[g.base[id]?.[0] ?? -1] === TokenType.Bar;
  const limit = Math.floor(ctx / 2);
  if (promptIds.length + lead.length > limit) {
    let start = promptIds.length - (limit - lead.length);
    const bar = promptIds.findIndex((id, i) => i >= start && isBar(id));
    if (bar >= 0) start = bar;
    promptIds = promptIds.slice(start);
  }
  let prompt = [...lead, ...promptIds];
  let gs: GrammarState = initialState(g);
  for (const id of promptIds) gs = nextState(g, gs, id);
  // Infilling: the FIM prompt, the grammar at the start of bar `from`, exactly `to − from + 1` bars.
  let stopBars = bars, constraintPrompt = fullPromptIds, streamPrompt = fullPromptIds;
  let meterMask: number | undefined;
  if (range) {
    const refuse = (reason: string) =>
      new GenerateParamError(
        "infill",
        GENERATE_PARAMS.infill.allowed,
        `${range.from}:${range.to}`,
        undefined,
        undefined,
        undefined,
        reason,
      );
    if (!cids) throw refuse(untrained("infilling", "FIM_PRE/FIM_SUF/FIM_MID"));
    if (!opts.prompt) throw refuse("needs a prompt: the piece whose bars are regenerated");
    const nBars = barStarts(tok, fullPromptIds).length;
    if (range.to > nBars) {
      throw refuse(`bars ${range.from}:${range.to}: the prompt has ${nBars} bar${nBars === 1 ? "" : "s"}`);
    }
    const parts = splitAtBars(tok, fullPromptIds, range);
    maxTokens = Math.min(p.maxTokens ?? 2 * parts.middle.length + 64, Math.floor(ctx / 2));
    prompt = buildInfillPrompt(tok, fullPromptIds, range, {
      conditions: lead.slice(1),
      maxTokens: Math.min(ctx - maxTokens, Number.MAX_SAFE_INTEGER),
    }).prompt;
    // The middle is written in its shortest meter (the original's meters are put back by the splice): the grammar
    // starts at a bar line of that length (only a Bar may come first), the constraint's bars have it, and every
    // other bar length's TimeSig is masked, so no note lands past its bar.
    const meter = middleMeter(g, parts.prefix, parts.middle);
    gs = { ...initialState(g), barLen: meter?.barLen ?? initialState(g).barLen };
    stopBars = range.to - range.from + 1;
    streamPrompt = parts.prefix;
    // prompt tokens open no counted bar: [Bar, TimeSig] only sets the constraint's bar length
    constraintPrompt = meter ? [...parts.prefix, meter.bar, meter.timeSig] : parts.prefix;
    meterMask = meter?.barLen;
  }
  let bias = conditionBias(g, cids, controlBias(tok.vocab, opts.controls));
  if (meterMask !== undefined) {
    const out = bias ? Float32Array.from(bias) : new Float32Array(g.base.length);
    g.base.forEach((seq, v) => {
      if (seq.some((b) => g.baseBar[b] > 0 && g.baseBar[b] !== meterMask)) out[v] = -Infinity;
    });
    bias = out;
  }
  const constraint = decodeConstraints({
    tokenizer: model.tokenizerJson,
    grammar: g,
    controls: opts.controls,
    bars: stopBars,
    maxTokens,
    prompt: constraintPrompt,
    grammarState: useGrammar ? gs : undefined,
    bias,
  });
  // Exact bars (a constraint with `bars`): every Bar inside a token counts (the mask keeps the one past bar N first).
  const barsIn = (id: number) =>
    constraint ? (g.base[id] ?? []).filter((b) => g.baseType[b] === TokenType.Bar).length : isBar(id) ? 1 : 0;

  // Stop criteria per sequence.
  const ids: number[][] = Array.from({ length: batch }, () => []);
  const done = new Array(batch).fill(false);
  const barsSeen = new Array(batch).fill(0);
  const decodeAll = (s: number) => tok.decode([...fullPromptIds, ...ids[s]]);
  // `seconds` and streaming count from where the prompt stops: its last onset (0 without a prompt)
  const promptScore = tok.decode(fullPromptIds);
  const promptSeconds = promptScore.notes.reduce(
    (m, n) => Math.max(m, ticksToSeconds(promptScore, n.start)),
    0,
  );
  const until = seconds === undefined ? undefined : promptSeconds + seconds;
  // Streaming and the seconds stop decode each readback's new ids only (the prompt's notes are not streamed).
  const streams = seconds !== undefined || opts.onNotes
    ? Array.from({ length: batch }, () => new NoteStream(tok, streamPrompt, until))
    : undefined;
  const onTokens = (fresh: number[][]): boolean => {
    for (let s = 0; s < batch; s++) {
      if (done[s]) continue;
      const before = ids[s].length;
      for (const id of fresh[s]) {
        if (id === EOS_ID) {
          done[s] = true;
          break;
        }
        if (stopBars !== undefined && (barsSeen[s] += barsIn(id)) > stopBars) {
          done[s] = true;
          break;
        }
        ids[s].push(id);
        if (ids[s].length >= maxTokens) {
          done[s] = true;
          break;
        }
      }
      if (streams) {
        const { notes, reachedStop } = streams[s].push(ids[s].slice(before));
        if (reachedStop) done[s] = true;
        if (opts.onNotes && notes.length) opts.onNotes(notes, s);
      }
    }
    return done.every(Boolean);
  };
  const windowStart = (h: number[]) => {
    const target = h.length - Math.floor(ctx / 2);
    for (let i = Math.max(target - Math.floor(ctx / 4), 0); i < h.length; i++) if (isBar(h[i])) return i;
    return target;
  };
  const result = (tokens: number, seconds: number): GenerateResult => {
    const scores = ids.map((_, s) => {
      // Infilling: the user's piece, every note outside the bars kept, its tempo map and meters.
      if (range) {
        const spliced = spliceInfill(tok, fullPromptIds, range, ids[s]).ids;
        return spliceScore(tok, opts.prompt!, fullPromptIds, range, spliced);
      }
      const score = decodeAll(s);
      // A fixed tempo is the piece's one tempo, exactly as asked (the Tempo tokens hold only its nearest bin).
      if (opts.controls?.tempo !== undefined) score.tempos = [{ tick: 0, bpm: opts.controls.tempo }];
      if (until !== undefined) {
        score.notes = score.notes.filter((n) => ticksToSeconds(score, n.start) < until);
      }
      // Exact bars: the piece ends at the end of its last bar (bar N), where the written end-of-track goes.
      if (constraint && bars !== undefined) {
        const c = constraint();
        for (const id of ids[s]) c.advance(id);
        const end = c.endTick();
        if (end !== undefined) score.endTick = end;
      }
      return score;
    });
    return { scores, ids, tokens, tokensPerSecond: tokens / seconds, adapter: model.adapter };
  };
  return {
    prompt,
    grammarState: gs,
    maxTokens,
    sampling: { temperature, topK, topP, seed },
    grammar: useGrammar,
    batch,
    chunk,
    bias,
    constraint,
    onTokens,
    windowStart,
    result,
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
 * import { loadModel, useModel } from "./generate.ts";
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

/**
 * Generates `batch` pieces (continuing `prompt` if given). Same options and seed → the same ids and scores.
 * Concurrent calls on one model take turns (see {@linkcode useModel}); the server batches them instead
 * (lib/infer/batch.ts).
 *
 * @example
 * ```ts ignore
 * import { generate, loadModel } from "./generate.ts";
 * const model = await loadModel("models/default");
 * const r = await generate({ model, maxTokens: 256, temperature: 0.9, seed: 7, batch: 2 });
 * console.log(r.tokensPerSecond, r.adapter, r.scores[0].notes.length);
 * ```
 */
export async function generate(opts: GenerateOptions): Promise<GenerateResult> {
  const plan = prepareGeneration(opts);
  const model = opts.model, g = model.grammar, batch = plan.batch;
  const bias = plan.bias;
  return await useModel(model, async () => {
    const t0 = performance.now();
    let steps: number;
    if (model.arch === "lstm" || model.cpuDecoder) {
      const L = model.seqLen ?? 100;
      steps = await sampleLoop(
        model,
        plan.prompt,
        plan.grammarState,
        plan.grammar,
        batch,
        plan.maxTokens,
        plan.chunk,
        plan.sampling,
        plan.onTokens,
        model.cpuDecoder
          ? cpuRows(model.cpuDecoder(batch), batch, model.context, plan.windowStart)
          : (hist) => ({ rows: () => model.lstmLogits!(hist.map((h) => h.slice(-L))) }),
        opts.signal,
        bias,
        plan.constraint,
      );
    } else {
      const engine = await model.engine(batch);
      const res = await engine.decode({
        prompt: plan.prompt,
        grammarState: plan.grammarState,
        grammar: plan.grammar ? g : undefined,
        batch,
        maxTokens: plan.maxTokens,
        ...plan.sampling,
        bias,
        chunk: plan.chunk,
        signal: opts.signal,
        nextState: (s, id) => nextState(g, s, id),
        windowStart: plan.windowStart,
        onTokens: plan.onTokens,
        stepBias: stepBias(plan.constraint, batch),
      });
      steps = res.steps;
    }
    return plan.result(steps * batch, (performance.now() - t0) / 1000);
  });
}

/**
 * The engine's per-step bias of the dynamic controls (none: undefined): each sequence's constraint, advanced through
 * its ids so far, gives the static bias with -inf where its mask says no.
 */
function stepBias(
  make: (() => DecodeConstraint) | undefined,
  batch: number,
): ((seq: number, ids: readonly number[]) => Float32Array) | undefined {
  if (!make) return undefined;
  const cs = Array.from({ length: batch }, make), seen = new Array(batch).fill(0);
  return (s, ids) => {
    while (seen[s] < ids.length) cs[s].advance(ids[seen[s]++]);
    return cs[s].bias();
  };
}

/** Where `sampleLoop` gets each draw's logits rows, over the loop's growing histories. */
interface RowSource {
  /** Logits of each sequence's next draw (`draw` = draws so far); read before the next call only. */
  rows(draw: number): Float32Array[];
  /** Draws possible before the context must slide (sliding first if it is full); unbounded when absent. */
  room?(): number;
}

/**
 * Token-by-token sampling on the CPU (the reference sampler and the grammar mask): the LSTM (tfjs forward over the
 * last seqLen tokens) and the Transformer on the CPU device (KV-cache decoder). Same Philox streams and counters as
 * the engine (sequence b = stream b, draw i = counter i), so the same seed gives the same tokens.
 */
async function sampleLoop(
  model: LoadedModel,
  prompt: number[],
  gs: GrammarState,
  useGrammar: boolean,
  batch: number,
  maxTokens: number,
  chunk: number,
  sampling: SamplerParams,
  onTokens: (fresh: number[][]) => boolean,
  source: (hist: number[][]) => RowSource,
  signal?: AbortSignal,
  bias?: Float32Array,
  constraint?: () => DecodeConstraint,
): Promise<number> {
  const g = model.grammar;
  // Dynamic controls: each draw masked by its sequence's constraint (the grammar mask included in it).
  const cs = constraint ? Array.from({ length: batch }, constraint) : undefined;
  const hist = Array.from({ length: batch }, () => [...prompt]);
  const states = Array.from({ length: batch }, () => ({ ...gs }));
  const src = source(hist);
  let draws = 0;
  while (draws < maxTokens) {
    const fresh: number[][] = Array.from({ length: batch }, () => []);
    const n = Math.min(chunk, maxTokens - draws, src.room?.() ?? Infinity);
    for (let i = 0; i < n; i++, draws++) {
      const rows = src.rows(draws);
      for (let b = 0; b < batch; b++) {
        const mask = cs ? cs[b].allowed() : useGrammar ? allowedMask(g, states[b]) : undefined;
        const t = sampleFast(rows[b], sampling, b, draws, mask, bias).token;
        hist[b].push(t);
        fresh[b].push(t);
        states[b] = nextState(g, states[b], t);
        cs?.[b].advance(t);
      }
    }
    if (onTokens(fresh) || signal?.aborted) break;
    await new Promise((r) => setTimeout(r, 0));
  }
  return draws;
}

/**
 * The Transformer's rows on the CPU decoder, as the engine runs them: the prompt prefilled into every slot (the first
 * draw from its last row), then one step per draw; when the context is full, every sequence's history is cut at
 * `windowStart` (clamped as the engine does), all but its newest token re-prefilled, and decoding resumes from it.
 */
function cpuRows(
  dec: CpuDecoder,
  batch: number,
  ctx: number,
  windowStart: (ids: number[]) => number,
): (hist: number[][]) => RowSource {
  return (hist) => {
    const off = new Array(batch).fill(0); // where each sequence's window starts in hist
    const pos = new Array(batch).fill(0); // the position of the token each next step processes
    const tokens = new Int32Array(batch);
    let prefilled = false;
    const room = () => {
      if (!prefilled) return ctx - hist[0].length + 1;
      if (Math.max(...pos) >= ctx) {
        for (let s = 0; s < batch; s++) {
          const h = hist[s].slice(off[s]);
          let start = windowStart(h);
          start = Math.min(Math.max(start, h.length - ctx + 1, 0), h.length - 1);
          off[s] += start;
          const w = h.slice(start);
          dec.reset(s);
          if (w.length > 1) dec.prefill(w.slice(0, -1), { seq: s });
          pos[s] = w.length - 1;
        }
      }
      return ctx - Math.max(...pos);
    };
    return {
      room,
      rows() {
        if (!prefilled) {
          prefilled = true;
          const rows = [];
          for (let s = 0; s < batch; s++) {
            dec.reset(s);
            rows.push(dec.prefill(hist[s], { seq: s }).slice());
            pos[s] = hist[s].length;
          }
          return rows;
        }
        for (let s = 0; s < batch; s++) tokens[s] = hist[s][hist[s].length - 1];
        const out = dec.step(tokens, pos);
        for (let s = 0; s < batch; s++) pos[s]++;
        const V = out.length / batch;
        return Array.from({ length: batch }, (_, s) => out.subarray(s * V, (s + 1) * V));
      },
    };
  };
}
