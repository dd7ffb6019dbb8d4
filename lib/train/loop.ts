/**
 * The training loop: seeded window batches per epoch, AdamW with warmup + cosine, global-norm clipping, validation
 * every epoch, the best checkpoint by validation loss in `<out>/`, a resumable last checkpoint (with optimizer
 * state) in `<out>/last/`, early stopping, `train_log.jsonl`, `loss.svg`, and a clean save on Ctrl-C.
 *
 * Resuming reproduces an uninterrupted run exactly: the batch order is a pure function of (seed, epoch), the
 * schedule of the step count, and weights plus AdamW moments are restored bit for bit.
 *
 * @module
 */
import { writeFileAtomic } from "../util/atomic.ts";
import { batchesPerEpoch, windowBatches } from "../data/windows.ts";
import { JsonlLog, Progress } from "../util/progress.ts";
import { loadCheckpoint, loadOptimizerState, saveCheckpoint, type TrainState } from "../model/checkpoint.ts";
import { estimateTrainMemory, type ModelConfig, type TrainConfig } from "../model/config.ts";
import { TfModel } from "../model/model.ts";
import { lossCurveSvg, type LossPoint } from "./loss_svg.ts";
import { learningRate } from "./schedule.ts";
import { startGradientWorkers } from "./parallel.ts";
import { Trainer } from "./step.ts";

/** Token pieces per split (each piece `BOS … EOS`), as `openShards` returns them. */
export interface TrainData {
  /** The training recipe. */
  train: readonly ArrayLike<number>[];
  /** Validation pieces. */
  validation: readonly ArrayLike<number>[];
  /** Copied into every checkpoint as `tokenizer.json` (an object, or the file's text to copy it unchanged). */
  tokenizerJson?: unknown;
}

/** Options of {@link trainModel}. */
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
  /** Name of the active tfjs backend (recorded in the state). */
  backend?: string;
  /** Stop (as a kill would) after this many epochs in this invocation — for tests and time-boxed runs. */
  stopAfterEpochs?: number;
  /** Save and stop after this many steps in this invocation. */
  stopAfterSteps?: number;
  /** Install a SIGINT handler that saves and stops (default false; the CLI turns it on). */
  handleSignals?: boolean;
  /** Show the progress bar even when stderr is not a terminal. */
  forceProgress?: boolean;
  /** Where one-line messages go (default console.error). */
  log?: (msg: string) => void;
}

/** How a run ended. */
export interface TrainRunResult {
  /** Training state, or null. */
  state: TrainState;
  /** How the run ended. */
  stopped: "finished" | "early-stop" | "interrupted";
  /** Training loss per step taken in this invocation. */
  losses: LossPoint[];
  /** Mean training throughput of this invocation (input tokens per second). */
  tokensPerSecond: number;
}

/**
 * Largest estimated footprint per forward/backward pass on tfjs-wasm, whose heap stops at 4 GiB (the rest is headroom
 * for the update's temporaries and fragmentation). v7 d192 at 32 × 256 needs ~4.1 GiB: XNNPACK then fails with
 * status 6 (out of memory) and the next kernel reads out of bounds.
 */
const WASM_BUDGET = 3.25 * 1024 ** 3;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Drops log records past the resumed state (a hard kill may have logged steps after the last save). */
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
      if (r.type === "step") return r.step <= state.step;
      if (r.type === "epoch") return r.epoch <= state.epoch;
      return true;
    } catch {
      return false;
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
 * const loss = await validationLoss(trainer, data.validation, model.seqLen, 8);
 * ```
 */
export async function validationLoss(
  trainer: Trainer,
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
 * import { trainModel } from "./loop.ts";
 * const p = applyOverrides(getPreset("v8"), { layers: 2, dim: 64, heads: 4, ffn: 128, seqLen: 64, vocab: 300 });
 * const r = await trainModel({ ...p, data: { train, validation }, out: "models/tiny" });
 * ```
 */
export async function trainModel(opts: TrainRunOptions): Promise<TrainRunResult> {
  const say = opts.log ?? ((m: string) => console.error(m));
  const out = opts.out;
  const lastDir = `${out}/last`;
  let model: TfModel;
  let state: TrainState;
  let tokenizerJson = opts.data.tokenizerJson;
  let optState: Awaited<ReturnType<typeof loadOptimizerState>> = null;
  if (opts.resume) {
    if (!(await exists(`${lastDir}/config.json`))) {
      throw new Error(`${lastDir}: no checkpoint to resume from`);
    }
    const ck = await loadCheckpoint(lastDir);
    if (!ck.state) throw new Error(`${lastDir}/config.json: no training state (etude.state)`);
    model = new TfModel(ck.model, ck.weights);
    state = ck.state;
    // a batch of 32 × 256 that fit a GPU overflows tfjs-wasm's 4 GB heap: execution follows this invocation
    state.train.microBatch = opts.train.microBatch;
    state.train.workers = opts.train.workers;
    tokenizerJson ??= await Deno.readTextFile(`${lastDir}/tokenizer.json`).catch(() => undefined);
    optState = await loadOptimizerState(lastDir);
    if (!optState) throw new Error(`${lastDir}/optimizer.safetensors: missing (cannot resume exactly)`);
    await trimLog(`${out}/train_log.jsonl`, state);
    say(`resuming ${out} at epoch ${state.epoch}, step ${state.step}`);
  } else {
    if (await exists(`${lastDir}/config.json`)) {
      throw new Error(`${out}: a run already exists there (use --resume, or another --out)`);
    }
    model = TfModel.init(opts.model, opts.train.seed);
    state = {
      /** Epochs fully completed. */
      epoch: 0,
      /** Optimizer steps taken in total. */
      step: 0,
      /** Batches already taken inside the current epoch. */
      stepInEpoch: 0,
      /** Steps per epoch (fixed at the start of the run). */
      stepsPerEpoch: 0,
      /** Best validation loss so far (nats/token). */
      bestValLoss: null,
      /** Epoch (1-based) of the best validation loss. */
      bestEpoch: -1,
      /** Epochs since the last improvement. */
      epochsWithoutImprovement: 0,
      /** Validation loss after each completed epoch. */
      valLosses: [],
      /** The training recipe. */
      train: structuredClone(opts.train),
      /** Set once training ended (early stop or all epochs done). */
      finished: false,
      backend: opts.backend,
    };
  }
  const cfg = model.config;
  const tc = state.train;
  const winOpts = { seqLen: cfg.seqLen, stride: tc.stride, dropLast: true };
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
  const total = tc.epochs * stepsPerEpoch;
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
  const extra = opts.backend === "webgpu" ? 0 : Math.max(0, Math.min((tc.workers ?? 1) - 1, tc.batch - 1));
  if (extra) say(`data parallel: this thread + ${extra} worker(s) share each batch`);
  const trainer = new Trainer(model, tc, await startGradientWorkers(cfg, opts.backend ?? "wasm", extra));
  if (optState) trainer.optimizer.setState(optState);
  const logPath = `${out}/train_log.jsonl`;
  await Deno.mkdir(out, { recursive: true });
  const log = new JsonlLog(logPath);
  if (!opts.resume) {
    log.write({ type: "start", model: cfg, train: tc, windows, stepsPerEpoch, backend: opts.backend });
  } else log.write({ type: "resume", step: state.step, train: tc, backend: opts.backend });
  state.backend = opts.backend;

  let stop = false;
  const onSig = () => {
    if (stop) Deno.exit(130);
    stop = true;
    say("\ninterrupt: saving after this step (Ctrl-C again to quit at once)");
  };
  if (opts.handleSignals) Deno.addSignalListener("SIGINT", onSig);

  const saveLast = async () => {
    await saveCheckpoint(lastDir, {
      /** The parsed `config.json`. */
      config: cfg,
      /** F32 weights by tensor name. */
      weights: await model.weights(),
      tokenizerJson,
      state,
      /** AdamW moments, written to `optimizer.safetensors` when given. */
      optimizer: await trainer.optimizer.state(),
    });
  };
  const writeSvg = async () => {
    const { train, val } = await readCurves(logPath);
    await writeFileAtomic(`${out}/loss.svg`, lossCurveSvg(train, val, `${cfg.preset} ${cfg.arch} — ${out}`));
  };

  const losses: LossPoint[] = [];
  const bar = new Progress("train", total - state.step, { unit: "steps", force: opts.forceProgress });
  const tokensPerStep = tc.batch * cfg.seqLen;
  let stepsHere = 0, secondsHere = 0, epochsHere = 0;
  let stopped: TrainRunResult["stopped"] = "finished";
  try {
    while (!state.finished && state.epoch < tc.epochs) {
      const batches = windowBatches(opts.data.train, {
        ...winOpts,
        batchSize: tc.batch,
        /** Seed for initialisation and the window order. */
        seed: tc.seed,
        /** Epochs fully completed. */
        epoch: state.epoch,
      });
      let i = 0;
      for (const b of batches) {
        if (i++ < state.stepInEpoch) continue;
        const t0 = performance.now();
        const lr = learningRate(state.step, sched);
        const { loss, gradNorm } = await trainer.step(b.tokens, b.rows, lr);
        const dt = (performance.now() - t0) / 1000;
        state.step++;
        state.stepInEpoch++;
        stepsHere++;
        secondsHere += dt;
        losses.push({ step: state.step, loss });
        const tps = tokensPerStep / dt;
        log.write({
          type: "step",
          /** Epochs fully completed. */
          epoch: state.epoch + 1,
          /** Optimizer steps taken in total. */
          step: state.step,
          loss,
          lr,
          grad_norm: gradNorm,
          tokens_per_s: Math.round(tps),
        });
        bar.update(
          stepsHere,
          `ep ${state.epoch + 1}/${tc.epochs} loss ${loss.toFixed(3)} ${
            Math.round(tokensPerStep * stepsHere / secondsHere)
          } tok/s`,
        );
        if (!Number.isFinite(loss)) throw new Error(`loss became ${loss} at step ${state.step}`);
        if (stop || (opts.stopAfterSteps !== undefined && stepsHere >= opts.stopAfterSteps)) {
          await saveLast();
          await writeSvg();
          bar.done();
          say(`saved ${lastDir} at step ${state.step}; continue with --resume`);
          return {
            state,
            /** How the run ended. */
            stopped: "interrupted",
            losses,
            /** Mean training throughput of this invocation. */
            tokensPerSecond: tokensPerStep * stepsHere / secondsHere,
          };
        }
      }
      // epoch end: validate, keep the best, decide on early stopping
      // in micro-batches: the same mean (weighted by tokens), within the heap the training steps fit in
      const val = await validationLoss(trainer, opts.data.validation, cfg.seqLen, tc.microBatch || tc.batch);
      state.epoch++;
      state.stepInEpoch = 0;
      state.valLosses.push(val);
      const improved = Number.isFinite(val) && (state.bestValLoss === null || val < state.bestValLoss);
      if (improved) {
        state.bestValLoss = val;
        state.bestEpoch = state.epoch;
        state.epochsWithoutImprovement = 0;
      } else state.epochsWithoutImprovement++;
      if (state.epochsWithoutImprovement >= tc.patience) {
        state.finished = true;
        stopped = "early-stop";
      }
      if (state.epoch >= tc.epochs) state.finished = true;
      log.write({
        type: "epoch",
        /** Epochs fully completed. */
        epoch: state.epoch,
        /** Optimizer steps taken in total. */
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
        `\nepoch ${state.epoch}/${tc.epochs}: val loss ${val.toFixed(4)}${improved ? " (best)" : ""}` +
          `, ${state.epochsWithoutImprovement} epoch(s) without improvement`,
      );
      if (stopped === "early-stop") say(`early stop: no improvement for ${tc.patience} epochs`);
      if (!state.finished && opts.stopAfterEpochs !== undefined && epochsHere >= opts.stopAfterEpochs) {
        bar.done();
        return {
          state,
          /** How the run ended. */
          stopped: "interrupted",
          losses,
          /** Mean training throughput of this invocation. */
          tokensPerSecond: tokensPerStep * stepsHere / secondsHere,
        };
      }
    }
    bar.done();
    return {
      state,
      stopped,
      losses,
      /** Mean training throughput of this invocation. */
      tokensPerSecond: stepsHere ? tokensPerStep * stepsHere / secondsHere : 0,
    };
  } finally {
    if (opts.handleSignals) Deno.removeSignalListener("SIGINT", onSig);
    log.close();
    trainer.dispose();
    model.dispose();
  }
}
