/**
 * Data-parallel training on a CPU: worker threads, each with its own tfjs backend (tfjs-wasm runs one thread per
 * instance: its threaded build does not start under Deno), compute gradients for a share of every batch; the main
 * thread sums them in a fixed order and applies the update. Per step each worker receives the weights (transferred
 * copies) and returns its gradients.
 *
 * @module
 */
import type { ModelConfig } from "../model/config.ts";
import type { GradientHelper } from "./step.ts";

/**
 * A {@link GradientHelper} backed by a Deno worker thread.
 *
 * @example
 * ```ts ignore
 * import { applyOverrides, getPreset } from "../model/config.ts";
 * import { TfModel } from "../model/model.ts";
 * import { WorkerGradientHelper } from "./parallel.ts";
 * import { Trainer } from "./step.ts";
 * const p = applyOverrides(getPreset("v8"), { layers: 1, dim: 16, heads: 2, ffn: 32, vocab: 20 });
 * const model = TfModel.init(p.model, 1);
 * const helper = await WorkerGradientHelper.start(model.config, "wasm");
 * const trainer = new Trainer(model, p.train, [helper]);
 * ```
 */
export class WorkerGradientHelper implements GradientHelper {
  #worker: Worker;
  #pending: { resolve: (v: unknown) => void; reject: (e: Error) => void } | null = null;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.onmessage = (e: MessageEvent) => {
      const p = this.#pending;
      this.#pending = null;
      if (!p) return;
      if (e.data.type === "error") p.reject(new Error(`gradient worker: ${e.data.message}`));
      else p.resolve(e.data);
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#pending?.reject(new Error(`gradient worker: ${e.message}`));
      this.#pending = null;
    };
  }

  #call(msg: unknown, transfer: Transferable[] = []): Promise<unknown> {
    if (this.#pending) return Promise.reject(new Error("gradient worker: one request at a time"));
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#worker.postMessage(msg, transfer);
    });
  }

  /** Starts a worker holding a model of this shape on `backend`. */
  static async start(model: ModelConfig, backend: string): Promise<WorkerGradientHelper> {
    const w = new Worker(new URL("./_grad_worker.ts", import.meta.url), { type: "module" });
    const h = new WorkerGradientHelper(w);
    await h.#call({ type: "init", model, backend });
    return h;
  }

  /** Sends the weights and windows; resolves with the worker's gradients and weighted loss. */
  async gradients(
    weights: Record<string, Float32Array>,
    windows: Int32Array,
    rows: number,
    micro: number,
    totalTargets: number,
    batchRows: number,
  ): Promise<{ grads: Record<string, Float32Array>; loss: number }> {
    // each worker gets its own copy of the weights (transferred, so the copy is the only cost)
    const copy: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(weights)) copy[k] = v.slice();
    const r = await this.#call(
      { type: "grads", weights: copy, windows, rows, micro, totalTargets, batchRows },
      [...Object.values(copy).map((a) => a.buffer as ArrayBuffer), windows.buffer as ArrayBuffer],
    ) as { grads: Record<string, Float32Array>; loss: number };
    return { grads: r.grads, loss: r.loss };
  }

  /** Stops the worker. */
  close(): void {
    this.#worker.terminate();
  }
}

/**
 * Starts `n` gradient workers for a model (n = 0 gives none).
 *
 * @example
 * ```ts ignore
 * import { getPreset } from "../model/config.ts";
 * import { startGradientWorkers } from "./parallel.ts";
 * const helpers = await startGradientWorkers(getPreset("v8").model, "wasm", 1);
 * ```
 */
export function startGradientWorkers(
  model: ModelConfig,
  backend: string,
  n: number,
): Promise<WorkerGradientHelper[]> {
  return Promise.all(Array.from({ length: n }, () => WorkerGradientHelper.start(model, backend)));
}
