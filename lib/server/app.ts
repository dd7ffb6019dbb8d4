/**
 * The etude web app as a value: a Hono app over one generation entry. `createApp(opts)` returns it; serve it with
 * `Deno.serve(app.fetch)` or test it with `app.request()`.
 *
 * Routes: `GET /` (the page), `GET /page.js` (and its modules `/page_*.js`), `GET /api/params`, `GET /api/models`, `GET /healthz`,
 * `POST /api/generate` (→ `audio/midi`, JSON with `Accept: application/json`, WAV with `?format=wav`),
 * `GET|POST /api/generate/stream` (Server-Sent Events: `queued`, `started`, `notes`, `done`, `error`), `POST /api/render`
 * (MIDI → WAV).
 *
 * Serving many users: up to `queue.maxBatch` requests (default 16) generate at once and up to `queue.maxWaiting`
 * (default 64) wait in arrival order; one more is a 503. With the batching entry of `deno task serve`
 * (lib/infer/batch.ts), the running requests are the rows of one engine batch: a request that arrives while a batch
 * runs joins it within one readback, and a finished or cancelled one frees its row for the next. The stream tells a
 * waiting client its place in line (`queued` events with `position`, 1 = next, again each time it moves up) and
 * when its generation starts (`started`). What a seed guarantees: the same request (seed, prompt, settings, length)
 * answers the same piece, byte for byte, whether it ran alone or beside other requests, and the same piece as
 * `deno task generate` with those options (see lib/infer/batch.ts for why).
 *
 * Hardening: parameters validated (400 `{error, field, allowed}`; numbers as decimal text only, an empty value is
 * an error, not a default), body limit (413), request-head limit (431), malformed MIDI (400), MIDI or a result past
 * a size limit (422 `{error, field}`: a prompt read with `onLimit: "refuse"`, the tokenizer's token cap, a score
 * `writeMidi` cannot write, a WAV longer than `maxRenderSeconds`), one bounded queue in front of the GPU
 * (503 + `Retry-After`), per-request timeout (504), client disconnect aborts the job, unknown model (404), a known
 * route with another method (405 + `Allow`; `HEAD` is allowed only where `GET` does no work, so it never starts a
 * generation), echoed input clipped to 64 characters, and no stack traces to clients (500
 * `{error: "internal error"}`).
 *
 * Request heads over about 64 KiB never reach the app: Deno's HTTP layer (hyper, whose limit `Deno.serve` does not
 * expose) answers a bare `400 Bad Request` and closes the connection. The app's own limit, `maxHeaderBytes`
 * (16 KiB, Node's default), sits below it, so a large head gets a 431 JSON answer in every case Deno lets through.
 *
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { join } from "node:path";
import type { Note, Score } from "../score.ts";
import { renderWav } from "../audio/wav.ts";
import { RenderLimitError } from "../audio/synth.ts";
import { MidiError } from "../midi/mod.ts";
import { TokenLimitError } from "../tokenizers/remi.ts";
import { GenerationQueue, QueueFullError, type QueueOptions, QueueTimeoutError } from "./queue.ts";
import {
  decodeBase64,
  encodeBase64,
  type GenerateParams,
  PARAM_LIMITS,
  ParamError,
  parseGenerateParams,
  SERVER_PARAMS,
  toParamError,
} from "./params.ts";
import { clipText, GenerateParamError, showValue } from "../infer/param_error.ts";
import { controlError } from "../infer/param_check.ts";
import { fileSha256, makeProvenance, provenanceText } from "../infer/provenance.ts";
import { SAMPLING_NAMES, type SamplingDefaults, withModelSampling } from "../infer/generation_config.ts";
import { sha256Hex } from "../util/hash.ts";
import type { Controls } from "../infer/controls.ts";
import { listModels, type ModelInfo } from "./models.ts";
import { PAGE_HTML, PAGE_JS, PAGE_MODULES } from "./page.ts";

/**
 * What the app passes to the generation entry (a subset of `lib/infer/generate.ts`'s `GenerateOptions`).
 *
 * @example
 * ```ts
 * import type { AppGenerateOptions, AppGenerateResult } from "./app.ts";
 * import { emptyScore } from "../score.ts";
 * // a stand-in generation entry for tests: one empty piece, whatever is asked
 * const fake = (o: AppGenerateOptions<object>): Promise<AppGenerateResult> => {
 *   const adapter = `fake (seed ${o.seed})`;
 *   return Promise.resolve({ scores: [emptyScore()], ids: [[]], tokens: 0, tokensPerSecond: 0, adapter });
 * };
 * ```
 */
export interface AppGenerateOptions<M> {
  /** The loaded model. */
  model: M;
  /** A piece to continue. */
  prompt?: Score;
  /** Stop after this many tokens (exactly one of maxTokens, bars, seconds is set). */
  maxTokens?: number;
  /** Stop after this many bars. */
  bars?: number;
  /** Stop after this many seconds of music. */
  seconds?: number;
  /** Sampling temperature (ranges: `SERVER_PARAMS` in params.ts). */
  temperature: number;
  /** Top-k, 0 = off. */
  topK: number;
  /** Top-p (nucleus). */
  topP: number;
  /** Classifier-free guidance over the learned conditions (1 = off). */
  guidanceScale?: number;
  /** The key's guidance scale (the larger of it and `guidanceScale` guides a key). */
  keyGuidanceScale?: number;
  /** The density's guidance scale (the larger of it and `guidanceScale` guides a density). */
  densityGuidanceScale?: number;
  /** Sampling seed (same seed, same piece). */
  seed: number;
  /** Mask tokens that cannot follow the previous one. */
  grammar: boolean;
  /**
   * The hard controls (key, pitch range, …; lib/infer/controls.ts), validated against the parameter table; set
   * only when the request gives one. A control the model cannot honour (a time signature its tokenizer lacks) is
   * a `RangeError` starting with the control's name, answered 400 naming the field.
   */
  controls?: Controls;
  /** Learned conditions (`style`), set only when the request gives one (a model trained with conditioning). */
  conditions?: { style?: "classical" | "pop" };
  /** Infilling: bars `from..to` of the prompt regenerated, set only when the request gives `infill`. */
  infill?: { from: number; to: number };
  /** Receives notes as they are decoded (for the SSE stream). */
  onNotes?: (notes: Note[], sequence: number) => void;
  /** Fires when the client goes away or the request times out. */
  signal?: AbortSignal;
}

/**
 * What the app needs back from the generation entry (a subset of `GenerateResult`).
 *
 * @example
 * ```ts
 * import type { AppGenerateResult } from "./app.ts";
 * import { emptyScore } from "../score.ts";
 * const r: AppGenerateResult = { scores: [emptyScore()], ids: [[]], tokens: 0, tokensPerSecond: 0, adapter: "none" };
 * ```
 */
export interface AppGenerateResult {
  /** The generated pieces (the first is answered). */
  scores: Score[];
  /** The generated token ids per piece. */
  ids: number[][];
  /** Tokens sampled. */
  tokens: number;
  /** Sampling speed. */
  tokensPerSecond: number;
  /** The GPU adapter that ran it. */
  adapter: string;
}

/**
 * Options for {@linkcode createApp}.
 *
 * @example
 * ```ts ignore
 * import { createApp } from "./app.ts";
 * import { generate } from "../infer/generate.ts";
 * import { loadModel } from "../infer/load.ts";
 * import { readMidi, writeMidi } from "../midi/mod.ts";
 * const { handler } = createApp({
 *   modelsDir: "models",
 *   generate,
 *   loadModel,
 *   readMidi,
 *   writeMidi,
 *   queue: { maxBatch: 8, maxWaiting: 32, timeoutMs: 60_000 },
 *   maxRenderSeconds: 120,
 * });
 * Deno.serve({ port: 8000 }, handler);
 * ```
 */
export interface AppOptions<M extends { dispose?: () => void }> {
  /** Directory whose subdirectories are model checkpoints (`models/`). */
  modelsDir: string;
  /**
   * The generation entry: `GenerationBatcher.generate` (lib/infer/batch.ts) serves concurrent calls as one batch;
   * plain `generate` (lib/infer/generate.ts) is safe too, its calls taking turns. Up to `queue.maxBatch` calls run
   * at once.
   */
  generate: (opts: AppGenerateOptions<M>) => Promise<AppGenerateResult>;
  /** Loads a checkpoint directory (`loadModel` from lib/infer/load.ts). */
  loadModel: (dir: string) => Promise<M>;
  /**
   * MIDI bytes → Score; throws on malformed input (`readMidi` from lib/midi). The app reads uploads with
   * `onLimit: "refuse"` (a file past `ReadLimits` is answered 422, not silently clipped), and again with `"clip"`
   * only to tell such a file from a malformed one (400).
   */
  readMidi: (bytes: Uint8Array, opts?: { name?: string; onLimit?: "clip" | "refuse" }) => Score;
  /**
   * Score → MIDI bytes (`writeMidi` from lib/midi); `text` holds the take's provenance record (a text meta event,
   * lib/infer/provenance.ts) unless `provenance` is off.
   */
  writeMidi: (score: Score, opts?: { text?: string[] }) => Uint8Array;
  /**
   * Whether each generated .mid carries its provenance record (default true): the etude version, the model's path
   * and sha256, the uploaded prompt's sha256 and every setting, so `deno task generate --replay take.mid` (with
   * `--prompt` for a take with a prompt) writes it again.
   */
  provenance?: boolean;
  /**
   * The queue, or options for a new one (default `QUEUE_DEFAULTS`: 16 running as one batch, 64 waiting, 120 s
   * timeout).
   */
  queue?: GenerationQueue | QueueOptions;
  /** Largest accepted request body in bytes (default 2 MiB). */
  maxBodyBytes?: number;
  /**
   * Largest request head (header names and values, 4 bytes a line for `: ` and CRLF) in bytes (default 16 KiB);
   * larger is a 431. Deno itself refuses heads over about 64 KiB (a bare 400, see the module doc).
   */
  maxHeaderBytes?: number;
  /**
   * Longest WAV the server renders (`/api/render`, `?format=wav`), in seconds of audio (default 300: a 5-minute
   * stereo render costs about 0.8 s and 230 MB); longer is a 422. `renderWav`'s own limit is 1,200 s.
   */
  maxRenderSeconds?: number;
  /** Models kept loaded at once (default 2); the least recently used is disposed. */
  maxLoadedModels?: number;
  /** Where server-side errors are logged (default `console.error`). */
  log?: (message: string) => void;
}

/**
 * The app plus its queue (for health checks and tests).
 *
 * @example
 * ```ts
 * import { createApp } from "./app.ts";
 * import { emptyScore } from "../score.ts";
 * const nothing = { scores: [emptyScore()], ids: [[]], tokens: 0, tokensPerSecond: 0, adapter: "none" };
 * const { app, queue } = createApp({
 *   modelsDir: "models",
 *   loadModel: () => Promise.resolve({}),
 *   generate: () => Promise.resolve(nothing),
 *   readMidi: () => emptyScore(),
 *   writeMidi: () => new Uint8Array(),
 * });
 * const res = await app.request("/api/params");
 * queue.stats().running; // 0
 * ```
 */
export interface EtudeApp {
  // deno-doc-ignore private-type-ref -- Hono's own type, public in its package (denoland/deno#27364)
  /** The Hono app: `app.request()` in tests, `app.fetch` anywhere a fetch handler goes. */
  app: Hono;
  /**
   * The handler for `Deno.serve`: passes the connection info to the app, so a client disconnect is seen through
   * `info.completed` (no reliance on `request.signal`'s legacy abort-on-success behaviour).
   */
  handler: Deno.ServeHandler;
  /** The generation queue (its `stats()` feed `/healthz`). */
  queue: GenerationQueue;
  /** Disposes loaded models. */
  close(): void;
}

class HttpError extends Error {
  constructor(
    readonly status: 400 | 404 | 405 | 413 | 415 | 422 | 431,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/**
 * The methods each route answers (`HEAD` only where `GET` is cheap: the stream's `GET` starts a generation). Any
 * other method on these paths is a 405 with `Allow`.
 */
const ROUTE_METHODS: Readonly<Record<string, readonly string[]>> = {
  "/": ["GET", "HEAD"],
  "/page.js": ["GET", "HEAD"],
  ...Object.fromEntries(Object.keys(PAGE_MODULES).map((n) => [`/${n}`, ["GET", "HEAD"]])),
  "/healthz": ["GET", "HEAD"],
  "/api/params": ["GET", "HEAD"],
  "/api/models": ["GET", "HEAD"],
  "/api/generate": ["POST"],
  "/api/generate/stream": ["GET", "POST"],
  "/api/render": ["POST"],
};

/** A content type's essence, lowercased: `application/json; charset=utf-8` → `application/json`. */
function mediaType(header: string | undefined): string {
  return (header ?? "").split(";")[0].trim().toLowerCase();
}

/** `application/json` and any `+json` type (`application/ld+json`), not `application/jsonx`. */
function isJsonType(type: string): boolean {
  return type === "application/json" || /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+\+json$/.test(type);
}

/** Raw MIDI upload types for `/api/render` (besides JSON); no content type at all is taken as MIDI too. */
const MIDI_TYPES = [
  "audio/midi",
  "audio/mid",
  "audio/x-midi",
  "application/x-midi",
  "application/octet-stream",
];

/** The first line of an error's message, clipped (library messages name what is wrong, never a path here). */
function firstLine(e: unknown): string {
  return clipText(String((e as Error)?.message ?? e).split("\n")[0], 300);
}

type Format = "midi" | "json" | "wav";

/**
 * Creates the app. The generation entry, the checkpoint loader and MIDI I/O are injected, so the app holds no
 * logic of its own beyond HTTP.
 *
 * @example
 * ```ts
 * import { createApp } from "./app.ts";
 * import { emptyScore } from "../score.ts";
 * const { app } = createApp({
 *   modelsDir: "models",
 *   loadModel: async (_dir) => ({}),
 *   generate: async () => ({ scores: [emptyScore()], ids: [[]], tokens: 0, tokensPerSecond: 0, adapter: "none" }),
 *   readMidi: () => emptyScore(),
 *   writeMidi: () => new Uint8Array(),
 * });
 * const res = await app.request("/healthz");
 * ```
 */
export function createApp<M extends { dispose?: () => void }>(opts: AppOptions<M>): EtudeApp {
  const queue = opts.queue instanceof GenerationQueue ? opts.queue : new GenerationQueue(opts.queue);
  const maxBody = opts.maxBodyBytes ?? 2 * 1024 * 1024;
  const maxHeader = opts.maxHeaderBytes ?? 16 * 1024;
  const maxRender = opts.maxRenderSeconds ?? 300;
  const maxLoaded = Math.max(1, opts.maxLoadedModels ?? 2);
  const log = opts.log ?? ((m: string) => console.error(m));
  const loaded = new Map<string, Promise<M>>();
  const inUse = new Map<Promise<M>, number>();
  const evicted = new Set<Promise<M>>();
  const started = Date.now();

  const dispose = (p: Promise<M>) => p.then((m) => m.dispose?.(), () => {});

  // The loaded model `name` (loading it if needed); call `release` when done. LRU beyond `maxLoaded`.
  function acquireModel(name: string): { model: Promise<M>; release: () => void } {
    let p = loaded.get(name);
    if (p) loaded.delete(name); // re-inserted below as most recently used
    else {
      p = opts.loadModel(join(opts.modelsDir, name));
      const mine = p;
      p.catch(() => loaded.get(name) === mine && loaded.delete(name));
    }
    loaded.set(name, p);
    inUse.set(p, (inUse.get(p) ?? 0) + 1);
    while (loaded.size > maxLoaded) {
      const [oldest, op] = loaded.entries().next().value!;
      loaded.delete(oldest);
      // A model still generating is disposed when its last user releases it.
      if (inUse.get(op)) evicted.add(op);
      else dispose(op);
    }
    const model = p;
    return {
      model,
      release() {
        const n = (inUse.get(model) ?? 1) - 1;
        if (n > 0) {
          inUse.set(model, n);
          return;
        }
        inUse.delete(model);
        if (evicted.delete(model)) dispose(model);
      },
    };
  }

  async function requireModel(name: string): Promise<ModelInfo> {
    const info = (await listModels(opts.modelsDir)).find((m) => m.name === name);
    if (!info) throw new HttpError(404, `model not found: ${name}`, { field: "model" });
    return info;
  }

  async function readBody(c: Context): Promise<Uint8Array> {
    const len = Number(c.req.header("content-length") ?? "0");
    if (len > maxBody) throw new HttpError(413, `request body over ${maxBody} bytes`, { limit: maxBody });
    const body = c.req.raw.body;
    if (!body) return new Uint8Array();
    const parts: Uint8Array[] = [];
    let total = 0;
    const reader = body.getReader();
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > maxBody) {
        await reader.cancel().catch(() => {});
        throw new HttpError(413, `request body over ${maxBody} bytes`, { limit: maxBody });
      }
      parts.push(value);
    }
    const out = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  // Parameters + prompt bytes from a JSON body, a multipart form, or the query string.
  async function readRequest(
    c: Context,
  ): Promise<{ params: GenerateParams; prompt?: Uint8Array; format?: string }> {
    const query = c.req.query();
    let raw: Record<string, unknown> = { ...query };
    let prompt: Uint8Array | undefined;
    if (c.req.method === "POST") {
      const rawType = c.req.header("content-type") ?? "";
      const type = mediaType(rawType);
      const bytes = await readBody(c);
      if (type === "multipart/form-data") {
        let form: FormData;
        try {
          // The boundary is case-sensitive: pass the header through unchanged.
          form = await new Request("http://x/", {
            method: "POST",
            headers: { "content-type": rawType },
            body: bytes as Uint8Array<ArrayBuffer>,
          })
            .formData();
        } catch {
          throw new ParamError("body", "multipart/form-data", "body: malformed multipart form");
        }
        for (const [k, v] of form.entries()) {
          if (typeof v === "string") raw[k] = v;
          // An empty file part is what a browser sends for a file input left empty: no prompt.
          else if (k === "prompt") prompt = new Uint8Array(await v.arrayBuffer());
          else raw[k] = "(file)";
        }
      } else if (isJsonType(type) || (bytes.length > 0 && type === "")) {
        let body: unknown;
        try {
          body = bytes.length ? JSON.parse(new TextDecoder().decode(bytes)) : {};
        } catch {
          throw new ParamError("body", "a JSON object", "body: malformed JSON");
        }
        if (body === null || typeof body !== "object" || Array.isArray(body)) {
          throw new ParamError("body", "a JSON object", "body: expected a JSON object of parameters");
        }
        raw = { ...raw, ...(body as Record<string, unknown>) };
      } else if (bytes.length > 0) {
        throw new HttpError(415, `unsupported content-type ${JSON.stringify(clipText(type))}`, {
          allowed: "application/json (or a +json type), multipart/form-data",
        });
      }
    }
    const format = raw.format;
    const params = parseGenerateParams(raw);
    if (params.promptBase64) prompt = decodeBase64(params.promptBase64, "prompt");
    return { params, prompt, format: typeof format === "string" ? format : undefined };
  }

  // An uploaded MIDI file as a Score, read with `onLimit: "refuse"`: malformed is a 400 ParamError, well-formed but
  // past a read limit (a silence, a length) a 422 naming `field`.
  function readUpload(bytes: Uint8Array, field: string): Score {
    try {
      return opts.readMidi(bytes, { name: field, onLimit: "refuse" });
    } catch (refused) {
      let readable = false;
      try {
        opts.readMidi(bytes, { name: field, onLimit: "clip" });
        readable = true;
      } catch { /* malformed: answered below */ }
      const msg = firstLine(refused);
      if (readable) {
        throw new HttpError(422, msg.startsWith(`${field}: `) ? msg : `${field}: ${msg}`, { field });
      }
      throw new ParamError(field, "a valid MIDI file", `${field}: not a valid MIDI file (${msg})`);
    }
  }

  function parsePrompt(bytes: Uint8Array | undefined): Score | undefined {
    if (!bytes || bytes.length === 0) return undefined;
    return readUpload(bytes, "prompt");
  }

  // A size-limit error of the libraries (the tokenizer's cap, a score `writeMidi` cannot write, a render too long)
  // as a 422 naming `field`, the input that made the piece that big; anything else unchanged.
  function limitError(e: unknown, field: string): unknown {
    if (e instanceof RenderLimitError) {
      const secs = +e.seconds.toFixed(1);
      const msg =
        `${field}: the piece lasts ${secs} s, longer than the ${e.maxSeconds} s this server renders as WAV`;
      return new HttpError(422, msg, { field, limit: e.maxSeconds });
    }
    if (e instanceof TokenLimitError || e instanceof MidiError) {
      return new HttpError(422, `${field}: ${firstLine(e)}`, { field });
    }
    return e;
  }

  // What made a generated piece big: the prompt when there is one, else the length asked for.
  function sizeField(params: GenerateParams, prompt: Score | undefined): string {
    if (prompt) return "prompt";
    const name = params.bars !== undefined ? "bars" : params.seconds !== undefined ? "seconds" : "maxTokens";
    return SERVER_PARAMS[name].http[0];
  }

  function wavOf(score: Score, field: string, channels: 1 | 2 = 1): Uint8Array {
    try {
      return renderWav(score, { channels, maxSeconds: maxRender });
    } catch (e) {
      throw limitError(e, field);
    }
  }

  function pickFormat(c: Context, explicit?: string): Format {
    if (explicit !== undefined) {
      if (explicit === "midi" || explicit === "json" || explicit === "wav") return explicit;
      throw new ParamError(
        "format",
        "midi, json, wav",
        `format: expected midi, json or wav, got ${showValue(explicit)}`,
      );
    }
    const accept = (c.req.header("accept") ?? "").toLowerCase();
    if (accept.includes("application/json")) return "json";
    if (accept.includes("audio/wav") || accept.includes("audio/x-wav")) return "wav";
    return "midi";
  }

  function runGeneration(
    params: GenerateParams,
    prompt: Score | undefined,
    signal: AbortSignal,
    onNotes?: (notes: Note[], sequence: number) => void,
    onPosition?: (position: number) => void,
  ): Promise<AppGenerateResult> {
    return queue.run(async (jobSignal) => {
      const { model: pending, release } = acquireModel(params.model);
      try {
        const model = await pending;
        jobSignal.throwIfAborted();
        // sampling fields left out: the model's own defaults (generation_config.json) before the table's
        const sampling = (model as { sampling?: SamplingDefaults }).sampling;
        if (sampling && params.defaulted?.length) {
          const given = Object.fromEntries(SAMPLING_NAMES.map((k) => [k, params[k]]));
          Object.assign(params, withModelSampling(given, sampling, new Set(params.defaulted)));
        }
        return await opts.generate({
          model,
          prompt,
          maxTokens: params.maxTokens,
          bars: params.bars,
          seconds: params.seconds,
          temperature: params.temperature,
          topK: params.topK,
          topP: params.topP,
          guidanceScale: params.guidanceScale,
          keyGuidanceScale: params.keyGuidanceScale,
          densityGuidanceScale: params.densityGuidanceScale,
          seed: params.seed,
          grammar: params.grammar,
          ...(params.controls ? { controls: params.controls } : {}),
          ...(params.conditions ? { conditions: params.conditions } : {}),
          ...(params.infill ? { infill: params.infill } : {}),
          onNotes,
          signal: jobSignal,
        });
      } catch (e) {
        const ce = controlError(e, params.controls as Record<string, unknown> | undefined);
        if (ce) throw toParamError(ce);
        throw limitError(e, sizeField(params, prompt));
      } finally {
        release();
      }
    }, { signal, onPosition });
  }

  function midiOf(score: Score, field: string, record?: string): Uint8Array {
    try {
      return record === undefined ? opts.writeMidi(score) : opts.writeMidi(score, { text: [record] });
    } catch (e) {
      throw limitError(e, field);
    }
  }

  // The sha256 of a model's weights, once per file version (path, size and mtime).
  const shaCache = new Map<string, { key: string; sha: Promise<string> }>();
  async function modelSha(dir: string): Promise<string> {
    const file = join(dir, "model.safetensors");
    const st = await Deno.stat(file);
    const key = `${st.size}:${st.mtime?.getTime()}`;
    const hit = shaCache.get(file);
    if (hit?.key === key) return hit.sha;
    const sha = fileSha256(file);
    shaCache.set(file, { key, sha });
    sha.catch(() => shaCache.delete(file));
    return sha;
  }

  /** The provenance text of a take, or undefined when provenance is off (or the model file cannot be read). */
  async function recordOf(
    params: GenerateParams,
    prompt: Uint8Array | undefined,
  ): Promise<string | undefined> {
    if (opts.provenance === false) return undefined;
    const dir = join(opts.modelsDir, params.model);
    let sha: string;
    try {
      sha = await modelSha(dir);
    } catch {
      return undefined; // a test double's model, or one removed meanwhile: the take is still answered
    }
    const { model: _m, promptBase64: _p, defaulted: _d, controls, conditions, infill, ...rest } = params;
    return provenanceText(makeProvenance({
      model: { path: dir, sha256: sha },
      params: {
        ...rest,
        ...(controls ?? {}),
        ...(conditions?.style !== undefined ? { style: conditions.style } : {}),
        ...(infill ? { infill: `${infill.from}:${infill.to}` } : {}),
      },
      ...(prompt?.length
        ? {
          prompt: { path: "(uploaded prompt)", sha256: await sha256Hex(prompt as Uint8Array<ArrayBuffer>) },
        }
        : {}),
    }));
  }

  function resultJson(params: GenerateParams, r: AppGenerateResult, field: string, record?: string) {
    const score = r.scores[0];
    const midi = midiOf(score, field, record);
    return {
      model: params.model,
      seed: params.seed,
      ticksPerBeat: score.ticksPerBeat,
      tempos: score.tempos,
      timeSignatures: score.timeSignatures,
      notes: score.notes,
      ids: r.ids[0] ?? [],
      tokens: r.tokens,
      tokensPerSecond: r.tokensPerSecond,
      adapter: r.adapter,
      midiBase64: encodeBase64(midi),
    };
  }

  // Maps an error to a JSON response; unexpected errors are logged and answered generically.
  function errorResponse(c: Context, e: unknown): Response {
    if (e instanceof ParamError) {
      return c.json({ error: clipText(e.message, 300), field: clipText(e.field), allowed: e.allowed }, 400);
    }
    if (e instanceof HttpError) {
      if (e.status === 405) c.header("Allow", String(e.extra.allowed));
      return c.json({ error: clipText(e.message, 300), ...e.extra }, e.status);
    }
    if (e instanceof QueueFullError) {
      c.header("Retry-After", String(e.retryAfterSeconds));
      return c.json({ error: "generation queue is full", retryAfter: e.retryAfterSeconds }, 503);
    }
    if (e instanceof QueueTimeoutError) return c.json({ error: e.message }, 504);
    if (e instanceof GenerateParamError) {
      const pe = toParamError(e);
      return c.json({ error: pe.message, field: pe.field, allowed: pe.allowed }, 400);
    }
    const err = e as { name?: string };
    if (err?.name === "AbortError") {
      return c.json({ error: "request cancelled" }, 499 as 400);
    }
    log(`etude server: ${c.req.method} ${c.req.path}: ${(e as Error)?.stack ?? String(e)}`);
    return c.json({ error: "internal error" }, 500);
  }

  // A signal for a streamed response that fires when its client goes away: `info.completed` rejecting (Deno.serve
  // via `handler`), else the request's own signal (`app.request`). The stream's own `cancel` covers the rest.
  function streamClientSignal(c: Context): AbortSignal {
    const info = (c.env as { info?: Deno.ServeHandlerInfo } | undefined)?.info;
    if (!info?.completed) return c.req.raw.signal;
    const ac = new AbortController();
    info.completed.catch(() => ac.abort(new DOMException("client went away", "AbortError")));
    return ac.signal;
  }

  const app = new Hono();

  app.use("*", async (c, next) => {
    // The request head's size (431 past the limit), then the method (405 on a known path).
    let head = 0;
    for (const [k, v] of c.req.raw.headers) head += k.length + v.length + 4;
    if (head > maxHeader) {
      throw new HttpError(431, `request headers over ${maxHeader} bytes`, { limit: maxHeader });
    }
    const methods = ROUTE_METHODS[c.req.path];
    if (methods && !methods.includes(c.req.method)) {
      throw new HttpError(405, `method ${clipText(c.req.method)} not allowed on ${c.req.path}`, {
        allowed: methods.join(", "),
      });
    }
    await next();
    c.header("X-Content-Type-Options", "nosniff");
  });

  app.onError((e, c) => {
    const res = errorResponse(c, e);
    res.headers.set("X-Content-Type-Options", "nosniff");
    return res;
  });
  app.notFound((c) => c.json({ error: `not found: ${clipText(`${c.req.method} ${c.req.path}`)}` }, 404));

  app.get("/", (c) => {
    c.header(
      "Content-Security-Policy",
      "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' blob:",
    );
    return c.html(PAGE_HTML);
  });
  for (const [name, js] of [["page.js", PAGE_JS], ...Object.entries(PAGE_MODULES)]) {
    app.get(`/${name}`, (c) => {
      c.header("Content-Type", "text/javascript; charset=utf-8");
      return c.body(js);
    });
  }
  app.get(
    "/healthz",
    (c) => c.json({ ok: true, uptimeSeconds: (Date.now() - started) / 1000, queue: queue.stats() }),
  );
  app.get("/api/params", (c) => c.json(PARAM_LIMITS));
  app.get("/api/models", async (c) => {
    const models = await listModels(opts.modelsDir);
    return c.json({
      models,
      default: models.find((m) => m.name === "default")?.name ?? models[0]?.name ?? null,
    });
  });

  app.post("/api/generate", async (c) => {
    const { params, prompt, format } = await readRequest(c);
    const fmt = pickFormat(c, format);
    await requireModel(params.model);
    const promptScore = parsePrompt(prompt);
    // While the answer is being computed, only the request's signal sees a disconnect; the queue listens to it
    // just for the job's duration.
    const r = await runGeneration(params, promptScore, c.req.raw.signal);
    const headers = {
      "X-Etude-Seed": String(params.seed),
      "X-Etude-Tokens": String(r.tokens),
      "X-Etude-Tokens-Per-Second": r.tokensPerSecond.toFixed(2),
      "X-Etude-Adapter": r.adapter.replace(/[^\x20-\x7e]/g, "?"),
    };
    for (const [k, v] of Object.entries(headers)) c.header(k, v);
    const field = sizeField(params, promptScore);
    const record = fmt === "wav" ? undefined : await recordOf(params, prompt);
    if (fmt === "json") return c.json(resultJson(params, r, field, record));
    if (fmt === "wav") {
      // Too long a WAV: the prompt's fault when there is one, else the format's (MIDI has no such limit).
      const wav = wavOf(r.scores[0], promptScore ? "prompt" : "format");
      c.header("Content-Type", "audio/wav");
      c.header("Content-Disposition", `attachment; filename="etude-${params.seed}.wav"`);
      return c.body(wav as Uint8Array<ArrayBuffer>);
    }
    const midi = midiOf(r.scores[0], field, record);
    c.header("Content-Type", "audio/midi");
    c.header("Content-Disposition", `attachment; filename="etude-${params.seed}.mid"`);
    return c.body(midi as Uint8Array<ArrayBuffer>);
  });

  const stream = async (c: Context) => {
    const { params, prompt } = await readRequest(c);
    await requireModel(params.model);
    const promptScore = parsePrompt(prompt);
    if (queue.full) throw new QueueFullError(queue.retryAfterSeconds());
    const cancel = new AbortController();
    const signal = AbortSignal.any([streamClientSignal(c), cancel.signal]);
    const enc = new TextEncoder();
    let closed = false;
    let ping: ReturnType<typeof setInterval> | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(ctl) {
        const send = (event: string, data: unknown) => {
          if (closed) return;
          try {
            ctl.enqueue(enc.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`));
          } catch {
            closed = true;
          }
        };
        const finish = () => {
          if (closed) return;
          closed = true;
          clearInterval(ping);
          try {
            ctl.close();
          } catch { /* already closed */ }
        };
        ping = setInterval(() => {
          if (!closed) ctl.enqueue(enc.encode(`: ping\n\n`));
        }, 15_000);
        // `queued` first (position 0: it starts at once), again as it moves up the line; `started` when it runs.
        let told = -1;
        const onPosition = (position: number) => {
          if (position === told) return;
          if (position > 0 || told < 0) {
            send("queued", { seed: params.seed, model: params.model, position, ...queue.stats() });
          }
          if (position === 0) send("started", { seed: params.seed, model: params.model });
          told = position;
        };
        // `sequence` numbers the chunks this stream sent (0, 1, 2, …), whatever the engine's own numbering.
        let chunk = 0;
        const onNotes = (notes: Note[]) => send("notes", { sequence: chunk++, notes });
        runGeneration(params, promptScore, signal, onNotes, onPosition)
          .then(async (r) =>
            send(
              "done",
              resultJson(params, r, sizeField(params, promptScore), await recordOf(params, prompt)),
            )
          )
          .catch((e) => {
            if (signal.aborted && !(e instanceof QueueTimeoutError)) return;
            const res = errorResponse(c, e);
            return res.json().then((j) => send("error", { status: res.status, ...j }));
          })
          .finally(finish);
      },
      cancel() {
        closed = true;
        clearInterval(ping);
        cancel.abort(new DOMException("client went away", "AbortError"));
      },
    });
    return new Response(body, {
      headers: {
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "X-Etude-Seed": String(params.seed),
      },
    });
  };
  app.get("/api/generate/stream", stream);
  app.post("/api/generate/stream", stream);

  app.post("/api/render", async (c) => {
    const type = mediaType(c.req.header("content-type"));
    if (type !== "" && !isJsonType(type) && !MIDI_TYPES.includes(type)) {
      throw new HttpError(415, `unsupported content-type ${JSON.stringify(clipText(type))}`, {
        allowed: `${MIDI_TYPES.join(", ")}, application/json`,
      });
    }
    const bytes = await readBody(c);
    let midi = bytes;
    if (isJsonType(type)) {
      let body: { midi?: unknown };
      try {
        body = JSON.parse(new TextDecoder().decode(bytes));
      } catch {
        throw new ParamError("body", "a JSON object", "body: malformed JSON");
      }
      if (typeof body?.midi !== "string") {
        throw new ParamError(
          "midi",
          "a base64-encoded MIDI file",
          "midi: expected a base64-encoded MIDI file",
        );
      }
      midi = decodeBase64(body.midi, "midi");
    }
    const channels = c.req.query("channels") ?? "1";
    if (channels !== "1" && channels !== "2") {
      throw new ParamError("channels", "1 or 2", "channels: expected 1 or 2");
    }
    if (midi.length === 0) {
      throw new ParamError("midi", "a valid MIDI file", "midi: not a valid MIDI file (empty body)");
    }
    const wav = wavOf(readUpload(midi, "midi"), "midi", channels === "2" ? 2 : 1);
    c.header("Content-Type", "audio/wav");
    c.header("Content-Disposition", `attachment; filename="etude.wav"`);
    return c.body(wav as Uint8Array<ArrayBuffer>);
  });

  return {
    app,
    handler: (req, info) => app.fetch(req, { info }),
    queue,
    close() {
      for (const p of loaded.values()) dispose(p);
      loaded.clear();
    },
  };
}
