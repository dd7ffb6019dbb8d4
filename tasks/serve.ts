/**
 * `deno task serve [--port 8000] [--host 127.0.0.1] [--models models/] [--max-waiting 4] [--timeout 120]`:
 * the web page and HTTP API (Hono on Deno.serve) over lib/infer/generate.ts.
 *
 * @module
 */
import { numberOpt, parseCli, runMain, UsageError } from "../lib/cli/args.ts";
import { serveEtude } from "../lib/server/serve.ts";

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
    await serveEtude({
      port: numberOpt(values, "port", 8000, 0, 65535, true),
      host: typeof values.host === "string" ? values.host : "127.0.0.1",
      modelsDir: typeof values.models === "string" ? values.models : "models",
      maxWaiting: numberOpt(values, "max-waiting", 4, 0, 1000, true),
      timeoutSeconds: numberOpt(values, "timeout", 120, 1, 3600),
    });
  });
}
