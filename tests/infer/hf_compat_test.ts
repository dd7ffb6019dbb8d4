/**
 * Hugging Face compatibility: a checkpoint written by `deno task train` (tests/testdata/hf_llama, the first default
 * model) was loaded by `transformers`' `LlamaForCausalLM` on a GPU machine, and its logits for a fixed id sequence
 * were stored next to it. The plain-TS reference and the WebGPU engine must give the same logits: the tensor names,
 * layouts, RoPE convention, RMSNorm eps and tied head all agree with HF's Llama.
 */
import { assert } from "../_assert.ts";
import { readEngineModel } from "../../lib/infer/model_loader.ts";
import { referenceForward } from "../../lib/infer/reference.ts";
import { Engine } from "../../lib/infer/engine.ts";

const dir = new URL("../testdata/hf_llama/", import.meta.url).pathname;
const hf = JSON.parse(await Deno.readTextFile(`${dir}hf_logits.json`)) as {
  ids: number[];
  logits: number[][];
};

function maxDiff(rows: ArrayLike<number>[], ref: number[][]): { diff: number; scale: number } {
  let diff = 0, scale = 0;
  for (let t = 0; t < ref.length; t++) {
    for (let v = 0; v < ref[t].length; v++) {
      diff = Math.max(diff, Math.abs(rows[t][v] - ref[t][v]));
      scale = Math.max(scale, Math.abs(ref[t][v]));
    }
  }
  return { diff, scale };
}

Deno.test("HF LlamaForCausalLM logits equal the plain-TS reference on a deno-task-train checkpoint", async () => {
  const ck = await readEngineModel(dir);
  const { diff, scale } = maxDiff(referenceForward(ck.config, ck.weights, hf.ids), hf.logits);
  console.log(
    `reference vs transformers: max |diff| ${diff.toExponential(2)} (logit scale ${scale.toFixed(2)})`,
  );
  assert(scale > 1, "the stored logits are not trivial");
  assert(diff <= 1e-4 * scale, `max diff ${diff} exceeds 1e-4 × ${scale}`);
});

// Both kernel paths, forced: prefill runs the tile kernels, the KV-cache steps the batch-1 GEMVs (split-K on `gpu`).
for (const kernels of ["software", "gpu"] as const) {
  Deno.test(`HF LlamaForCausalLM logits equal the WebGPU engine's prefill and KV-cache steps, ${kernels} kernels`, async () => {
    const ck = await readEngineModel(dir);
    const engine = await Engine.create(ck.config, ck.weights, { kernels });
    try {
      const flat = await engine.forward(hf.ids, { allRows: true });
      const V = ck.config.vocabSize;
      const rows = hf.ids.map((_, t) => flat.subarray(t * V, (t + 1) * V));
      const { diff, scale } = maxDiff(rows, hf.logits);
      console.log(
        `engine (${kernels}) vs transformers: max |diff| ${diff.toExponential(2)} (logit scale ${
          scale.toFixed(2)
        })`,
      );
      assert(diff <= 1e-3 * scale, `max diff ${diff} exceeds 1e-3 × ${scale}`);
      const steps = [await engine.forward(hf.ids.slice(0, 1))];
      for (let t = 1; t < hf.ids.length; t++) steps.push(await engine.step([hf.ids[t]], [t]));
      const dec = maxDiff(steps, hf.logits);
      console.log(
        `engine (${kernels}) KV-cache steps vs transformers: max |diff| ${dec.diff.toExponential(2)}`,
      );
      assert(dec.diff <= 1e-3 * dec.scale, `decode max diff ${dec.diff} exceeds 1e-3 × ${dec.scale}`);
    } finally {
      engine.dispose();
    }
  });
}
