/**
 * The whole CPU model: logits equal the plain-TS reference (lib/infer/reference.ts) and transformers' (the committed
 * HF fixture) to ≤ 1e-4 relative; whole-model gradients equal finite differences on a tiny model; the flat layout,
 * the init, and batching behave.
 */
import { assert, assertEquals } from "../_assert.ts";
import { CpuTransformer, paramLayout, toCpuConfig } from "../../lib/cpu/model.ts";
import { referenceLogits } from "../../lib/infer/reference.ts";
import type { CpuModelConfig } from "../../lib/cpu/model.ts";
import { BLASES, fdError, maxDiff, randn, referenceInputs, TINY } from "./_util.ts";

const HF_DIR = new URL("../testdata/hf_llama/", import.meta.url).pathname;
const hf = JSON.parse(await Deno.readTextFile(`${HF_DIR}hf_logits.json`)) as {
  ids: number[];
  logits: number[][];
};

for (const blas of BLASES) {
  Deno.test(`${blas.kind}: CpuTransformer.forward = transformers' logits and the plain-TS reference (HF fixture)`, async () => {
    const m = await CpuTransformer.load(HF_DIR, blas);
    const T = hf.ids.length, V = m.config.vocabSize;
    const logits = m.forward(hf.ids, 1, T).slice();
    const vsHf = maxDiff(logits, hf.logits.flat());
    console.log(
      `  ${blas.kind} forward vs transformers: max |diff| ${vsHf.diff.toExponential(2)} (scale ${
        vsHf.scale.toFixed(2)
      })`,
    );
    assert(vsHf.scale > 1);
    assert(vsHf.diff <= 1e-4 * vsHf.scale, `vs HF: ${vsHf.diff}`);
    const { config, weights } = referenceInputs(m);
    const vsRef = maxDiff(logits, referenceLogits(config, weights, hf.ids));
    assert(vsRef.diff <= 1e-4 * vsRef.scale, `vs reference: ${vsRef.diff}`);
    // two sequences in one batch = each alone
    const other = hf.ids.map((t) => (t * 7 + 3) % V);
    const both = m.forward([...hf.ids, ...other], 2, T).slice();
    const alone = m.forward(other, 1, T).slice();
    assert(maxDiff(both.subarray(0, T * V), logits).diff <= 1e-5 * vsHf.scale);
    assert(maxDiff(both.subarray(T * V), alone).diff <= 1e-5 * vsHf.scale);
  });

  Deno.test(`${blas.kind}: whole-model gradients = finite differences on a tiny model (PAD targets included)`, () => {
    const m = CpuTransformer.init(TINY, 3, blas);
    // larger weights than the init so every gradient is well above rounding
    m.params.set(randn(m.size, 4, 0.4));
    for (const p of m.layout) {
      if (!p.decay) m.w.byName[p.name].set(randn(p.size, p.offset, 0.2).map((v) => 1 + v));
    }
    const B = 2, T = 5;
    const ids = new Int32Array([1, 4, 9, 3, 7, 1, 10, 2, 2, 5]);
    const targets = new Int32Array([4, 9, 3, 7, 0, 10, 2, 2, 5, 8]);
    const loss = () => m.loss(ids, targets, B, T);
    loss();
    m.zeroGrad();
    m.backward();
    const g = m.grads.slice();
    for (const p of m.layout) {
      // every entry of small tensors, 12 spread entries of the large ones
      const step = Math.max(1, Math.floor(p.size / 12));
      const idx = Array.from({ length: Math.ceil(p.size / step) }, (_, i) => p.offset + i * step);
      const r = fdError(m.params, g, loss, 1e-2, idx);
      assert(r.scale > 0, `${p.name}: zero gradient`);
      assert(r.err <= 5e-3, `${p.name}: finite-difference error ${r.err.toExponential(2)}`);
    }
  });
}

Deno.test("backward accumulates, scales by dloss, and needs a loss first", () => {
  const m = CpuTransformer.init(TINY, 5);
  const ids = [1, 2, 3, 4], tg = [2, 3, 4, 5];
  m.loss(ids, tg, 1, 4);
  m.zeroGrad();
  m.backward();
  const g1 = m.grads.slice();
  m.loss(ids, tg, 1, 4);
  m.backward(0.5);
  for (let i = 0; i < g1.length; i += 97) {
    assert(Math.abs(m.grads[i] - 1.5 * g1[i]) <= 1e-6 * (1 + Math.abs(g1[i])));
  }
  let threw = false;
  try {
    m.backward();
  } catch {
    threw = true;
  }
  assert(threw, "a second backward without a loss must throw");
});

Deno.test("flat layout follows the checkpoint order; q|k|v and gate|up are contiguous; weights round-trip", () => {
  const c: CpuModelConfig = TINY, lay = paramLayout(c);
  assertEquals(lay.map((p) => p.name).slice(0, 6), [
    "model.embed_tokens.weight",
    "model.layers.0.input_layernorm.weight",
    "model.layers.0.self_attn.q_proj.weight",
    "model.layers.0.self_attn.k_proj.weight",
    "model.layers.0.self_attn.v_proj.weight",
    "model.layers.0.self_attn.o_proj.weight",
  ]);
  assertEquals(lay.at(-1)!.name, "model.norm.weight");
  assert(lay.every((p) => p.decay === !p.name.includes("norm")));
  const m = CpuTransformer.init(c, 9);
  const L0 = m.w.layers[0], q = m.w.byName["model.layers.0.self_attn.q_proj.weight"];
  assert(L0.qkv.byteOffset === q.byteOffset && L0.qkv.length === 3 * c.dim * c.dim);
  assert(L0.gu.length === 2 * c.ffn * c.dim);
  const copy = CpuTransformer.fromWeights(c, m.weights());
  assert(copy.params.every((v, i) => v === m.params[i]));
});

Deno.test("toCpuConfig reads TransformerConfig, LlamaConfig and HF config.json fields alike", async () => {
  const raw = JSON.parse(await Deno.readTextFile(`${HF_DIR}config.json`));
  const a = toCpuConfig(raw), b = toCpuConfig(raw.etude.model);
  assertEquals(a, b);
  assertEquals(a, {
    vocabSize: 1024,
    dim: 192,
    layers: 3,
    heads: 4,
    ffn: 768,
    maxPositions: 512,
    ropeTheta: 10000,
    normEps: 1e-5,
  });
  const llama = {
    vocabSize: 1024,
    hidden: 192,
    ffn: 768,
    layers: 3,
    heads: 4,
    eps: 1e-5,
    ropeTheta: 10000,
    maxPos: 512,
  };
  assertEquals(toCpuConfig(llama), a);
  let threw = false;
  try {
    toCpuConfig({ ...raw, num_key_value_heads: 2 });
  } catch {
    threw = true;
  }
  assert(threw, "GQA configs are refused");
});

Deno.test("CPU layout of the v8 shape holds 34,087,424 parameters (as lib/model counts them)", async () => {
  const { getPreset } = await import("../../lib/model/config.ts");
  const v8 = getPreset("v8").model;
  if (v8.arch !== "transformer") throw new Error("v8 is a Transformer preset");
  const n = paramLayout(toCpuConfig(v8)).reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
  assertEquals(n, 34_087_424);
});
