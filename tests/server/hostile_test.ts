/**
 * Issue 11 against the server: hostile MIDI (the F1, F2, F3 reproducers) and the libraries' size-limit errors are
 * 4xx JSON naming the field, never a 500; leniency (F6) is gone: empty values, hex numbers, look-alike JSON types,
 * whole-input echoes, HEAD running work, 404 for a wrong method, and large request heads. The generation entry is
 * the TEST DOUBLE (_double.ts) except in the last test, which runs the real engine on a tiny model.
 */
import { assert, assertEquals } from "../_assert.ts";
import { createApp } from "../../lib/server/app.ts";
import { encodeBase64 } from "../../lib/server/params.ts";
import { generate } from "../../lib/infer/generate.ts";
import { loadModel } from "../../lib/infer/load.ts";
import { MidiError, readMidi, writeMidi } from "../../lib/midi/mod.ts";
import { RenderLimitError } from "../../lib/audio/synth.ts";
import { TokenLimitError } from "../../lib/tokenizers/remi.ts";
import { emptyScore } from "../../lib/score.ts";
import {
  type DoubleCall,
  doubleGenerate,
  doubleLoadModel,
  type DoubleModel,
  makeModelsDir,
} from "./_double.ts";
import { tinyModelsDir } from "./_tiny_model.ts";

const hex = (h: string) => Uint8Array.from(h.match(/../g)!, (b) => parseInt(b, 16));

/** The reproducers. F1: a 0x0FFFFFFF-tick delta at 1 tick per beat (37,283 hours of silence). */
const F1 = hex("4d546864000000060000000100014d54726b0000001700903c4001803c00ffffff7f903e4001803e0000ff2f00");
/** F2: a 16.7 s beat and a note at beat 3,001 (14 hours in). */
const F2 = hex(
  "4d546864000000060000000100014d54726b0000001c00ff5103ffffff00903c4001803c009738903e4001803e0000ff2f00",
);
/** F3: F1 with a 2²² tick gap (the prompt whose continuation `writeMidi` could not write). */
const F3 = hex("4d546864000000060000000100014d54726b0000001700903c4001803c0082808000903e4001803e0000ff2f00");
const HOSTILE: [string, Uint8Array][] = [["F1", F1], ["F2", F2], ["F3", F3]];

const modelsDir = makeModelsDir();

type AppOptions = Parameters<typeof createApp<DoubleModel>>[0];

function setup(o: Partial<AppOptions> & { gen?: Parameters<typeof doubleGenerate>[1] } = {}) {
  const calls: DoubleCall[] = [];
  const logs: string[] = [];
  const { gen, ...rest } = o;
  const etude = createApp<DoubleModel>({
    modelsDir,
    generate: doubleGenerate(calls, gen),
    loadModel: doubleLoadModel([]),
    readMidi,
    writeMidi,
    log: (m) => logs.push(m),
    ...rest,
  });
  return { ...etude, calls, logs };
}

const post = (body: unknown, headers: Record<string, string> = {}) => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(body),
});

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

/** A 4xx JSON answer naming `field`, its message one line starting with the field, no stack or path. */
async function assertFieldError(res: Response, status: number, field: string, what: string) {
  const text = await res.text();
  assertEquals(res.status, status, `${what}: ${text}`);
  assertEquals(res.headers.get("content-type"), "application/json", what);
  const j = JSON.parse(text);
  assertEquals(j.field, field, what);
  assert(typeof j.error === "string" && j.error.startsWith(`${field}: `), `${what}: ${j.error}`);
  assert(!j.error.includes("\n") && !text.includes(".ts:") && !text.includes("/tmp/"), `${what}: ${text}`);
  return j;
}

Deno.test("hostile MIDI (F1, F2, F3) as a prompt or to /api/render: 422 naming the field; nothing generated", async () => {
  const { app, calls } = setup();
  for (const [name, bytes] of HOSTILE) {
    // The reader takes each file (its limits clip them), so they are no malformed MIDI but too big a piece.
    readMidi(bytes);
    const json = await app.request("/api/generate", post({ prompt: encodeBase64(bytes), tokens: 1 }));
    const j = await assertFieldError(json, 422, "prompt", `${name} as a JSON prompt`);
    assert(j.error.includes("longer than the maximum gap of 600 s"), j.error);
    const form = new FormData();
    form.set("tokens", "1");
    form.set("prompt", new File([bytes as Uint8Array<ArrayBuffer>], `${name}.mid`));
    await assertFieldError(
      await app.request("/api/generate", { method: "POST", body: form }),
      422,
      "prompt",
      `${name} as a multipart prompt`,
    );
    await assertFieldError(
      await app.request("/api/generate/stream", post({ prompt: encodeBase64(bytes) })),
      422,
      "prompt",
      `${name} to the stream`,
    );
    await assertFieldError(
      await app.request("/api/render", {
        method: "POST",
        headers: { "content-type": "audio/midi" },
        body: bytes as Uint8Array<ArrayBuffer>,
      }),
      422,
      "midi",
      `${name} to /api/render`,
    );
    await assertFieldError(
      await app.request("/api/render", post({ midi: encodeBase64(bytes) })),
      422,
      "midi",
      `${name} as JSON to /api/render`,
    );
  }
  assertEquals(calls.length, 0, "no generation ran");
});

Deno.test("hostile MIDI over a real socket: each answered 4xx while /healthz keeps answering", async () => {
  const { handler } = setup();
  const ac = new AbortController();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} }, handler);
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    const hostile = HOSTILE.flatMap(([, bytes]) => [
      fetch(`${base}/api/generate`, post({ prompt: encodeBase64(bytes), tokens: 1 })),
      fetch(`${base}/api/render?channels=2`, {
        method: "POST",
        headers: { "content-type": "audio/midi" },
        body: bytes as Uint8Array<ArrayBuffer>,
      }),
    ]);
    const health = Array.from({ length: 6 }, () => fetch(`${base}/healthz`));
    for (const res of await Promise.all(health)) {
      assertEquals(res.status, 200);
      assertEquals((await res.json()).ok, true);
    }
    for (const res of await Promise.all(hostile)) {
      assertEquals(res.status, 422);
      assert(["prompt", "midi"].includes((await res.json()).field));
    }
    assertEquals((await (await fetch(`${base}/healthz`)).json()).queue.running, 0);
  } finally {
    ac.abort();
    await server.finished;
  }
});

Deno.test("the libraries' size-limit errors reaching the server are 422 naming the field, never a 500", async () => {
  const prompt = emptyScore(480);
  prompt.notes.push({ pitch: 60, velocity: 80, start: 0, duration: 480 });
  const promptB64 = encodeBase64(writeMidi(prompt));
  const tokenCap = new TokenLimitError("REMI: the piece needs more than 4128 tokens", 4128, 2);
  const unwritable = new MidiError("cannot write note 1: tick 2013266400 is not in 0..268435455");

  // The tokenizer's cap, met while encoding the prompt (inside generate): the prompt's fault.
  const cap = setup({ gen: { fail: tokenCap } });
  const r1 = await cap.app.request("/api/generate", post({ prompt: promptB64 }));
  const j1 = await assertFieldError(r1, 422, "prompt", "token cap");
  assertEquals(j1.error, "prompt: REMI: the piece needs more than 4128 tokens");
  const ev = await readSse(await cap.app.request("/api/generate/stream", post({ prompt: promptB64 })));
  assertEquals(ev.map((e) => e.event), ["queued", "started", "error"]);
  assertEquals(ev[2].data, { status: 422, error: j1.error, field: "prompt" });
  // Without a prompt, the length asked for is named.
  await assertFieldError(await cap.app.request("/api/generate", post({ bars: 4 })), 422, "bars", "cap, bars");

  // A result writeMidi cannot write: MIDI, JSON and the stream's done event alike.
  const badWrite = setup({
    writeMidi: (s) => {
      if (s.notes.length > 2) throw unwritable;
      return writeMidi(s);
    },
  });
  for (const headers of [{}, { accept: "application/json" }] as Record<string, string>[]) {
    await assertFieldError(
      await badWrite.app.request("/api/generate", post({ prompt: promptB64 }, headers)),
      422,
      "prompt",
      `unwritable result ${JSON.stringify(headers)}`,
    );
  }
  await assertFieldError(await badWrite.app.request("/api/generate", post({})), 422, "tokens", "no prompt");
  const ev2 = await readSse(await badWrite.app.request("/api/generate/stream?seconds=30"));
  assertEquals(ev2.at(-1)!.event, "error");
  assertEquals(ev2.at(-1)!.data.status, 422);
  assertEquals(ev2.at(-1)!.data.field, "seconds");

  // A WAV longer than the server renders: the double's piece lasts 3 s; the limit here is 2 s.
  const short = setup({ maxRenderSeconds: 2 });
  const w = await assertFieldError(
    await short.app.request("/api/generate?format=wav", post({})),
    422,
    "format",
    "render limit",
  );
  assertEquals(w.limit, 2);
  assert(w.error.includes("longer than the 2 s this server renders as WAV"), w.error);
  await assertFieldError(
    await short.app.request("/api/generate?format=wav", post({ prompt: promptB64 })),
    422,
    "prompt",
    "render limit with a prompt",
  );
  const long = emptyScore(480);
  long.notes.push({ pitch: 60, velocity: 80, start: 0, duration: 480 }, {
    pitch: 62,
    velocity: 80,
    start: 480 * 10,
    duration: 480,
  });
  await assertFieldError(
    await short.app.request("/api/render", {
      method: "POST",
      headers: { "content-type": "audio/midi" },
      body: writeMidi(long) as Uint8Array<ArrayBuffer>,
    }),
    422,
    "midi",
    "render limit on /api/render",
  );
  // The default limit (300 s) lets a 3-s piece through.
  assertEquals((await setup().app.request("/api/generate?format=wav", post({}))).status, 200);
  // A look-alike (same name, other class) is still an internal error: recognised by class.
  const fake = Object.assign(new Error("x"), { name: "RenderLimitError", seconds: 1, maxSeconds: 0 });
  assertEquals((await setup({ gen: { fail: fake } }).app.request("/api/generate", post({}))).status, 500);
  assert(new RenderLimitError("m", 2, 1) instanceof RangeError);
});

Deno.test("an empty value is a 400 naming the field, in JSON, a query string and a form", async () => {
  const { app, calls } = setup();
  for (
    const field of [
      "tokens",
      "bars",
      "seconds",
      "temperature",
      "topK",
      "top_p",
      "seed",
      "grammar",
      "model",
      "prompt",
    ]
  ) {
    await assertFieldError(
      await app.request("/api/generate", post({ [field]: "" })),
      400,
      field,
      `JSON ${field}`,
    );
    await assertFieldError(await app.request(`/api/generate/stream?${field}=`), 400, field, `query ${field}`);
    const form = new FormData();
    form.set(field, "");
    await assertFieldError(
      await app.request("/api/generate", { method: "POST", body: form }),
      400,
      field,
      `form ${field}`,
    );
  }
  await assertFieldError(await app.request("/api/generate", post({ format: "" })), 400, "format", "format");
  await assertFieldError(
    await app.request("/api/generate", post({ prompt: null })),
    400,
    "prompt",
    "null prompt",
  );
  await assertFieldError(
    await app.request("/api/generate", post({ model: null })),
    400,
    "model",
    "null model",
  );
  // A browser's form sends an empty *file* for a file input left empty: that is no prompt.
  const form = new FormData();
  form.set("prompt", new File([], ""));
  assertEquals((await app.request("/api/generate", { method: "POST", body: form })).status, 200);
  assertEquals(calls.length, 1);
});

Deno.test("numbers given as text are decimal only: hex, exponents for integers, spaces, Infinity are 400s", async () => {
  const { app, calls } = setup();
  const cases: [Record<string, string>, string, string][] = [
    [
      { topK: "0x10" },
      "topK",
      'topK: expected an integer in [0, 500], got "0x10" (decimal digits only, e.g. 16)',
    ],
    [
      { seed: "1e3" },
      "seed",
      'seed: expected an integer in [0, 4294967295], got "1e3" (decimal digits only, e.g. 1000)',
    ],
    [
      { tokens: " 5" },
      "tokens",
      'tokens: expected an integer in [1, 4096], got " 5" (decimal digits only, e.g. 5)',
    ],
    [
      { temperature: "0x1" },
      "temperature",
      'temperature: expected a number in [0.1, 2], got "0x1" (decimal digits only, e.g. 1)',
    ],
    [{ temperature: "5abc" }, "temperature", 'temperature: expected a number in [0.1, 2], got "5abc"'],
    [{ seconds: "Infinity" }, "seconds", 'seconds: expected a number in [1, 600], got "Infinity"'],
    [{ top_p: "NaN" }, "top_p", 'top_p: expected a number in [0.01, 1], got "NaN"'],
  ];
  for (const [body, field, message] of cases) {
    const j = await assertFieldError(
      await app.request("/api/generate", post(body)),
      400,
      field,
      JSON.stringify(body),
    );
    assertEquals(j.error, message);
    const q = new URLSearchParams(body).toString();
    assertEquals((await app.request(`/api/generate/stream?${q}`)).status, 400, q);
  }
  // Decimal text is fine, a float's exponent too.
  assertEquals(
    (await app.request("/api/generate", post({ topK: "16", temperature: "1e0", seed: "+7" }))).status,
    200,
  );
  assertEquals([calls[0].opts.topK, calls[0].opts.temperature, calls[0].opts.seed], [16, 1, 7]);
});

Deno.test("only application/json and +json types are JSON; /api/render takes MIDI types", async () => {
  const { app } = setup();
  const body = JSON.stringify({ tokens: 5, seed: 1 });
  for (
    const type of [
      "application/jsonx",
      "application/json-seq",
      "text/json+x",
      "application/x-www-form-urlencoded",
    ]
  ) {
    const res = await app.request("/api/generate", {
      method: "POST",
      headers: { "content-type": type },
      body,
    });
    assertEquals(res.status, 415, type);
    assert((await res.json()).error.startsWith("unsupported content-type"), type);
  }
  for (const type of ["application/json", "Application/JSON; charset=utf-8", "application/vnd.etude+json"]) {
    const res = await app.request("/api/generate", {
      method: "POST",
      headers: { "content-type": type },
      body,
    });
    assertEquals(res.status, 200, type);
  }
  const midi = writeMidi(emptyScore(480));
  for (const type of ["text/plain", "application/jsonx"]) {
    const res = await app.request("/api/render", {
      method: "POST",
      headers: { "content-type": type },
      body: midi as Uint8Array<ArrayBuffer>,
    });
    assertEquals(res.status, 415, type);
  }
  const ok = await app.request("/api/render", {
    method: "POST",
    headers: { "content-type": "application/octet-stream" },
    body: midi as Uint8Array<ArrayBuffer>,
  });
  assertEquals(ok.status, 200);
});

Deno.test("errors echo at most 64 characters of a key or value (a 1 MB key is a short 400)", async () => {
  const { app } = setup();
  const huge = "k".repeat(1_000_000);
  for (
    const [what, req] of [
      ["key", post({ [huge]: 1 })],
      ["number", post({ temperature: huge })],
      ["format", post({ format: huge })],
      ["model", post({ model: huge })],
      ["content type", { method: "POST", headers: { "content-type": `application/${huge}` }, body: "{}" }],
    ] as const
  ) {
    const res = await app.request("/api/generate", req);
    const text = await res.text();
    assert(res.status >= 400 && res.status < 500, `${what}: ${res.status}`);
    assert(text.length < 600, `${what}: a ${text.length}-byte answer`);
    if (what === "key") {
      const j = JSON.parse(text);
      assertEquals(j.field, `${"k".repeat(63)}…`);
      assertEquals(j.error, `${"k".repeat(63)}…: unknown parameter`);
      assert(j.allowed.includes("temperature, topK, topP"), "it names the parameters, one name each");
    }
  }
  const nf = await app.request(`/${"p".repeat(100_000)}`);
  assertEquals(nf.status, 404);
  assert((await nf.text()).length < 200);
});

Deno.test("HEAD never runs work; a known route with another method is a 405 with Allow", async () => {
  const { app, calls } = setup();
  const head = await app.request("/api/generate/stream?seed=1", { method: "HEAD" });
  assertEquals(head.status, 405);
  assertEquals(head.headers.get("allow"), "GET, POST");
  await head.arrayBuffer();
  // Cheap GET routes answer HEAD as GET does.
  for (const path of ["/", "/page.js", "/healthz", "/api/params", "/api/models"]) {
    assertEquals((await app.request(path, { method: "HEAD" })).status, 200, path);
  }
  const routes: Record<string, string> = {
    "/": "GET, HEAD",
    "/page.js": "GET, HEAD",
    "/healthz": "GET, HEAD",
    "/api/params": "GET, HEAD",
    "/api/models": "GET, HEAD",
    "/api/generate": "POST",
    "/api/generate/stream": "GET, POST",
    "/api/render": "POST",
  };
  for (const [path, allow] of Object.entries(routes)) {
    for (const method of ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
      if (allow.split(", ").includes(method)) continue;
      const res = await app.request(path, { method });
      assertEquals(res.status, 405, `${method} ${path}`);
      assertEquals(res.headers.get("allow"), allow, `${method} ${path}`);
      assertEquals(await res.json(), { error: `method ${method} not allowed on ${path}`, allowed: allow });
    }
  }
  assertEquals((await app.request("/nope", { method: "PUT" })).status, 404, "unknown paths stay 404");
  assertEquals(calls.length, 0, "no generation ran");
});

/** Sends a raw request with one header of `size` bytes; returns what came back before the connection closed. */
async function rawRequest(port: number, path: string, size: number): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let out = "";
  try {
    const head = `GET ${path} HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(size)}\r\nConnection: close\r\n\r\n`;
    await conn.write(new TextEncoder().encode(head));
    const buf = new Uint8Array(4096);
    while (true) {
      const n = await conn.read(buf);
      if (n === null) break;
      out += new TextDecoder().decode(buf.subarray(0, n));
    }
  } catch {
    // Deno resets a connection whose request head it refused while the client still sends: what came is kept.
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
  return out;
}

Deno.test("large request heads: 431 JSON from the app; past Deno's own limit a bare 400, the server unharmed", async () => {
  const { app, handler } = setup();
  const res = await app.request("/healthz", { headers: { "x-big": "a".repeat(20_000) } });
  assertEquals(res.status, 431);
  assertEquals(await res.json(), { error: "request headers over 16384 bytes", limit: 16384 });
  assertEquals(
    (await setup({ maxHeaderBytes: 64 }).app.request("/healthz", { headers: { "x-a": "b".repeat(64) } }))
      .status,
    431,
  );

  const ac = new AbortController();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} }, handler);
  const port = server.addr.port;
  try {
    const ok = await rawRequest(port, "/healthz", 8_000);
    assert(ok.startsWith("HTTP/1.1 200"), ok.slice(0, 80));
    for (const size of [20_000, 60_000]) {
      const r = await rawRequest(port, "/healthz", size);
      assert(r.startsWith("HTTP/1.1 431"), `${size}: ${r.slice(0, 80)}`);
      assert(r.endsWith('{"error":"request headers over 16384 bytes","limit":16384}'), r.slice(-120));
    }
    // 100 KB: Deno's HTTP layer refuses it before the app sees it (no option of Deno.serve sets that limit).
    const big = await rawRequest(port, "/api/generate/stream", 100_000);
    assert(big === "" || big.startsWith("HTTP/1.1 400") || big.startsWith("HTTP/1.1 431"), big.slice(0, 80));
    const after = await fetch(`http://127.0.0.1:${port}/healthz`);
    assertEquals([after.status, (await after.json()).ok], [200, true]);
  } finally {
    ac.abort();
    await server.finished;
  }
});

Deno.test({
  name: "hostile prompts through the real engine: the token cap is a 422, a clipped F3 continues and writes",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const etude = createApp({ modelsDir: await tinyModelsDir(), generate, loadModel, readMidi, writeMidi });
    try {
      // 5,000 empty bars at 6,000 bpm: 200 s of silence (within the read limits), 4,123+ REMI tokens for 2 notes.
      const fast = emptyScore(480);
      fast.tempos = [{ tick: 0, bpm: 6000 }];
      fast.notes.push({ pitch: 60, velocity: 80, start: 0, duration: 480 }, {
        pitch: 62,
        velocity: 80,
        start: 480 * 4 * 5000,
        duration: 480,
      });
      const res = await etude.app.request(
        "/api/generate",
        post({ prompt: encodeBase64(writeMidi(fast)), tokens: 1 }),
      );
      const j = await assertFieldError(res, 422, "prompt", "token cap");
      assert(j.error.includes("tokens"), j.error);
      // F3 clipped by the reader (what the CLI does) is a prompt the engine continues and writeMidi writes.
      const clipped = readMidi(F3);
      const ok = await etude.app.request(
        "/api/generate",
        post({ prompt: encodeBase64(writeMidi(clipped)), tokens: 16, seed: 3 }),
      );
      assertEquals(ok.status, 200);
      readMidi(new Uint8Array(await ok.arrayBuffer()));
    } finally {
      etude.close();
    }
  },
});
