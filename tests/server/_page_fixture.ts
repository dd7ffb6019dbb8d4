/** Serves the app on 127.0.0.1 for the browser test. */
import { createApp } from "../../lib/server/app.ts";
import { readMidi, writeMidi } from "../../lib/midi.ts";
import { type DoubleCall, doubleGenerate, doubleLoadModel, makeModelsDir } from "./_double.ts";

export interface PageFixture {
  url: string;
  tokens: number;
  lastTemperature(): number | undefined;
  close(): Promise<void>;
}

export async function startPageFixture(): Promise<PageFixture> {
  const calls: DoubleCall[] = [];
  const { app } = createApp({
    modelsDir: makeModelsDir(),
    generate: doubleGenerate(calls, { chunks: 12, perChunk: 3, delayMs: 60 }),
    loadModel: doubleLoadModel([]),
    readMidi,
    writeMidi,
  });
  const ac = new AbortController();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} }, app.fetch);
  await Promise.resolve();
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    tokens: 36,
    lastTemperature: () => calls.at(-1)?.opts.temperature,
    async close() {
      ac.abort();
      await server.finished;
    },
  };
}
