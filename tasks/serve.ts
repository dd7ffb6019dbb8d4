/**
 * `deno task serve [--port 8000] [--host 127.0.0.1] [--models models/] [--max-waiting 4] [--timeout 120]`:
 * the web page and HTTP API (Hono on Deno.serve) over lib/infer/generate.ts.
 *
 * @module
 */
import { numberOpt, parseCli, runMain, UsageError } from "../lib/cli/args.ts";
import { createApp } from "../lib/server/app.ts";
import { listModels } from "../lib/server/models.ts";
import { generate, loadModel } from "../lib/infer/generate.ts";
import { readMidi, writeMidi } from "../lib/midi/mod.ts";

const USAGE =
  `usage: deno task serve [--port 8000] [--host 127.0.0.1] [--models models/] [--max-waiting 4] [--timeout 120]`;

if (import.meta.main) {
  await runMain(async () => {
    const { values, positionals } = parseCli(Deno.args, {
      port: { type: "string" },
      host: { type: "string" },
      models: { type: "string" },
      "max-waiting": { type: "string" },
      timeout: { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help) return console.log(USAGE);
    if (positionals.length) {
      throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}; ${USAGE}`);
    }
    const port = numberOpt(values, "port", 8000, 0, 65535, true);
    const host = typeof values.host === "string" ? values.host : "127.0.0.1";
    const modelsDir = typeof values.models === "string" ? values.models : "models";
    const maxWaiting = numberOpt(values, "max-waiting", 4, 0, 1000, true);
    const timeout = numberOpt(values, "timeout", 120, 1, 3600);
    const models = await listModels(modelsDir);
    if (!models.length) {
      console.error(
        `warning: no model directories in ${modelsDir}/ (each needs config.json, model.safetensors, tokenizer.json); ` +
          `train the default model with \`deno task train\` (README, "The default model")`,
      );
    }
    const { handler, close } = createApp({
      modelsDir,
      generate,
      loadModel,
      readMidi,
      writeMidi,
      queue: { maxWaiting, timeoutMs: timeout * 1000 },
    });
    const ac = new AbortController();
    const server = Deno.serve({
      hostname: host,
      port,
      signal: ac.signal,
      onListen: (a) =>
        console.log(
          `etude: serving http://${a.hostname}:${a.port}/ (models: ${
            models.map((m) => m.name).join(", ") || "none"
          })`,
        ),
    }, handler);
    const stop = () => ac.abort();
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
    await server.finished;
    close();
  });
}
