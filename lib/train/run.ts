/**
 * `deno task train` as a library: the preset with its overrides (with `resume`, the run's own model and recipe,
 * see {@link resumeConfig}), fitted to the prepared data's vocabulary and tokenizer; the architecture, parameter
 * count, memory estimate and recipe printed; then, unless it is a dry run, the backend and {@link trainModel}, which
 * prints the expected duration (measured on a warm-up step) before it starts and saves `<out>/last/` every
 * `saveEvery` (default every 10 minutes) as well as at each epoch end.
 *
 * A fine-tune (`initFrom`): the architecture and the weights come from a checkpoint (the prepared data must have its
 * tokenizer, byte for byte: `deno task tokenize --tokenizer-from <model>`), the recipe from that checkpoint's own
 * (its run's) with a fresh optimizer and schedule: unless set, the peak learning rate is a third of the run's
 * ({@link FINE_TUNE_LR_FACTOR}) and the warm-up at most a tenth of the steps.
 *
 * Bad options are one-line {@linkcode UsageError}s naming the flag.
 *
 * @module
 */
import { UsageError } from "../util/errors.ts";
import { type CommandOutput, commandOutput } from "../util/output.ts";
import { openShards } from "../data/shards.ts";
import { COPY_INDEX_JSON, copyIndexInto } from "../data/copy_index.ts";
import { existsSync } from "../util/fs.ts";
import { join } from "node:path";
import { batchesPerEpoch } from "../data/windows.ts";
import { sha256Hex } from "../util/hash.ts";
import { readCheckpoint } from "../model/checkpoint.ts";
import { selectBackend } from "../model/backend.ts";
import { chooseTrainBackend, type TrainBackendChoice } from "./backend.ts";
import { getGpu } from "../gpu/device.ts";
import {
  applyOverrides,
  countParams,
  describeModel,
  estimateTrainMemory,
  getPreset,
  type Overrides,
  type Preset,
  PRESETS,
  TRAIN_OVERRIDE_KEYS,
} from "../model/config.ts";
import { resumeConfig, trainModel, type TrainRunResult } from "./loop.ts";

/** Options of {@link runTraining} (the `deno task train` flags, and where its lines go). */
export interface TrainCommandOptions extends CommandOutput {
  /** Preset name (default `v8`). */
  preset?: string;
  /**
   * Model and recipe overrides (`--layers`, `--lr`, …); with `resume` only `microBatch`, `workers` and `steps` (a
   * new step budget: the cosine continues over it) apply.
   */
  overrides?: Overrides;
  /** A prepared dataset directory (`data/prepared/<name>`); required unless `dryRun`. */
  data?: string;
  /** Run directory (`models/<run>`); required unless `dryRun`, and with `resume`. */
  out?: string;
  /** Continue `<out>/last/`. */
  resume?: boolean;
  /** Print the summary only; no training. */
  dryRun?: boolean;
  /**
   * Names the engine exactly (not with `device`): `webgpu`, `wasm` or `cpu` (tfjs backends), `blas` (the CPU backend,
   * lib/cpu), or `gpu`: etude's own WGSL kernels (lib/gpu, one command buffer per step; see lib/train/gpu.ts).
   * `auto` = `device: "auto"`. See lib/train/backend.ts.
   */
  backend?: string;
  /**
   * `auto` (default): a real GPU → tfjs-webgpu, else a BLAS → the CPU backend, else tfjs-wasm; `gpu`: tfjs-webgpu;
   * `cpu`: the CPU backend, tfjs-wasm without a BLAS. LSTM presets always train on tfjs.
   */
  device?: string;
  /** BLAS threads of the CPU backend (default: the library's, usually every core). */
  threads?: number;
  /** Save and stop after this many steps in this invocation. */
  maxSteps?: number;
  /**
   * Also save `<out>/last/` inside epochs: every this many steps and/or seconds (see {@link parseSaveEvery}; default
   * every 600 s; `{}` turns it off).
   */
  saveEvery?: { steps?: number; seconds?: number };
  /** Fine-tune: start a new run from this checkpoint directory's weights (see the module doc). */
  initFrom?: string;
  /** WGSL backend: log (one GPU readback) every this many steps (default 10); other backends log every step. */
  logEvery?: number;
  /** Print the expected duration, measured on a warm-up step, before training (default true). */
  estimate?: boolean;
  /** Save and stop on Ctrl-C (the CLI turns it on). */
  handleSignals?: boolean;
}

const MiB = 1024 * 1024;

/**
 * A fine-tune's default peak learning rate, as a fraction of the checkpoint's own run's: the weights are already
 * trained, and a fresh AdamW at the full rate would first undo some of it.
 *
 * @example
 * ```ts
 * import { FINE_TUNE_LR_FACTOR } from "./run.ts";
 * 1e-3 * FINE_TUNE_LR_FACTOR; // the default model's fine-tune peak rate
 * ```
 */
export const FINE_TUNE_LR_FACTOR = 1 / 3;

/**
 * Parses `--save-every`: a step count (`500`), a duration (`90s`, `10m`, `1h`), or both separated by a comma
 * (`500,10m`); `0` turns mid-epoch saves off. Decimal digits only; anything else is a {@linkcode UsageError}.
 *
 * @example
 * ```ts
 * import { parseSaveEvery } from "./run.ts";
 * parseSaveEvery("500,10m"); // { steps: 500, seconds: 600 }
 * ```
 */
export function parseSaveEvery(text: string): { steps?: number; seconds?: number } {
  const out: { steps?: number; seconds?: number } = {};
  if (text.trim() === "0") return out;
  for (const part of text.split(",")) {
    const m = /^\s*(\d{1,9})(?:\s*(s|m|min|h))?\s*$/.exec(part);
    const n = m ? Number(m[1]) : NaN;
    if (!m || n < 1) {
      throw new UsageError(
        `--save-every: expected steps (500), a duration (90s, 10m, 1h) or both (500,10m), got ${
          JSON.stringify(text.slice(0, 40))
        }`,
      );
    }
    if (!m[2]) out.steps = n;
    else out.seconds = n * (m[2] === "s" ? 1 : m[2] === "h" ? 3600 : 60);
  }
  return out;
}

const SHAPE_FLAGS: Record<string, string> = {
  layers: "--layers",
  dim: "--dim",
  heads: "--heads",
  ffn: "--ffn",
  vocab: "--vocab",
  hidden: "--hidden",
  embedDim: "--embed-dim",
};

/** The fine-tune's model and recipe: the checkpoint's architecture, its run's recipe with `ov` applied. */
async function fineTunePreset(
  dir: string,
  ov: Overrides,
): Promise<
  { preset: Preset; weights: Record<string, Float32Array>; step: number | null; tokenizerSha: string }
> {
  for (const [k, flag] of Object.entries(SHAPE_FLAGS)) {
    if (ov[k as keyof Overrides] !== undefined) {
      throw new UsageError(`${flag}: the architecture comes from --init-from ${dir}`);
    }
  }
  let ck: Awaited<ReturnType<typeof readCheckpoint>>;
  try {
    ck = await readCheckpoint(dir);
  } catch (e) {
    throw new UsageError(`--init-from: ${(e as Error).message.split("\n")[0]}`);
  }
  let tokBytes: Uint8Array<ArrayBuffer>;
  try {
    tokBytes = await Deno.readFile(`${dir}/tokenizer.json`);
  } catch {
    throw new UsageError(
      `--init-from: ${dir}/tokenizer.json: missing (a fine-tune reuses the model's tokenizer)`,
    );
  }
  const model = structuredClone(ck.config);
  if (ov.seqLen !== undefined) {
    if (model.arch === "transformer" && ov.seqLen > model.maxPositions) {
      throw new UsageError(`--seq-len ${ov.seqLen}: above the model's ${model.maxPositions} positions`);
    }
    model.seqLen = ov.seqLen;
  }
  const run = ck.state?.train ?? getPreset(PRESETS[model.preset] ? model.preset : "v8").train;
  const train = { ...structuredClone(run), lr: run.lr * FINE_TUNE_LR_FACTOR };
  for (const k of TRAIN_OVERRIDE_KEYS) if (ov[k] !== undefined) train[k] = ov[k]!;
  if (ov.stride === undefined) train.stride = Math.min(train.stride, model.seqLen);
  return {
    preset: { model, train },
    weights: ck.weights,
    step: ck.state?.step ?? null,
    tokenizerSha: await sha256Hex(tokBytes),
  };
}

/**
 * Runs the train command (see the module doc); resolves with how training ended, or undefined for a dry run.
 *
 * @example
 * ```ts ignore
 * import { runTraining } from "./run.ts";
 * const r = await runTraining({ preset: "v7", overrides: { layers: 1 }, data: "data/prepared/x", out: "models/x" });
 * console.log(r?.stopped);
 * ```
 */
export async function runTraining(o: TrainCommandOptions): Promise<TrainRunResult | undefined> {
  const { print, log } = commandOutput(o);
  if (o.initFrom && o.resume) {
    throw new UsageError(
      "--init-from starts a new run from a checkpoint, --resume continues one: use one of them",
    );
  }
  if (o.initFrom && o.preset) {
    throw new UsageError(`--preset: the architecture comes from --init-from ${o.initFrom}`);
  }
  const presetName = o.preset ?? "v8";
  if (!PRESETS[presetName]) {
    throw new UsageError(`--preset: expected one of ${Object.keys(PRESETS).join(", ")}, got ${presetName}`);
  }
  const ov = o.overrides ?? {};
  let preset: Preset;
  try {
    preset = applyOverrides(getPreset(presetName), ov);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (o.resume) {
    if (!o.out) throw new UsageError("--out: required with --resume");
    preset = await resumeConfig(o.out, { microBatch: ov.microBatch, workers: ov.workers, steps: ov.steps });
  }
  const init = o.initFrom ? await fineTunePreset(o.initFrom, ov) : undefined;
  if (init) preset = init.preset;

  const ds = o.data ? await openShards(o.data) : null;
  if (ds && init) {
    if (init.tokenizerSha !== ds.meta.tokenizer.sha256) {
      throw new UsageError(
        `--init-from ${o.initFrom}: its tokenizer.json (sha256 ${
          init.tokenizerSha.slice(0, 12)
        }…) differs from ` +
          `${ds.dir}/meta.json's (${ds.meta.tokenizer.sha256.slice(0, 12)}…); prepare the data with ` +
          `deno task tokenize --tokenizer-from ${o.initFrom}`,
      );
    }
    if (ov.warmup === undefined) {
      // a warm-up as long as the pre-training's would never reach the peak rate in a short fine-tune
      const tc = preset.train, sm = preset.model;
      const windows = batchesPerEpoch(ds.splits.train, {
        seqLen: sm.seqLen,
        stride: tc.stride,
        batchSize: 1,
        dropLast: true,
      });
      const steps = Math.floor(windows / Math.min(tc.batch, Math.max(1, windows))) * tc.epochs;
      tc.warmup = Math.min(tc.warmup, Math.ceil(steps / 10));
    }
  } else if (ds && o.resume) {
    if (preset.model.vocabSize < ds.meta.vocabSize) {
      throw new UsageError(
        `--data: vocabulary ${ds.meta.vocabSize} exceeds the run's ${preset.model.vocabSize}`,
      );
    }
  } else if (ds) {
    if (ov.vocab !== undefined && ov.vocab < ds.meta.vocabSize) {
      throw new UsageError(
        `--vocab ${ov.vocab} is smaller than the data's vocabulary (${ds.meta.vocabSize})`,
      );
    }
    preset.model.vocabSize = ov.vocab ?? ds.meta.vocabSize;
    if (preset.model.tokenizer !== ds.meta.tokenizer.kind) {
      log(
        `note: preset ${presetName} expects ${preset.model.tokenizer} tokens; the data is ${ds.meta.tokenizer.kind}`,
      );
      preset.model.tokenizer = ds.meta.tokenizer.kind;
    }
  }

  const m = preset.model;
  const rows = preset.train.microBatch || preset.train.batch;
  const mem = estimateTrainMemory(m, rows);
  print(describeModel(m));
  print(`parameters: ${countParams(m).toLocaleString("en-US")} (${countParams(m)})`);
  print(
    `training memory ≈ ${(mem.total / MiB).toFixed(0)} MiB (weights+grads+AdamW ${
      (mem.params / MiB).toFixed(0)
    } MiB,` +
      ` activations at ${rows} rows × ${m.seqLen} ≈ ${(mem.activations / MiB).toFixed(0)} MiB)`,
  );
  if (init) {
    print(
      `init from: ${o.initFrom}${
        init.step === null ? "" : ` (step ${init.step})`
      }: fresh optimizer and schedule`,
    );
  }
  print(`recipe: ${JSON.stringify(preset.train)}`);
  if (o.dryRun) return undefined;

  if (!ds) throw new UsageError("--data: required (a data/prepared/<name> directory)");
  if (!o.out) throw new UsageError("--out: required (e.g. models/<run>)");
  let choice: TrainBackendChoice;
  try {
    choice = await chooseTrainBackend({
      device: o.device,
      backend: o.backend,
      threads: o.threads,
      arch: m.arch,
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  for (const n of choice.notes) log(n);
  // blas, gpu: the steps run on lib/cpu or lib/gpu; tfjs (cpu) only holds the initial weights and writes checkpoints
  const tfjs = await selectBackend(choice.tfjs);
  const backend = choice.backend === choice.tfjs ? tfjs : choice.backend;
  if (backend === "gpu") print(`backend: gpu (etude's WGSL kernels on ${(await getGpu()).adapter})`);
  else if (backend === "blas") {
    print(`backend: blas (CPU backend: ${choice.details.blas}, ${choice.details.threads} thread(s))`);
  } else print(`backend: ${backend}${m.arch === "transformer" ? "" : ` (${m.arch}: tfjs)`}`);
  const result = await trainModel({
    model: m,
    train: preset.train,
    data: {
      train: ds.splits.train,
      validation: ds.splits.validation,
      // copied byte for byte, so the checkpoint's tokenizer.json hashes like the data's
      tokenizerJson: await Deno.readTextFile(`${ds.dir}/tokenizer.json`),
      tokenizerSha256: ds.meta.tokenizer.sha256,
      tokenizerFrom: `${ds.dir}/meta.json`,
    },
    out: o.out,
    resume: Boolean(o.resume),
    backend,
    backendDetails: Object.keys(choice.details).length ? choice.details : undefined,
    stopAfterSteps: o.maxSteps,
    saveEverySteps: (o.saveEvery ?? { seconds: 600 }).steps,
    saveEverySeconds: (o.saveEvery ?? { seconds: 600 }).seconds,
    initWeights: init?.weights,
    initFrom: init && o.initFrom ? { dir: o.initFrom, step: init.step } : undefined,
    estimate: o.estimate ?? true,
    logEvery: o.logEvery,
    handleSignals: o.handleSignals,
    log,
  });
  await shipCopyIndex(ds.dir, o.out, log);
  return result;
}

/**
 * Ships the training data's copy index (lib/data/copy_index.ts) beside the model in `out` once a run ends, for
 * `deno task generate`'s "longest copy from the training data" report and `--max-copy`. The index depends only on
 * the data, not the weights, so one copy serves every best checkpoint. A failure is a warning, never fatal.
 */
async function shipCopyIndex(dataDir: string, out: string, log: (msg: string) => void): Promise<void> {
  if (!existsSync(join(out, "tokenizer.json"))) return; // no best checkpoint written yet
  try {
    const h = await copyIndexInto(dataDir, out);
    log(`copy index: ${h.tokens} training tokens → ${join(out, COPY_INDEX_JSON)}`);
  } catch (e) {
    log(`warning: no copy index beside the model: ${(e as Error).message.split("\n")[0]}`);
  }
}
