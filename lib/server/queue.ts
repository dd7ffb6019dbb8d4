/**
 * The bounded generation queue in front of the GPU: jobs run one at a time (or `concurrency` at a time), at most
 * `maxWaiting` wait behind them, and every job gets an `AbortSignal` that fires on the caller's cancel or the
 * per-job timeout — whether it is still waiting (then it never starts) or already running.
 *
 * @module
 */

/**
 * Thrown by {@linkcode GenerationQueue.run} when the queue is full; `retryAfterSeconds` estimates when to retry.
 *
 * @example
 * ```ts
 * import { GenerationQueue, QueueFullError } from "./queue.ts";
 * const q = new GenerationQueue({ maxWaiting: 0 });
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
 * Options for {@linkcode GenerationQueue}.
 *
 * @example
 * ```ts
 * import { GenerationQueue } from "./queue.ts";
 * const q = new GenerationQueue({ concurrency: 1, maxWaiting: 8, timeoutMs: 60_000 });
 * ```
 */
export interface QueueOptions {
  /** Jobs running at once (default 1: one GPU). */
  concurrency?: number;
  /** Jobs allowed to wait; one more is refused with {@linkcode QueueFullError} (default 4). */
  maxWaiting?: number;
  /** Default per-job time limit in ms, counted from enqueue (default 120000). */
  timeoutMs?: number;
}

/**
 * Counters for health checks.
 *
 * @example
 * ```ts
 * import { GenerationQueue } from "./queue.ts";
 * const q = new GenerationQueue();
 * await q.run(() => Promise.resolve("done"));
 * q.stats(); // { running: 0, waiting: 0, maxWaiting: 4, completed: 1, failed: 0, cancelled: 0 }
 * ```
 */
export interface QueueStats {
  /** Jobs running now. */
  running: number;
  /** Jobs waiting for a slot. */
  waiting: number;
  /** The waiting bound. */
  maxWaiting: number;
  /** Jobs that finished. */
  completed: number;
  /** Jobs that threw. */
  failed: number;
  /** Jobs cancelled by their caller or timed out. */
  cancelled: number;
}

interface Waiter {
  start: () => void;
  signal: AbortSignal;
}

/**
 * A FIFO job queue with a bound, cancellation and timeouts.
 *
 * @example
 * ```ts
 * import { GenerationQueue } from "./queue.ts";
 * const q = new GenerationQueue({ maxWaiting: 2, timeoutMs: 5000 });
 * const answer = await q.run(async (signal) => {
 *   signal.throwIfAborted();
 *   return 42;
 * });
 * ```
 */
export class GenerationQueue {
  /** Jobs running at once. */
  readonly concurrency: number;
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
    this.concurrency = Math.max(1, opts.concurrency ?? 1);
    this.maxWaiting = Math.max(0, opts.maxWaiting ?? 4);
    this.timeoutMs = opts.timeoutMs ?? 120_000;
  }

  /** Current counters. */
  stats(): QueueStats {
    return {
      running: this.#running,
      waiting: this.#waiting.length,
      maxWaiting: this.maxWaiting,
      completed: this.#completed,
      failed: this.#failed,
      cancelled: this.#cancelled,
    };
  }

  /** Seconds a new job would likely wait: the running-average job time × jobs ahead of it (at least 1). */
  retryAfterSeconds(): number {
    const ahead = this.#waiting.length + this.#running;
    return Math.max(1, Math.ceil(this.#avgMs * ahead / this.concurrency / 1000));
  }

  /**
   * Runs `job` when a slot is free. Rejects at once with {@linkcode QueueFullError} when `maxWaiting` jobs already
   * wait; with the abort reason when `signal` fires; with {@linkcode QueueTimeoutError} after the time limit. The
   * job's own signal fires in both cases, so a running generation stops.
   */
  async run<T>(
    job: (signal: AbortSignal) => Promise<T>,
    opts: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<T> {
    if (this.#running >= this.concurrency && this.#waiting.length >= this.maxWaiting) {
      throw new QueueFullError(this.retryAfterSeconds());
    }
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
      if (this.#running < this.concurrency) this.#running++;
      else await this.#wait(signal);
      holdsSlot = true;
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

  #wait(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        signal,
        start: () => {
          signal.removeEventListener("abort", abort);
          resolve();
        },
      };
      const abort = () => {
        const i = this.#waiting.indexOf(waiter);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(signal.reason);
      };
      signal.addEventListener("abort", abort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  #next(): void {
    while (this.#running < this.concurrency && this.#waiting.length) {
      const w = this.#waiting.shift()!;
      if (w.signal.aborted) continue;
      this.#running++;
      w.start();
    }
  }
}
