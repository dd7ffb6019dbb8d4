import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { selectBackend } from "../../lib/model/backend.ts";
import { loadCheckpoint, saveCheckpoint } from "../../lib/model/checkpoint.ts";
import { applyOverrides, getPreset, tensorShapes } from "../../lib/model/config.ts";
import { forwardLogits, TfModel } from "../../lib/model/model.ts";

await selectBackend("wasm");

/** A safetensors reader written here from the format description, sharing nothing with lib/util/safetensors.ts. */
function readSafetensors(bytes: Uint8Array) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  assert(8 + n <= bytes.length, "header length inside the file");
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  const data = bytes.subarray(8 + n);
  const out: Record<string, { shape: number[]; values: Float32Array }> = {};
  const spans: [number, number][] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") {
      for (const v of Object.values(info as object)) assertEquals(typeof v, "string");
      continue;
    }
    const { dtype, shape, data_offsets: [b, e] } = info as {
      dtype: string;
      shape: number[];
      data_offsets: number[];
    };
    assertEquals(dtype, "F32", name);
    assert(Number.isInteger(b) && Number.isInteger(e) && 0 <= b && b <= e && e <= data.length, name);
    assertEquals(e - b, 4 * shape.reduce((a, c) => a * c, 1), `${name} byte length`);
    const values = new Float32Array(shape.reduce((a, c) => a * c, 1));
    const tdv = new DataView(data.buffer, data.byteOffset + b, e - b);
    for (let i = 0; i < values.length; i++) values[i] = tdv.getFloat32(4 * i, true);
    out[name] = { shape, values };
    spans.push([b, e]);
  }
  // offsets tile the data section exactly, without gaps or overlaps
  spans.sort((x, y) => x[0] - y[0]);
  let at = 0;
  for (const [b, e] of spans) {
    assertEquals(b, at);
    at = e;
  }
  assertEquals(at, data.length);
  return out;
}

for (const preset of ["v8", "v6"]) {
  Deno.test(`${preset}: save → load gives identical logits; the file opens in an independent reader`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "etude_ckpt_" });
    try {
      const cfg = applyOverrides(
        getPreset(preset),
        preset === "v8"
          ? { layers: 2, dim: 16, heads: 2, ffn: 24, vocab: 30, seqLen: 16 }
          : { hidden: [12, 10], embedDim: 6, vocab: 30, seqLen: 16 },
      ).model;
      const m = TfModel.init(cfg, 42);
      const tok = { kind: cfg.tokenizer, config: {}, vocab: Array.from({ length: 30 }, (_, i) => `T_${i}`) };
      await m.save(dir, { tokenizerJson: tok });
      const ids = [1, 7, 9, 21, 4, 4, 13];
      const before = forwardLogits(m, ids);
      const { model: back, tokenizerJson } = await TfModel.load(dir);
      assertEquals(forwardLogits(back, ids), before);
      assertEquals(tokenizerJson, tok);

      const file = readSafetensors(await Deno.readFile(`${dir}/model.safetensors`));
      const w = await m.weights();
      assertEquals(Object.keys(file).sort(), Object.keys(tensorShapes(cfg)).sort());
      for (const [k, t] of Object.entries(file)) {
        assertEquals(t.shape, tensorShapes(cfg)[k]);
        assertEquals(t.values, w[k]);
      }
      const json = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
      if (preset === "v8") {
        assertEquals(json.architectures, ["LlamaForCausalLM"]);
        assertEquals(
          [json.hidden_size, json.intermediate_size, json.num_hidden_layers, json.num_attention_heads],
          [16, 24, 2, 2],
        );
        assertEquals([json.num_key_value_heads, json.tie_word_embeddings, json.rms_norm_eps], [
          2,
          true,
          1e-5,
        ]);
        assertEquals([json.rope_theta, json.max_position_embeddings, json.hidden_act], [10000, 512, "silu"]);
      }
      assertEquals([json.bos_token_id, json.eos_token_id, json.pad_token_id, json.vocab_size], [1, 2, 0, 30]);
      assertEquals(json.etude.arch, cfg.arch);
      const ck = await loadCheckpoint(dir);
      assertEquals(ck.shapes, tensorShapes(cfg));
      m.dispose();
      back.dispose();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("loadCheckpoint names the file and tensor that is wrong", async () => {
  const dir = await Deno.makeTempDir({ prefix: "etude_ckpt_" });
  try {
    const cfg = applyOverrides(getPreset("v8"), { layers: 1, dim: 8, heads: 2, ffn: 8, vocab: 6 }).model;
    const weights = Object.fromEntries(
      Object.entries(tensorShapes(cfg)).map(([k, s]) => [k, new Float32Array(s.reduce((a, b) => a * b, 1))]),
    );
    await saveCheckpoint(dir, { config: cfg, weights });
    const json = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
    json.etude.model.dim = 16;
    json.etude.model.heads = 2;
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(json));
    await assertRejects(
      () => loadCheckpoint(dir),
      /model\.safetensors: tensor model\.embed_tokens\.weight has shape/,
    );
    await Deno.writeTextFile(`${dir}/config.json`, "{");
    await assertRejects(() => loadCheckpoint(dir), /config\.json/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
