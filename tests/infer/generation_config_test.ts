/**
 * A model's own sampling defaults (lib/infer/generation_config.ts): `generation_config.json` parsed with transformers'
 * names and the table's ranges (errors name the file and the field); `loadModel` reads it; a parameter left out takes
 * the model's value in the library, the CLI (and its provenance record) and the server, one given always wins; a
 * model without the file keeps the table's defaults.
 */
import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { join } from "node:path";
import {
  GENERATION_CONFIG_FILE,
  parseGenerationConfig,
  readGenerationConfig,
  withModelSampling,
} from "../../lib/infer/generation_config.ts";
import { GENERATE_PARAMS } from "../../lib/infer/params.ts";
import { loadModel } from "../../lib/infer/load.ts";
import { generate } from "../../lib/infer/generate.ts";
import { generateCli } from "../../lib/cli/generate.ts";
import { createApp } from "../../lib/server/app.ts";
import { listModels } from "../../lib/server/models.ts";
import { readMidi, writeMidi } from "../../lib/midi/mod.ts";
import { tinyModelsDir } from "../server/_tiny_model.ts";
import { type DoubleCall, doubleGenerate, doubleLoadModel, makeModelsDir } from "../server/_double.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };
const OWN = { temperature: 1.3, top_k: 7, top_p: 0.9 };

Deno.test("parseGenerationConfig: transformers' names, the table's ranges, one line naming file and field", () => {
  assertEquals(
    parseGenerationConfig(JSON.stringify({ ...OWN, do_sample: true, bos_token_id: 1 }), "g.json"),
    {
      temperature: 1.3,
      topK: 7,
      topP: 0.9,
    },
  );
  assertEquals(parseGenerationConfig('{"top_p": 1}', "g.json"), { topP: 1 });
  const bad = (text: string) => {
    let msg = "";
    assertThrows(() => {
      try {
        parseGenerationConfig(text, "m/generation_config.json");
      } catch (e) {
        msg = (e as Error).message;
        throw e;
      }
    });
    assert(!msg.includes("\n"), msg);
    return msg;
  };
  const t = GENERATE_PARAMS.temperature as { max: number };
  assert(bad(`{"temperature": ${t.max + 1}}`).startsWith("m/generation_config.json: temperature: "));
  assert(bad('{"top_k": "50"}').includes("top_k: expected a number"));
  assert(bad('{"top_k": 2.5}').startsWith("m/generation_config.json: top_k: "));
  assert(bad("{").startsWith("m/generation_config.json: not JSON"));
  assert(bad("[1]").includes("expected a JSON object"));
});

Deno.test("withModelSampling: fills what is left out (or listed as defaulted), keeps what is given", () => {
  const own = { temperature: 1, topK: 0, topP: 1 };
  assertEquals(withModelSampling({ temperature: 0.5 }, own), { temperature: 0.5, topK: 0, topP: 1 });
  assertEquals(withModelSampling({ temperature: 0.8, topK: 50, topP: 0.95 }, own, new Set(["topK"])), {
    temperature: 0.8,
    topK: 0,
    topP: 0.95,
  });
  assertEquals(withModelSampling({ topK: 3 }, undefined), { topK: 3 });
});

Deno.test({
  name: "a model's generation_config.json: library, CLI record and server use it when left out",
  ...opts,
  async fn() {
    const root = await tinyModelsDir();
    const dir = join(root, "default");
    assertEquals(await readGenerationConfig(dir), undefined);
    // a file far past a few keys is refused by its size, not read whole
    await Deno.writeTextFile(join(dir, GENERATION_CONFIG_FILE), `{"temperature": 1${" ".repeat(100_000)}}`);
    const big = await readGenerationConfig(dir).then(() => "", (e) => (e as Error).message);
    assert(/generation_config\.json: 100\d{3} bytes, more than a generation config holds/.test(big), big);
    await Deno.remove(join(dir, GENERATION_CONFIG_FILE));
    const plain = await loadModel(dir, { device: "cpu" });
    assertEquals(plain.sampling, undefined);
    await Deno.writeTextFile(join(dir, GENERATION_CONFIG_FILE), JSON.stringify(OWN));
    const model = await loadModel(dir, { device: "cpu" });
    try {
      assertEquals(model.sampling, { temperature: 1.3, topK: 7, topP: 0.9 });
      // library: left out = the model's values, exactly as if given; the table's defaults differ
      const own = await generate({ model, maxTokens: 48, seed: 3 });
      const given = await generate({ model, maxTokens: 48, seed: 3, temperature: 1.3, topK: 7, topP: 0.9 });
      assertEquals(own.ids, given.ids);
      const table = await generate({ model: plain, maxTokens: 48, seed: 3 });
      const tableGiven = await generate({
        model,
        maxTokens: 48,
        seed: 3,
        temperature: GENERATE_PARAMS.temperature.default as number,
        topK: GENERATE_PARAMS.topK.default as number,
        topP: GENERATE_PARAMS.topP.default as number,
      });
      assertEquals(table.ids, tableGiven.ids);
      assert(JSON.stringify(own.ids) !== JSON.stringify(table.ids), "the model's defaults changed nothing");
    } finally {
      model.dispose();
      plain.dispose();
    }
    // CLI: the record holds what was used; a flag given wins
    const out = await Deno.makeTempDir({ prefix: "etude_gencfg_" });
    const rec = async (extra: string[]) => {
      const file = join(out, `t${extra.length}.mid`);
      await generateCli(
        ["--model", dir, "--tokens", "24", "--seed", "2", "--device", "cpu", "--out", file, ...extra],
        () => {},
        () => {},
      );
      return JSON.parse(await Deno.readTextFile(file.replace(/\.mid$/, ".json")));
    };
    const r1 = await rec([]);
    assertEquals([r1.params.temperature, r1.params.topK, r1.params.topP], [1.3, 7, 0.9]);
    const r2 = await rec(["--temperature", "0.6", "--top-k", "12"]);
    assertEquals([r2.params.temperature, r2.params.topK, r2.params.topP], [0.6, 12, 0.9]);
    // the models list offers them to the page
    const listed = (await listModels(root)).find((m) => m.name === "default")!;
    assertEquals(listed.sampling, { temperature: 1.3, topK: 7, topP: 0.9 });
  },
});

Deno.test({
  name: "server: fields left out take the model's sampling defaults, given ones win",
  ...opts,
  async fn() {
    const calls: DoubleCall[] = [];
    const { app, close } = createApp({
      modelsDir: makeModelsDir(),
      generate: doubleGenerate(calls, { chunks: 1 }),
      loadModel: (d) =>
        doubleLoadModel([])(d).then((m) =>
          Object.assign(m, { sampling: { temperature: 1.3, topK: 7, topP: 0.9 } })
        ),
      readMidi,
      writeMidi,
      provenance: false,
      log: () => {},
    });
    try {
      const post = (body: unknown) =>
        app.request("/api/generate", {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json" },
          body: JSON.stringify(body),
        });
      assertEquals((await post({ tokens: 8, seed: 1 })).status, 200);
      assertEquals((await post({ tokens: 8, seed: 1, temperature: 0.5, top_p: 0.8 })).status, 200);
      const used = calls.map((c) => [c.opts.temperature, c.opts.topK, c.opts.topP]);
      assertEquals(used, [[1.3, 7, 0.9], [0.5, 7, 0.8]]);
    } finally {
      close();
    }
  },
});
