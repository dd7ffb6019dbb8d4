/**
 * `deno task serve` as a library: the app of lib/server/app.ts wired to the real generation entry (continuous
 * batching, lib/infer/batch.ts) and MIDI codec, served with `Deno.serve` until SIGINT or SIGTERM.
 *
 * @module
 */
import { type CommandOutput, commandOutput } from "../util/output.ts";
import { type Device, loadModel } from "../infer/load.ts";
import { GenerationBatcher } from "../infer/batch.ts";
import { readMidi, writeMidi } from "../midi/mod.ts";
import { createApp } from "./app.ts";
import { QUEUE_DEFAULTS } from "./queue.ts";
import { listModels } from "./models.ts";

/** Options of {@link serveEtude} (the `deno task serve` flags; `print` gets the "serving http://…" line). */
export interface ServeOptions extends CommandOutput {
  /** Interface to listen on (default `127.0.0.1`). */
  host?: string;
  /** Port (default 8000; 0 = any free one). */
  port?: number;
  /** Directory whose subdirectories are models (default `models`). */
  modelsDir?: string;
  /** Requests generated at once, as the rows of one batch (default 16). */
  maxBatch?: number;
  /** Requests waiting for a row before a 503 (default 64). */
  maxWaiting?: number;
  /** Seconds a request may wait and run (default 120). */
  timeoutSeconds?: number;
  /**
   * Where Transformers decode (`loadModel`'s `device`; default `auto`). Either way concurrent requests are the rows
   * of one batch (on the CPU device, of its KV-cache decoder: lib/infer/cpu_rows.ts).
   */
  device?: Device;
  /** CPU device: BLAS threads. */
  threads?: number;
}

/**
 * Serves the page and the HTTP API; resolves once the server has stopped (on SIGINT or SIGTERM).
 *
 * @example
 * ```ts ignore
 * import { serveEtude } from "./serve.ts";
 * await serveEtude({ port: 8000, modelsDir: "models" });
 * ```
 */
export async function serveEtude(o: ServeOptions = {}): Promise<void> {
  const { print, log } = commandOutput(o);
  const modelsDir = o.modelsDir ?? "models";
  const models = await listModels(modelsDir);
  if (!models.length) {
    log(
      `warning: no model directories in ${modelsDir}/ (each needs config.json, model.safetensors, tokenizer.json); ` +
        `train the default model with \`deno task train\` (README, "The default model")`,
    );
  }
  const maxBatch = o.maxBatch ?? QUEUE_DEFAULTS.maxBatch;
  const batcher = new GenerationBatcher({ maxBatch });
  const { handler, close } = createApp({
    modelsDir,
    generate: batcher.generate,
    loadModel: async (dir: string) => {
      const m = await loadModel(dir, { device: o.device, threads: o.threads });
      print(`etude: ${dir} on ${m.adapter}`);
      return m;
    },
    readMidi,
    writeMidi,
    queue: {
      maxBatch,
      maxWaiting: o.maxWaiting ?? QUEUE_DEFAULTS.maxWaiting,
      timeoutMs: (o.timeoutSeconds ?? QUEUE_DEFAULTS.timeoutMs / 1000) * 1000,
    },
  });
  const ac = new AbortController();
  const server = Deno.serve({
    hostname: o.host ?? "127.0.0.1",
    port: o.port ?? 8000,
    signal: ac.signal,
    onListen: (a) =>
      print(
        `etude: serving http://${a.hostname}:${a.port}/ (models: ${
          models.map((m) => m.name).join(", ") || "none"
        })`,
      ),
  }, handler);
  const stop = () => ac.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    await server.finished;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
    close();
  }
}
