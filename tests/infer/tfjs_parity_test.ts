import { assert } from "../_assert.ts";
import { forwardLogits, TfModel } from "../../lib/model/model.ts";
import { selectBackend } from "../../lib/model/backend.ts";
import type { TransformerConfig } from "../../lib/model/config.ts";
import { readEngineModel } from "../../lib/infer/model_loader.ts";
import { Engine } from "../../lib/infer/engine.ts";

function relDiff(a: Float32Array, b: Float32Array): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

for (const kernels of ["software", "gpu"] as const) {
  Deno.test(`engine logits equal the tfjs model's logits on the same checkpoint (prefill and every decode step), ${kernels} kernels`, async () => {
    await selectBackend("cpu");
    const config: TransformerConfig = {
      arch: "transformer",
      preset: "parity",
      tokenizer: "remi",
      vocabSize: 77,
      dim: 36,
      layers: 2,
      heads: 3,
      ffn: 50,
      seqLen: 16,
      maxPositions: 32,
      ropeTheta: 10000,
      normEps: 1e-5,
    };
    const model = TfModel.init(config, 11);
    // Larger-than-init weights so the comparison is not dominated by tiny logits.
    const w = await model.weights();
    for (const v of Object.values(w)) for (let i = 0; i < v.length; i++) v[i] *= 20 * (1 + (i % 7) / 10);
    model.setWeights(w);
    const dir = await Deno.makeTempDir({ prefix: "etude_parity_" });
    try {
      const vocab = Array.from({ length: config.vocabSize }, (_, i) => `Tok_${i}`);
      await model.save(dir, { tokenizerJson: { kind: "remi", config: {}, vocab } });
      const ck = await readEngineModel(dir);
      const engine = await Engine.create(ck.config, ck.weights, { maxBatch: 1, kernels });
      try {
        const ids = [1, 5, 40, 7, 7, 12, 76, 3, 30, 21, 9, 60, 2, 44];
        const V = config.vocabSize;
        const tf = forwardLogits(model, ids); // [T, V]
        const pre = await engine.forward(ids, { allRows: true });
        for (let t = 0; t < ids.length; t++) {
          const d = relDiff(pre.subarray(t * V, (t + 1) * V), tf.subarray(t * V, (t + 1) * V));
          assert(d <= 1e-3, `prefill row ${t}: ${d}`);
        }
        await engine.forward(ids.slice(0, 4));
        let worst = 0;
        for (let t = 4; t < ids.length; t++) {
          const d = relDiff(await engine.step([ids[t]], [t]), tf.subarray(t * V, (t + 1) * V));
          worst = Math.max(worst, d);
          assert(d <= 1e-3, `decode step ${t}: ${d}`);
        }
        console.log(`worst relative logit difference vs tfjs: ${worst.toExponential(2)}`);
      } finally {
        engine.dispose();
      }
    } finally {
      model.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
