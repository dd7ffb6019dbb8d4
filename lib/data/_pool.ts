/**
 * A small pool of `_worker.ts` workers with a job queue (or inline execution when `size` is 0).
 *
 * @module
 */
import { encodeJob, parseJob } from "./_jobs.ts";
import type { WorkerRequest, WorkerResponse } from "./_worker.ts";

type Job = { req: WorkerRequest; resolve: (v: unknown) => void; reject: (e: Error) => void };
// deno-lint-ignore no-explicit-any
type Req = WorkerRequest extends infer R ? R extends any ? Omit<R, "id"> : never : never;

/**
 * Runs jobs on `size` module workers, at most `inFlight` per worker.
 *
 * @example
 * ```ts ignore
 * import { WorkerPool } from "./_pool.ts";
 * const pool = new WorkerPool(2);
 * const r = await pool.run({ op: "parse", path: "song.mid" });
 * pool.close();
 * ```
 */
export class WorkerPool {
  #workers: Worker[] = [];
  #busy: number[] = [];
  #queue: Job[] = [];
  #pending = new Map<number, Job & { worker: number }>();
  #nextId = 1;
  #inFlight: number;

  constructor(readonly size: number, inFlight = 2) {
    this.#inFlight = inFlight;
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL("./_worker.ts", import.meta.url).href, { type: "module" });
      w.onmessage = (e: MessageEvent<WorkerResponse>) => this.#done(e.data);
      w.onerror = (e) => {
        e.preventDefault();
        this.#fail(i, new Error(`tokenize worker ${i} crashed: ${e.message}`));
      };
      this.#workers.push(w);
      this.#busy.push(0);
    }
  }

  /** Runs one job; resolves with its result. */
  run<T>(req: Req, transfer: Transferable[] = []): Promise<T> {
    if (this.size === 0) return runInline(req as WorkerRequest) as Promise<T>;
    return new Promise<T>((resolve, reject) => {
      const job = { req: { ...req, id: this.#nextId++ } as WorkerRequest, resolve, reject } as Job;
      (job as Job & { transfer?: Transferable[] }).transfer = transfer;
      this.#queue.push(job);
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#queue.length) {
      let best = -1;
      for (let i = 0; i < this.#workers.length; i++) {
        if (this.#busy[i] < this.#inFlight && (best < 0 || this.#busy[i] < this.#busy[best])) best = i;
      }
      if (best < 0) return;
      const job = this.#queue.shift()!;
      this.#busy[best]++;
      this.#pending.set(job.req.id, { ...job, worker: best });
      this.#workers[best].postMessage(job.req, (job as Job & { transfer?: Transferable[] }).transfer ?? []);
    }
  }

  #done(res: WorkerResponse): void {
    const job = this.#pending.get(res.id);
    if (!job) return;
    this.#pending.delete(res.id);
    this.#busy[job.worker]--;
    if (res.ok) job.resolve(res.result);
    else job.reject(new Error(res.error));
    this.#pump();
  }

  #fail(worker: number, err: Error): void {
    for (const [id, job] of this.#pending) {
      if (job.worker === worker) {
        this.#pending.delete(id);
        job.reject(err);
      }
    }
    for (const job of this.#queue.splice(0)) job.reject(err);
  }

  /** Terminates the workers. */
  close(): void {
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
  }
}

async function runInline(req: WorkerRequest): Promise<unknown> {
  if (req.op === "parse") return await parseJob(req.path);
  return encodeJob(req.tokenizer, req.score, req.shift, req.dtype);
}
