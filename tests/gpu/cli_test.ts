/**
 * `deno task train --backend gpu` end to end: an uninterrupted run against one stopped by `--max-steps`, killed
 * (SIGKILL) after a save, and resumed with `--resume` each time — the same loss at every step, the same weights and
 * the same optimizer state, byte for byte; the first steps' losses equal the tfjs backend's (same init, batches),
 * and a tfjs run resumed with `--backend gpu` ends where the GPU run does.
 */
import { assert, assertEquals } from "../_assert.ts";
import { readCheckpoint } from "../../lib/model/checkpoint.ts";
import { writePrepared } from "../train/_shards.ts";
import { syntheticPieces } from "../train/_synthetic.ts";

const TASK = new URL("../../tasks/train.ts", import.meta.url).pathname;

async function train(args: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(Deno.execPath(), { args: ["run", "-A", TASK, ...args] }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

async function steps(dir: string): Promise<[number, number][]> {
  return (await Deno.readTextFile(`${dir}/train_log.jsonl`)).trim().split("\n").map((l) => JSON.parse(l))
    .filter((r) => r.type === "step").map((r) => [r.step, r.loss]);
}

Deno.test("train --backend gpu: stopped, killed and resumed runs end where the uninterrupted one does", async () => {
  const root = await Deno.makeTempDir({ prefix: "etude_gpu_train_" });
  try {
    const V = 24;
    await writePrepared(`${root}/data`, {
      train: syntheticPieces(24, V, 1),
      validation: syntheticPieces(4, V, 2),
      test: syntheticPieces(2, V, 3),
    }, V);
    const model = [
      "--preset",
      "v7",
      "--layers",
      "2",
      "--dim",
      "24",
      "--heads",
      "4",
      "--ffn",
      "40",
      "--seq-len",
      "16",
    ];
    const fresh = (out: string, backend = "gpu") => [
      ...model,
      ...["--batch", "2", "--epochs", "2", "--data", `${root}/data`, "--out", out, "--backend", backend],
    ];
    const full = await train(fresh(`${root}/full`));
    assertEquals(full.code, 0, full.out);
    assert(/backend: gpu \(etude's WGSL kernels on /.test(full.out), full.out);

    // stopped after 3 steps, resumed for 4 more, then killed once a save after that lands, then resumed to the end
    const cut = `${root}/cut`;
    let r = await train([...fresh(cut), "--max-steps", "3"]);
    assertEquals(r.code, 0, r.out);
    const resume = ["--data", `${root}/data`, "--out", cut, "--backend", "gpu", "--resume"];
    r = await train([...resume, "--max-steps", "4"]);
    assertEquals(r.code, 0, r.out);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", TASK, ...resume, "--save-every", "1"],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const log = `${cut}/train_log.jsonl`;
    for (let i = 0; i < 2000; i++) {
      const text = await Deno.readTextFile(log);
      if ((text.match(/"type":"save"/g) ?? []).length >= 3) break;
      await new Promise((res) => setTimeout(res, 5));
    }
    try {
      child.kill("SIGKILL");
    } catch { /* it finished first */ }
    const killed = await child.status;
    const at = (await readCheckpoint(`${cut}/last`)).state!;
    console.log(
      `  killed: ${killed.signal ?? "finished first"}, at step ${at.step} (finished: ${at.finished})`,
    );
    r = await train(resume);
    assertEquals(r.code, 0, r.out);

    assertEquals(await steps(cut), await steps(`${root}/full`));
    for (const d of ["", "/last"]) {
      const [a, b] = [await readCheckpoint(`${root}/full${d}`), await readCheckpoint(`${cut}${d}`)];
      assertEquals(b.weights, a.weights);
      assertEquals(b.state?.valLosses, a.state?.valLosses);
    }
    assertEquals(
      await Deno.readFile(`${cut}/last/optimizer.safetensors`),
      await Deno.readFile(`${root}/full/last/optimizer.safetensors`),
    );

    // the same run on tfjs (wasm): the same losses to 1e-3 over its first steps
    const tf = await train([...fresh(`${root}/tfjs`, "wasm"), "--max-steps", "5"]);
    assertEquals(tf.code, 0, tf.out);
    const [a, b] = [await steps(`${root}/full`), await steps(`${root}/tfjs`)];
    for (const [i, [s, loss]] of b.entries()) {
      assertEquals(a[i][0], s);
      assert(Math.abs(a[i][1] - loss) <= 1e-3 * loss, `step ${s}: gpu ${a[i][1]} vs tfjs ${loss}`);
    }
    // and the tfjs run resumed on the GPU ends where the GPU run does (same checkpoint format and AdamW state)
    const rest = await train([
      "--data",
      `${root}/data`,
      "--out",
      `${root}/tfjs`,
      "--backend",
      "gpu",
      "--resume",
    ]);
    assertEquals(rest.code, 0, rest.out);
    const c = await steps(`${root}/tfjs`);
    assertEquals(c.map(([s]) => s), a.map(([s]) => s));
    for (const [i, [s, loss]] of c.entries()) {
      assert(Math.abs(a[i][1] - loss) <= 1e-3 * loss, `step ${s}: gpu ${a[i][1]} vs tfjs, then gpu ${loss}`);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
