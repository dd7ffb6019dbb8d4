/** Serves the app, with the real generation entry and a tiny random-weight model, on 127.0.0.1 for the browser test. */
import { createApp } from "../../lib/server/app.ts";
import { readMidi, writeMidi } from "../../lib/midi/mod.ts";
import { generate, type GenerateOptions, loadModel } from "../../lib/infer/generate.ts";
import { tinyModelsDir } from "./_tiny_model.ts";

export interface PageFixture {
  url: string;
  tokens: number;
  lastTemperature(): number | undefined;
  close(): Promise<void>;
}

export async function startPageFixture(): Promise<PageFixture> {
  const seen: GenerateOptions[] = [];
  const etude = createApp({
    modelsDir: await tinyModelsDir(),
    // The real entry; a smaller readback chunk makes the stream arrive in more pieces.
    generate: (o) => {
      seen.push(o);
      return generate({ ...o, chunk: 16 });
    },
    loadModel,
    readMidi,
    writeMidi,
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
    async close() {
      ac.abort();
      await server.finished;
      etude.close();
    },
  };
}
