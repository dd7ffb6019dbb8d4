/**
 * Which engine runs the training steps, chosen once per run: the one switch between the training loop and its
 * backends. Each backend is a name recorded in the run's state and log, and a way to build the loop's
 * {@link LoopTrainer} for a model:
 *
 * - `webgpu`, `wasm`, `cpu`: tfjs (lib/train's `Trainer`; `wasm`/`cpu` may share batches with gradient workers);
 * - `blas`: the CPU backend (lib/cpu: explicit forward/backward with the matrix products in the system BLAS);
 * - `gpu`: etude's own WGSL kernels (lib/gpu).
 *
 * `--device auto|gpu|cpu` picks one per machine ({@link chooseTrainBackend}): a real GPU → tfjs-webgpu; no real GPU
 * and a BLAS → the CPU backend; no BLAS → tfjs-wasm, saying why and how to install one. LSTM presets always train on
 * tfjs. `--backend` names one exactly instead. A further backend adds a name here, a branch in
 * {@link createLoopTrainer} and, if it should be picked automatically, a rule in {@link chooseTrainBackend}.
 *
 * @module
 */
import type { TrainConfig } from "../model/config.ts";
import type { TfModel } from "../model/model.ts";
import { hasRealGpu } from "../model/backend.ts";
import { loadBlas } from "../cpu/blas.ts";
import { createCpuLoopTrainer } from "./cpu.ts";
import { createGpuLoopTrainer, type LoopTrainer } from "./gpu.ts";
import { startGradientWorkers } from "./parallel.ts";
import { Trainer } from "./step.ts";

/** `--device`: where to train, decided per machine. */
export type TrainDevice = "auto" | "gpu" | "cpu";

/** Every `--backend` name: tfjs's three, `blas` (lib/cpu) and `gpu` (lib/gpu), or `auto` (= `--device auto`). */
export const TRAIN_BACKENDS: readonly string[] = ["auto", "webgpu", "wasm", "cpu", "blas", "gpu"];

/** The tfjs backend names among {@link TRAIN_BACKENDS}. */
export const TFJS_BACKENDS: readonly string[] = ["webgpu", "wasm", "cpu"];

/**
 * What {@link chooseTrainBackend} decided.
 *
 * @example
 * ```ts
 * import type { TrainBackendChoice } from "./backend.ts";
 * const c: TrainBackendChoice = { backend: "blas", tfjs: "cpu", details: { blas: "libopenblas.so.0", threads: 2 }, notes: [] };
 * ```
 */
export interface TrainBackendChoice {
  /** The engine running the steps (recorded as the run's `backend`). */
  backend: string;
  /** The tfjs backend to activate (for `blas`/`gpu` tfjs-cpu only holds the initial weights and writes checkpoints). */
  tfjs: "auto" | "webgpu" | "wasm" | "cpu";
  /** What the log records about it (BLAS library and threads, why a fallback was taken). */
  details: Record<string, unknown>;
  /** Lines to print (why this backend and not another). */
  notes: string[];
}

/**
 * Picks the training backend from `--device` / `--backend` / `--threads` for a model of architecture `arch`, and sets
 * the BLAS thread count when the CPU backend is chosen. Throws `Error`s worded for the command line on a bad
 * combination (the caller may turn them into usage errors).
 *
 * @example
 * ```ts
 * import { chooseTrainBackend } from "./backend.ts";
 * const c = await chooseTrainBackend({ device: "cpu", arch: "transformer", threads: 1 });
 * console.log(c.backend); // "blas" where a BLAS is installed, else "wasm" (and c.notes says why)
 * ```
 */
export async function chooseTrainBackend(o: {
  device?: string;
  backend?: string;
  threads?: number;
  /** The model's `arch` (`transformer` or `lstm`). */
  arch: string;
  /** Whether a real (non-software) GPU adapter exists (default: asks `navigator.gpu`). */
  realGpu?: () => Promise<boolean>;
}): Promise<TrainBackendChoice> {
  const device = o.device ?? "auto";
  if (!["auto", "gpu", "cpu"].includes(device)) {
    throw new Error(`--device: expected auto, gpu or cpu, got ${device}`);
  }
  if (o.backend !== undefined && !TRAIN_BACKENDS.includes(o.backend)) {
    throw new Error(`--backend: expected ${TRAIN_BACKENDS.join(", ")}, got ${o.backend}`);
  }
  if (o.backend !== undefined && o.backend !== "auto" && o.device !== undefined) {
    throw new Error(
      `--backend ${o.backend} names the engine, --device ${o.device} lets etude pick one: use one`,
    );
  }
  const notes: string[] = [];
  const blasBackend = (): TrainBackendChoice | string => {
    const { blas, reason } = loadBlas();
    if (!blas) return reason;
    if (o.threads) blas.setThreads(o.threads);
    return {
      backend: "blas",
      tfjs: "cpu",
      details: { blas: blas.name, threads: blas.getThreads() },
      notes,
    };
  };
  const tfjsOnly = (name: TrainBackendChoice["tfjs"]): TrainBackendChoice => {
    if (o.threads) {
      notes.push(`--threads: ignored on tfjs (BLAS threads are the CPU backend's; tfjs has --workers)`);
    }
    return { backend: name, tfjs: name, details: {}, notes };
  };
  const explicit = o.backend && o.backend !== "auto" ? o.backend : undefined;
  if (explicit === "blas") {
    if (o.arch !== "transformer") throw new Error(`--backend blas: the CPU backend trains Transformers only`);
    const b = blasBackend();
    if (typeof b === "string") throw new Error(`--backend blas: ${b}`);
    return b;
  }
  if (explicit === "gpu") return { backend: "gpu", tfjs: "cpu", details: {}, notes };
  if (explicit) return tfjsOnly(explicit as TrainBackendChoice["tfjs"]);
  if (device === "gpu") return tfjsOnly("webgpu");
  if (o.arch !== "transformer") {
    if (device === "cpu") return tfjsOnly("wasm");
    return tfjsOnly("auto"); // LSTMs train on tfjs: webgpu on a real GPU, else wasm
  }
  if (device === "auto" && (await (o.realGpu ?? hasRealGpu)())) return tfjsOnly("webgpu");
  const b = blasBackend();
  if (typeof b !== "string") return b;
  notes.push(`no BLAS, so training on tfjs-wasm (≈ 3–4× slower): ${b}`);
  const c = tfjsOnly("wasm");
  c.details = { blas: null, why: b };
  return c;
}

/**
 * The loop's trainer for `model` on `backend` (a name from {@link TRAIN_BACKENDS} other than `auto`): tfjs's
 * `Trainer` (with `train.workers − 1` gradient workers on wasm/cpu), lib/cpu's or lib/gpu's. `say` gets one-line
 * notes.
 *
 * @example
 * ```ts
 * import { applyOverrides, getPreset } from "../model/config.ts";
 * import { TfModel } from "../model/model.ts";
 * import { createLoopTrainer } from "./backend.ts";
 * const p = applyOverrides(getPreset("v8"), { layers: 1, dim: 16, heads: 2, ffn: 32, vocab: 20, seqLen: 8 });
 * const trainer = await createLoopTrainer("blas", TfModel.init(p.model, 1), p.train);
 * ```
 */
export async function createLoopTrainer(
  backend: string,
  model: TfModel,
  train: TrainConfig,
  say: (m: string) => void = () => {},
  opts: { logEvery?: number } = {},
): Promise<LoopTrainer> {
  // lib/gpu reads the step losses back every `logEvery` steps (the loop logs then), not every step
  if (backend === "gpu") return await createGpuLoopTrainer(model, train, { readEvery: opts.logEvery });
  if (backend === "blas") {
    const { blas, reason } = loadBlas();
    if (!blas) throw new Error(`the CPU backend needs a BLAS: ${reason}`);
    return await createCpuLoopTrainer(model, train, blas);
  }
  // tfjs: on a CPU (wasm, cpu) more cores go to gradient workers sharing each batch
  const extra = backend === "webgpu" ? 0 : Math.max(0, Math.min((train.workers ?? 1) - 1, train.batch - 1));
  if (extra) say(`data parallel: this thread + ${extra} worker(s) share each batch`);
  return new Trainer(model, train, await startGradientWorkers(model.config, backend, extra));
}
