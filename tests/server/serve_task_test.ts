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
      args: ["run", "-A", "--unstable-no-legacy-abort", "tasks/serve.ts", "--port", "0", "--models", models],
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
