import { assert, assertEquals } from "../_assert.ts";
import { readEngineModel } from "../../lib/infer/model_loader.ts";
import { Engine } from "../../lib/infer/engine.ts";
import { referenceForward } from "../../lib/infer/reference.ts";
import { writeTinyCheckpoint } from "./_fixtures.ts";

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

const SHAPES = [
  { vocab: 123, d: 30, ffn: 70, layers: 2, heads: 3, maxPos: 40 },
  { vocab: 64, d: 64, ffn: 128, layers: 1, heads: 4, maxPos: 24 },
];

// Both kernel paths, forced on whatever adapter runs the tests: the real-GPU path's split-K GEMVs are proven here
// against the CPU reference even on llvmpipe.
for (const kernels of ["software", "gpu"] as const) {
  for (const shape of SHAPES) {
    Deno.test(`engine logits equal the CPU reference (prefill, KV-cache decode, batch) d=${shape.d} vocab=${shape.vocab}, ${kernels} kernels`, async () => {
      const dir = await writeTinyCheckpoint(shape, 7);
      const { config, weights } = await readEngineModel(dir);
      const engine = await Engine.create(config, weights, { maxBatch: 3, kernels });
      try {
        assertEquals(engine.kernels, kernels);
        const tokens = [1, 5, 17, 3, 9, 60, 22, 11, 40, 2, 7, 13, 31];
        const ref = referenceForward(config, weights, tokens);
        const V = config.vocabSize;
        // Prefill: logits at every position (full recomputation in one pass).
        const all = await engine.forward(tokens, { allRows: true });
        for (let t = 0; t < tokens.length; t++) {
          const d = maxRelDiff(all.subarray(t * V, (t + 1) * V), ref[t]);
          assert(d < 1e-3, `prefill row ${t}: rel diff ${d}`);
        }
        // KV-cache decode: prefill 5 tokens, then step one at a time.
        const head = 5;
        const last = await engine.forward(tokens.slice(0, head));
        assert(maxRelDiff(last, ref[head - 1]) < 1e-3, "prefill last row");
        for (let t = head; t < tokens.length; t++) {
          const l = await engine.step([tokens[t]], [t]);
          const d = maxRelDiff(l, ref[t]);
          assert(d < 1e-3, `decode step ${t}: rel diff ${d}`);
          const d2 = maxRelDiff(l, all.subarray(t * V, (t + 1) * V));
          assert(d2 < 1e-4, `decode step ${t} vs full recomputation: ${d2}`);
        }
        // Batched decode: three sequences with different histories at different positions.
        const seqs = [tokens.slice(0, 4), tokens.slice(3, 10), tokens.slice(1, 3)];
        for (let s = 0; s < 3; s++) await engine.forward(seqs[s].slice(0, -1), { seq: s });
        const rows = await engine.step(seqs.map((q) => q[q.length - 1]), seqs.map((q) => q.length - 1));
        for (let s = 0; s < 3; s++) {
          const r = referenceForward(config, weights, seqs[s]);
          const d = maxRelDiff(rows.subarray(s * V, (s + 1) * V), r[r.length - 1]);
          assert(d < 1e-3, `batched row ${s}: rel diff ${d}`);
        }
      } finally {
        engine.dispose();
        await Deno.remove(dir, { recursive: true });
      }
    });
  }
}
