import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { loadBlas } from "../../lib/cpu/blas.ts";
import { parseSaveEvery } from "../../lib/train/run.ts";
import { writePrepared } from "./_shards.ts";
import { syntheticPieces } from "./_synthetic.ts";

const TASK = new URL("../../tasks/train.ts", import.meta.url).pathname;

/** The tfjs reference and the CPU backend (lib/cpu through the system BLAS; skipped where none is installed). */
const BACKENDS = [
  { name: "tfjs-wasm", flags: ["--backend", "wasm"], says: "backend: wasm", ignore: false },
  { name: "CPU backend", flags: ["--device", "cpu"], says: "backend: blas", ignore: !loadBlas().blas },
];

async function run(args: string[], env?: Record<string, string>): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TASK, ...args],
    stdout: "piped",
    stderr: "piped",
    env,
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

for (const be of BACKENDS) {
  Deno.test({
    name: `${be.name}: SIGKILL after an epoch, then --resume: the same step losses as an uninterrupted run`,
    ignore: be.ignore,
    fn: () => killAfterEpoch(be.flags, be.says),
  });
}

async function killAfterEpoch(backendFlags: string[], says: string): Promise<void> {
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
      ...["--batch", "2", "--epochs", "3", "--data", `${root}/data`, "--out", out, ...backendFlags],
    ];
    const full = await run(args(`${root}/full`));
    assertEquals(full.code, 0, full.out);
    assert(full.out.includes(says), full.out);
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
      ...backendFlags,
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
}

Deno.test("without a BLAS (ETUDE_BLAS=/nonexistent) --device cpu still trains, on tfjs-wasm, and says why", async () => {
  const root = await Deno.makeTempDir({ prefix: "etude_noblas_" });
  try {
    const V = 24;
    await writePrepared(`${root}/data`, {
      train: syntheticPieces(12, V, 1),
      validation: syntheticPieces(2, V, 2),
      test: syntheticPieces(2, V, 3),
    }, V);
    const tiny = [
      "--preset",
      "v8",
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
    const args = [...tiny, "--data", `${root}/data`, "--out", `${root}/run`, "--batch", "4", "--epochs", "1"];
    const r = await run([...args, "--device", "cpu"], { ETUDE_BLAS: "/nonexistent/libopenblas.so.0" });
    assertEquals(r.code, 0, r.out);
    assert(r.out.includes("backend: wasm"), r.out);
    assert(
      /no BLAS, so training on tfjs-wasm.*\/nonexistent.*apt-get install libopenblas0-pthread/.test(r.out),
      r.out,
    );
    assert(/finished: epoch 1/.test(r.out), r.out);
    const start = JSON.parse((await Deno.readTextFile(`${root}/run/train_log.jsonl`)).split("\n")[0]);
    assertEquals([start.backend, start.backend_details.blas], ["wasm", null]);
    // naming the CPU backend exactly is an error without one, on one line
    const strict = await run([...args, "--out", `${root}/strict`, "--backend", "blas"], {
      ETUDE_BLAS: "/nonexistent",
    });
    assertEquals(strict.code, 2, strict.out);
    assert(/^error: --backend blas: no CBLAS library could be opened/m.test(strict.out), strict.out);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("--save-every takes steps, a duration or both; anything else is one line naming the flag", async () => {
  assertEquals(parseSaveEvery("500"), { steps: 500 });
  assertEquals(parseSaveEvery("10m"), { seconds: 600 });
  assertEquals(parseSaveEvery("90s,250"), { seconds: 90, steps: 250 });
  assertEquals(parseSaveEvery("1h"), { seconds: 3600 });
  assertEquals(parseSaveEvery("0"), {});
  for (const bad of ["0x10", "-5", "1.5", "10 minutes", "", "5m,", "1e3"]) {
    assertThrows(
      () => parseSaveEvery(bad),
      /UsageError: --save-every: expected steps \(500\), a duration/,
      bad,
    );
  }
  const r = await run(["--preset", "v7", "--dry-run", "--save-every", "ten"]);
  assertEquals(r.code, 2, r.out);
  assert(/^error: --save-every: expected/m.test(r.out), r.out);
});

for (const be of BACKENDS) {
  Deno.test({
    name:
      `${be.name}: Ctrl-C (SIGINT) mid-run saves last/ after the step and exits; --resume continues from there`,
    ignore: be.ignore,
    fn: async () => {
      const root = await Deno.makeTempDir({ prefix: "etude_sigint_" });
      try {
        const V = 24;
        await writePrepared(`${root}/data`, {
          train: syntheticPieces(1500, V, 1), // an epoch far longer than the wait: no epoch end yields for us
          validation: syntheticPieces(4, V, 2),
          test: syntheticPieces(2, V, 3),
        }, V);
        const out = `${root}/run`;
        const child = new Deno.Command(Deno.execPath(), {
          args: [
            ...["run", "-A", TASK, "--preset", "v7", "--layers", "1", "--dim", "16", "--heads", "2"],
            ...["--ffn", "32", "--seq-len", "16", "--batch", "2", "--epochs", "200", "--save-every", "0"],
            ...["--data", `${root}/data`, "--out", out, ...be.flags],
          ],
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        // once a few steps are logged, interrupt as a terminal's Ctrl-C does
        const deadline = Date.now() + 60_000;
        let steps = 0;
        while (Date.now() < deadline && steps < 3) {
          try {
            steps = (await Deno.readTextFile(`${out}/train_log.jsonl`)).split("\n")
              .filter((l) => l.includes('"type":"step"')).length;
          } catch { /* not yet */ }
          await new Promise((r) => setTimeout(r, 20));
        }
        child.kill("SIGINT");
        const r = await child.output();
        const text = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
        assertEquals(r.code, 0, text);
        const m = /saved .*last at step (\d+); continue with --resume/.exec(text);
        assert(m, text);
        const st = JSON.parse(await Deno.readTextFile(`${out}/last/config.json`)).etude.state;
        assertEquals(st.step, Number(m[1]));
        // stopped inside the first epoch: the signal was seen between steps, not at an epoch end
        assert(st.step >= 3 && st.epoch === 0 && st.stepInEpoch === st.step, JSON.stringify(st));
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    },
  });
}
