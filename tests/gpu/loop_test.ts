/**
 * The training loop on `--backend gpu` reads the step losses back only when it logs (every `logEvery` steps): 0
 * readbacks in a step that does not log, and still every step's loss in `train_log.jsonl` exactly once — the same
 * losses as a run that logs every step.
 */
import { assert, assertEquals } from "../_assert.ts";
import { selectBackend } from "../../lib/model/backend.ts";
import { applyOverrides, getPreset } from "../../lib/model/config.ts";
import { trainModel } from "../../lib/train/loop.ts";
import { syntheticPieces } from "../train/_synthetic.ts";

await selectBackend("cpu");
const V = 24;
const data = { train: syntheticPieces(24, V, 1), validation: syntheticPieces(4, V, 2) };
const p = applyOverrides(getPreset("v7"), {
  layers: 2,
  dim: 24,
  heads: 4,
  ffn: 40,
  vocab: V,
  seqLen: 16,
  batch: 2,
  epochs: 2,
  stride: 16,
});

async function stepLosses(dir: string): Promise<[number, number][]> {
  return (await Deno.readTextFile(`${dir}/train_log.jsonl`)).trim().split("\n").map((l) => JSON.parse(l))
    .filter((r) => r.type === "step").map((r) => [r.step, r.loss]);
}

Deno.test("train loop on --backend gpu: 0 readbacks in steps that do not log, every step logged once", async () => {
  const root = await Deno.makeTempDir({ prefix: "etude_gpu_loop_" });
  const quiet = () => {};
  try {
    const N = 4;
    const reads: [number, number][] = [];
    let before = -1;
    const r = await trainModel({
      ...structuredClone(p),
      data,
      out: `${root}/lazy`,
      backend: "gpu",
      log: quiet,
      logEvery: N,
      saveEverySteps: 7,
      onStep: (step, trainer) => {
        const total = trainer.counters!().totalReadbacks;
        if (before >= 0) reads.push([step, total - before]);
        before = total;
      },
    });
    assertEquals(r.stopped, "finished");
    const spe = r.state.stepsPerEpoch;
    assert(spe > 2 * N, `steps per epoch ${spe}`);
    // the loop logs (one readback) when N steps are pending, and before a save (every 7 steps) or a validation
    let pending = 0;
    for (let step = 1; step <= 2 * spe; step++) {
      const inEpoch = (step - 1) % spe + 1;
      pending++;
      const logs = pending === N || (step % 7 === 0 && inEpoch < spe);
      if (logs) pending = 0;
      if (inEpoch === spe) pending = 0;
      // the first step of an epoch also counts the previous epoch's last log and validation
      if (step === 1 || inEpoch === 1) continue;
      const n = reads.find(([s]) => s === step)![1];
      assertEquals(n, logs ? 1 : 0, `readbacks in step ${step}: ${JSON.stringify(reads)}`);
    }
    assertEquals(reads.filter(([, n]) => n === 0).length > reads.length / 2, true);
    const eager = await trainModel({
      ...structuredClone(p),
      data,
      out: `${root}/eager`,
      backend: "gpu",
      log: quiet,
      logEvery: 1,
    });
    const lazy = await stepLosses(`${root}/lazy`);
    assertEquals(lazy.map(([s]) => s), Array.from({ length: 2 * spe }, (_, i) => i + 1));
    assertEquals(lazy, await stepLosses(`${root}/eager`));
    assertEquals(r.losses, eager.losses);
    assertEquals(r.state.valLosses, eager.state.valLosses);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
