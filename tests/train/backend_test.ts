/**
 * The training loop on the CPU backend (lib/cpu through the system BLAS) against tfjs-wasm, the independent
 * reference: the same initial weights and batches give the same step and validation losses; a run saved by one
 * backend resumes on the other; the backend switch picks what `--device` says.
 */
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { loadBlas } from "../../lib/cpu/blas.ts";
import { selectBackend } from "../../lib/model/backend.ts";
import { readCheckpoint } from "../../lib/model/checkpoint.ts";
import { applyOverrides, getPreset, type Preset } from "../../lib/model/config.ts";
import { chooseTrainBackend } from "../../lib/train/backend.ts";
import { trainModel } from "../../lib/train/loop.ts";
import { syntheticPieces } from "./_synthetic.ts";

await selectBackend("wasm");
const hasBlas = loadBlas().blas !== undefined;
const V = 24;
const data = { train: syntheticPieces(24, V, 1), validation: syntheticPieces(10, V, 2) };
const quiet = () => {};

/** A small Transformer whose 20 steps cross two epoch ends, with micro-batches of 3 rows and clipping that acts. */
function small(): Preset {
  const p = applyOverrides(getPreset("v8"), {
    layers: 2,
    dim: 32,
    heads: 4,
    ffn: 64,
    vocab: V,
    seqLen: 24,
    batch: 8,
    microBatch: 3,
    epochs: 4,
    warmup: 5,
    stride: 24,
  });
  p.train.lr = 3e-3;
  p.train.clip = 0.5;
  return p;
}

async function log(dir: string): Promise<Record<string, number & string>[]> {
  return (await Deno.readTextFile(`${dir}/train_log.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));
}
const steps = async (dir: string) => (await log(dir)).filter((r) => r.type === "step");
const vals = async (dir: string) =>
  (await log(dir)).filter((r) => r.type === "epoch").map((r) => r.val_loss as number);

function assertRel(a: number[], b: number[], tol: number, what: string): void {
  assertEquals(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) {
    const rel = Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-6);
    assert(rel <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]} (relative ${rel.toExponential(2)})`);
  }
}

Deno.test({
  name: "20 steps through the loop on the CPU backend equal tfjs-wasm's from the same init: losses to 1e-3",
  ignore: !hasBlas,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "etude_backends_" });
    try {
      const p = small();
      const run = (backend: string) =>
        trainModel({ ...p, data, out: `${root}/${backend}`, backend, log: quiet, stopAfterSteps: 20 });
      const [w, c] = [await run("wasm"), await run("blas")];
      assertEquals([w.state.step, c.state.step], [20, 20]);
      const [sw, sc] = [await steps(`${root}/wasm`), await steps(`${root}/blas`)];
      assertRel(sc.map((r) => r.loss), sw.map((r) => r.loss), 1e-3, "step loss");
      assertRel(sc.map((r) => r.grad_norm), sw.map((r) => r.grad_norm), 1e-3, "gradient norm");
      assert(sw.filter((r) => r.grad_norm > p.train.clip).length >= 5, "clipping never acted");
      const [vw, vc] = [await vals(`${root}/wasm`), await vals(`${root}/blas`)];
      assert(vw.length >= 2, `${vw.length} validations`);
      assertRel(vc, vw, 1e-3, "validation loss");
      assert(sw[19].loss < sw[0].loss - 0.3, `loss ${sw[0].loss} → ${sw[19].loss}: not learning`);
      // the weights after 20 updates, and the record of which backend ran
      const [a, b] = [await readCheckpoint(`${root}/wasm/last`), await readCheckpoint(`${root}/blas/last`)];
      for (const [k, t] of Object.entries(a.weights)) {
        let err = 0;
        for (let i = 0; i < t.length; i++) err = Math.max(err, Math.abs(t[i] - b.weights[k][i]));
        assert(err < 2e-4, `${k}: max |Δ| ${err}`);
      }
      assertEquals([a.state?.backend, b.state?.backend], ["wasm", "blas"]);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "a run saved on tfjs-wasm resumes on the CPU backend and vice versa (one optimizer-state format)",
  ignore: !hasBlas,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "etude_cross_" });
    try {
      const p = small();
      const go = (out: string, backend: string, o: { resume?: boolean; stopAfterSteps?: number }) =>
        trainModel({ ...p, data, out: `${root}/${out}`, backend, log: quiet, ...o });
      await go("ref", "wasm", { stopAfterSteps: 20 });
      await go("w2c", "wasm", { stopAfterSteps: 7 });
      await go("w2c", "blas", { resume: true, stopAfterSteps: 13 });
      await go("c2w", "blas", { stopAfterSteps: 7 });
      await go("c2w", "wasm", { resume: true, stopAfterSteps: 13 });
      const ref = (await steps(`${root}/ref`)).map((r) => r.loss);
      for (const d of ["w2c", "c2w"]) {
        const got = await steps(`${root}/${d}`);
        assertEquals(got.map((r) => r.step), ref.map((_, i) => i + 1), d);
        assertRel(got.map((r) => r.loss), ref, 1e-3, d);
      }
      const resumed = (await log(`${root}/w2c`)).filter((r) => r.type === "resume");
      assertEquals(resumed.map((r) => [r.step, r.backend]), [[7, "blas"]]);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test("--device / --backend: a real GPU → tfjs-webgpu, else BLAS → the CPU backend, LSTMs on tfjs", async () => {
  const gpu = () => Promise.resolve(true), none = () => Promise.resolve(false);
  const pick = async (
    o: { device?: string; backend?: string; arch?: "transformer" | "lstm"; real?: boolean },
  ) =>
    (await chooseTrainBackend({ ...o, arch: o.arch ?? "transformer", realGpu: o.real ? gpu : none })).backend;
  assertEquals(await pick({ real: true }), "webgpu");
  assertEquals(await pick({ device: "gpu" }), "webgpu");
  assertEquals(await pick({}), hasBlas ? "blas" : "wasm");
  assertEquals(await pick({ device: "cpu", real: true }), hasBlas ? "blas" : "wasm");
  assertEquals(await pick({ device: "cpu", arch: "lstm" }), "wasm");
  assertEquals(await pick({ arch: "lstm" }), "auto"); // tfjs's own choice: webgpu on a real GPU, else wasm
  assertEquals(await pick({ backend: "wasm" }), "wasm");
  assertEquals(await pick({ backend: "auto", device: "cpu" }), hasBlas ? "blas" : "wasm");
  await assertRejects(() => pick({ backend: "wasm", device: "cpu" }), Error, "use one");
  await assertRejects(() => pick({ device: "tpu" }), Error, "--device: expected auto, gpu or cpu");
  await assertRejects(() => pick({ backend: "blas", arch: "lstm" }), Error, "Transformers only");
  if (hasBlas) {
    const c = await chooseTrainBackend({ device: "cpu", threads: 1, arch: "transformer", realGpu: none });
    assertEquals(c.details.threads, 1);
    assert(String(c.details.blas).includes("blas"), String(c.details.blas));
  }
});
