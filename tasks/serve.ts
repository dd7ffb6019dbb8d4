/**
 * `deno task serve [--port 8000] [--host 127.0.0.1] [--models models/] [--max-batch 16] [--max-waiting 64]
 * [--timeout 120]`: the web page and HTTP API (Hono on Deno.serve) over lib/infer/generate.ts, concurrent requests
 * generated together as the rows of one batch (lib/infer/batch.ts).
 *
 * @module
 */
import { numberOpt, parseCli, runMain, UsageError } from "../lib/cli/args.ts";
import { serveEtude } from "../lib/server/serve.ts";
import { QUEUE_DEFAULTS } from "../lib/server/queue.ts";

const USAGE =
  `usage: deno task serve [--port 8000] [--host 127.0.0.1] [--models models/] [--max-batch ${QUEUE_DEFAULTS.maxBatch}] ` +
  `[--max-waiting ${QUEUE_DEFAULTS.maxWaiting}] [--timeout ${QUEUE_DEFAULTS.timeoutMs / 1000}]
  --max-batch N     requests generated at once, as one batch (1…256)
  --max-waiting N   requests waiting for a place in the batch before a 503 (0…10000)
  --timeout S       seconds a request may wait and run (1…3600)
  --device D        auto | gpu | cpu (auto: a real GPU → the engine; else a BLAS → the CPU backend, batched
                    as well; else the engine on the software adapter)
  --threads N       CPU device: BLAS threads`;

function deviceOpt(v: unknown): "auto" | "gpu" | "cpu" {
  if (v === undefined) return "auto";
  if (v === "auto" || v === "gpu" || v === "cpu") return v;
  throw new UsageError(`--device: expected auto, gpu or cpu, got ${JSON.stringify(v)}; ${USAGE}`);
}

if (import.meta.main) {
  await runMain(async () => {
    const { values, positionals } = parseCli(Deno.args, {
      port: { type: "string" },
      host: { type: "string" },
      models: { type: "string" },
      "max-batch": { type: "string" },
      "max-waiting": { type: "string" },
      timeout: { type: "string" },
      device: { type: "string" },
      threads: { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help) return console.log(USAGE);
    if (positionals.length) {
      throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}; ${USAGE}`);
    }
    await serveEtude({
      port: numberOpt(values, "port", 8000, 0, 65535, true),
      host: typeof values.host === "string" ? values.host : "127.0.0.1",
      modelsDir: typeof values.models === "string" ? values.models : "models",
      maxBatch: numberOpt(values, "max-batch", QUEUE_DEFAULTS.maxBatch, 1, 256, true),
      maxWaiting: numberOpt(values, "max-waiting", QUEUE_DEFAULTS.maxWaiting, 0, 10_000, true),
      timeoutSeconds: numberOpt(values, "timeout", QUEUE_DEFAULTS.timeoutMs / 1000, 1, 3600),
      device: deviceOpt(values.device),
      threads: values.threads === undefined ? undefined : numberOpt(values, "threads", 1, 1, 1024, true),
    });
  });
}
