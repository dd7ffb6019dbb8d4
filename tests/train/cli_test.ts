import { assert, assertEquals } from "../_assert.ts";
import { writePrepared } from "./_shards.ts";
import { syntheticPieces } from "./_synthetic.ts";

const TASK = new URL("../../tasks/train.ts", import.meta.url).pathname;

async function run(args: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TASK, ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

Deno.test("deno task train --dry-run prints the v8 architecture, exact parameter count and memory", async () => {
  const r = await run(["--preset", "v8", "--dry-run"]);
  assertEquals(r.code, 0, r.out);
  assert(r.out.includes("parameters: 34,087,424"), r.out);
  assert(/8 × block: RMSNorm → causal MHA \(8 heads × 64/.test(r.out), r.out);
  assert(/training memory ≈ \d+ MiB/.test(r.out), r.out);
});

Deno.test("deno task train on prepared shards: --max-steps saves last/, --resume continues; bad flags are one line", async () => {
  const root = await Deno.makeTempDir({ prefix: "etude_cli_" });
  try {
    const V = 24;
    await writePrepared(`${root}/data`, {
      train: syntheticPieces(24, V, 1),
      validation: syntheticPieces(4, V, 2),
      test: syntheticPieces(2, V, 3),
    }, V);
    const common = ["--data", `${root}/data`, "--out", `${root}/run`, "--backend", "wasm"];
    const tiny = [
      "--preset",
      "v7",
      "--layers",
      "1",
      "--dim",
      "16",
      "--heads",
      "2",
      "--ffn",
      "32",
      "--seq-len",
      "16",
    ];
    const a = await run([...tiny, ...common, "--batch", "4", "--epochs", "2", "--max-steps", "3"]);
    assertEquals(a.code, 0, a.out);
    assert(a.out.includes("backend: wasm"), a.out);
    assert(a.out.includes("continue with --resume"), a.out);
    const b = await run([...common, "--resume"]);
    assertEquals(b.code, 0, b.out);
    assert(/resuming .* at epoch 0, step 3/.test(b.out), b.out);
    assert(/finished: epoch 2/.test(b.out), b.out);
    const cfg = JSON.parse(await Deno.readTextFile(`${root}/run/config.json`));
    // tokenizer.json is the data's, byte for byte
    assertEquals(
      await Deno.readTextFile(`${root}/run/tokenizer.json`),
      await Deno.readTextFile(`${root}/data/tokenizer.json`),
    );
    assertEquals([cfg.vocab_size, cfg.hidden_size, cfg.etude.tokenizer], [V, 16, "remi"]);
    const bad = await run([...tiny, ...common, "--heads", "3"]);
    assertEquals(bad.code, 2);
    assertEquals(bad.out.trim().split("\n").filter((l) => l.startsWith("error:")).length, 1, bad.out);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("SIGKILL after an epoch, then --resume: the same step losses as an uninterrupted run", async () => {
  const root = await Deno.makeTempDir({ prefix: "etude_kill_" });
  try {
    const V = 24;
    await writePrepared(`${root}/data`, {
      train: syntheticPieces(40, V, 1),
      validation: syntheticPieces(4, V, 2),
      test: syntheticPieces(2, V, 3),
    }, V);
    const args = (out: string) => [
      ...["--preset", "v7", "--layers", "1", "--dim", "16", "--heads", "2", "--ffn", "32", "--seq-len", "16"],
      ...["--batch", "2", "--epochs", "3", "--data", `${root}/data`, "--out", out, "--backend", "wasm"],
    ];
    const full = await run(args(`${root}/full`));
    assertEquals(full.code, 0, full.out);
    // the same run, killed with SIGKILL once the first epoch's checkpoint is on disk
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", TASK, ...args(`${root}/cut`)],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      try {
        const st = JSON.parse(await Deno.readTextFile(`${root}/cut/last/config.json`)).etude.state;
        if (st.epoch >= 1) break;
      } catch { /* not yet */ }
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill("SIGKILL");
    await child.status;
    const resumed = await run([
      "--data",
      `${root}/data`,
      "--out",
      `${root}/cut`,
      "--backend",
      "wasm",
      "--resume",
    ]);
    assertEquals(resumed.code, 0, resumed.out);
    assert(/resuming .* at epoch [12], step/.test(resumed.out), resumed.out);
    const losses = async (d: string) =>
      (await Deno.readTextFile(`${d}/train_log.jsonl`)).trim().split("\n").map((l) => JSON.parse(l))
        .filter((r) => r.type === "step").map((r) => [r.step, r.loss]);
    assertEquals(await losses(`${root}/cut`), await losses(`${root}/full`));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
