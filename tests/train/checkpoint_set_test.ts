/**
 * A checkpoint is written as one set: every state a kill can leave is recovered to the previous set or the new one,
 * never a mix; `readResumable` refuses parts that disagree, naming the file; mid-epoch saves and the log.
 */
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import {
  readCheckpoint,
  readResumable,
  recoverCheckpoint,
  saveCheckpoint,
  type TrainState,
} from "../../lib/model/checkpoint.ts";
import { applyOverrides, getPreset, tensorShapes } from "../../lib/model/config.ts";
import { selectBackend } from "../../lib/model/backend.ts";
import { encodeSafetensors } from "../../lib/util/safetensors.ts";
import { trainModel } from "../../lib/train/loop.ts";
import { syntheticPieces } from "./_synthetic.ts";

const p = applyOverrides(getPreset("v8"), { layers: 1, dim: 8, heads: 2, ffn: 16, vocab: 8, seqLen: 8 });
const shapes = tensorShapes(p.model);
const TOK = '{"kind":"remi","config":{},"vocab":["PAD_None","BOS_None","EOS_None","MASK_None"]}\n';

function filled(x: number): Record<string, Float32Array> {
  return Object.fromEntries(
    Object.entries(shapes).map(([k, s]) => [k, new Float32Array(s.reduce((a, b) => a * b, 1)).fill(x)]),
  );
}

function state(step: number): TrainState {
  return {
    epoch: 0,
    step,
    stepInEpoch: step,
    stepsPerEpoch: 100,
    bestValLoss: null,
    bestEpoch: -1,
    epochsWithoutImprovement: 0,
    valLosses: [],
    train: p.train,
    finished: false,
  };
}

/** The set a save at `step` writes: weights, moments and step all `step`. */
function save(dir: string, step: number, opt: Partial<{ step: number }> = {}) {
  return saveCheckpoint(dir, {
    config: p.model,
    weights: filled(step),
    tokenizerJson: TOK,
    state: state(step),
    optimizer: { m: filled(step), v: filled(step), step: opt.step ?? step },
  });
}

async function stepOf(dir: string): Promise<number> {
  const ck = await readResumable(dir);
  assertEquals(ck.weights[Object.keys(shapes)[0]][0], ck.state.step, "weights and state from one save");
  assertEquals(ck.optimizer.m[Object.keys(shapes)[0]][0], ck.state.step, "moments from the same save");
  return ck.state.step;
}

function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

Deno.test("every moment a kill can cut a save recovers to the old set or the new one", async () => {
  const root = await Deno.makeTempDir({ prefix: "etude_set_" });
  try {
    const last = `${root}/run/last`;
    await save(last, 1);
    assertEquals(names(`${root}/run`), ["last"]);
    assertEquals(names(last), [
      "config.json",
      "model.safetensors",
      "optimizer.safetensors",
      "tokenizer.json",
    ]);
    // a complete new set, as the save builds it beside last/
    await save(`${root}/new`, 2);

    // 1. killed while writing the new set: last/ is the old one, the partial set goes
    await Deno.mkdir(`${root}/run/.last.tmp-0000000a`);
    await Deno.writeTextFile(`${root}/run/.last.tmp-0000000a/model.safetensors`, "cut");
    assertEquals(await recoverCheckpoint(last), "cleaned");
    assertEquals([await stepOf(last), names(`${root}/run`)], [1, ["last"]]);

    // 2. killed between the renames: the old set parked, the new one complete beside it → the new one goes in
    await Deno.rename(last, `${root}/run/.last.old-0000000b`);
    await Deno.rename(`${root}/new`, `${root}/run/.last.tmp-0000000b`);
    await assertRejects(() => readCheckpoint(last), /cannot read/);
    assertEquals(await recoverCheckpoint(last), "finished");
    assertEquals([await stepOf(last), names(`${root}/run`)], [2, ["last"]]);

    // 3. killed before the parked set was removed
    await save(`${root}/run/.last.old-0000000c`, 1);
    assertEquals(await recoverCheckpoint(last), "cleaned");
    assertEquals([await stepOf(last), names(`${root}/run`)], [2, ["last"]]);

    // 4. a real save over it, then a save into a run directory (with its log): staged inside, moved in
    await save(last, 3);
    assertEquals([await stepOf(last), names(`${root}/run`)], [3, ["last"]]);
    await Deno.writeTextFile(`${root}/run/train_log.jsonl`, "{}\n");
    await save(`${root}/run`, 4);
    assertEquals(await stepOf(`${root}/run`), 4);
    assertEquals(names(`${root}/run`), [
      "config.json",
      "last",
      "model.safetensors",
      "optimizer.safetensors",
      "tokenizer.json",
      "train_log.jsonl",
    ]);

    // 5. killed while moving a complete staged set in (model moved, config not yet): the mix is refused by name,
    // and recovery finishes the move
    await save(`${root}/new5`, 5);
    const stage = `${root}/run/.checkpoint.tmp-0000000d`;
    await Deno.rename(`${root}/new5`, stage);
    await Deno.writeTextFile(
      `${stage}/.complete`,
      JSON.stringify(["model.safetensors", "optimizer.safetensors", "tokenizer.json", "config.json"]),
    );
    await Deno.rename(`${stage}/model.safetensors`, `${root}/run/model.safetensors`);
    await assertRejects(
      () => readCheckpoint(`${root}/run`),
      /run\/model\.safetensors: written by save [0-9a-f]{16}, but config\.json by save [0-9a-f]{16}/,
    );
    assertEquals(await recoverCheckpoint(`${root}/run`), "finished");
    assertEquals(await stepOf(`${root}/run`), 5);

    // 6. killed while staging (no .complete): the staged files go, the set in place stays
    await save(`${root}/new6`, 6);
    await Deno.rename(`${root}/new6`, `${root}/run/.checkpoint.tmp-0000000e`);
    assertEquals(await recoverCheckpoint(`${root}/run`), "cleaned");
    assertEquals(await stepOf(`${root}/run`), 5);
    assert(!names(`${root}/run`).some((n) => n.startsWith(".")), names(`${root}/run`).join(" "));
    // equal saves write equal bytes (the save tag is a hash of the weights and the state)
    await save(`${root}/again`, 5);
    for (const f of ["config.json", "model.safetensors", "optimizer.safetensors"]) {
      assertEquals(await Deno.readFile(`${root}/again/${f}`), await Deno.readFile(`${root}/run/${f}`), f);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("readResumable refuses parts that disagree with one line naming the file", async () => {
  const root = await Deno.makeTempDir({ prefix: "etude_set_" });
  try {
    const one = async (dir: string, re: RegExp) => {
      await assertRejects(() => readResumable(dir, { tokenizerSha256: undefined }), (e: Error) => {
        assert(re.test(e.message), e.message);
        assert(!e.message.includes("\n"), e.message);
        return true;
      });
    };
    await save(`${root}/a`, 3, { step: 2 });
    await one(
      `${root}/a`,
      /a\/optimizer\.safetensors: step 2 disagrees with config\.json etude\.state\.step 3$/,
    );

    await save(`${root}/b`, 3);
    const cfg = JSON.parse(await Deno.readTextFile(`${root}/b/config.json`));
    cfg.etude.state.stepInEpoch = 1;
    await Deno.writeTextFile(`${root}/b/config.json`, JSON.stringify(cfg));
    await one(
      `${root}/b`,
      /b\/config\.json: etude\.state\.step 3 disagrees with epoch 0 × stepsPerEpoch 100/,
    );

    await save(`${root}/c`, 3);
    const [name, shape] = Object.entries(shapes)[0];
    const opt = Object.fromEntries(
      Object.entries(shapes).flatMap(([k, s]) =>
        ["m", "v"].map((x) => {
          const sh = k === name && x === "v" ? [s.reduce((a, b) => a * b, 1)] : s;
          return [`${x}.${k}`, {
            dtype: "F32" as const,
            shape: sh,
            data: new Float32Array(sh.reduce((a, b) => a * b, 1)),
          }];
        })
      ),
    );
    await Deno.writeFile(`${root}/c/optimizer.safetensors`, encodeSafetensors(opt, { step: "3" }));
    await one(
      `${root}/c`,
      new RegExp(
        `c/optimizer\\.safetensors: tensor v\\.${name.replace(/\./g, "\\.")} has shape \\[\\d+\\], ` +
          `model\\.safetensors ${name.replace(/\./g, "\\.")} has \\[${shape}\\]`,
      ),
    );
    delete opt[`v.${name}`];
    await Deno.writeFile(`${root}/c/optimizer.safetensors`, encodeSafetensors(opt, { step: "3" }));
    await one(`${root}/c`, /c\/optimizer\.safetensors: missing tensor v\./);

    await save(`${root}/d`, 3);
    await save(`${root}/e`, 4);
    await Deno.copyFile(`${root}/e/optimizer.safetensors`, `${root}/d/optimizer.safetensors`);
    await one(`${root}/d`, /d\/optimizer\.safetensors: step 4 disagrees/);
    await Deno.remove(`${root}/d/optimizer.safetensors`);
    await one(`${root}/d`, /d\/optimizer\.safetensors: missing \(cannot resume exactly\)/);

    await save(`${root}/f`, 3);
    await assertRejects(
      () =>
        readResumable(`${root}/f`, { tokenizerSha256: "0".repeat(64), tokenizerFrom: "data/x/meta.json" }),
      /f\/tokenizer\.json: sha256 [0-9a-f]{12}… differs from the data's tokenizer \(data\/x\/meta\.json sha256 000000000000…\)/,
    );
    assertEquals((await readResumable(`${root}/f`)).state.step, 3);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("--save-every inside epochs; a resume on a differing tokenizer is refused; no validation keeps each epoch", async () => {
  const backend = await selectBackend("wasm");
  const root = await Deno.makeTempDir({ prefix: "etude_set_" });
  const V = 24;
  const data = { train: syntheticPieces(16, V, 1), validation: syntheticPieces(4, V, 2), tokenizerJson: TOK };
  const tiny = applyOverrides(getPreset("v8"), {
    layers: 1,
    dim: 16,
    heads: 2,
    ffn: 32,
    vocab: V,
    seqLen: 16,
    batch: 4,
    epochs: 2,
  });
  const quiet = () => {};
  try {
    const r = await trainModel({ ...tiny, data, out: `${root}/a`, backend, log: quiet, saveEverySteps: 2 });
    const spe = r.state.stepsPerEpoch;
    const log = (await Deno.readTextFile(`${root}/a/train_log.jsonl`)).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    const saves = log.filter((x) => x.type === "save").map((x) => x.step);
    // every 2 steps inside an epoch, and at each epoch end (the end's own step is not saved twice)
    const want: number[] = [];
    for (let s = 1; s <= 2 * spe; s++) if (s % spe === 0 || (s % 2 === 0)) want.push(s);
    assertEquals(saves, want);

    // a resume whose data has another tokenizer
    await trainModel({ ...tiny, data, out: `${root}/b`, backend, log: quiet, stopAfterSteps: 1 });
    await assertRejects(
      () =>
        trainModel({
          ...tiny,
          data: { ...data, tokenizerJson: TOK.replace("MASK", "MASQ") },
          out: `${root}/b`,
          backend,
          log: quiet,
          resume: true,
        }),
      /b\/last\/tokenizer\.json: sha256 [0-9a-f]{12}… differs from the data's tokenizer/,
    );

    // no validation pieces: each epoch's model is the best checkpoint, nothing stops early
    const nv = await trainModel({
      ...tiny,
      data: { ...data, validation: [] },
      out: `${root}/c`,
      backend,
      log: quiet,
    });
    assertEquals([nv.stopped, nv.state.bestEpoch, nv.state.bestValLoss], ["finished", 2, null]);
    assertEquals(
      (await readCheckpoint(`${root}/c`)).weights,
      (await readCheckpoint(`${root}/c/last`)).weights,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
