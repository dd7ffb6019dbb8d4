/**
 * `sampleIds` (lib/eval/sample_ids.ts) against `generate` itself, on the CPU decoder with the exact TypeScript BLAS:
 * after `BOS` (a model without conditions), and after `BOS` + condition ids (= `generate({ conditions })`), the same
 * seed gives the same ids token for token; `ban` and `done` hold.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../_assert.ts";
import { sampleIds } from "../../lib/eval/sample_ids.ts";
import { conditionPrompt } from "../../lib/eval/conditioning.ts";
import { conditioningIds } from "../../lib/data/conditioning.ts";
import { generate } from "../../lib/infer/generate.ts";
import { initialState } from "../../lib/infer/grammar.ts";
import { EOS_ID } from "../../lib/tokenizers/tokenizer.ts";
import { loadExactCpuModel } from "../infer/_exact_cpu.ts";
import { tinyModelsDir } from "../server/_tiny_model.ts";
import { conditionedTinyModel } from "./_cond_model.ts";

const opts = { temperature: 1, topK: 0, topP: 1, seed: 11 };
const upToEos = (s: number[]) => (s.includes(EOS_ID) ? s.slice(0, s.indexOf(EOS_ID)) : s);

Deno.test("sampleIds after BOS = generate's ids, token for token; ban and done are kept", async () => {
  const root = await tinyModelsDir();
  const model = await loadExactCpuModel(join(root, "default"));
  try {
    const ref = await generate({ model, maxTokens: 40, batch: 3, ...opts });
    const start = {
      prompt: [1],
      grammarState: initialState(model.grammar),
      batch: 3,
      maxTokens: 40,
      ...opts,
    };
    const { ids } = await sampleIds(model, start);
    for (let s = 0; s < 3; s++) assertEquals(upToEos(ids[s]), ref.ids[s], `sequence ${s}`);
    // banning the first sequence's first token changes it; `done` stops each sequence after 5 tokens
    const banned = await sampleIds(model, { ...start, ban: [ids[0][0]], done: (s) => s.length >= 5 });
    assert(banned.ids.every((s) => s.length === 5));
    assert(banned.ids.every((s) => !s.includes(ids[0][0])));
  } finally {
    model.dispose();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("sampleIds after BOS + condition ids = generate({ conditions }), token for token", async () => {
  const { tmp, dir } = await conditionedTinyModel(3);
  const model = await loadExactCpuModel(dir);
  try {
    for (const conditions of [{ key: "E minor" }, { style: "pop" as const, density: "high" as const }]) {
      const ref = await generate({ model, maxTokens: 30, batch: 2, conditions, ...opts });
      const c = conditioningIds(model.tokenizer.vocab)!;
      const { ids } = await sampleIds(model, {
        prompt: conditionPrompt(model.tokenizer, conditions),
        grammarState: initialState(model.grammar),
        batch: 2,
        maxTokens: 30,
        ban: [...c.byName.values()],
        ...opts,
      });
      for (let s = 0; s < 2; s++) {
        assertEquals(upToEos(ids[s]), ref.ids[s], `${JSON.stringify(conditions)} ${s}`);
      }
    }
  } finally {
    model.dispose();
    await Deno.remove(tmp, { recursive: true });
  }
});
