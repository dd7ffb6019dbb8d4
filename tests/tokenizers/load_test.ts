/**
 * tokenizer.json errors. The round trip of every kind through tokenizer.json (object, text, file) is part of the
 * tokenizer contract (contract_test.ts).
 */
import { assertRejects, assertThrows } from "../_assert.ts";
import { loadTokenizer, loadTokenizerFile, RemiTokenizer } from "../../lib/tokenizers/mod.ts";

Deno.test("load: bad tokenizer.json gives one-line errors naming the field", async () => {
  const remi = new RemiTokenizer().toJSON();
  assertThrows(() => loadTokenizer("{not json"), /not valid JSON/);
  assertThrows(() => loadTokenizer({ ...remi, kind: "gpt" as never }), /kind: expected/);
  assertThrows(() => loadTokenizer({ ...remi, vocab: remi.vocab.slice(1) }), /vocab: 313 tokens/);
  assertThrows(
    () => loadTokenizer({ ...remi, config: { ...remi.config, beatRes: [[0, 4, 3]] } }),
    /vocab|beatRes/,
  );
  assertThrows(() => loadTokenizer({ kind: "remi-bpe", config: {}, vocab: [] }), /config\.base/);
  assertThrows(
    () => loadTokenizer({ kind: "pitch", config: {}, vocab: [...remi.vocab.slice(0, 4), "UNK_None", "X9"] }),
    /vocab\[5\]/,
  );
  await assertRejects(
    () => loadTokenizerFile("/nonexistent/tokenizer.json"),
    /nonexistent\/tokenizer\.json: cannot read/,
  );
});
