/**
 * The HTTP layer of the server: routes, validation, limits, queue, SSE and cancellation, with the generation entry
 * replaced by the TEST DOUBLE in _double.ts (the real engine is exercised in e2e_test.ts).
 */
import { assert, assertEquals } from "../_assert.ts";
import { createApp } from "../../lib/server/app.ts";
import { encodeBase64 } from "../../lib/server/params.ts";
import { GenerateParamError } from "../../lib/infer/param_error.ts";
import { readMidi, writeMidi } from "../../lib/midi/mod.ts";
import { emptyScore, type Note } from "../../lib/score.ts";
import {
  type DoubleCall,
  doubleGenerate,
  doubleLoadModel,
  type DoubleModel,
  makeModelsDir,
} from "./_double.ts";

const modelsDir = makeModelsDir();

function setup(
  { gen = {}, queue = {}, maxBodyBytes, maxLoadedModels }: {
    gen?: Parameters<typeof doubleGenerate>[1];
    queue?: { maxWaiting?: number; timeoutMs?: number; maxBatch?: number };
    maxBodyBytes?: number;
    maxLoadedModels?: number;
  } = {},
) {
  const calls: DoubleCall[] = [];
  const loads: string[] = [];
  const logs: string[] = [];
  const models: DoubleModel[] = [];
  const etude = createApp({
    modelsDir,
    generate: doubleGenerate(calls, gen),
    loadModel: (dir) => doubleLoadModel(loads)(dir).then((m) => (models.push(m), m)),
    readMidi,
    writeMidi,
    queue,
    maxBodyBytes,
    maxLoadedModels,
    log: (m) => logs.push(m),
  });
  return { ...etude, calls, loads, logs, models };
}

const post = (body: unknown, headers: Record<string, string> = {}) => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(body),
});

function promptMidi(): Uint8Array {
  const s = emptyScore(480);
  s.notes.push({ pitch: 48, velocity: 90, start: 0, duration: 960 }, {
    pitch: 55,
    velocity: 70,
    start: 960,
    duration: 480,
  });
  return writeMidi(s);
}

/** Parses an SSE body into events. */
async function readSse(res: Response): Promise<{ event: string; data: Record<string, unknown> }[]> {
  const text = await res.text();
  const out: { event: string; data: Record<string, unknown> }[] = [];
  for (const block of text.split("\n\n")) {
    let event = "message", data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) event = line.slice(7);
      else if (line.startsWith("data: ")) data += line.slice(6);
    }
    if (data) out.push({ event, data: JSON.parse(data) });
  }
  return out;
}

Deno.test("app: GET / serves the page with a CSP, /page.js its script, unknown paths 404 JSON", async () => {
  const { app } = setup();
  const page = await app.request("/");
  assertEquals(page.status, 200);
  assert(page.headers.get("content-type")!.startsWith("text/html"));
  assert(page.headers.get("content-security-policy")!.includes("default-src 'self'"));
  const html = await page.text();
  for (const id of ['id="roll"', 'id="temperature"', 'id="topK"', 'id="topP"', 'id="model"', 'id="prompt"']) {
    assert(html.includes(id), `page lacks ${id}`);
  }
  const js = await app.request("/page.js");
  assertEquals(js.status, 200);
  assert(js.headers.get("content-type")!.startsWith("text/javascript"));
  assert((await js.text()).includes("/api/generate/stream"));
  const nf = await app.request("/nope");
  assertEquals(nf.status, 404);
  assertEquals((await nf.json()).error, "not found: GET /nope");
});

Deno.test("app: /healthz, /api/params and /api/models (complete model dirs only, default first)", async () => {
  const { app } = setup();
  const h = await (await app.request("/healthz")).json();
  assertEquals(h.ok, true);
  assertEquals(h.queue.running, 0);
  const p = await (await app.request("/api/params")).json();
  assertEquals([p.temperature.default, p.topK.default, p.topP.default], [0.8, 50, 0.95]);
  const m = await (await app.request("/api/models")).json();
  assertEquals(m.default, "default");
  assertEquals(m.models.map((x: { name: string }) => x.name), ["default", "tiny"]);
  assertEquals(m.models[0].tokenizer, "remi");
  assertEquals(m.models[0].layers, 2);
});

Deno.test("app: POST /api/generate answers audio/midi by default, JSON on Accept, WAV on ?format=wav", async () => {
  const { app, calls, loads } = setup();
  const res = await app.request(
    "/api/generate",
    post({ seed: 7, temperature: 1.2, topK: 10, topP: 0.9, bars: 4 }),
  );
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("content-type"), "audio/midi");
  assertEquals(res.headers.get("x-etude-seed"), "7");
  assertEquals(res.headers.get("content-disposition"), 'attachment; filename="etude-7.mid"');
  const score = readMidi(new Uint8Array(await res.arrayBuffer()));
  assertEquals(score.notes.length, 12);
  assertEquals(score.notes[0].pitch, 60);
  const o = calls[0].opts;
  assertEquals([o.seed, o.temperature, o.topK, o.topP, o.bars, o.maxTokens, o.grammar], [
    7,
    1.2,
    10,
    0.9,
    4,
    undefined,
    true,
  ]);
  assertEquals(loads.length, 1);
  assert(loads[0].endsWith("/default"));

  const j = await app.request(
    "/api/generate",
    post({ seed: 8, model: "tiny" }, { accept: "application/json" }),
  );
  assertEquals(j.status, 200);
  const body = await j.json();
  assertEquals([body.seed, body.model, body.tokens, body.tokensPerSecond, body.adapter], [
    8,
    "tiny",
    12,
    123.4,
    "test double",
  ]);
  assertEquals(body.ids.length, 12);
  assertEquals(readMidi(Uint8Array.from(atob(body.midiBase64), (c) => c.charCodeAt(0))).notes, body.notes);

  const w = await app.request("/api/generate?format=wav", post({ seed: 9 }));
  assertEquals(w.headers.get("content-type"), "audio/wav");
  const wav = new Uint8Array(await w.arrayBuffer());
  assertEquals(new TextDecoder().decode(wav.subarray(0, 4)), "RIFF");
  assertEquals(new TextDecoder().decode(wav.subarray(8, 12)), "WAVE");
});

Deno.test("app: every bad parameter is a 400 naming the field and what is allowed", async () => {
  const { app, calls } = setup();
  const cases: [Record<string, unknown>, string][] = [
    [{ temperature: 0 }, "temperature"],
    [{ temperature: 3 }, "temperature"],
    [{ topK: 501 }, "topK"],
    [{ topK: 1.5 }, "topK"],
    [{ topP: 0 }, "topP"],
    [{ topP: 1.01 }, "topP"],
    [{ seed: -5 }, "seed"],
    [{ tokens: 0 }, "tokens"],
    [{ bars: 1000 }, "bars"],
    [{ seconds: 10000 }, "seconds"],
    [{ tokens: 5, bars: 5 }, "bars"],
    [{ grammar: "perhaps" }, "grammar"],
    [{ model: "../../etc" }, "model"],
    [{ prompt: 5 }, "prompt"],
    [{ format: "mp3" }, "format"],
    [{ colour: "blue" }, "colour"],
  ];
  for (const [body, field] of cases) {
    const res = await app.request("/api/generate", post(body));
    assertEquals(res.status, 400, JSON.stringify(body));
    const j = await res.json();
    assertEquals(j.field, field, JSON.stringify(body));
    assert(typeof j.error === "string" && j.error.startsWith(field), j.error);
    assert(typeof j.allowed === "string" && j.allowed.length > 0);
  }
  // The same validation on the streaming route's query string.
  const res = await app.request("/api/generate/stream?top_p=7");
  assertEquals(res.status, 400);
  assertEquals((await res.json()).field, "top_p");
  // Malformed bodies.
  const bad = await app.request("/api/generate", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{",
  });
  assertEquals([bad.status, (await bad.json()).field], [400, "body"]);
  const arr = await app.request("/api/generate", post([1, 2]));
  assertEquals([arr.status, (await arr.json()).field], [400, "body"]);
  const txt = await app.request("/api/generate", {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: "hi",
  });
  assertEquals(txt.status, 415);
  assertEquals(calls.length, 0);
});

Deno.test("app: unknown model is a 404 JSON; generate never runs", async () => {
  const { app, calls } = setup();
  for (const name of ["nosuch", "broken"]) {
    const res = await app.request("/api/generate", post({ model: name }));
    assertEquals(res.status, 404);
    assertEquals(await res.json(), { error: `model not found: ${name}`, field: "model" });
  }
  assertEquals((await app.request("/api/generate/stream?model=nosuch")).status, 404);
  assertEquals(calls.length, 0);
});

Deno.test("app: bodies over the limit are 413, whether declared or streamed", async () => {
  const { app, calls } = setup({ maxBodyBytes: 1000 });
  const big = JSON.stringify({ prompt: "A".repeat(2000) });
  const declared = await app.request("/api/generate", {
    method: "POST",
    headers: { "content-type": "application/json", "content-length": String(big.length) },
    body: big,
  });
  assertEquals(declared.status, 413);
  assertEquals((await declared.json()).limit, 1000);
  const chunks = new ReadableStream({
    start(c) {
      for (let i = 0; i < 4; i++) c.enqueue(new TextEncoder().encode("x".repeat(400)));
      c.close();
    },
  });
  const streamed = await app.request("/api/generate", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: chunks,
  });
  assertEquals(streamed.status, 413);
  assertEquals(calls.length, 0);
});

Deno.test("app: a MIDI prompt arrives as base64 JSON or multipart; malformed MIDI is a 400", async () => {
  const { app, calls } = setup();
  const midi = promptMidi();
  const ok = await app.request("/api/generate", post({ prompt: encodeBase64(midi), seed: 1 }));
  assertEquals(ok.status, 200);
  assertEquals(calls[0].opts.prompt!.notes.map((n: Note) => n.pitch), [48, 55]);

  const form = new FormData();
  form.set("temperature", "0.5");
  form.set("prompt", new File([midi as Uint8Array<ArrayBuffer>], "p.mid", { type: "audio/midi" }));
  const mp = await app.request("/api/generate", { method: "POST", body: form });
  assertEquals(mp.status, 200);
  assertEquals(calls[1].opts.temperature, 0.5);
  assertEquals(calls[1].opts.prompt!.notes.length, 2);

  const cutInTrackHeader = midi.slice(0, 20);
  for (const bytes of [new TextEncoder().encode("not a midi file at all"), cutInTrackHeader]) {
    const b64 = await app.request("/api/generate", post({ prompt: encodeBase64(bytes) }));
    assertEquals(b64.status, 400);
    const j = await b64.json();
    assertEquals(j.field, "prompt");
    assert(j.error.startsWith("prompt: not a valid MIDI file"), j.error);
    const f = new FormData();
    f.set("prompt", new File([bytes as Uint8Array<ArrayBuffer>], "bad.mid"));
    const mb = await app.request("/api/generate", { method: "POST", body: f });
    assertEquals([mb.status, (await mb.json()).field], [400, "prompt"]);
  }
  assertEquals(calls.length, 2);
});

Deno.test("app: the queue bound answers 503 with Retry-After; the time limit 504", async () => {
  const { app, calls } = setup({ gen: { chunks: 4, delayMs: 40 }, queue: { maxBatch: 1, maxWaiting: 0 } });
  const first = app.request("/api/generate", post({ seed: 1 }));
  await new Promise((r) => setTimeout(r, 10));
  const second = await app.request("/api/generate", post({ seed: 2 }));
  assertEquals(second.status, 503);
  assert(Number(second.headers.get("retry-after")) >= 1);
  assertEquals((await second.json()).error, "generation queue is full");
  const sse = await app.request("/api/generate/stream?seed=3");
  assertEquals(sse.status, 503);
  assert(sse.headers.get("retry-after") !== null);
  assertEquals((await first).status, 200);
  assertEquals(calls.length, 1);

  const slow = setup({ gen: { chunks: 10, delayMs: 50 }, queue: { timeoutMs: 30 } });
  const t = await slow.app.request("/api/generate", post({}));
  assertEquals(t.status, 504);
  assert((await t.json()).error.includes("longer than 30 ms"));
  assertEquals(slow.calls[0].aborted, true);
});

Deno.test("app: internal errors are a generic 500 without stack; engine parameter errors a 400", async () => {
  const boom = setup({ gen: { fail: new Error("secret path /home/x at line 3") } });
  const res = await boom.app.request("/api/generate", post({}));
  assertEquals(res.status, 500);
  const text = await res.text();
  assertEquals(JSON.parse(text), { error: "internal error" });
  assert(!text.includes("secret") && !text.includes(".ts:"));
  assert(boom.logs[0].includes("secret path"), "the error is logged on the server");

  const pe = new GenerateParamError("maxTokens", "an integer in [1, 8]", 9);
  const bad = setup({ gen: { fail: pe } });
  const r2 = await bad.app.request("/api/generate", post({}));
  assertEquals(r2.status, 400);
  // Named as the HTTP field, with what is allowed.
  assertEquals(await r2.json(), {
    error: "tokens: expected an integer in [1, 8], got 9",
    field: "tokens",
    allowed: "an integer in [1, 8]",
  });
  // Recognised by class, not by name: a look-alike is an internal error.
  const fake = Object.assign(new Error("temperature: x"), {
    name: "GenerateParamError",
    field: "temperature",
  });
  assertEquals((await setup({ gen: { fail: fake } }).app.request("/api/generate", post({}))).status, 500);
});

Deno.test("app: GET /api/generate/stream delivers queued, started, notes in order, then done with the whole piece", async () => {
  const { app } = setup({ gen: { chunks: 5, perChunk: 2 } });
  const res = await app.request("/api/generate/stream?seed=11&bars=2&temperature=0.9");
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const events = await readSse(res);
  assertEquals(events.map((e) => e.event), [
    "queued",
    "started",
    "notes",
    "notes",
    "notes",
    "notes",
    "notes",
    "done",
  ]);
  assertEquals([events[0].data.position, events[0].data.seed, events[0].data.maxBatch], [0, 11, 16]);
  assertEquals(events.slice(2, 7).map((e) => e.data.sequence), [0, 1, 2, 3, 4]);
  const streamed = events.slice(2, 7).flatMap((e) => e.data.notes as Note[]);
  const done = events[7].data;
  assertEquals(streamed, done.notes);
  const starts = streamed.map((n) => n.start);
  assertEquals(starts, [...starts].sort((a, b) => a - b));
  assertEquals([done.seed, done.tokens], [11, 10]);

  // POST with a JSON body works too (how the page sends a prompt); failures become an error event.
  const boom = setup({ gen: { fail: new Error("kaput") } });
  const ev = await readSse(await boom.app.request("/api/generate/stream", post({ seed: 1 })));
  assertEquals(ev.map((e) => e.event), ["queued", "started", "error"]);
  assertEquals(ev[2].data, { status: 500, error: "internal error" });
});

Deno.test("app: a waiting stream hears its place in line move up, then started; defaults take 80 at once", async () => {
  const { app, calls, queue } = setup({
    gen: { chunks: 3, delayMs: 30 },
    queue: { maxBatch: 2, maxWaiting: 3 },
  });
  const first = [
    app.request("/api/generate", post({ seed: 1 })),
    app.request("/api/generate", post({ seed: 2 })),
  ];
  const third = app.request("/api/generate", post({ seed: 3 }));
  while (queue.stats().waiting < 1) await new Promise((r) => setTimeout(r, 1));
  const res = await app.request("/api/generate/stream?seed=4");
  const events = await readSse(res);
  for (const r of [...first, third]) assertEquals((await r).status, 200);
  const queued = events.filter((e) => e.event === "queued").map((e) => e.data.position);
  // Behind 2 running and 1 waiting: number 2, then number 1 when the first two finish… then it runs.
  assertEquals(queued, [2, 1]);
  assertEquals(events.map((e) => e.event).slice(2, 3), ["started"]);
  assertEquals(events.at(-1)!.event, "done");
  assertEquals(calls.length, 4);

  const big = setup({ gen: { chunks: 2, delayMs: 20 } });
  const all = await Promise.all(
    Array.from({ length: 80 }, (_, i) => big.app.request("/api/generate", post({ seed: i }))),
  );
  assertEquals(all.map((r) => r.status), new Array(80).fill(200));
  assertEquals(big.queue.stats().completed, 80);
});

Deno.test("app: POST /api/render turns MIDI (raw or base64 JSON) into WAV; bad input is a 400", async () => {
  const { app } = setup();
  const midi = promptMidi();
  const raw = await app.request("/api/render?channels=2", {
    method: "POST",
    headers: { "content-type": "audio/midi" },
    body: midi as Uint8Array<ArrayBuffer>,
  });
  assertEquals(raw.status, 200);
  const wav = new Uint8Array(await raw.arrayBuffer());
  assertEquals(new DataView(wav.buffer).getUint16(22, true), 2);
  const j = await app.request("/api/render", post({ midi: encodeBase64(midi) }));
  assertEquals(j.status, 200);
  assertEquals(new DataView(await j.arrayBuffer()).getUint16(22, true), 1);
  const bad = await app.request("/api/render", {
    method: "POST",
    headers: { "content-type": "audio/midi" },
    body: "MThd",
  });
  assertEquals([bad.status, (await bad.json()).field], [400, "midi"]);
  const ch = await app.request("/api/render?channels=5", {
    method: "POST",
    body: midi as Uint8Array<ArrayBuffer>,
  });
  assertEquals([ch.status, (await ch.json()).field], [400, "channels"]);
});

Deno.test("app: at most maxLoadedModels stay loaded; the least recently used is disposed", async () => {
  const { app, loads, close } = setup({ maxLoadedModels: 1 });
  await (await app.request("/api/generate", post({ model: "default" }))).arrayBuffer();
  await (await app.request("/api/generate", post({ model: "default" }))).arrayBuffer();
  assertEquals(loads.length, 1, "a loaded model is reused");
  await (await app.request("/api/generate", post({ model: "tiny" }))).arrayBuffer();
  await (await app.request("/api/generate", post({ model: "default" }))).arrayBuffer();
  assertEquals(loads.map((d) => d.split("/").pop()), ["default", "tiny", "default"]);
  close();
});

Deno.test("app: a model evicted while it generates is disposed only when its job ends", async () => {
  const { app, models, calls } = setup({
    maxLoadedModels: 1,
    queue: { maxBatch: 2 },
    gen: { chunks: 5, delayMs: 20 },
  });
  const slow = app.request("/api/generate", post({ model: "default" }));
  await new Promise((r) => setTimeout(r, 15));
  await (await app.request("/api/generate", post({ model: "tiny" }))).arrayBuffer();
  const def = models.find((m) => m.dir.endsWith("/default"))!;
  // "tiny" evicted "default" from the cache; both jobs overlapped, so "default" is still in use here or just done.
  await (await slow).arrayBuffer();
  const defCall = calls.find((c) => c.opts.model === def)!;
  assertEquals(defCall.modelDisposedAtEnd, false, "not disposed under its running generation");
  assertEquals(def.disposed, true, "disposed once its generation finished");
  assertEquals(models.find((m) => m.dir.endsWith("/tiny"))!.disposed, false);
});

Deno.test("app: a browser-style multipart body (mixed-case boundary) is parsed", async () => {
  const { app, calls } = setup();
  const boundary = "----WebKitFormBoundaryAbCdEfGh12";
  const midi = promptMidi();
  const head = new TextEncoder().encode(
    `--${boundary}\r\nContent-Disposition: form-data; name="topK"\r\n\r\n7\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="prompt"; filename="p.mid"\r\n` +
      `Content-Type: audio/midi\r\n\r\n`,
  );
  const tail = new TextEncoder().encode(`\r\n--${boundary}--\r\n`);
  const body = new Uint8Array([...head, ...midi, ...tail]);
  const res = await app.request("/api/generate", {
    method: "POST",
    headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
    body,
  });
  assertEquals(res.status, 200, await res.clone().text());
  assertEquals(calls[0].opts.topK, 7);
  assertEquals(calls[0].opts.prompt!.notes.length, 2);
});

Deno.test("app over a real socket: routes answer, SSE streams, and a client disconnect aborts its job", async () => {
  const { handler, calls, queue } = setup({ gen: { chunks: 200, perChunk: 1, delayMs: 10 } });
  const ac = new AbortController();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} }, handler);
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    assertEquals((await (await fetch(`${base}/healthz`)).json()).ok, true);
    assertEquals((await fetch(`${base}/api/generate`, post({ topK: -1 }))).status, 400);

    // SSE: read the first notes, then walk away.
    const client = new AbortController();
    const res = await fetch(`${base}/api/generate/stream?seed=5`, { signal: client.signal });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("event: notes")) text += (await reader.read()).value ?? "";
    client.abort();
    await reader.cancel().catch(() => {});
    for (let i = 0; i < 100 && !calls[0].aborted; i++) await new Promise((r) => setTimeout(r, 10));
    assertEquals(calls[0].aborted, true, "the generation saw its AbortSignal fire");
    assertEquals(calls[0].finished, false);

    // Plain POST: abort mid-generation.
    const c2 = new AbortController();
    const p = fetch(`${base}/api/generate`, { ...post({ seed: 6 }), signal: c2.signal }).catch((e) => e);
    for (let i = 0; i < 100 && calls.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 30));
    c2.abort();
    assertEquals((await p).name, "AbortError");
    for (let i = 0; i < 100 && !calls[1].aborted; i++) await new Promise((r) => setTimeout(r, 10));
    assertEquals(calls[1].aborted, true);
    for (let i = 0; i < 100 && queue.stats().running > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assertEquals(queue.stats().running, 0, "the slot is free again");
    assertEquals(queue.stats().cancelled, 2);
  } finally {
    ac.abort();
    await server.finished;
  }
});

Deno.test("app: the steering controls arrive as JSON fields or a query, checked, and reach the generation entry", async () => {
  const { app, calls } = setup();
  const body = {
    key: "e MIN",
    key_strength: 0.8,
    key_tonic: 1.5,
    pitchRange: [48, 84],
    maxNoteBeats: 4,
    tempo: "96",
    timeSignature: "3/4",
    density: "high",
    maxPolyphony: 4,
    no_repeat_ngram: 8,
    seed: 5,
  };
  assertEquals((await app.request("/api/generate", post(body))).status, 200);
  assertEquals(calls.at(-1)!.opts.controls, {
    key: "E minor",
    keyStrength: 0.8,
    keyTonic: 1.5,
    pitchRange: [48, 84],
    maxNoteBeats: 4,
    tempo: 96,
    timeSignature: "3/4",
    density: "high",
    maxPolyphony: 4,
    noRepeatNgram: 8,
  });
  // The stream endpoint, from a query string: the same fields as text.
  const res = await app.request("/api/generate/stream?key=C%20major&pitch_range=60-72&seed=1");
  await res.text();
  assertEquals(calls.at(-1)!.opts.controls, {
    key: "C major",
    keyStrength: 1,
    keyTonic: 0.25,
    pitchRange: [60, 72],
  });
  // None given: no controls at all (the entry sees what it saw before controls existed).
  await (await app.request("/api/generate", post({ seed: 1 }))).arrayBuffer();
  assert(!("controls" in calls.at(-1)!.opts));
});

Deno.test("app: a bad control is a 400 naming the field as sent; one the model cannot honour too", async () => {
  const { app, calls } = setup();
  const cases: [Record<string, unknown>, string, string][] = [
    [
      { key: "H minor" },
      "key",
      'key: expected a key like "C major" or "F# minor" (natural minor), got "H minor"',
    ],
    [{ key: "" }, "key", 'key: expected a key like "C major" or "F# minor" (natural minor), got ""'],
    [{ key_strength: 0.5 }, "key_strength", "key_strength: applies only with key, got 0.5 without it"],
    [{ key: "C major", keyStrength: 2 }, "keyStrength", "keyStrength: expected a number in [0, 1], got 2"],
    [{ key_tonic: 1 }, "key_tonic", "key_tonic: applies only with key, got 1 without it"],
    [{ key: "C major", keyTonic: "x" }, "keyTonic", 'keyTonic: expected a number in [0, 5], got "x"'],
    [
      { pitch_range: "84-48" },
      "pitch_range",
      'pitch_range: expected LO-HI, two integers in [0, 127] with LO <= HI, got "84-48"',
    ],
    [
      { pitchRange: [0, 128] },
      "pitchRange",
      "pitchRange: expected LO-HI, two integers in [0, 127] with LO <= HI, got [0,128]",
    ],
    [
      { tempo: "0x60" },
      "tempo",
      'tempo: expected a number in [1, 1000], got "0x60" (decimal digits only, e.g. 96)',
    ],
    [{ density: "loud" }, "density", 'density: expected one of low, medium, high, got "loud"'],
    [
      { timeSignature: "3/5" },
      "timeSignature",
      'timeSignature: expected a time signature like 3/4 or 6/8, got "3/5"',
    ],
    [{ maxPolyphony: 17 }, "maxPolyphony", "maxPolyphony: expected an integer in [1, 16], got 17"],
    [{ noRepeatNgram: 1 }, "noRepeatNgram", "noRepeatNgram: expected an integer in [2, 256], got 1"],
  ];
  for (const [body, field, error] of cases) {
    const res = await app.request("/api/generate", post(body));
    assertEquals(res.status, 400, JSON.stringify(body));
    const j = await res.json();
    assertEquals([j.field, j.error], [field, error]);
  }
  assertEquals(calls.length, 0, "nothing generated");
  // The library refuses what this model's vocabulary lacks (a RangeError naming the control): also a 400.
  const vocab = setup({
    gen: { fail: new RangeError("timeSignature: 13/16 is not in this tokenizer's vocabulary") },
  });
  const res = await vocab.app.request("/api/generate", post({ timeSignature: "13/16" }));
  assertEquals(res.status, 400);
  assertEquals(await res.json(), {
    error:
      'timeSignature: expected a time signature like 3/4 or 6/8, got "13/16" (13/16 is not in this tokenizer\'s vocabulary)',
    field: "timeSignature",
    allowed: "a time signature like 3/4 or 6/8",
  });
  // A RangeError that names no control given stays an internal error.
  const other = setup({ gen: { fail: new RangeError("timeSignature: x") } });
  assertEquals((await other.app.request("/api/generate", post({}))).status, 500);
});

Deno.test("app: the page's modules are served beside /page.js", async () => {
  const { app } = setup();
  for (const name of ["page_steer.js", "page_midi.js", "page_roll.js", "page_audio.js"]) {
    const res = await app.request(`/${name}`);
    assertEquals(res.status, 200, name);
    assert(res.headers.get("content-type")!.startsWith("text/javascript"));
    assert((await res.text()).includes("export function"), name);
    assertEquals((await app.request(`/${name}`, { method: "POST" })).status, 405);
  }
});

Deno.test("app: infill and style arrive checked ('5:8' or {from, to}), reach the entry; bad ones are 400s naming the field", async () => {
  const { app, calls } = setup();
  const prompt = encodeBase64(promptMidi());
  const ok = async (body: Record<string, unknown>) => {
    const res = await app.request("/api/generate", post({ seed: 3, prompt, ...body }));
    await res.arrayBuffer();
    assertEquals(res.status, 200);
    return calls.at(-1)!.opts;
  };
  let o = await ok({ infill: "2:3", style: "Pop" });
  assertEquals([o.infill, o.conditions, o.maxTokens, o.bars], [
    { from: 2, to: 3 },
    { style: "pop" },
    undefined,
    undefined,
  ]);
  o = await ok({ infill: { from: 1, to: 1 }, tokens: 64 });
  assertEquals([o.infill, o.maxTokens, "conditions" in o], [{ from: 1, to: 1 }, 64, false]);
  o = await ok({});
  assert(!("infill" in o) && !("conditions" in o), "none given: the entry sees what it saw before");
  const cases: [Record<string, unknown>, string, string][] = [
    [
      { infill: "8:5" },
      "infill",
      'infill: expected bars FROM:TO of the prompt, 1 <= FROM <= TO <= 4096 (like 5:8), got "8:5"',
    ],
    [
      { infill: { from: 2 } },
      "infill",
      'infill: expected bars FROM:TO of the prompt, 1 <= FROM <= TO <= 4096 (like 5:8), got {"from":2}',
    ],
    [{ infill: "2:3", bars: 4 }, "bars", "bars: give only one of infill, bars"],
    [{ style: "jazz" }, "style", 'style: expected one of classical, pop, got "jazz"'],
  ];
  for (const [body, field, error] of cases) {
    const res = await app.request("/api/generate", post({ seed: 1, prompt, ...body }));
    assertEquals(res.status, 400, JSON.stringify(body));
    const j = await res.json();
    assertEquals([j.field, j.error], [field, error]);
  }
  // a model that was not trained with them: the library's refusal, a 400 naming the field
  const refusing = createApp({
    modelsDir,
    generate: () => {
      throw new GenerateParamError(
        "style",
        "",
        "pop",
        undefined,
        undefined,
        undefined,
        "this model was not trained with conditioning",
      );
    },
    loadModel: doubleLoadModel([]),
    readMidi,
    writeMidi,
  });
  const res = await refusing.app.request("/api/generate", post({ seed: 1, style: "pop" }));
  assertEquals(res.status, 400);
  assertEquals(await res.json(), {
    error: "style: this model was not trained with conditioning",
    field: "style",
    allowed: "",
  });
  refusing.close();
  const m = await (await app.request("/api/models")).json();
  assertEquals(m.models.map((x: { conditioning: boolean }) => x.conditioning), [false, false]);
});
