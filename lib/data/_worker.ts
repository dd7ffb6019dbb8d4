/**
 * The tokenising worker: `tokenize` starts one per core with
 * `new Worker(new URL("./_worker.ts", import.meta.url).href, { type: "module" })` and posts {@link WorkerRequest}s.
 *
 * @module
 */
import { encodeJob, type PackedScore, parseJob } from "./_jobs.ts";

/** A request to the worker. */
export type WorkerRequest =
  | { id: number; op: "parse"; path: string }
  | {
    id: number;
    op: "encode";
    tokenizer: string;
    score: PackedScore;
    shift: number;
    dtype: "uint16" | "uint32";
  };

/** The worker's answer: the job's result, or an error message. */
export type WorkerResponse = { id: number; ok: true; result: unknown } | {
  id: number;
  ok: false;
  error: string;
};

// deno-lint-ignore no-explicit-any
const self_ = globalThis as any;
self_.onmessage = async (e: MessageEvent<WorkerRequest>) => {
  const req = e.data;
  try {
    if (req.op === "parse") {
      const r = await parseJob(req.path);
      const transfer = r.ok ? [r.score.notes.buffer, r.score.tempos.buffer, r.pitchHistogram.buffer] : [];
      self_.postMessage({ id: req.id, ok: true, result: r } satisfies WorkerResponse, transfer);
    } else {
      const ids = encodeJob(req.tokenizer, req.score, req.shift, req.dtype);
      self_.postMessage({ id: req.id, ok: true, result: ids } satisfies WorkerResponse, [ids.buffer]);
    }
  } catch (err) {
    const error = String((err as Error)?.message ?? err).split("\n")[0];
    self_.postMessage({ id: req.id, ok: false, error } satisfies WorkerResponse);
  }
};
