/** Serves the app, with the real generation entry and a tiny random-weight model, on 127.0.0.1 for the browser test. */
import { createApp } from "../../lib/server/app.ts";
import { readMidi, writeMidi } from "../../lib/midi/mod.ts";
import { type GenerateOptions } from "../../lib/infer/generate.ts";
import { loadModel } from "../../lib/infer/load.ts";
import { GenerationBatcher } from "../../lib/infer/batch.ts";
import type { GenerationQueue, QueueOptions } from "../../lib/server/queue.ts";
import { tinyModelsDir } from "./_tiny_model.ts";

export interface PageFixture {
  url: string;
  tokens: number;
  lastTemperature(): number | undefined;
  /** The options of the last generation the app asked for (controls, prompt, seed, …). */
  lastOptions(): GenerateOptions | undefined;
  /** The server's generation queue. */
  queue: GenerationQueue;
  close(): Promise<void>;
}

export async function startPageFixture(queue?: QueueOptions): Promise<PageFixture> {
  const seen: GenerateOptions[] = [];
  // The real entry as `deno task serve` wires it; a smaller readback chunk makes the stream arrive in more pieces.
  const batcher = new GenerationBatcher({ maxBatch: queue?.maxBatch, chunk: 16 });
  const etude = createApp({
    modelsDir: await tinyModelsDir(),
    generate: (o) => {
      seen.push(o);
      return batcher.generate(o);
    },
    loadModel,
    readMidi,
    writeMidi,
    queue,
  });
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    etude.handler,
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    tokens: 400,
    lastTemperature: () => seen.at(-1)?.temperature,
    lastOptions: () => seen.at(-1),
    queue: etude.queue,
    async close() {
      ac.abort();
      await server.finished;
      etude.close();
    },
  };
}
