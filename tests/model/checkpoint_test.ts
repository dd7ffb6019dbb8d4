import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import { selectBackend } from "../../lib/model/backend.ts";
import {
  CHECKPOINT_FILES,
  CheckpointFormatError,
  parseCheckpointConfig,
  readCheckpoint,
  readCheckpointInfo,
  saveCheckpoint,
} from "../../lib/model/checkpoint.ts";
import { applyOverrides, getPreset, type ModelConfig, tensorShapes } from "../../lib/model/config.ts";
import { forwardLogits, TfModel } from "../../lib/model/model.ts";
import { encodeSafetensors } from "../../lib/util/safetensors.ts";
import { BOS_ID, EOS_ID, PAD_ID } from "../../lib/tokenizers/tokenizer.ts";
import { engineModel, readEngineModel } from "../../lib/infer/model_loader.ts";

await selectBackend("wasm");

const HF_DIR = new URL("../testdata/hf_llama", import.meta.url).pathname;
const DEFAULT_DIR = new URL("../../models/maestro-2m", import.meta.url).pathname;

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
  Deno.test(`${preset}: save → read gives identical logits; the file opens in an independent reader`, async () => {
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
      assertEquals([json.bos_token_id, json.eos_token_id, json.pad_token_id, json.vocab_size], [
        BOS_ID,
        EOS_ID,
        PAD_ID,
        30,
      ]);
      assertEquals([BOS_ID, EOS_ID, PAD_ID], [1, 2, 0]);
      assertEquals(json.etude.arch, cfg.arch);

      // the one reader gives back exactly what was saved
      const ck = await readCheckpoint(dir);
      assertEquals(ck.config, cfg);
      assertEquals(ck.shapes, tensorShapes(cfg));
      assertEquals(ck.weights, w);
      assertEquals(ck.tokenizerJson, tok);
      assertEquals(ck.raw, json);
      assertEquals(ck.state, null);
      assertEquals((await readCheckpointInfo(dir)).config, cfg);
      m.dispose();
      back.dispose();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

/** The v7 shape both committed checkpoints have. */
const V7_SMALL: ModelConfig = {
  arch: "transformer",
  preset: "v7",
  tokenizer: "remi-bpe",
  vocabSize: 1024,
  dim: 192,
  layers: 3,
  heads: 4,
  ffn: 768,
  seqLen: 256,
  maxPositions: 512,
  ropeTheta: 10000,
  normEps: 1e-5,
};

Deno.test("the one reader reads the HF fixture (tests/testdata/hf_llama) and the default model", async () => {
  for (const [dir, step, finished] of [[HF_DIR, 335, false], [DEFAULT_DIR, 1370, true]] as const) {
    const ck = await readCheckpoint(dir);
    assertEquals(ck.dir, dir);
    assertEquals(ck.config, V7_SMALL);
    assertEquals(Object.keys(ck.weights).sort(), Object.keys(tensorShapes(V7_SMALL)).sort());
    for (const [k, s] of Object.entries(tensorShapes(V7_SMALL))) {
      assertEquals(ck.weights[k].length, s.reduce((a, b) => a * b, 1), k);
    }
    assertEquals([ck.tokenizerJson?.kind, ck.tokenizerJson?.vocab.length], ["remi-bpe", 1024]);
    assertEquals([ck.state?.step, ck.state?.finished], [step, finished]);
    assertEquals(ck.raw.hidden_size, 192);
    // the engine's arrangement shares the reader's arrays
    const em = engineModel(ck);
    assertEquals(em.config, ck.config);
    assert(em.weights.embed === ck.weights["model.embed_tokens.weight"]);
    assertEquals(em.weights.layers.length, 3);
  }
  // the files the bundle embeds and the server lists are the reader's
  assertEquals([...CHECKPOINT_FILES], ["config.json", "model.safetensors", "tokenizer.json"]);
});

Deno.test("a plain HF LlamaConfig (no etude block, transformers' defaults left out) reads with HF's defaults", () => {
  const { config, state } = parseCheckpointConfig(
    {
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      vocab_size: 300,
      hidden_size: 32,
      intermediate_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      tie_word_embeddings: true,
      pad_token_id: null,
    },
    "x/config.json",
    "remi",
  );
  assertEquals(config, {
    arch: "transformer",
    preset: "hf",
    tokenizer: "remi",
    vocabSize: 300,
    dim: 32,
    ffn: 64,
    layers: 2,
    heads: 4,
    maxPositions: 2048,
    ropeTheta: 10000,
    normEps: 1e-6,
    seqLen: 2048,
  });
  assertEquals(state, null);
});

/** A valid tiny Transformer config.json (as saveCheckpoint writes it) to break one field at a time. */
function goodJson(): Record<string, unknown> {
  const cfg = applyOverrides(getPreset("v8"), { layers: 1, dim: 8, heads: 2, ffn: 8, vocab: 6 }).model;
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    vocab_size: 6,
    hidden_size: 8,
    intermediate_size: 8,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 2,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    max_position_embeddings: 512,
    tie_word_embeddings: true,
    hidden_act: "silu",
    bos_token_id: 1,
    eos_token_id: 2,
    pad_token_id: 0,
    etude: { preset: "v8", arch: "transformer", seqLen: 256, tokenizer: "remi-bpe", model: cfg, state: null },
  };
}

Deno.test("config.json errors name the file and the field", () => {
  parseCheckpointConfig(goodJson(), "m/config.json");
  const cases: [string, (j: Record<string, unknown>) => void, RegExp][] = [
    [
      "missing field",
      (j) => delete j.hidden_size,
      /^m\/config\.json: hidden_size must be a positive integer, got nothing/,
    ],
    [
      "wrong type",
      (j) => j.intermediate_size = "8",
      /^m\/config\.json: intermediate_size must be a positive integer, got "8"$/,
    ],
    [
      "bad number",
      (j) => j.rms_norm_eps = -1,
      /^m\/config\.json: rms_norm_eps must be a positive number, got -1$/,
    ],
    [
      "heads",
      (j) => j.num_key_value_heads = 1,
      /^m\/config\.json: num_key_value_heads must be num_attention_heads/,
    ],
    ["untied", (j) => delete j.tie_word_embeddings, /^m\/config\.json: tie_word_embeddings must be true/],
    ["special id", (j) => j.bos_token_id = 5, /^m\/config\.json: bos_token_id must be 1 \(BOS/],
    ["activation", (j) => j.hidden_act = "gelu", /^m\/config\.json: hidden_act must be "silu"/],
    ["model type", (j) => j.model_type = "gpt2", /^m\/config\.json: model_type must be "llama"/],
    [
      "arch",
      (j) => (j.etude as Record<string, unknown>).arch = "rnn",
      /^m\/config\.json: etude\.arch must be/,
    ],
    [
      "etude copy disagrees",
      (j) => ((j.etude as { model: Record<string, unknown> }).model.dim = 16),
      /^m\/config\.json: etude\.model\.dim 16 disagrees with hidden_size 8$/,
    ],
    [
      "etude field type",
      (j) => ((j.etude as { model: Record<string, unknown> }).model.seqLen = "256"),
      /^m\/config\.json: etude\.model\.seqLen must be a positive integer, got "256"$/,
    ],
    ["not an object", (j) => j.etude = 3, /^m\/config\.json: etude must be an object, got 3$/],
  ];
  for (const [what, breakIt, re] of cases) {
    const j = goodJson();
    breakIt(j);
    assertThrows(() => parseCheckpointConfig(j, "m/config.json"), (e: Error) => {
      assert(e instanceof CheckpointFormatError, what);
      assert(re.test(e.message), `${what}: ${e.message}`);
      return true;
    });
  }
  // the LSTM's config lives in etude.model
  const lstm = applyOverrides(getPreset("v6"), { hidden: [4, 4], embedDim: 2, vocab: 6 }).model;
  const lj = {
    architectures: ["EtudeLSTM"],
    model_type: "etude-lstm",
    vocab_size: 6,
    etude: { arch: "lstm", model: { ...lstm, hidden: [4, 0] } },
  };
  assertThrows(
    () => parseCheckpointConfig(lj, "l/config.json"),
    /l\/config\.json: etude\.model\.hidden\[1\] must be a positive integer, got 0/,
  );
  lj.etude.model.hidden = [4, 4];
  assertEquals(parseCheckpointConfig(lj, "l/config.json").config, lstm);
  assertThrows(
    () => parseCheckpointConfig({ ...lj, etude: { arch: "lstm" } }, "l/config.json"),
    /l\/config\.json: etude\.model must be the LSTM's config, got nothing/,
  );
});

Deno.test("readCheckpoint names the file and the tensor or field that is wrong", async () => {
  const dir = await Deno.makeTempDir({ prefix: "etude_ckpt_" });
  try {
    const cfg = applyOverrides(getPreset("v8"), { layers: 1, dim: 8, heads: 2, ffn: 8, vocab: 6 }).model;
    const shapes = tensorShapes(cfg);
    const weights = Object.fromEntries(
      Object.entries(shapes).map(([k, s]) => [k, new Float32Array(s.reduce((a, b) => a * b, 1))]),
    );
    const tok = { kind: "remi-bpe", config: {}, vocab: ["PAD_None", "BOS_None", "EOS_None", "MASK_None"] };
    await saveCheckpoint(dir, { config: cfg, weights, tokenizerJson: tok });
    await readCheckpoint(dir);
    const good = await Deno.readTextFile(`${dir}/config.json`);
    const writeTensors = (drop: string, reshape?: string) => {
      const t: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
      for (const [k, s] of Object.entries(shapes)) {
        if (k === drop) continue;
        const shape = k === reshape ? [s.reduce((a, b) => a * b, 1)] : s;
        t[k] = { dtype: "F32", shape, data: weights[k] };
      }
      return Deno.writeFile(`${dir}/model.safetensors`, encodeSafetensors(t));
    };

    // a missing tensor, a wrong shape, a file that is not safetensors
    await writeTensors("model.layers.0.mlp.up_proj.weight");
    await assertRejects(
      () => readCheckpoint(dir),
      new RegExp(`${dir}/model\\.safetensors: missing tensor model\\.layers\\.0\\.mlp\\.up_proj\\.weight$`),
    );
    await writeTensors("", "model.layers.0.self_attn.q_proj.weight");
    await assertRejects(
      () => readCheckpoint(dir),
      /model\.safetensors: tensor model\.layers\.0\.self_attn\.q_proj\.weight has shape \[64\], expected \[8,8\]/,
    );
    await Deno.writeFile(`${dir}/model.safetensors`, new Uint8Array(4));
    await assertRejects(() => readCheckpoint(dir), /model\.safetensors: file shorter than/);
    // readCheckpointInfo does not touch the weights
    assertEquals((await readCheckpointInfo(dir)).config, cfg);
    await writeTensors("");

    // config.json: a field of the wrong type, a missing field, not JSON, absent
    const json = JSON.parse(good);
    json.num_hidden_layers = 1.5;
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(json));
    await assertRejects(
      () => readCheckpoint(dir),
      new RegExp(`${dir}/config\\.json: num_hidden_layers must be a positive integer, got 1\\.5$`),
    );
    delete json.num_hidden_layers;
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(json));
    await assertRejects(
      () => readCheckpoint(dir),
      /config\.json: num_hidden_layers must be a positive integer, got nothing/,
    );
    await Deno.writeTextFile(`${dir}/config.json`, "{");
    await assertRejects(() => readCheckpoint(dir), /config\.json: not valid JSON/);
    await Deno.remove(`${dir}/config.json`);
    await assertRejects(() => readCheckpoint(dir), /config\.json: cannot read/);
    await Deno.writeTextFile(`${dir}/config.json`, good);

    // tokenizer.json: more tokens than the model has rows, a bad kind; absent is allowed (null)
    await Deno.writeTextFile(`${dir}/tokenizer.json`, JSON.stringify({ ...tok, vocab: Array(7).fill("X") }));
    await assertRejects(
      () => readCheckpoint(dir),
      /tokenizer\.json: vocab has 7 tokens but config\.json vocab_size is 6/,
    );
    await Deno.writeTextFile(`${dir}/tokenizer.json`, JSON.stringify({ ...tok, kind: "abc" }));
    await assertRejects(
      () => readCheckpoint(dir),
      /tokenizer\.json: kind must be "pitch" or "remi" or "remi-bpe"/,
    );
    await Deno.remove(`${dir}/tokenizer.json`);
    assertEquals((await readCheckpoint(dir)).tokenizerJson, null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the engine's arrangement refuses an LSTM checkpoint, naming the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "etude_ckpt_" });
  try {
    const cfg = applyOverrides(getPreset("v6"), { hidden: [4], embedDim: 2, vocab: 6 }).model;
    const m = TfModel.init(cfg, 1);
    await m.save(dir);
    m.dispose();
    await assertRejects(
      () => readEngineModel(dir),
      /config\.json: etude\.arch is "lstm": the WebGPU engine runs/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the reader and the engine's arrangement load no tfjs", async () => {
  for (const mod of ["lib/model/checkpoint.ts", "lib/infer/model_loader.ts"]) {
    const url = new URL(`../../${mod}`, import.meta.url).pathname;
    const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json", url], stdout: "piped" })
      .output();
    assert(out.success, `deno info ${mod}`);
    const modules: string[] = JSON.parse(new TextDecoder().decode(out.stdout)).modules.map((
      m: { specifier: string },
    ) => m.specifier);
    assert(modules.length > 3, "the graph was read");
    const npm = modules.filter((s) => !s.startsWith("file:") && !s.startsWith("node:"));
    assertEquals(npm, [], `${mod} reaches npm packages`);
  }
});
