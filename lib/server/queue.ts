/**
 * The bounded generation queue in front of the decoder (the GPU engine or the CPU device): up to `maxBatch` jobs
 * run at once (the rows of one continuous batch, lib/infer/batch.ts), at most `maxWaiting` wait behind them in
 * arrival order, each waiting job hears its place in line as it moves up, and every job gets an `AbortSignal` that fires on the caller's cancel or the per-job
 * timeout — whether it is still waiting (then it never starts) or already running (then only its row stops).
 *
 * @module
 */

/**
 * Thrown by {@linkcode GenerationQueue.run} when the queue is full; `retryAfterSeconds` estimates when to retry.
 *
 * @example
 * ```ts
 * import { GenerationQueue, QueueFullError } from "./queue.ts";
 * const q = new GenerationQueue({ maxBatch: 1, maxWaiting: 0 });
 * const busy = q.run(() => new Promise((resolve) => setTimeout(resolve, 50)));
 * try {
 *   await q.run(() => Promise.resolve(1));
 * } catch (e) {
 *   if (e instanceof QueueFullError) console.log(`retry in ${e.retryAfterSeconds} s`); // the server's 503
 * }
 * await busy;
 * ```
 */
export class QueueFullError extends Error {
  /** The error's name. */
  override name = "QueueFullError";
  /** `retryAfterSeconds`: when a retry will likely find room. */
  constructor(readonly retryAfterSeconds: number) {
    super(`generation queue is full; retry in ${retryAfterSeconds} s`);
  }
}

/**
 * Thrown (as the job's rejection) when a job exceeds its time limit.
 *
 * @example
 * ```ts
 * import { GenerationQueue, QueueTimeoutError } from "./queue.ts";
 * const q = new GenerationQueue({ timeoutMs: 20 });
 * const slow = (signal: AbortSignal) =>
 *   new Promise<never>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
 * const e = await q.run(slow).catch((e) => e);
 * e instanceof QueueTimeoutError; // true (e.timeoutMs is 20)
 * ```
 */
export class QueueTimeoutError extends Error {
  /** The error's name. */
  override name = "QueueTimeoutError";
  /** `timeoutMs`: the limit that was exceeded. */
  constructor(readonly timeoutMs: number) {
    super(`generation took longer than ${timeoutMs} ms`);
  }
}

/**
 * Options for {@linkcode GenerationQueue} (defaults: {@linkcode QUEUE_DEFAULTS}).
 *
 * @example
 * ```ts
 * import { GenerationQueue } from "./queue.ts";
 * const q = new GenerationQueue({ maxBatch: 8, maxWaiting: 32, timeoutMs: 60_000 });
 * ```
 */
export interface QueueOptions {
  /**
   * Jobs running at once (default 16): the rows of one batch, when the generation entry batches concurrent calls
   * (lib/infer/batch.ts); 1 runs one generation at a time.
   */
  maxBatch?: number;
  /** Jobs allowed to wait; one more is refused with {@linkcode QueueFullError} (default 64). */
  maxWaiting?: number;
  /** Default per-job time limit in ms, counted from enqueue (default 120000). */
  timeoutMs?: number;
}

/**
 * The server's defaults: 16 rows per batch and 64 waiting (so 80 concurrent requests are taken before a 503),
 * 120 s per request, waiting included.
 *
 * @example
 * ```ts
 * import { QUEUE_DEFAULTS } from "./queue.ts";
 * QUEUE_DEFAULTS.maxBatch; // 16
 * ```
 */
export const QUEUE_DEFAULTS: Readonly<Required<QueueOptions>> = {
  maxBatch: 16,
  maxWaiting: 64,
  timeoutMs: 120_000,
};

/**
 * Counters for health checks.
 *
 * @example
 * ```ts
 * import { GenerationQueue } from "./queue.ts";
 * const q = new GenerationQueue();
 * await q.run(() => Promise.resolve("done"));
 * q.stats(); // { running: 0, waiting: 0, maxBatch: 16, maxWaiting: 64, completed: 1, failed: 0, cancelled: 0 }
 * ```
 */
export interface QueueStats {
  /** Jobs running now. */
  running: number;
  /** Jobs waiting for a slot. */
  waiting: number;
  /** The running bound (rows per batch). */
  maxBatch: number;
  /** The waiting bound. */
  maxWaiting: number;
  /** Jobs that finished. */
  completed: number;
  /** Jobs that threw. */
  failed: number;
  /** Jobs cancelled by their caller or timed out. */
  cancelled: number;
}

/** Options of {@linkcode GenerationQueue.run}. */
export interface RunOptions {
  /** The caller's cancel. */
  signal?: AbortSignal;
  /** This job's time limit in ms (default: the queue's). */
  timeoutMs?: number;
  /**
   * Hears the job's place in line: 1 = next to run, told before `run` returns its promise and again each time it
   * moves up; 0 once it starts (at once when a slot is free).
   */
  onPosition?: (position: number) => void;
}

interface Waiter {
  start: () => void;
  signal: AbortSignal;
  onPosition?: (position: number) => void;
}

/**
 * A FIFO job queue with two bounds (running, waiting), places in line, cancellation and timeouts.
 *
 * @example
 * ```ts
 * import { GenerationQueue } from "./queue.ts";
 * const q = new GenerationQueue({ maxBatch: 4, maxWaiting: 2, timeoutMs: 5000 });
 * const answer = await q.run(async (signal) => {
 *   signal.throwIfAborted();
 *   return 42;
 * }, { onPosition: (p) => console.log(p === 0 ? "running" : `number ${p} in line`) });
 * ```
 */
export class GenerationQueue {
  /** Jobs running at once. */
  readonly maxBatch: number;
  /** Jobs allowed to wait. */
  readonly maxWaiting: number;
  /** Default per-job time limit, ms. */
  readonly timeoutMs: number;
  #running = 0;
  #waiting: Waiter[] = [];
  #completed = 0;
  #failed = 0;
  #cancelled = 0;
  #avgMs = 2000;

  /** A queue with the given bounds. */
  constructor(opts: QueueOptions = {}) {
    this.maxBatch = Math.max(1, Math.floor(opts.maxBatch ?? QUEUE_DEFAULTS.maxBatch));
    this.maxWaiting = Math.max(0, Math.floor(opts.maxWaiting ?? QUEUE_DEFAULTS.maxWaiting));
    this.timeoutMs = opts.timeoutMs ?? QUEUE_DEFAULTS.timeoutMs;
  }

  /** Whether a new job would be refused now. */
  get full(): boolean {
    return this.#running >= this.maxBatch && this.#waiting.length >= this.maxWaiting;
  }

  /** Current counters. */
  stats(): QueueStats {
    return {
      running: this.#running,
      waiting: this.#waiting.length,
      maxBatch: this.maxBatch,
      maxWaiting: this.maxWaiting,
      completed: this.#completed,
      failed: this.#failed,
      cancelled: this.#cancelled,
    };
  }

  /**
   * Seconds a new job would likely wait: the running-average job time × the batches ahead of it (the jobs ahead
   * over `maxBatch`; at least 1).
   */
  retryAfterSeconds(): number {
    const ahead = this.#waiting.length + this.#running;
    return Math.max(1, Math.ceil(this.#avgMs * Math.ceil(ahead / this.maxBatch) / 1000));
  }

  /**
   * Runs `job` when a slot is free. Rejects at once with {@linkcode QueueFullError} when `maxWaiting` jobs already
   * wait; with the abort reason when `signal` fires; with {@linkcode QueueTimeoutError} after the time limit. The
   * job's own signal fires in both cases, so a running generation stops.
   */
  async run<T>(job: (signal: AbortSignal) => Promise<T>, opts: RunOptions = {}): Promise<T> {
    if (this.full) throw new QueueFullError(this.retryAfterSeconds());
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(new QueueTimeoutError(timeoutMs)), timeoutMs);
    const onAbort = () => ctl.abort(opts.signal?.reason ?? new DOMException("cancelled", "AbortError"));
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener("abort", onAbort, { once: true });
    const signal = ctl.signal;
    let holdsSlot = false;
    try {
      // A free slot is taken synchronously; otherwise #next hands one over (the running count moves with it).
      if (this.#running < this.maxBatch) {
        this.#running++;
        holdsSlot = true;
        tell(opts.onPosition, 0);
      } else {
        await this.#wait(signal, opts.onPosition);
        holdsSlot = true;
      }
      signal.throwIfAborted();
      const t0 = performance.now();
      const result = await job(signal);
      // A job that ignored its signal still counts as cancelled/timed out for the caller.
      signal.throwIfAborted();
      this.#completed++;
      this.#avgMs = 0.7 * this.#avgMs + 0.3 * (performance.now() - t0);
      return result;
    } catch (e) {
      if (signal.aborted) {
        this.#cancelled++;
        throw signal.reason;
      }
      this.#failed++;
      throw e;
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      if (holdsSlot) {
        this.#running--;
        this.#next();
      }
    }
  }

  #wait(signal: AbortSignal, onPosition?: (position: number) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        signal,
        onPosition,
        start: () => {
          signal.removeEventListener("abort", abort);
          tell(onPosition, 0);
          resolve();
        },
      };
      const abort = () => {
        const i = this.#waiting.indexOf(waiter);
        if (i >= 0) {
          this.#waiting.splice(i, 1);
          this.#tellPositions(i);
        }
        reject(signal.reason);
      };
      signal.addEventListener("abort", abort, { once: true });
      this.#waiting.push(waiter);
      tell(onPosition, this.#waiting.length);
    });
  }

  /** Tells the waiting jobs from index `from` on their (new) place in line. */
  #tellPositions(from: number): void {
    for (let i = from; i < this.#waiting.length; i++) tell(this.#waiting[i].onPosition, i + 1);
  }

  #next(): void {
    let moved = false;
    while (this.#running < this.maxBatch && this.#waiting.length) {
      const w = this.#waiting.shift()!;
      moved = true;
      if (w.signal.aborted) continue;
      this.#running++;
      w.start();
    }
    if (moved) this.#tellPositions(0);
  }
}

/** Calls a position listener; its failure is its own. */
function tell(listener: ((position: number) => void) | undefined, position: number): void {
  try {
    listener?.(position);
  } catch { /* ignored */ }
}
