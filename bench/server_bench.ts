/**
 * End-to-end latency of the faces: the cold start of `deno task generate` (process start → MIDI written), and the
 * HTTP server under concurrent clients (loopback only, a bounded number of requests): requests/s with p50/p99
 * latency, for `/healthz` (the HTTP layer alone) and `/api/generate` (through the queue and the continuous batcher,
 * wired as `deno task serve` wires them) with one client and with many, so the gain of batching shows as the ratio.
 *
 * Run alone (`deno run -A bench/server_bench.ts [--quick] [--models models] [--model default] [--out file.json]`),
 * it measures the server on the CPU device (lib/cpu, the batcher's `CpuRowDecoder`) and on the WebGPU engine (the
 * software adapter here) side by side in one run, and writes the figures as JSON.
 *
 * @module
 */
import { createApp } from "../lib/server/app.ts";
import { QUEUE_DEFAULTS } from "../lib/server/queue.ts";
import { GenerationBatcher } from "../lib/infer/batch.ts";
import { type Device, loadModel } from "../lib/infer/load.ts";
import { readMidi, writeMidi } from "../lib/midi/mod.ts";

/**
 * The q-quantile (0…1) of a list, by linear interpolation between order statistics.
 *
 * @example
 * ```ts
 * import { quantile } from "./server_bench.ts";
 * quantile([1, 2, 3, 4], 0.5); // 2.5
 * ```
 */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** Result of {@link loadTest}. */
export interface LoadTestResult {
  requests: number;
  ok: number;
  /** Status code → count for non-2xx answers. */
  errors: Record<string, number>;
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * Sends `total` requests from `concurrency` clients (each waits for its answer before the next) and measures
 * latencies; `makeRequest(i)` builds request i.
 *
 * @example
 * ```ts ignore
 * import { loadTest } from "./server_bench.ts";
 * const r = await loadTest(() => new Request("http://127.0.0.1:8000/healthz"), 16, 256);
 * ```
 */
export async function loadTest(
  makeRequest: (i: number) => Request,
  concurrency: number,
  total: number,
): Promise<LoadTestResult> {
  let next = 0, ok = 0;
  const lat: number[] = [];
  const errors: Record<string, number> = {};
  const t0 = performance.now();
  const client = async () => {
    while (next < total) {
      const i = next++;
      const s = performance.now();
      try {
        const res = await fetch(makeRequest(i));
        await res.arrayBuffer();
        if (res.ok) ok++;
        else errors[res.status] = (errors[res.status] ?? 0) + 1;
      } catch (e) {
        const k = (e as Error).name;
        errors[k] = (errors[k] ?? 0) + 1;
      }
      lat.push(performance.now() - s);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  const seconds = (performance.now() - t0) / 1000;
  return {
    requests: total,
    ok,
    errors,
    seconds,
    requestsPerSecond: total / seconds,
    p50Ms: quantile(lat, 0.5),
    p99Ms: quantile(lat, 0.99),
  };
}

/** What {@link serverThroughput} measures. */
export interface ServerThroughput {
  /** `GET /healthz` from `concurrency` clients. */
  health: LoadTestResult;
  /** `POST /api/generate` from one client (each request alone on the engine). */
  single: LoadTestResult;
  /** `POST /api/generate` from `concurrency` clients (batched). */
  concurrent: LoadTestResult;
  /**
   * During the concurrent part: the most rows one decode step ran over, the mean rows per step, and the decode
   * loops run.
   */
  batching: { peakRows: number; meanRows: number; loops: number };
  /** Where the model ran (`LoadedModel.adapter`). */
  adapter: string;
}

/**
 * Serves the real app (lib/server/app.ts over lib/infer/batch.ts, default queue) on 127.0.0.1 with `modelsDir`, then
 * load-tests `/healthz`, and `/api/generate` (`tokens` tokens per request, seeds 0…) from one client
 * (`singleRequests` requests) and from `concurrency` clients (`generateRequests` requests).
 *
 * @example
 * ```ts ignore
 * import { serverThroughput } from "./server_bench.ts";
 * const r = await serverThroughput("/tmp/models", "default", {
 *   concurrency: 16, healthRequests: 512, singleRequests: 8, generateRequests: 48, tokens: 64,
 * });
 * console.log(r.concurrent.requestsPerSecond / r.single.requestsPerSecond);
 * ```
 */
export async function serverThroughput(
  modelsDir: string,
  modelName: string,
  o: {
    concurrency: number;
    healthRequests: number;
    singleRequests: number;
    generateRequests: number;
    tokens: number;
    /** Where the Transformer decodes (`loadModel`'s `device`; default `auto`). */
    device?: Device;
  },
): Promise<ServerThroughput> {
  const batcher = new GenerationBatcher({ maxBatch: QUEUE_DEFAULTS.maxBatch });
  let adapter = "";
  const { app, close } = createApp({
    modelsDir,
    generate: batcher.generate,
    loadModel: async (dir: string) => {
      const m = await loadModel(dir, { device: o.device });
      adapter = m.adapter;
      return m;
    },
    readMidi,
    writeMidi,
    queue: { timeoutMs: 600_000 },
    log: () => {},
  });
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    app.fetch,
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    const body = (i: number) => JSON.stringify({ model: modelName, tokens: o.tokens, seed: i });
    const gen = (i: number) =>
      new Request(`${base}/api/generate`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: body(i),
      });
    // warm-up: loads the model, compiles the pipelines and sizes the engine for a full batch
    const warm = await Promise.all(Array.from({ length: o.concurrency }, (_, i) => fetch(gen(i))));
    for (const w of warm) {
      await w.arrayBuffer();
      if (!w.ok) throw new Error(`POST /api/generate warm-up: HTTP ${w.status}`);
    }
    const health = await loadTest(() => new Request(`${base}/healthz`), o.concurrency, o.healthRequests);
    const single = await loadTest(gen, 1, o.singleRequests);
    await batcher.idle();
    const before = batcher.stats();
    const concurrent = await loadTest(gen, o.concurrency, o.generateRequests);
    await batcher.idle();
    const after = batcher.stats();
    const steps = after.steps - before.steps;
    return {
      health,
      single,
      concurrent,
      batching: {
        peakRows: after.peakRows,
        meanRows: steps ? (after.rowSteps - before.rowSteps) / steps : 0,
        loops: after.loops - before.loops,
      },
      adapter,
    };
  } finally {
    ac.abort();
    await server.finished;
    close();
  }
}

/**
 * Runs `deno task generate` as a user would (fresh process) and times it from spawn to exit with the MIDI written.
 *
 * @example
 * ```ts ignore
 * import { coldStartGenerate } from "./server_bench.ts";
 * const r = await coldStartGenerate("/work/main", "models/default", 32);
 * ```
 */
export async function coldStartGenerate(
  root: string,
  modelDir: string,
  tokens: number,
): Promise<{ seconds: number; midiBytes: number }> {
  const dir = await Deno.makeTempDir({ prefix: "etude_cold_" });
  const out = `${dir}/cold.mid`;
  try {
    const t0 = performance.now();
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "task",
        "-q",
        "generate",
        "--model",
        modelDir,
        "--tokens",
        String(tokens),
        "--seed",
        "1",
        "--out",
        out,
      ],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const seconds = (performance.now() - t0) / 1000;
    if (!r.success) {
      const err = new TextDecoder().decode(r.stderr).trim().split("\n").pop();
      throw new Error(`deno task generate failed (exit ${r.code}): ${err}`);
    }
    const midiBytes = (await Deno.stat(out)).size;
    return { seconds, midiBytes };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** One device's part of {@link batchingByDevice}. */
export interface DeviceBatching {
  /** The device asked for. */
  device: Device;
  /** Where the model ran (`LoadedModel.adapter`). */
  adapter: string;
  /** Each round's measurement, in run order. */
  rounds: (ServerThroughput & { speedup: number })[];
  /** The median over rounds of 16 clients' throughput ÷ 1 client's (each round's two measured back to back). */
  medianSpeedup: number;
}

/**
 * The server's batching on each device, side by side in one run: `rounds` rounds, each measuring every device in
 * turn (1 client, then `concurrency` clients), so that a noisy stretch of a shared machine falls on both devices and
 * each ratio compares two measurements taken back to back; the median ratio per device.
 *
 * @example
 * ```ts ignore
 * import { batchingByDevice } from "./server_bench.ts";
 * const r = await batchingByDevice("models", "default", ["cpu", "gpu"], { quick: true });
 * for (const d of r) console.log(d.device, d.adapter, d.medianSpeedup.toFixed(2));
 * ```
 */
export async function batchingByDevice(
  modelsDir: string,
  modelName: string,
  devices: readonly Device[],
  o: { quick?: boolean; rounds?: number; tokens?: number; concurrency?: number } = {},
): Promise<DeviceBatching[]> {
  const out: DeviceBatching[] = devices.map((device) => ({
    device,
    adapter: "",
    rounds: [],
    medianSpeedup: NaN,
  }));
  const rounds = o.rounds ?? (o.quick ? 1 : 3);
  for (let k = 0; k < rounds; k++) {
    for (const d of out) {
      const r = await serverThroughput(modelsDir, modelName, {
        concurrency: o.concurrency ?? 16,
        healthRequests: o.quick ? 400 : 1000,
        singleRequests: o.quick ? 8 : 16,
        generateRequests: o.quick ? 64 : 96,
        tokens: o.tokens ?? 64,
        device: d.device,
      });
      d.adapter = r.adapter;
      d.rounds.push({ ...r, speedup: r.concurrent.requestsPerSecond / r.single.requestsPerSecond });
    }
  }
  for (const d of out) d.medianSpeedup = quantile(d.rounds.map((r) => r.speedup), 0.5);
  return out;
}

if (import.meta.main) {
  const { parseArgs } = await import("node:util");
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean" },
      rounds: { type: "string" },
      models: { type: "string", default: "models" },
      model: { type: "string", default: "default" },
      out: { type: "string" },
    },
  });
  const t0 = new Date(), load0 = Deno.loadavg();
  const devices = await batchingByDevice(values.models, values.model, ["cpu", "gpu"], {
    quick: values.quick,
    rounds: values.rounds === undefined ? undefined : Number(values.rounds),
  });
  const f = (x: number) => x.toFixed(x >= 100 ? 0 : x >= 10 ? 1 : 2);
  for (const d of devices) {
    for (const r of d.rounds) {
      const one = `1 client ${f(r.single.requestsPerSecond)} req/s (p50/p99 ${f(r.single.p50Ms)}/${
        f(r.single.p99Ms)
      } ms)`;
      const c = r.concurrent;
      const many = `16 clients ${f(c.requestsPerSecond)} req/s (p50/p99 ${f(c.p50Ms)}/${f(c.p99Ms)} ms, ` +
        `${c.ok}/${c.requests} ok, ${f(r.batching.meanRows)} rows per step, peak ${r.batching.peakRows})`;
      console.log(
        `${d.device} (${d.adapter}): ${one}; ${many}; ratio ${f(r.speedup)}×; /healthz p99 ${
          f(r.health.p99Ms)
        } ms`,
      );
    }
    console.log(`${d.device}: median ratio ${f(d.medianSpeedup)}× over ${d.rounds.length} rounds`);
  }
  if (values.out) {
    const machine = {
      arch: Deno.build.arch,
      cores: navigator.hardwareConcurrency,
      loadBefore: load0,
      loadAfter: Deno.loadavg(),
      deno: Deno.version.deno,
    };
    const report = { date: t0.toISOString(), model: `${values.models}/${values.model}`, machine, devices };
    await Deno.writeTextFile(values.out, JSON.stringify(report, null, 2) + "\n");
  }
}
