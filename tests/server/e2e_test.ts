/**
 * The server end to end with the REAL generation entry (lib/infer/batch.ts, as `deno task serve` wires it, and plain
 * lib/infer/generate.ts) on WebGPU and a tiny random-weight REMI checkpoint: JSON and MIDI answers, the SSE stream
 * against the final piece, a MIDI prompt continued, and a client disconnect stopping its row early.
 */
import { assert, assertEquals } from "../_assert.ts";
import { createApp } from "../../lib/server/app.ts";
import { encodeBase64 } from "../../lib/server/params.ts";
import { generate, type GenerateOptions } from "../../lib/infer/generate.ts";
import { loadModel } from "../../lib/infer/load.ts";
import { GenerationBatcher } from "../../lib/infer/batch.ts";
import { readMidi, writeMidi } from "../../lib/midi/mod.ts";
import { emptyScore, type Note } from "../../lib/score.ts";
import { tinyModelsDir } from "./_tiny_model.ts";

const modelsDir = await tinyModelsDir();

async function readSse(res: Response) {
  const out: { event: string; data: Record<string, unknown> }[] = [];
  for (const block of (await res.text()).split("\n\n")) {
    let event = "message", data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) event = line.slice(7);
      else if (line.startsWith("data: ")) data += line.slice(6);
    }
    if (data) out.push({ event, data: JSON.parse(data) });
  }
  return out;
}

const key = (n: Note) => `${n.start}:${n.pitch}`;

Deno.test({
  name: "e2e (real engine): JSON, MIDI and SSE answers agree; notes stream in time order",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const seen: GenerateOptions[] = [];
    const batcher = new GenerationBatcher({ chunk: 16 });
    const etude = createApp({
      modelsDir,
      generate: (o) => {
        seen.push(o);
        return batcher.generate(o);
      },
      loadModel,
      readMidi,
      writeMidi,
    });
    const { app } = etude;
    try {
      const params = { seed: 21, tokens: 300, temperature: 1.2 };
      const j = await app.request("/api/generate", {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify(params),
      });
      assertEquals(j.status, 200);
      const body = await j.json();
      assert(body.notes.length > 0, "the tiny model produced notes");
      assert(body.ids.length > 0 && body.ids.length <= 300, `${body.ids.length} ids`);
      assert(body.tokensPerSecond > 0);
      assertEquals(typeof body.adapter, "string");
      for (const n of body.notes as Note[]) {
        assert(n.pitch >= 21 && n.pitch <= 108 && n.velocity >= 1 && n.velocity <= 127 && n.duration > 0);
      }
      // Same seed → the same piece, as MIDI.
      const m = await app.request("/api/generate", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(params),
      });
      assertEquals(m.headers.get("content-type"), "audio/midi");
      const midiBytes = new Uint8Array(await m.arrayBuffer());
      assertEquals(encodeBase64(midiBytes), body.midiBase64);

      // SSE: the streamed notes are the final piece's notes (the engine streams each start:pitch once), in order.
      const res = await app.request(`/api/generate/stream?seed=21&tokens=300&temperature=1.2`);
      const events = await readSse(res);
      assertEquals(events[0].event, "queued");
      assertEquals(events.at(-1)!.event, "done");
      const chunks = events.filter((e) => e.event === "notes");
      assert(chunks.length >= 2, `notes arrived in ${chunks.length} chunks`);
      assertEquals(chunks.map((c) => c.data.sequence), chunks.map((_, i) => i));
      const streamed = chunks.flatMap((c) => c.data.notes as Note[]);
      const done = events.at(-1)!.data as { notes: Note[] };
      const uniq = (ns: Note[]) => [...new Set(ns.map(key))].sort();
      assertEquals(uniq(streamed), uniq(done.notes));
      assertEquals(streamed.length, uniq(streamed).length, "no note streamed twice");
      assertEquals(done.notes, body.notes);
      // Each chunk starts no earlier than the previous chunk's first note (notes come in time order).
      const firsts = chunks.map((c) => Math.min(...(c.data.notes as Note[]).map((n) => n.start)));
      assertEquals(firsts, [...firsts].sort((a, b) => a - b));
      assertEquals(seen.length, 3);
    } finally {
      etude.close();
    }
  },
});

Deno.test({
  name: "e2e (real engine): a MIDI prompt is continued; a malformed one is a 400",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const etude = createApp({ modelsDir, generate, loadModel, readMidi, writeMidi });
    try {
      const prompt = emptyScore(480);
      for (let i = 0; i < 8; i++) {
        prompt.notes.push({ pitch: 60 + (i % 4) * 2, velocity: 80, start: i * 480, duration: 480 });
      }
      const res = await etude.app.request("/api/generate", {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ prompt: encodeBase64(writeMidi(prompt)), tokens: 64, seed: 2 }),
      });
      assertEquals(res.status, 200);
      const body = await res.json();
      // The answer holds the prompt's notes first.
      const got = new Set((body.notes as Note[]).map((n) => `${n.start}:${n.pitch}`));
      for (const n of prompt.notes) {
        assert(got.has(`${n.start}:${n.pitch}`), `prompt note ${n.start}:${n.pitch} kept`);
      }
      assert(body.notes.length > prompt.notes.length, "and continued");
      const bad = await etude.app.request("/api/generate", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ prompt: encodeBase64(new TextEncoder().encode("MThd but not really")) }),
      });
      assertEquals(bad.status, 400);
      assertEquals((await bad.json()).field, "prompt");
    } finally {
      etude.close();
    }
  },
});

Deno.test({
  name: "e2e (real engine) over a socket: disconnecting the SSE client aborts the generation early",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    let aborted = false;
    let tokens = -1;
    let finished!: () => void;
    const jobDone = new Promise<void>((r) => finished = r);
    const batcher = new GenerationBatcher({ chunk: 8 });
    const etude = createApp({
      modelsDir,
      generate: async (o) => {
        o.signal?.addEventListener("abort", () => aborted = true, { once: true });
        try {
          const r = await batcher.generate(o);
          tokens = r.ids[0].length;
          return r;
        } finally {
          finished();
        }
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
    try {
      const client = new AbortController();
      const res = await fetch(
        `http://127.0.0.1:${server.addr.port}/api/generate/stream?seed=4&tokens=4096&temperature=1.3`,
        { signal: client.signal },
      );
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes("event: notes")) text += (await reader.read()).value ?? "";
      client.abort();
      await reader.cancel().catch(() => {});
      await jobDone;
      assertEquals(aborted, true, "the engine's AbortSignal fired");
      assert(tokens >= 0 && tokens < 4096, `generation stopped early at ${tokens} tokens`);
      await batcher.idle();
      assertEquals(batcher.stats().rows, 0, "its row left the batch");
      for (let i = 0; i < 50 && etude.queue.stats().running; i++) await new Promise((r) => setTimeout(r, 10));
      assertEquals(etude.queue.stats().running, 0);
    } finally {
      ac.abort();
      await server.finished;
      etude.close();
    }
  },
});

Deno.test({
  name:
    "e2e: the server's .mid carries its provenance record; `generate --replay` (with --prompt for an upload) writes the same bytes",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { generateCli } = await import("../../lib/cli/generate.ts");
    const { readProvenance } = await import("../../lib/infer/provenance.ts");
    const etude = createApp({ modelsDir, generate, loadModel, readMidi, writeMidi });
    const tmp = await Deno.makeTempDir({ prefix: "etude_server_prov_" });
    try {
      const prompt = writeMidi({
        ...emptyScore(480),
        notes: [{ pitch: 60, start: 0, duration: 480, velocity: 80 }, {
          pitch: 64,
          start: 480,
          duration: 480,
          velocity: 80,
        }],
      });
      const cases = [
        { seed: 5, tokens: 80, temperature: 1.1, key: "A minor" },
        { seed: 6, bars: 2, topK: 20, prompt: encodeBase64(prompt) },
      ];
      for (const [i, params] of cases.entries()) {
        const res = await etude.app.request("/api/generate", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(params),
        });
        assertEquals(res.status, 200);
        const bytes = new Uint8Array(await res.arrayBuffer());
        const record = readProvenance(bytes, "take.mid");
        assertEquals(record.params.seed, params.seed);
        assertEquals(record.model.path, `${modelsDir}/default`);
        assertEquals(record.prompt?.path, params.prompt ? "(uploaded prompt)" : undefined);
        const take = `${tmp}/take${i}.mid`, again = `${tmp}/again${i}.mid`;
        await Deno.writeFile(take, bytes);
        const extra = params.prompt ? ["--prompt", `${tmp}/prompt.mid`] : [];
        if (params.prompt) await Deno.writeFile(`${tmp}/prompt.mid`, prompt);
        const warnings: string[] = [];
        await generateCli(["--replay", take, ...extra, "--out", again], () => {}, (w) => warnings.push(w));
        assertEquals(await Deno.readFile(again), bytes, `case ${i}: ${warnings.join("; ")}`);
      }
    } finally {
      await etude.close?.();
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
