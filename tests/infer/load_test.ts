/**
 * A loaded Transformer generates in the context it was trained on (`trainedContext`: `etude.seqLen` when it is below
 * `max_position_embeddings`, as `models/maestro-2m`'s 256 of 512): its `context`, the engine's and the CPU decoder's
 * windows all slide there, so a model whose config allows 32 positions but was trained on 16 draws exactly what the
 * same weights with 16 positions draw, on both devices.
 */
import { assertEquals } from "../_assert.ts";
import { generate } from "../../lib/infer/generate.ts";
import { loadModel } from "../../lib/infer/load.ts";
import { writeTinyCheckpoint } from "./_fixtures.ts";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";

Deno.test("loadModel: the context is the training length; both devices slide there, as a model of that length", async () => {
  const tok = new RemiTokenizer().toJSON();
  const shape = { vocab: tok.vocab.length, d: 16, ffn: 32, layers: 1, heads: 2 };
  const trained16 = await writeTinyCheckpoint({ ...shape, maxPos: 32 }, 3, tok);
  const cfgPath = `${trained16}/config.json`;
  const cfg = JSON.parse(await Deno.readTextFile(cfgPath));
  cfg.etude.seqLen = 16;
  await Deno.writeTextFile(cfgPath, JSON.stringify(cfg));
  const only16 = await writeTinyCheckpoint({ ...shape, maxPos: 16 }, 3, tok); // the same weights, 16 positions
  const models = await Promise.all([
    loadModel(trained16, { device: "cpu" }),
    loadModel(trained16, { device: "gpu" }),
    loadModel(only16, { device: "cpu" }),
  ]);
  try {
    assertEquals(models.map((m) => m.context), [16, 16, 16]);
    assertEquals(
      models[0].config.arch === "transformer" && models[0].config.maxPositions,
      32,
      "config as written",
    );
    const opts = { maxTokens: 60, seed: 8, batch: 2 };
    const [a, b, ref] = await Promise.all(models.map((model) => generate({ model, ...opts })));
    assertEquals(a.ids[0].length, 60, "long enough to slide several times");
    assertEquals(a.ids, ref.ids, "CPU decoder = the 16-position model");
    assertEquals(b.ids, ref.ids, "engine = the 16-position model");
  } finally {
    for (const m of models) m.dispose();
    await Deno.remove(trained16, { recursive: true });
    await Deno.remove(only16, { recursive: true });
  }
});
