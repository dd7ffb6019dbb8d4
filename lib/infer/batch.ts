/**
 * Continuous batching for the server: concurrent `generate` calls become rows of one running decode, so one pass
 * serves many users — on the WebGPU engine (`Engine.decodeRows`) or, for a model loaded on the CPU device, on its
 * KV-cache decoder (`CpuRowDecoder`, lib/infer/cpu_rows.ts; one contract, `RowDecoder`). A request that arrives
 * while a batch runs joins it at the next readback (every `chunk` tokens; on the CPU at the next step) in a free
 * slot; a finished or cancelled request leaves its slot to the next one; the others go on undisturbed. A request's
 * static controls (`controls`: key, range, …) become its row's bias; its dynamic controls (exact `bars`,
 * `maxPolyphony`, `noRepeatNgram`: masks that follow what was drawn, lib/infer/constraints.ts) its row's constraint
 * on the CPU decoder.
 *
 * Requests of one model share a batch; requests are served in arrival order, so a request for another model waits
 * until the running batch empties (one model's loop runs at a time). LSTM checkpoints, requests with `batch` > 1
 * and, on the engine, requests with dynamic controls run through `generate`, taking turns with the batches.
 *
 * Reproducibility: a request's tokens depend only on its own options — the same ids as `generate` with the same
 * options and `batch: 1` (`deno task generate --seed …`), alone or in any batch. Each row draws from Philox stream 0
 * with its counter starting at 0 wherever it joins, its first token comes from a prefill identical to `generate`'s,
 * and, on the engine, its decode steps run kernels whose rows do not depend on the batch, so the ids are equal bit
 * for bit (see `Engine.decodeRows`; tested on the software adapter on both kernel paths; on a real GPU it rests on
 * the same kernels, not yet measured there). On the CPU device a step over several rows runs BLAS GEMMs where
 * `generate` alone runs GEMVs: on a native BLAS the logits agree to rounding (~4e-6), and a draw that lands within
 * that rounding of a token boundary can differ (lib/infer/cpu_rows.ts; none in 24,000 draws of the default model on
 * OpenBLAS). The tests compare whole pieces with `generate` on the TypeScript BLAS (exact) and on OpenBLAS.
 *
 * @module
 */
import { nextState } from "./grammar.ts";
import { type CpuDecodeRow, CpuRowDecoder, type RowDecoder } from "./cpu_rows.ts";
import { generate, type GenerateOptions, type GenerateResult } from "./generate.ts";
import { type GenerationPlan, prepareGeneration } from "./plan.ts";
import { type LoadedModel, useModel } from "./load.ts";

/** Options of {@linkcode GenerationBatcher}. */
export interface BatcherOptions {
  /** Rows decoded at once (the engine's batch; default 16). */
  maxBatch?: number;
  /**
   * Tokens per readback, where rows join and leave (default 8: a request joins within one or two readbacks, and a
   * finished one is answered at most one readback late; requests' own `chunk` is not used).
   */
  chunk?: number;
  /** Readbacks in flight (default 2: one decoding while the previous one is read). */
  inFlight?: number;
}

/** Counters of a {@linkcode GenerationBatcher}. */
export interface BatcherStats {
  /** Rows decoding now. */
  rows: number;
  /** Requests waiting for a row (the running batch is full or serves another model). */
  waiting: number;
  /** Decode loops run (a loop lasts while it has rows). */
  loops: number;
  /** Requests served so far as rows. */
  served: number;
  /**
   * Requests passed to `generate` to run alone (taking turns with the batches): `batch` > 1, LSTM models, and on the
   * engine, dynamic controls (exact `bars`, `maxPolyphony`, `noRepeatNgram`).
   */
  alone: number;
  /** The most rows one decode step ran over. */
  peakRows: number;
  /** Decode steps run. */
  steps: number;
  /** Row-steps run (occupied rows summed over steps): `rowSteps / steps` is the mean batch. */
  rowSteps: number;
}

interface Job {
  model: LoadedModel;
  opts: GenerateOptions;
  plan: GenerationPlan;
  resolve: (r: GenerateResult) => void;
  reject: (e: unknown) => void;
  /** Removes the abort listener of a waiting job. */
  unlisten?: () => void;
}

/**
 * Serves `generate` requests in continuous batches. `generate(opts)` takes the same options as lib/infer/generate.ts'
 * `generate` and answers the same result; `opts.signal` ends only that request (its result holds what was generated
 * so far, as with `generate`).
 *
 * @example
 * ```ts ignore
 * import { GenerationBatcher } from "./batch.ts";
 * import { loadModel } from "./load.ts";
 * const model = await loadModel("models/default");
 * const batcher = new GenerationBatcher({ maxBatch: 16 });
 * // Eight users at once: one decode, eight rows.
 * const results = await Promise.all(
 *   Array.from({ length: 8 }, (_, i) => batcher.generate({ model, maxTokens: 64, seed: i })),
 * );
 * ```
 */
export class GenerationBatcher {
  /** Rows decoded at once. */
  readonly maxBatch: number;
  readonly #chunk: number;
  readonly #inFlight: number;
  readonly #waiting: Job[] = [];
  #running: LoadedModel | undefined;
  #loop$: Promise<unknown> | undefined;
  #rows = 0;
  #loops = 0;
  #served = 0;
  #alone = 0;
  #peak = 0;
  #steps = 0;
  #rowSteps = 0;

  /** A batcher with the given batch size. */
  constructor(o: BatcherOptions = {}) {
    this.maxBatch = Math.max(1, Math.floor(o.maxBatch ?? 16));
    this.#chunk = o.chunk ?? 8;
    this.#inFlight = o.inFlight ?? 2;
  }

  /** Current counters. */
  stats(): BatcherStats {
    return {
      rows: this.#rows,
      waiting: this.#waiting.length,
      loops: this.#loops,
      served: this.#served,
      alone: this.#alone,
      peakRows: this.#peak,
      steps: this.#steps,
      rowSteps: this.#rowSteps,
    };
  }

  /**
   * Generates one piece as a row of the running batch (or of the next one). Parameter errors reject at once with a
   * `GenerateParamError` (a control the model cannot honour, with a `RangeError` naming it); requests with `batch` > 1,
   * LSTM models, guided requests (`guidanceScale` with a condition) and, on the engine, requests with dynamic controls
   * run through plain `generate`. A bound function:
   * pass `batcher.generate` where a generation entry goes.
   */
  readonly generate = (opts: GenerateOptions): Promise<GenerateResult> => {
    const model = opts.model;
    if ((opts.batch ?? 1) !== 1 || model.arch !== "transformer") return this.#generateAlone(opts);
    let plan: GenerationPlan;
    try {
      plan = prepareGeneration({ ...opts, batch: 1 });
    } catch (e) {
      return Promise.reject(e);
    }
    // Dynamic controls mask each draw by what was drawn: the CPU decoder's rows take them, the engine's do not (yet).
    if (plan.constraint && !model.cpuDecoder) return this.#generateAlone(opts);
    // Guided decoding runs each sequence beside its unconditional twin: a request of its own.
    if (plan.guidance) return this.#generateAlone(opts);
    return new Promise<GenerateResult>((resolve, reject) => {
      const job: Job = { model, opts, plan, resolve, reject };
      const signal = opts.signal;
      if (signal) {
        // A request cancelled while it waits leaves the line at once, with nothing generated.
        const onAbort = () => {
          const i = this.#waiting.indexOf(job);
          if (i < 0) return;
          this.#waiting.splice(i, 1);
          resolve(plan.result(0, 1));
        };
        signal.addEventListener("abort", onAbort, { once: true });
        job.unlisten = () => signal.removeEventListener("abort", onAbort);
      }
      this.#waiting.push(job);
      this.#kick();
    });
  };

  /** `generate` for a request that cannot be a row. */
  #generateAlone(opts: GenerateOptions): Promise<GenerateResult> {
    this.#alone++;
    return generate(opts);
  }

  /**
   * Resolves once no decode loop runs (every request answered and the engine's last readbacks taken in), e.g.
   * before disposing a model.
   */
  async idle(): Promise<void> {
    while (this.#loop$) await this.#loop$;
  }

  /** Starts a loop for the model of the first waiting request, unless one runs. */
  #kick(): void {
    if (this.#running || !this.#waiting.length) return;
    const model = this.#running = this.#waiting[0].model;
    this.#loops++;
    this.#loop$ = this.#loop(model)
      .catch((e) => {
        // The loop failed (its rows were answered with the error): so do the requests it would have taken next.
        for (const job of this.#take(model, Infinity)) job.reject(e);
      })
      .finally(() => {
        this.#running = undefined;
        this.#loop$ = undefined;
        this.#kick();
      });
  }

  /** The requests for `model` at the head of the line, at most `free` (a request for another model stops it). */
  #take(model: LoadedModel, free: number): Job[] {
    let n = 0;
    while (n < free && n < this.#waiting.length && this.#waiting[n].model === model) n++;
    const jobs = this.#waiting.splice(0, n);
    for (const j of jobs) j.unlisten?.();
    return jobs;
  }

  /**
   * One decode loop of `model` (on its CPU decoder when it was loaded on the CPU device, else on its engine): rows
   * join from the line while they are for this model; ends when none is left.
   */
  #loop(model: LoadedModel): Promise<unknown> {
    return useModel(model, async () => {
      const rows: RowDecoder = model.cpuDecoder
        ? new CpuRowDecoder(model.cpuDecoder(this.maxBatch))
        : await model.engine(this.maxBatch);
      const g = model.grammar;
      const stats = await rows.decodeRows({
        grammar: g,
        nextState: (s, id) => nextState(g, s, id),
        slots: this.maxBatch,
        chunk: this.#chunk,
        inFlight: this.#inFlight,
        next: (free) => this.#take(model, free).map((job) => this.#row(job)),
      });
      this.#peak = Math.max(this.#peak, stats.peakRows);
      this.#steps += stats.steps;
      this.#rowSteps += stats.rowSteps;
    });
  }

  /** A job as a row of `decodeRows`: its static bias, and (CPU decoder only) its dynamic controls' constraint. */
  #row(job: Job): CpuDecodeRow {
    const plan = job.plan, t0 = performance.now();
    this.#rows++;
    let drawn = 0;
    return {
      ...(plan.bias ? { bias: plan.bias } : {}),
      ...(plan.constraint ? { constraint: plan.constraint() } : {}),
      prompt: plan.prompt,
      grammarState: plan.grammarState,
      maxTokens: plan.maxTokens,
      ...plan.sampling,
      grammar: plan.grammar,
      signal: job.opts.signal,
      windowStart: plan.windowStart,
      windowLead: plan.windowLead,
      onTokens: (t) => {
        drawn += t.length;
        return plan.onTokens([t]);
      },
      onEnd: (end) => {
        this.#rows--;
        this.#served++;
        if (end.reason === "error") job.reject(end.error);
        else job.resolve(plan.result(drawn, Math.max(1e-6, (performance.now() - t0) / 1000)));
      },
    };
  }
}
