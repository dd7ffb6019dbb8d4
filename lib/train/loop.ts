/**
 * The training loop: seeded window batches per epoch, AdamW with warmup + cosine, global-norm clipping, validation
 * every epoch, the best checkpoint by validation loss in `<out>/`, a resumable last checkpoint (with optimizer
 * state) in `<out>/last/` at every epoch end and, with `saveEverySteps` / `saveEverySeconds`, inside epochs too, early
 * stopping, `train_log.jsonl`, `loss.svg`, and a clean save on Ctrl-C.
 *
 * Resuming reproduces an uninterrupted run exactly: the batch order is a pure function of (seed, epoch), the
 * schedule of the step count, and weights plus AdamW moments are restored bit for bit. Each checkpoint is written as
 * one set (`saveCheckpoint`): a kill at any moment, a save included, leaves the previous `last/` or the new one. A
 * resume checks that the parts of `last/` agree (`readResumable`), and truncates the log to the resumed step (one
 * `resume` record, every step once); a fresh start truncates it too.
 *
 * `initWeights` starts from another checkpoint's weights (a fine-tune) with a fresh optimizer and schedule.
 *
 * @module
 */
import { writeFileAtomic } from "../util/atomic.ts";
import { exists } from "../util/fs.ts";
import { batchesPerEpoch, windowBatches } from "../data/windows.ts";
import { DEFAULT_WINDOW_TRANSFORM, windowTransform } from "../data/fim.ts";
import { formatDuration, JsonlLog, Progress } from "../util/progress.ts";
import {
  readCheckpointInfo,
  readResumable,
  recoverCheckpoint,
  saveCheckpoint,
  type TrainState,
} from "../model/checkpoint.ts";
import { sha256Hex } from "../util/hash.ts";
import { estimateTrainMemory, type ModelConfig, type TrainConfig } from "../model/config.ts";
import { TfModel } from "../model/model.ts";
import { lossCurveSvg, type LossPoint } from "./loss_svg.ts";
import { learningRate } from "./schedule.ts";
import type { LoopTrainer } from "./gpu.ts";
import { createLoopTrainer } from "./backend.ts";

/**
 * Token pieces per split (each piece `BOS … EOS`), as `openShards` returns them.
 *
 * @example
 * ```ts ignore
 * import { openShards } from "../data/shards.ts";
 * import type { TrainData } from "./loop.ts";
 * const ds = await openShards("data/prepared/piano");
 * const data: TrainData = {
 *   ...ds.splits,
 *   tokenizerJson: await Deno.readTextFile(`${ds.dir}/tokenizer.json`),
 *   tokenizerSha256: ds.meta.tokenizer.sha256,
 *   tokenizerFrom: `${ds.dir}/meta.json`,
 * };
 * ```
 */
export interface TrainData {
  /** Training pieces: token ids, each `BOS … EOS` (what `openShards` gives per split). */
  train: readonly ArrayLike<number>[];
  /** Validation pieces. */
  validation: readonly ArrayLike<number>[];
  /** Copied into every checkpoint as `tokenizer.json` (an object, or the file's text to copy it unchanged). */
  tokenizerJson?: unknown;
  /** sha256 of the data's `tokenizer.json` (its `meta.json`): a resumed checkpoint's tokenizer must hash the same. */
  tokenizerSha256?: string;
  /** Where that hash comes from, for messages (e.g. `data/prepared/x/meta.json`). */
  tokenizerFrom?: string;
}

/**
 * Options of {@link trainModel}.
 *
 * @example
 * ```ts ignore
 * import { getPreset } from "../model/config.ts";
 * import { openShards } from "../data/shards.ts";
 * import { trainModel } from "./loop.ts";
 * const ds = await openShards("data/prepared/piano-remi-bpe-1024");
 * // a time-boxed run that can be resumed later with `resume: true`
 * const run = { data: ds.splits, out: "models/v8", saveEverySeconds: 600, stopAfterSteps: 5000 };
 * await trainModel({ ...getPreset("v8"), ...run });
 * ```
 */
export interface TrainRunOptions {
  /** The model config. */
  model: ModelConfig;
  /** The training recipe. */
  train: TrainConfig;
  /** Token pieces per split. */
  data: TrainData;
  /** Run directory: best checkpoint, `last/`, `train_log.jsonl`, `loss.svg`. */
  out: string;
  /**
   * Continue from `<out>/last/`: the model and what a step computes come from there; how a step is executed
   * (`train.microBatch`, `train.workers`) comes from `train`, since the machine may have changed.
   */
  resume?: boolean;
  /**
   * The engine running the steps (recorded in the state): a tfjs backend's name (`webgpu`, `wasm`, `cpu`, the active
   * one), `blas` (lib/cpu) or `gpu` (lib/gpu); see `./backend.ts`.
   */
  backend?: string;
  /** What the log's `start`/`resume` records say about the backend (e.g. the BLAS library and threads). */
  backendDetails?: Record<string, unknown>;
  /** Stop (as a kill would) after this many epochs in this invocation — for tests and time-boxed runs. */
  stopAfterEpochs?: number;
  /** Save and stop after this many steps in this invocation. */
  stopAfterSteps?: number;
  /** Also save `<out>/last/` inside epochs, whenever the step count is a multiple of this. */
  saveEverySteps?: number;
  /** Also save `<out>/last/` inside epochs once this many seconds passed since the last save. */
  saveEverySeconds?: number;
  /**
   * Start from these weights (a checkpoint's, for `model`) instead of a random initialisation: a fine-tune, with a
   * fresh optimizer and schedule. Not with `resume`.
   */
  initWeights?: Record<string, Float32Array>;
  /** Where `initWeights` came from (recorded in the state and the log). */
  initFrom?: { dir: string; step: number | null };
  /**
   * Before training, time two steps that update nothing (and one validation batch) and print the expected duration:
   * steps × measured s/step + validation passes (the CLI turns it on).
   */
  estimate?: boolean;
  /** Install a SIGINT handler that saves and stops (default false; the CLI turns it on). */
  handleSignals?: boolean;
  /** Show the progress bar even when stderr is not a terminal. */
  forceProgress?: boolean;
  /** Where one-line messages go (default console.error). */
  log?: (msg: string) => void;
  /**
   * Steps between log writes (progress bar, `train_log.jsonl`) on a backend whose steps do not read their loss back
   * (`gpu`: default 10, one readback per that many steps, each step still logged once); other backends log every
   * step. Saves, validation and stops log the steps before them first.
   */
  logEvery?: number;
  /** Called after each step (its logging and saves done), for tests. */
  onStep?: (step: number, trainer: LoopTrainer) => void;
  /**
   * Training windows' fill-in-the-middle share and condition dropout (`lib/data/fim.ts`; defaults
   * `DEFAULT_WINDOW_TRANSFORM`), applied only when the data's tokenizer has the conditioning and FIM tokens
   * (`tokenize --conditioning`); `false` turns it off. Seeded by (`train.seed`, epoch, batch): `--resume` exact.
   */
  windowTransform?:
    | {
      fimRate?: number;
      conditionDropout?: number;
      conditionDropAll?: number;
      repeatLead?: boolean;
      keyBars?: number;
    }
    | false;
}

/**
 * How a run ended.
 *
 * @example
 * ```ts ignore
 * import { getPreset } from "../model/config.ts";
 * import { openShards } from "../data/shards.ts";
 * import { trainModel } from "./loop.ts";
 * const ds = await openShards("data/prepared/piano-remi-bpe-1024");
 * const r = await trainModel({ ...getPreset("v8"), data: ds.splits, out: "models/v8" });
 * console.log(r.stopped, `best ${r.state.bestValLoss} at epoch ${r.state.bestEpoch}, ${r.tokensPerSecond} tokens/s`);
 * ```
 */
export interface TrainRunResult {
  /** The training state when this invocation stopped (what `last/` holds). */
  state: TrainState;
  /** How the run ended. */
  stopped: "finished" | "early-stop" | "interrupted";
  /** Training loss per step taken in this invocation. */
  losses: LossPoint[];
  /** Mean training throughput of this invocation (input tokens per second). */
  tokensPerSecond: number;
  /** With `estimate`: the expected seconds of training printed before it started. */
  expectedSeconds?: number;
}

/**
 * Largest estimated footprint per forward/backward pass on tfjs-wasm, whose heap stops at 4 GiB (the rest is headroom
 * for the update's temporaries and fragmentation). v7 d192 at 32 × 256 needs ~4.1 GiB: XNNPACK then fails with
 * status 6 (out of memory) and the next kernel reads out of bounds.
 */
const WASM_BUDGET = 3.25 * 1024 ** 3;

/**
 * The model and recipe a resume of `out` continues with: the run's own, from `<out>/last/config.json` (not a
 * preset's), except how a step is executed (`microBatch`, `workers`), which `exec` may change — another machine,
 * another heap. Pass the result to {@link trainModel} with `resume: true`.
 *
 * @example
 * ```ts ignore
 * import { openShards } from "../data/shards.ts";
 * import { resumeConfig, trainModel } from "./loop.ts";
 * const ds = await openShards("data/prepared/piano");
 * const run = await resumeConfig("models/tiny", { microBatch: 8 });
 * await trainModel({ ...run, data: ds.splits, out: "models/tiny", resume: true });
 * ```
 */
export async function resumeConfig(
  out: string,
  exec: { microBatch?: number; workers?: number; steps?: number } = {},
): Promise<{ model: ModelConfig; train: TrainConfig }> {
  let saved: Awaited<ReturnType<typeof readCheckpointInfo>>;
  await recoverCheckpoint(`${out}/last`);
  try {
    saved = await readCheckpointInfo(`${out}/last`);
  } catch (e) {
    throw new Error(`${(e as Error).message.split("\n")[0]} (nothing to resume)`);
  }
  if (!saved.state) {
    throw new Error(`${out}/last/config.json: no training state (etude.state), nothing to resume`);
  }
  const train = saved.state.train;
  if (exec.microBatch !== undefined) train.microBatch = exec.microBatch;
  if (exec.workers !== undefined) train.workers = exec.workers;
  if (exec.steps !== undefined) train.steps = exec.steps;
  return { model: saved.config, train };
}

/**
 * The log as of the resumed state: records past it dropped (a kill may have logged steps after the last save), and
 * `resume` records at its step too (an earlier resume from the same checkpoint that saved nothing), so after the
 * new `resume` record every step appears once. Rewritten atomically.
 */
async function trimLog(path: string, state: TrainState): Promise<void> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return;
  }
  const keep = text.split("\n").filter((line) => {
    if (!line.trim()) return false;
    try {
      const r = JSON.parse(line);
      if (r.type === "epoch") return r.epoch <= state.epoch;
      if (r.type === "resume") return r.step < state.step;
      if (typeof r.step === "number") return r.step <= state.step;
      return true;
    } catch {
      return false; // a line cut by the kill
    }
  });
  await writeFileAtomic(path, keep.map((l) => l + "\n").join(""));
}

async function readCurves(path: string): Promise<{ train: LossPoint[]; val: LossPoint[] }> {
  const train: LossPoint[] = [], val: LossPoint[] = [];
  try {
    for (const line of (await Deno.readTextFile(path)).split("\n")) {
      if (!line.trim()) continue;
      const r = JSON.parse(line);
      if (r.type === "step") train.push({ step: r.step, loss: r.loss });
      if (r.type === "epoch" && r.val_loss !== null) val.push({ step: r.step, loss: r.val_loss });
    }
  } catch { /* no log yet */ }
  return { train, val };
}

/**
 * Mean validation loss (nats per target token) over all windows of `pieces`, in piece order.
 *
 * @example
 * ```ts ignore
 * import { applyOverrides, getPreset } from "../model/config.ts";
 * import { TfModel } from "../model/model.ts";
 * import { validationLoss } from "./loop.ts";
 * import { Trainer } from "./step.ts";
 * const p = applyOverrides(getPreset("v8"), { layers: 1, dim: 16, heads: 2, ffn: 32, vocab: 20, seqLen: 8 });
 * const trainer = new Trainer(TfModel.init(p.model, 1), p.train);
 * const loss = await validationLoss(trainer, [[1, 5, 6, 7, 5, 6, 7, 2]], 8, 2); // ≈ ln 20 before training
 * ```
 */
export async function validationLoss(
  trainer: LoopTrainer,
  pieces: readonly ArrayLike<number>[],
  /** Training window length (tokens). */
  seqLen: number,
  /** Windows per optimizer step. */
  batch: number,
): Promise<number> {
  let sum = 0, n = 0;
  for (const b of windowBatches(pieces, { seqLen, stride: seqLen, batchSize: batch, shuffle: false })) {
    const { loss, tokens } = await trainer.evaluate(b.tokens, b.rows);
    sum += loss * tokens;
    n += tokens;
  }
  return n ? sum / n : NaN;
}

/**
 * Trains (or resumes) a model and writes checkpoints; see the module doc for the directory layout.
 *
 * @example
 * ```ts ignore
 * import { applyOverrides, getPreset } from "../model/config.ts";
 * import { openShards } from "../data/shards.ts";
 * import { trainModel } from "./loop.ts";
 * const ds = await openShards("data/prepared/piano");
 * const vocab = ds.meta.vocabSize;
 * const p = applyOverrides(getPreset("v8"), { layers: 2, dim: 64, heads: 4, ffn: 128, seqLen: 64, vocab });
 * const r = await trainModel({ ...p, data: { ...ds.splits, tokenizerJson: ds.tokenizer }, out: "models/tiny" });
 * ```
 */
export async function trainModel(opts: TrainRunOptions): Promise<TrainRunResult> {
  const say = opts.log ?? ((m: string) => console.error(m));
  const out = opts.out;
  const lastDir = `${out}/last`;
  let model: TfModel;
  let state: TrainState;
  let tokenizerJson = opts.data.tokenizerJson;
  let optState: Awaited<ReturnType<typeof readResumable>>["optimizer"] | null = null;
  // a save cut by a kill: finish it (or drop it) first, so last/ and the best checkpoint are whole sets
  const recovered = await recoverCheckpoint(lastDir);
  if (recovered === "finished" || recovered === "restored") say(`${lastDir}: completed an interrupted save`);
  await recoverCheckpoint(out);
  if (opts.resume) {
    if (opts.initWeights) throw new Error("resume: initWeights applies to a new run only");
    if (!(await exists(`${lastDir}/config.json`))) {
      throw new Error(`${lastDir}: no checkpoint to resume from`);
    }
    const dataSha = opts.data.tokenizerSha256 ??
      (typeof tokenizerJson === "string"
        ? await sha256Hex(new TextEncoder().encode(tokenizerJson))
        : undefined);
    const ck = await readResumable(lastDir, {
      tokenizerSha256: dataSha,
      tokenizerFrom: opts.data.tokenizerFrom ?? "the data's tokenizer.json",
    });
    model = TfModel.fromCheckpoint(ck);
    state = ck.state;
    // a batch of 32 × 256 that fit a GPU overflows tfjs-wasm's 4 GB heap: execution follows this invocation
    state.train.microBatch = opts.train.microBatch;
    state.train.workers = opts.train.workers;
    // a new step budget (`--steps` with --resume) extends or shortens the run: the cosine goes on over the new total
    if ((opts.train.steps ?? 0) !== (state.train.steps ?? 0)) {
      if (opts.train.steps && opts.train.steps <= state.step) {
        throw new Error(`--steps: ${opts.train.steps} is not past the run's step ${state.step}`);
      }
      say(
        `step budget ${state.train.steps || "by epochs"} → ${
          opts.train.steps || "by epochs"
        } from step ${state.step}`,
      );
      state.train.steps = opts.train.steps;
      state.finished = false;
    }
    tokenizerJson ??= await Deno.readTextFile(`${lastDir}/tokenizer.json`).catch(() => undefined);
    optState = ck.optimizer;
    await trimLog(`${out}/train_log.jsonl`, state);
    say(`resuming ${out} at epoch ${state.epoch}, step ${state.step}`);
  } else {
    if (await exists(`${lastDir}/config.json`)) {
      throw new Error(`${out}: a run already exists there (use --resume, or another --out)`);
    }
    model = opts.initWeights
      ? TfModel.fromCheckpoint({ config: opts.model, weights: opts.initWeights })
      : TfModel.init(opts.model, opts.train.seed);
    state = {
      epoch: 0,
      step: 0,
      stepInEpoch: 0,
      stepsPerEpoch: 0,
      bestValLoss: null,
      bestEpoch: -1,
      epochsWithoutImprovement: 0,
      valLosses: [],
      train: structuredClone(opts.train),
      finished: false,
      backend: opts.backend,
      ...(opts.initFrom ? { initFrom: opts.initFrom } : {}),
    };
  }
  const cfg = model.config;
  const tc = state.train;
  const winOpts = { seqLen: cfg.seqLen, stride: tc.stride, dropLast: true };
  // FIM reordering and condition dropout of the drawn windows (none for a tokenizer without those tokens)
  const transform = opts.windowTransform === false
    ? undefined
    : windowTransform(tokenizerJson, { ...opts.windowTransform, seed: tc.seed });
  // what the log records of it (a run resumed with other code may change windows differently: the log says so)
  const transformLog = transform
    ? { window_transform: { ...DEFAULT_WINDOW_TRANSFORM, ...(opts.windowTransform || {}) } }
    : {};
  const windows = batchesPerEpoch(opts.data.train, { ...winOpts, batchSize: 1 });
  if (windows === 0) throw new Error("training split: no windows (no pieces?)");
  if (tc.batch > windows) tc.batch = windows;
  const stepsPerEpoch = Math.floor(windows / tc.batch);
  if (state.stepsPerEpoch && state.stepsPerEpoch !== stepsPerEpoch) {
    throw new Error(
      `resume: the data gives ${stepsPerEpoch} steps per epoch, the run had ${state.stepsPerEpoch}`,
    );
  }
  state.stepsPerEpoch = stepsPerEpoch;
  // a step budget ends the run inside an epoch (validated and saved there as at an epoch end)
  const total = tc.steps ? Math.min(tc.steps, tc.epochs * stepsPerEpoch) : tc.epochs * stepsPerEpoch;
  const sched = { lr: tc.lr, warmup: tc.warmup, total, minLrFrac: tc.minLrFrac };

  if (!tc.microBatch && opts.backend === "wasm") {
    // tfjs-wasm has a 4 GB heap (v8 at batch 8 × 256 runs out): accumulate gradients over micro-batches instead
    let mb = tc.batch;
    while (mb > 1 && estimateTrainMemory(cfg, mb).total > WASM_BUDGET) mb = Math.ceil(mb / 2);
    if (mb < tc.batch) {
      tc.microBatch = mb;
      say(`wasm heap: accumulating gradients over micro-batches of ${mb} (batch ${tc.batch})`);
    }
  }
  // tfjs (webgpu, wasm, cpu), lib/cpu (blas) or lib/gpu (gpu): see ./backend.ts
  const logEvery = Math.max(1, Math.floor(opts.logEvery ?? (opts.backend === "gpu" ? 10 : 1)));
  const trainer: LoopTrainer = await createLoopTrainer(opts.backend ?? "wasm", model, tc, say, { logEvery });
  if (optState) trainer.optimizer.setState(optState);
  const logPath = `${out}/train_log.jsonl`;
  await Deno.mkdir(out, { recursive: true });
  // a new run starts a new log (an earlier attempt killed before its first save leaves one behind)
  const log = new JsonlLog(logPath, { append: Boolean(opts.resume) });
  if (!opts.resume) {
    log.write({
      type: "start",
      model: cfg,
      train: tc,
      windows,
      stepsPerEpoch,
      backend: opts.backend,
      ...(opts.backendDetails ? { backend_details: opts.backendDetails } : {}),
      ...(opts.initFrom ? { init_from: opts.initFrom } : {}),
      ...transformLog,
    });
  } else {
    log.write({
      type: "resume",
      step: state.step,
      train: tc,
      backend: opts.backend,
      ...(opts.backendDetails ? { backend_details: opts.backendDetails } : {}),
      ...transformLog,
    });
  }
  state.backend = opts.backend;

  let stop = false;
  const onSig = () => {
    if (stop) Deno.exit(130);
    stop = true;
    say("\ninterrupt: saving after this step (Ctrl-C again to quit at once)");
  };
  if (opts.handleSignals) Deno.addSignalListener("SIGINT", onSig);

  const saveLast = async () => {
    const t0 = performance.now();
    await saveCheckpoint(lastDir, {
      config: cfg,
      weights: await model.weights(),
      tokenizerJson,
      state,
      optimizer: await trainer.optimizer.state(),
    });
    lastSave = performance.now();
    log.write({
      type: "save",
      dir: "last",
      epoch: state.epoch,
      step: state.step,
      seconds: Math.round(lastSave - t0) / 1000,
    });
  };
  let lastSave = performance.now();
  const writeSvg = async () => {
    const { train, val } = await readCurves(logPath);
    await writeFileAtomic(`${out}/loss.svg`, lossCurveSvg(train, val, `${cfg.preset} ${cfg.arch} — ${out}`));
  };

  // no validation pieces (a tiny fine-tuning folder): every epoch's model is kept as the best
  const hasValidation =
    batchesPerEpoch(opts.data.validation, { seqLen: cfg.seqLen, stride: cfg.seqLen, batchSize: 1 }) > 0;
  if (!hasValidation) {
    say("no validation windows: each epoch's model is kept as the best (no early stopping)");
  }
  let expectedSeconds: number | undefined;
  if (opts.estimate && !state.finished && state.step < total) {
    expectedSeconds = await estimateSeconds(trainer, opts, {
      winOpts,
      state,
      total,
      stepsPerEpoch,
      say,
    });
  }

  const losses: LossPoint[] = [];
  const bar = new Progress("train", total - state.step, { unit: "steps", force: opts.forceProgress });
  const tokensPerStep = tc.batch * cfg.seqLen;
  // steps taken but not logged yet (a trainer with `flush` reads their numbers back when they are logged)
  type Unlogged = {
    epoch: number;
    step: number;
    lr: number;
    dt: number;
    stepsHere: number;
    loss: number;
    gradNorm: number;
  };
  const unlogged: Unlogged[] = [];
  const logSteps = async () => {
    if (!unlogged.length) return;
    const recs = unlogged.splice(0);
    if (trainer.flush) {
      const got = await trainer.flush();
      if (got.length !== recs.length) {
        throw new Error(`${got.length} step losses read back for ${recs.length} steps`);
      }
      recs.forEach((r, i) => Object.assign(r, got[i]));
    }
    // throughput over the steps logged together (a step that does not read back only submits its work)
    const seconds = recs.reduce((s, r) => s + r.dt, 0);
    for (const r of recs) {
      losses.push({ step: r.step, loss: r.loss });
      log.write({
        type: "step",
        epoch: r.epoch,
        step: r.step,
        loss: r.loss,
        lr: r.lr,
        grad_norm: r.gradNorm,
        tokens_per_s: Math.round(tokensPerStep * recs.length / seconds),
      });
    }
    const last = recs[recs.length - 1];
    bar.update(
      last.stepsHere,
      `ep ${last.epoch}/${tc.epochs} loss ${last.loss.toFixed(3)} ${
        Math.round(tokensPerStep * stepsHere / secondsHere)
      } tok/s`,
    );
    const bad = recs.find((r) => !Number.isFinite(r.loss));
    if (bad) throw new Error(`loss became ${bad.loss} at step ${bad.step}`);
  };
  let stepsHere = 0, secondsHere = 0, epochsHere = 0;
  let stopped: TrainRunResult["stopped"] = "finished";
  try {
    while (!state.finished && state.epoch < tc.epochs) {
      const batches = windowBatches(opts.data.train, {
        ...winOpts,
        batchSize: tc.batch,
        seed: tc.seed,
        epoch: state.epoch,
      });
      let i = 0;
      for (const b of batches) {
        if (state.step >= total) break;
        if (i++ < state.stepInEpoch) continue;
        transform?.(b.tokens, b.rows, state.epoch, i - 1, { windows: b.windows, pieces: opts.data.train });
        const t0 = performance.now();
        const lr = learningRate(state.step, sched);
        const r = await trainer.step(b.tokens, b.rows, lr);
        const dt = (performance.now() - t0) / 1000;
        state.step++;
        state.stepInEpoch++;
        stepsHere++;
        secondsHere += dt;
        unlogged.push({ epoch: state.epoch + 1, step: state.step, lr, dt, stepsHere, ...r });
        if (!trainer.flush || unlogged.length >= logEvery) await logSteps();
        if (stop || (opts.stopAfterSteps !== undefined && stepsHere >= opts.stopAfterSteps)) {
          await logSteps();
          await saveLast();
          await writeSvg();
          bar.done();
          say(`saved ${lastDir} at step ${state.step}; continue with --resume`);
          return {
            state,
            stopped: "interrupted",
            losses,
            tokensPerSecond: tokensPerStep * stepsHere / secondsHere,
            expectedSeconds,
          };
        }
        // inside the epoch (its last step is saved with the validation that follows)
        const due = (opts.saveEverySteps && state.step % opts.saveEverySteps === 0) ||
          (opts.saveEverySeconds && (performance.now() - lastSave) / 1000 >= opts.saveEverySeconds);
        if (due && state.stepInEpoch < stepsPerEpoch) {
          await logSteps();
          await saveLast();
          await writeSvg();
        }
        opts.onStep?.(state.step, trainer);
        // a synchronous trainer (the CPU backend's FFI calls) never yields otherwise: let Ctrl-C (SIGINT) in
        await new Promise((r) => setTimeout(r, 0));
      }
      await logSteps();
      // epoch end: validate, keep the best, decide on early stopping
      // in micro-batches: the same mean (weighted by tokens), within the heap the training steps fit in
      const val = await validationLoss(trainer, opts.data.validation, cfg.seqLen, tc.microBatch || tc.batch);
      state.epoch++;
      state.stepInEpoch = 0;
      state.valLosses.push(val);
      const improved = !hasValidation ||
        (Number.isFinite(val) && (state.bestValLoss === null || val < state.bestValLoss));
      if (!hasValidation) {
        state.bestEpoch = state.epoch;
        state.epochsWithoutImprovement = 0;
      } else if (improved) {
        state.bestValLoss = val;
        state.bestEpoch = state.epoch;
        state.epochsWithoutImprovement = 0;
      } else state.epochsWithoutImprovement++;
      if (state.epochsWithoutImprovement >= tc.patience) {
        state.finished = true;
        stopped = "early-stop";
      }
      if (state.epoch >= tc.epochs || state.step >= total) state.finished = true;
      log.write({
        type: "epoch",
        epoch: state.epoch,
        step: state.step,
        val_loss: Number.isFinite(val) ? val : null,
        best_val_loss: state.bestValLoss,
        improved,
      });
      if (improved) await model.save(out, { tokenizerJson, state });
      await saveLast();
      await writeSvg();
      epochsHere++;
      say(
        hasValidation
          ? `\nepoch ${state.epoch}/${tc.epochs}: val loss ${val.toFixed(4)}${improved ? " (best)" : ""}` +
            `, ${state.epochsWithoutImprovement} epoch(s) without improvement`
          : `\nepoch ${state.epoch}/${tc.epochs}: saved (no validation data)`,
      );
      if (stopped === "early-stop") say(`early stop: no improvement for ${tc.patience} epochs`);
      if (!state.finished && opts.stopAfterEpochs !== undefined && epochsHere >= opts.stopAfterEpochs) {
        bar.done();
        return {
          state,
          stopped: "interrupted",
          losses,
          tokensPerSecond: tokensPerStep * stepsHere / secondsHere,
          expectedSeconds,
        };
      }
    }
    bar.done();
    return {
      state,
      stopped,
      losses,
      tokensPerSecond: stepsHere ? tokensPerStep * stepsHere / secondsHere : 0,
      expectedSeconds,
    };
  } finally {
    if (opts.handleSignals) Deno.removeSignalListener("SIGINT", onSig);
    log.close();
    trainer.dispose();
    model.dispose();
  }
}

/**
 * The expected seconds of this invocation, printed: two steps on the first batch that update nothing (the first
 * warms the kernels up, the second is timed) and one validation batch, scaled to the steps and validation passes
 * ahead (early stopping may end sooner).
 */
async function estimateSeconds(
  trainer: LoopTrainer,
  opts: TrainRunOptions,
  o: {
    winOpts: { seqLen: number; stride: number; dropLast: boolean };
    state: TrainState;
    total: number;
    stepsPerEpoch: number;
    say: (m: string) => void;
  },
): Promise<number> {
  const { state, winOpts } = o;
  const tc = state.train;
  const steps = Math.min(o.total - state.step, opts.stopAfterSteps ?? Infinity);
  const first = windowBatches(opts.data.train, {
    ...winOpts,
    batchSize: tc.batch,
    seed: tc.seed,
    epoch: state.epoch,
  })
    .next().value!;
  await trainer.step(first.tokens, first.rows, 0, { update: false });
  const t0 = performance.now();
  await trainer.step(first.tokens, first.rows, 0, { update: false });
  const perStep = (performance.now() - t0) / 1000;
  const valRows = tc.microBatch || tc.batch;
  const seqLen = winOpts.seqLen;
  const vb = windowBatches(opts.data.validation, {
    seqLen,
    stride: seqLen,
    batchSize: valRows,
    shuffle: false,
  })
    .next();
  let perValidation = 0;
  if (!vb.done) {
    const t1 = performance.now();
    await trainer.evaluate(vb.value.tokens, vb.value.rows);
    const batches = batchesPerEpoch(opts.data.validation, { seqLen, stride: seqLen, batchSize: valRows });
    perValidation = (performance.now() - t1) / 1000 * batches;
  }
  const validations = Math.floor((state.step + steps) / o.stepsPerEpoch) - state.epoch;
  const seconds = steps * perStep + validations * perValidation;
  o.say(
    `expected duration ≈ ${formatDuration(seconds)}: ${steps} steps × ${perStep.toFixed(2)} s/step` +
      (validations && perValidation
        ? ` + ${validations} validation pass(es) × ${formatDuration(perValidation)}`
        : "") +
      " (measured on a warm-up step)",
  );
  return seconds;
}
