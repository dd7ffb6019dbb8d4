import { assert, assertAlmostEquals, assertEquals, assertRejects } from "../_assert.ts";
import { selectBackend } from "../../lib/model/backend.ts";
import { readCheckpoint } from "../../lib/model/checkpoint.ts";
import { applyOverrides, getPreset, type Preset } from "../../lib/model/config.ts";
import { trainModel } from "../../lib/train/loop.ts";
import { syntheticPieces, unigramEntropy } from "./_synthetic.ts";

const backend = await selectBackend("wasm");
const V = 24;
const data = { train: syntheticPieces(48, V, 1), validation: syntheticPieces(10, V, 2) };

function tinyTransformer(epochs: number): Preset {
  const p = applyOverrides(getPreset("v8"), {
    layers: 2,
    dim: 32,
    heads: 4,
    ffn: 64,
    vocab: V,
    seqLen: 24,
    batch: 8,
    epochs,
    warmup: 5,
    stride: 24,
  });
  p.train.lr = 3e-3;
  return p;
}

async function stepLosses(dir: string): Promise<number[]> {
  return (await Deno.readTextFile(`${dir}/train_log.jsonl`)).trim().split("\n").map((l) => JSON.parse(l))
    .filter((r) => r.type === "step").map((r) => r.loss);
}

Deno.test("kill after an epoch (or mid-epoch) and --resume gives the same losses as an uninterrupted run", async () => {
  const root = await Deno.makeTempDir({ prefix: "etude_train_" });
  const quiet = () => {};
  try {
    const p = tinyTransformer(3);
    const full = await trainModel({ ...p, data, out: `${root}/full`, backend, log: quiet });
    assertEquals(full.stopped, "finished");
    // killed after epoch 1 (last checkpoint written at the epoch end), then resumed twice: mid-epoch stop, finish
    const a = await trainModel({ ...p, data, out: `${root}/cut`, backend, log: quiet, stopAfterEpochs: 1 });
    assertEquals([a.stopped, a.state.epoch], ["interrupted", 1]);
    const b = await trainModel({
      ...p,
      data,
      out: `${root}/cut`,
      backend,
      log: quiet,
      resume: true,
      stopAfterSteps: 2,
    });
    assertEquals(b.state.stepInEpoch, 2);
    const c = await trainModel({ ...p, data, out: `${root}/cut`, backend, log: quiet, resume: true });
    assertEquals(c.stopped, "finished");
    const lf = await stepLosses(`${root}/full`), lc = await stepLosses(`${root}/cut`);
    assertEquals(lc.length, lf.length);
    assertEquals(lc, lf);
    assertEquals(c.state.valLosses, full.state.valLosses);
    const bestFull = await readCheckpoint(`${root}/full`), bestCut = await readCheckpoint(`${root}/cut`);
    assertEquals(bestCut.weights, bestFull.weights);
    // the run directory holds the best checkpoint, the log, the loss curve and last/ for --resume (see the README)
    for (
      const f of [
        "model.safetensors",
        "config.json",
        "train_log.jsonl",
        "loss.svg",
        "last/optimizer.safetensors",
      ]
    ) {
      await Deno.stat(`${root}/full/${f}`);
    }
    assert((await Deno.readTextFile(`${root}/full/loss.svg`)).startsWith("<svg"));
    await assertRejects(
      () => trainModel({ ...p, data, out: `${root}/full`, backend, log: quiet }),
      /already exists/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("--resume runs with the caller's micro-batch and workers (a GPU run's batch resumed on wasm)", async () => {
  const root = await Deno.makeTempDir({ prefix: "etude_train_" });
  const quiet = () => {};
  try {
    const p = tinyTransformer(1);
    const full = await trainModel({
      ...p,
      data,
      out: `${root}/full`,
      backend,
      log: quiet,
      stopAfterSteps: 2,
    });
    // written like the GPU run: the whole batch in one pass on one thread
    await trainModel({ ...p, data, out: `${root}/cut`, backend, log: quiet, stopAfterSteps: 1 });
    const said: string[] = [];
    const train = { ...p.train, microBatch: 3, workers: 2 };
    const r = await trainModel({
      ...p,
      train,
      data,
      out: `${root}/cut`,
      backend,
      log: (m) => said.push(m),
      resume: true,
      stopAfterSteps: 1,
    });
    assert(said.some((m) => m.includes("this thread + 1 worker(s)")), said.join("\n"));
    const saved = await readCheckpoint(`${root}/cut/last`);
    assertEquals([saved.state?.train.microBatch, saved.state?.train.workers, saved.state?.step], [3, 2, 2]);
    // the same update up to rounding: micro-batches and workers change how a step runs, not what it computes
    assertAlmostEquals(r.losses[0].loss, full.losses[1].loss, 1e-5);
    const log = (await Deno.readTextFile(`${root}/cut/train_log.jsonl`)).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assertEquals(log.filter((x) => x.type === "resume").map((x) => [x.step, x.train.microBatch]), [[1, 3]]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("tiny Transformer and tiny LSTM drive validation loss clearly below the unigram entropy", async () => {
  const root = await Deno.makeTempDir({ prefix: "etude_train_" });
  try {
    const h = unigramEntropy(data.validation);
    const t = await trainModel({ ...tinyTransformer(6), data, out: `${root}/t`, backend, log: () => {} });
    const lp = applyOverrides(getPreset("v6"), {
      hidden: [32],
      embedDim: 16,
      vocab: V,
      seqLen: 24,
      batch: 8,
      epochs: 8,
    });
    lp.train.lr = 3e-2;
    const l = await trainModel({ ...lp, data, out: `${root}/l`, backend, log: () => {} });
    const bt = t.state.bestValLoss!, bl = l.state.bestValLoss!;
    console.log(
      `unigram entropy ${h.toFixed(3)} nats; best val loss: transformer ${bt.toFixed(3)}, lstm ${
        bl.toFixed(3)
      }` +
        ` (${backend}, ${Math.round(t.tokensPerSecond)} / ${Math.round(l.tokensPerSecond)} tokens/s)`,
    );
    assert(bt < 0.6 * h, `transformer ${bt} vs entropy ${h}`);
    assert(bl < 0.6 * h, `lstm ${bl} vs entropy ${h}`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("early stopping after `patience` epochs without improvement", async () => {
  const root = await Deno.makeTempDir({ prefix: "etude_train_" });
  try {
    const p = tinyTransformer(20);
    p.train.lr = 0; // nothing improves after the first epoch
    p.train.warmup = 0;
    p.train.patience = 2;
    const r = await trainModel({ ...p, data, out: root, backend, log: () => {} });
    assertEquals([r.stopped, r.state.epoch, r.state.bestEpoch], ["early-stop", 3, 1]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a step budget (--steps) anneals over its steps and ends inside the epoch with a validation and a checkpoint", async () => {
  const root = await Deno.makeTempDir({ prefix: "etude_train_" });
  try {
    const p = tinyTransformer(5);
    p.train.steps = 4; // an epoch of this data is 6 steps
    p.train.warmup = 1;
    const r = await trainModel({ ...p, data, out: root, backend, log: () => {} });
    assertEquals([r.stopped, r.state.step, r.state.finished], ["finished", 4, true]);
    assertEquals(r.state.valLosses.length, 1);
    const recs = (await Deno.readTextFile(`${root}/train_log.jsonl`)).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    const lrs = recs.filter((x) => x.type === "step").map((x) => x.lr);
    assertEquals(lrs.length, 4);
    // warmup 1 step, then a cosine over the 3 left that reaches minLrFrac·lr only at the budget's end
    assert(lrs[1] > lrs[2] && lrs[2] > lrs[3] && lrs[3] > p.train.lr * p.train.minLrFrac, `lrs ${lrs}`);
    assertEquals(recs.filter((x) => x.type === "epoch").length, 1);
    assertEquals((await readCheckpoint(root)).state?.step, 4);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("--resume with a new --steps budget continues the cosine over it and ends at the new total", async () => {
  const root = await Deno.makeTempDir({ prefix: "etude_train_" });
  try {
    const p = tinyTransformer(5);
    p.train.steps = 8;
    p.train.warmup = 1;
    const a = await trainModel({ ...p, data, out: root, backend, log: () => {}, stopAfterSteps: 3 });
    assertEquals([a.stopped, a.state.step], ["interrupted", 3]);
    const q = structuredClone(p);
    q.train.steps = 4;
    const said: string[] = [];
    const b = await trainModel({ ...q, data, out: root, backend, log: (m) => said.push(m), resume: true });
    assertEquals([b.stopped, b.state.step, b.state.train.steps], ["finished", 4, 4]);
    assert(said.some((m) => m.includes("step budget 8 → 4 from step 3")), said.join("\n"));
    q.train.steps = 2;
    await assertRejects(
      () => trainModel({ ...q, data, out: `${root}`, backend, log: () => {}, resume: true }),
      Error,
      "--steps: 2 is not past the run's step 4",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
