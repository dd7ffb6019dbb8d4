import { assert, assertEquals } from "../_assert.ts";
import { TfModel } from "../../lib/model/model.ts";
import { selectBackend } from "../../lib/model/backend.ts";
import type { LstmConfig } from "../../lib/model/config.ts";
import { generate } from "../../lib/infer/generate.ts";
import { loadModel } from "../../lib/infer/load.ts";
import { grammarErrors } from "../../lib/infer/grammar.ts";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";

Deno.test("generate runs LSTM checkpoints through tfjs behind the same entry (grammar, seed)", async () => {
  await selectBackend("cpu");
  const tok = new RemiTokenizer().toJSON();
  const config: LstmConfig = {
    arch: "lstm",
    preset: "tiny-v6",
    tokenizer: "remi",
    vocabSize: tok.vocab.length,
    input: "embedding",
    embedDim: 8,
    hidden: [12],
    seqLen: 16,
  };
  const m = TfModel.init(config, 5);
  const dir = await Deno.makeTempDir({ prefix: "etude_lstm_" });
  await m.save(dir, { tokenizerJson: tok });
  m.dispose();
  const model = await loadModel(dir);
  try {
    assertEquals(model.arch, "lstm");
    assert(model.adapter.startsWith("tfjs-"));
    const opts = { model, maxTokens: 40, seed: 3, batch: 2, temperature: 1.5, topK: 0, topP: 1 };
    const a = await generate(opts);
    const b = await generate(opts);
    assertEquals(a.ids, b.ids);
    assertEquals(a.ids.length, 2);
    assert(a.ids[0].join() !== a.ids[1].join());
    for (const ids of a.ids) {
      const e = grammarErrors(ids, tok);
      assertEquals([e.type, e.time], [0, 0]);
    }
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
