/**
 * Issue 11, "Load": 50 concurrent clients against the server as `deno task serve` wires it (the default queue, the
 * batching generation entry, a tiny model, over real sockets), on each device: the WebGPU engine (software adapter)
 * and the CPU device (lib/cpu; the batcher's `CpuRowDecoder`). All 50 are answered 200 with a valid MIDI file, none
 * lost; `/healthz` answers while the batch runs (a health check answered before the last piece, reporting rows at
 * work) and the server is healthy after; and a request served inside the crowd is the same piece, byte for byte, as
 * the same request alone and as `generate` called directly (the `deno task generate` path). That last check runs
 * where rows are exact: the engine, and the CPU device on the TypeScript BLAS (tests/infer/_exact_cpu.ts); on a
 * native BLAS a batched step rounds differently from a lone one (lib/infer/cpu_rows.ts), so there the crowd is
 * checked for service only. Throughput is measured in the bench (bench/server_bench.ts), not asserted here.
 */
import { assert, assertEquals } from "../_assert.ts";
import { createApp } from "../../lib/server/app.ts";
import { QUEUE_DEFAULTS } from "../../lib/server/queue.ts";
import { GenerationBatcher } from "../../lib/infer/batch.ts";
import { generate } from "../../lib/infer/generate.ts";
import { type LoadedModel, loadModel } from "../../lib/infer/load.ts";
import { readMidi, writeMidi } from "../../lib/midi/mod.ts";
import { encodeBase64 } from "../../lib/server/params.ts";
import { tinyModelsDir } from "./_tiny_model.ts";
import { loadExactCpuModel } from "../infer/_exact_cpu.ts";
import { stripLeadingText } from "../midi/_strip.ts";

const modelsDir = await tinyModelsDir();

const DEVICES: { name: string; load: (dir: string) => Promise<LoadedModel>; exact: boolean }[] = [
  { name: "engine, software adapter", load: (dir) => loadModel(dir, { device: "gpu" }), exact: true },
  { name: "CPU device, TypeScript BLAS", load: loadExactCpuModel, exact: true },
  { name: "CPU device, native BLAS", load: (dir) => loadModel(dir, { device: "cpu" }), exact: false },
];

for (const device of DEVICES) {
  Deno.test({
    name: `load (${device.name}): 50 concurrent generate requests with the default settings are all served`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const batcher = new GenerationBatcher({ maxBatch: QUEUE_DEFAULTS.maxBatch });
      const etude = createApp({
        modelsDir,
        generate: batcher.generate,
        loadModel: device.load,
        readMidi,
        writeMidi,
      });
      const ac = new AbortController();
      const server = Deno.serve(
        { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
        etude.handler,
      );
      const base = `http://127.0.0.1:${server.addr.port}`;
      const ask = (seed: number, json = false) =>
        fetch(`${base}/api/generate`, {
          method: "POST",
          headers: { "content-type": "application/json", ...(json ? { accept: "application/json" } : {}) },
          body: JSON.stringify({ tokens: 64, seed, temperature: 1.1 }),
        });
      try {
        const N = 50;
        let answered = 0;
        const crowd = Promise.all(
          Array.from({ length: N }, async (_, i) => {
            const res = await ask(1000 + i);
            const a = { status: res.status, type: res.headers.get("content-type"), bytes: await res.bytes() };
            answered++;
            return a;
          }),
        );
        // Health checks while the crowd is served: one answered before the last piece, with rows at work.
        const during: { ok: boolean; running: number; pending: number }[] = [];
        while (answered < N) {
          const h = await (await fetch(`${base}/healthz`)).json();
          during.push({ ok: h.ok, running: h.queue.running, pending: N - answered });
        }
        const answers = await crowd;
        assertEquals(answers.map((a) => a.status), new Array(N).fill(200), "every client got its piece");
        const mid = during.filter((h) => h.pending > 0 && h.running > 0);
        assert(
          mid.length > 0,
          `/healthz answered while the batch ran (${JSON.stringify(during.slice(0, 5))})`,
        );
        assert(mid.every((h) => h.ok), "and said ok");
        const pieces = new Set<string>();
        for (const a of answers) {
          assertEquals(a.type, "audio/midi");
          const score = readMidi(a.bytes);
          assert(score.notes.length > 0, "a piece with notes");
          pieces.add(encodeBase64(a.bytes));
        }
        assertEquals(pieces.size, N, "50 seeds, 50 different pieces: no answer lost or swapped");

        const health = await (await fetch(`${base}/healthz`)).json();
        assertEquals(health.ok, true);
        assertEquals(health.queue.completed, N);
        assertEquals([health.queue.running, health.queue.waiting, health.queue.failed], [0, 0, 0]);
        await batcher.idle();
        const st = batcher.stats();
        assertEquals([st.served, st.alone], [N, 0]);
        // Rows shared passes, never more than the batch size (how many at once depends on arrival times).
        assert(
          st.peakRows > 1 && st.peakRows <= QUEUE_DEFAULTS.maxBatch,
          `peak ${st.peakRows} rows per step`,
        );

        if (device.exact) {
          // The same request alone: the same bytes; and the same as `generate` itself (the CLI's path).
          for (const i of [0, 17, 49]) {
            const alone = await (await ask(1000 + i)).bytes();
            assertEquals(
              encodeBase64(alone),
              encodeBase64(answers[i].bytes),
              `request ${i} alone vs in the crowd`,
            );
          }
          const model = await device.load(`${modelsDir}/default`);
          try {
            const direct = await generate({ model, maxTokens: 64, seed: 1017, temperature: 1.1 });
            // the server's file is `generate`'s plus its provenance record (a text event at tick 0)
            const { bytes: bare, text } = stripLeadingText(answers[17].bytes);
            assert(text.startsWith("etude:"), text);
            assertEquals(encodeBase64(writeMidi(direct.scores[0])), encodeBase64(bare));
          } finally {
            model.dispose();
          }
        }
        assertEquals((await (await fetch(`${base}/healthz`)).json()).ok, true);
      } finally {
        ac.abort();
        await server.finished;
        etude.close();
      }
    },
  });
}

for (const device of DEVICES.filter((d) => d.exact)) {
  Deno.test({
    name:
      `load (${device.name}): a request past its time limit is a 504 and leaves the batch; the rows beside it are untouched`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const batcher = new GenerationBatcher({ maxBatch: 4 });
      // Two apps (two time limits) over one batcher and one loaded model: their requests share batches.
      const models = new Map<string, Promise<LoadedModel>>();
      const shared = (dir: string) => models.get(dir) ?? models.set(dir, device.load(dir)).get(dir)!;
      const app = (timeoutMs: number) =>
        createApp({
          modelsDir,
          generate: batcher.generate,
          loadModel: shared,
          readMidi,
          writeMidi,
          queue: { timeoutMs },
        });
      const relaxed = app(60_000), strict = app(5);
      const ask = (a: typeof relaxed, body: Record<string, unknown>) =>
        a.app.request("/api/generate", {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json" },
          body: JSON.stringify(body),
        });
      try {
        // Alone first: the pieces the two short requests must come back as.
        const alone = [];
        for (const seed of [1, 2]) alone.push((await (await ask(relaxed, { tokens: 96, seed })).json()).ids);
        // Beside them, a request of ~440 tokens with a 5 ms limit (its own app's queue, the same batcher).
        const short = [1, 2].map((seed) => ask(relaxed, { tokens: 96, seed }));
        const timedOut = await ask(strict, { tokens: 4096, seed: 0, temperature: 2 });
        assertEquals(timedOut.status, 504);
        assert((await timedOut.json()).error.includes("longer than 5 ms"));
        const beside = await Promise.all(short.map(async (r) => (await (await r).json()).ids));
        assertEquals(beside, alone, "the rows beside the timed-out one drew what they draw alone");
        await batcher.idle();
        const st = batcher.stats();
        assertEquals(st.rows, 0, "the timed-out request left the batch");
        // On the engine: alone, alone, then one batch for all three. (The CPU decoder's loop also takes requests
        // that arrive as it finishes the last row, so there arrival times decide how many loops run.)
        if (device.name.startsWith("engine")) {
          assertEquals(st.loops, 3, "alone, alone, then one batch for all three");
        }
        assertEquals((await (await relaxed.app.request("/healthz")).json()).ok, true);
      } finally {
        relaxed.close();
        strict.close();
      }
    },
  });
}
