/**
 * `deno task serve` as a user runs it: a subprocess on an ephemeral port, with the real engine wiring and a tiny
 * model; the page, the models list, a generation, then a clean stop on SIGTERM.
 */
import { assert, assertEquals } from "../_assert.ts";
import { readMidi } from "../../lib/midi/mod.ts";
import { tinyModelsDir } from "./_tiny_model.ts";

Deno.test({
  name: "deno task serve: listens, serves the page and a generation, stops cleanly on SIGTERM",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const models = await tinyModelsDir();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--unstable-no-legacy-abort",
        "tasks/serve.ts",
        "--port",
        "0",
        "--models",
        models,
        "--max-batch",
        "4",
        "--max-waiting",
        "8",
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!out.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
    }
    const m = out.match(/^etude: serving (http:\/\/127\.0\.0\.1:\d+\/) \(models: default\)/);
    assert(m, out);
    const base = m[1];
    try {
      assert((await (await fetch(base)).text()).includes('<canvas id="roll"'));
      assertEquals((await (await fetch(`${base}api/models`)).json()).default, "default");
      const res = await fetch(`${base}api/generate`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ tokens: 64, seed: 1 }),
      });
      assertEquals(res.status, 200);
      assertEquals(res.headers.get("content-type"), "audio/midi");
      readMidi(new Uint8Array(await res.arrayBuffer()));
      // Issue 11, F6, against the real process: a 32 KB header is a 431 JSON (not a reset), HEAD starts no job.
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(base).port) });
      await conn.write(
        new TextEncoder().encode(
          `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(32_000)}\r\nConnection: close\r\n\r\n`,
        ),
      );
      const raw = await new Response(conn.readable).text();
      assert(raw.startsWith("HTTP/1.1 431"), raw.slice(0, 80));
      assert(raw.endsWith('{"error":"request headers over 16384 bytes","limit":16384}'), raw.slice(-100));
      const head = await fetch(`${base}api/generate/stream?tokens=64`, { method: "HEAD" });
      assertEquals([head.status, head.headers.get("allow")], [405, "GET, POST"]);
      const { queue } = await (await fetch(`${base}healthz`)).json();
      assertEquals(queue.completed, 1, "only the one generation ran");
      assertEquals([queue.maxBatch, queue.maxWaiting], [4, 8], "--max-batch and --max-waiting");
    } finally {
      child.kill("SIGTERM");
      const status = await child.status;
      await reader.cancel();
      const err = await new Response(child.stderr).text();
      assertEquals(status.code, 0, err);
      assertEquals(err, "");
    }
  },
});

Deno.test("deno task serve: a bad number (hex, negative, empty) exits 2 with one line naming the option and range", async () => {
  for (
    const [args, want] of [
      [
        ["--port", "0x1f90"],
        'error: --port: expected an integer in [0, 65535], got "0x1f90" (decimal digits only, e.g. 8080)',
      ],
      [["--port", "-1"], 'error: --port: expected an integer in [0, 65535], got "-1"'],
      [["--timeout", "Infinity"], 'error: --timeout: expected a number in [1, 3600], got "Infinity"'],
      [["--max-waiting", ""], 'error: --max-waiting: expected an integer in [0, 10000], got ""'],
      [["--max-batch", "0"], 'error: --max-batch: expected an integer in [1, 256], got "0"'],
    ] as [string[], string][]
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "tasks/serve.ts", ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(out.code, 2, args.join(" "));
    assertEquals(new TextDecoder().decode(out.stderr), `${want}\n`);
  }
});
