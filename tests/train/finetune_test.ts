/**
 * The fine-tune recipe on the real default model: `tokenize --tokenizer-from models/maestro-2m` on three MIDI files, then
 * `train --init-from models/maestro-2m` for a few steps; the files' NLL under the model drops and every copy of the
 * tokenizer stays byte-identical to the model's.
 */
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { join } from "node:path";
import { prepareDataset } from "../../lib/data/dataset.ts";
import { openShards } from "../../lib/data/shards.ts";
import { modelNll } from "../../lib/eval/nll.ts";
import { selectBackend } from "../../lib/model/backend.ts";
import { forwardLogits, TfModel } from "../../lib/model/model.ts";
import { runTraining } from "../../lib/train/run.ts";
import { UsageError } from "../../lib/util/errors.ts";
import { sha256Hex } from "../../lib/util/hash.ts";
import { CORPUS, walkFiles } from "../_corpus.ts";
import { writePrepared } from "./_shards.ts";
import { syntheticPieces } from "./_synthetic.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const DEFAULT = join(ROOT, "models/maestro-2m");

/** Three real piano pieces (short ones of piano-midi.de) when the shared corpus is here, else the test fixtures. */
function threeFiles(): string[] {
  if (CORPUS) {
    const pieces = walkFiles(join(CORPUS, "piano-midi-de"))
      .filter((f) => /\.mid$/i.test(f))
      .map((f) => ({ f, size: Deno.statSync(f).size }))
      .filter((x) => x.size > 3000)
      .sort((a, b) => a.size - b.size || (a.f < b.f ? -1 : 1));
    if (pieces.length >= 3) return pieces.slice(0, 3).map((x) => x.f);
  }
  const fx = join(ROOT, "tests/testdata/midi");
  return ["note-seq-melody.mid", "jazz-soft-test-c-major-scale.mid", "nfroidure-MIDIOkFormat1.mid"]
    .map((f) => join(fx, f));
}

async function nllPerToken(dir: string, pieces: ArrayLike<number>[]): Promise<number> {
  const { model } = await TfModel.load(dir);
  try {
    const t = await modelNll((ids) => forwardLogits(model, ids), pieces, {
      vocab: model.config.vocabSize,
      context: model.config.seqLen,
      overlap: 32,
    });
    return t.nll / t.tokens;
  } finally {
    model.dispose();
  }
}

Deno.test("fine-tune the default model on 3 MIDI files: their NLL drops, the tokenizer stays byte-identical", async () => {
  await selectBackend("wasm");
  const root = await Deno.makeTempDir({ prefix: "etude_finetune_" });
  try {
    await Deno.mkdir(`${root}/my-midi`);
    for (const f of threeFiles()) await Deno.copyFile(f, `${root}/my-midi/${f.split("/").pop()}`);
    const modelTok = await Deno.readFile(`${DEFAULT}/tokenizer.json`);
    const { dir, meta } = await prepareDataset({
      dataset: `${root}/my-midi`,
      tokenizerFrom: DEFAULT,
      out: `${root}/prepared`,
      shifts: 0,
      fractions: [1, 0, 0], // all three are fine-tuned on (no validation: each epoch is kept)
      workers: 0,
    });
    assertEquals(dir, `${root}/prepared/my-midi-from-maestro-2m`);
    assertEquals(await Deno.readFile(`${dir}/tokenizer.json`), modelTok);
    assertEquals(meta.tokenizer.sha256, await sha256Hex(modelTok));
    assertEquals(meta.tokenizer.from, `${DEFAULT}/tokenizer.json`);
    assertEquals(meta.tokenizer.bpe, undefined); // no BPE learned
    assertEquals(meta.splits.train.sources, 3);
    const pieces = (await openShards(dir)).splits.train;

    const before = await nllPerToken(DEFAULT, pieces);
    const said: string[] = [];
    const r = await runTraining({
      initFrom: DEFAULT,
      data: dir,
      out: `${root}/run`,
      backend: "wasm",
      overrides: { batch: 4, workers: 1, epochs: 2 },
      print: (l) => said.push(l),
      log: (l) => said.push(l),
    });
    assert(r && r.stopped === "finished", said.join("\n"));
    assert(
      said.some((l) => /^init from: .*models\/maestro-2m \(step 1370\): fresh optimizer/.test(l)),
      said.join("\n"),
    );
    assert(said.some((l) => /^expected duration ≈ .*: \d+ steps × [\d.]+ s\/step/.test(l)), said.join("\n"));
    assert(r.expectedSeconds! > 0);
    // a fresh schedule: step 1 runs at the warm-up's first rate, not at the end of the default model's cosine
    const log = (await Deno.readTextFile(`${root}/run/train_log.jsonl`)).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    const start = log.find((x) => x.type === "start");
    assertEquals(start.init_from, { dir: DEFAULT, step: 1370 });
    assertEquals(log.filter((x) => x.type === "step")[0].step, 1);
    const after = await nllPerToken(`${root}/run`, pieces);
    console.log(
      `NLL on the 3 files: ${before.toFixed(4)} → ${after.toFixed(4)} nats/token after ${r.state.step} steps`,
    );
    assert(after < before, `NLL ${before} → ${after}`);
    for (const d of [`${root}/run`, `${root}/run/last`, DEFAULT]) {
      assertEquals(await Deno.readFile(`${d}/tokenizer.json`), modelTok, d);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("--init-from refuses data in another tokenizer, and architecture flags, with one line", async () => {
  const root = await Deno.makeTempDir({ prefix: "etude_finetune_" });
  try {
    await writePrepared(`${root}/data`, {
      train: syntheticPieces(4, 24, 1),
      validation: syntheticPieces(2, 24, 2),
      test: syntheticPieces(2, 24, 3),
    }, 24);
    const o = { initFrom: DEFAULT, data: `${root}/data`, out: `${root}/run`, print: () => {}, log: () => {} };
    await assertRejects(() => runTraining(o), UsageError);
    await assertRejects(
      () => runTraining(o),
      (err: Error) =>
        /^--init-from .*models\/maestro-2m: its tokenizer\.json \(sha256 [0-9a-f]{12}…\) differs from .*meta\.json's/
          .test(err.message) && !err.message.includes("\n") && err.message.includes("--tokenizer-from"),
    );
    await assertRejects(
      () => runTraining({ ...o, overrides: { layers: 2 } }),
      /--layers: the architecture comes from --init-from/,
    );
    await assertRejects(() => runTraining({ ...o, resume: true }), /use one of them/);
    await assertRejects(
      () => prepareDataset({ dataset: `${root}/data`, tokenizerFrom: DEFAULT, vocab: 512, out: `${root}/p` }),
      /--vocab: the vocabulary comes from/,
    );
    assert(!(await Deno.stat(`${root}/run`).catch(() => null)), "nothing written");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
