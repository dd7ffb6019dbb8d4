import { assertEquals } from "../_assert.ts";
import { readEngineModel } from "../../lib/infer/model_loader.ts";
import { Engine } from "../../lib/infer/engine.ts";
import { ReferenceDecoder } from "../../lib/infer/reference.ts";
import { sampleReference } from "../../lib/infer/sampling.ts";
import { allowedMask, grammarTables, initialState, nextState } from "../../lib/infer/grammar.ts";
import { remiTokenizer, writeTinyCheckpoint } from "./_fixtures.ts";

for (const kernels of ["software", "gpu"] as const) {
  Deno.test(`GPU decode loop (many tokens per submit, readback ring, sliding window) equals a CPU simulation, ${kernels} kernels`, async () => {
    const tok = remiTokenizer();
    const shape = { vocab: tok.vocab.length, d: 20, ffn: 28, layers: 2, heads: 2, maxPos: 24 };
    const dir = await writeTinyCheckpoint(shape, 21, tok);
    const { config, weights } = await readEngineModel(dir);
    const engine = await Engine.create(config, weights, { maxBatch: 3, kernels });
    const g = grammarTables(tok);
    const params = { temperature: 1.3, topK: 40, topP: 0.9, seed: 99 };
    const prompt = [1, 4, 5, 41, 129, 133];
    let gs = initialState(g);
    for (const t of prompt.slice(1)) gs = nextState(g, gs, t);
    const B = 3, N = 70, keep = 10;
    try {
      const gpu = await engine.decode({
        ...params,
        prompt,
        grammar: g,
        grammarState: gs,
        nextState: (s, t) => nextState(g, s, t),
        batch: B,
        maxTokens: N,
        chunk: 8,
        inFlight: 2,
        windowStart: (h) => h.length - keep,
      });
      for (let b = 0; b < B; b++) {
        let dec = new ReferenceDecoder(config, weights);
        let logits: Float32Array = new Float32Array(0);
        for (const t of prompt) logits = dec.step(t);
        let h = [...prompt], s = gs;
        const out: number[] = [];
        for (let n = 0; n < N; n++) {
          if (n > 0) {
            const last = out[out.length - 1];
            if (dec.position === config.maxPositions) {
              h = h.slice(h.length - keep);
              dec = new ReferenceDecoder(config, weights);
              for (const t of h.slice(0, -1)) dec.step(t);
            }
            logits = dec.step(last);
          }
          const t = sampleReference(logits, params, b, n, allowedMask(g, s)).token;
          out.push(t);
          h.push(t);
          s = nextState(g, s, t);
        }
        assertEquals(gpu.ids[b], out, `sequence ${b}`);
      }
    } finally {
      engine.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
