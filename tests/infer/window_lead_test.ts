/**
 * A conditioning model's slid windows start with its lead (`BOS` and the condition ids, as every training window
 * did: lib/data/lead.ts): on a tiny random model with a 32-position context that slides many times, every
 * re-prefill the CPU decoder gets starts with the asked conditions (the guided twin's with their `_none`s); the CPU
 * decoder, the engine and the server's batcher draw the same ids, guided or not; `nextWindow` clamps as before.
 */
import { assert, assertEquals } from "../_assert.ts";
import { generate } from "../../lib/infer/generate.ts";
import { loadModel } from "../../lib/infer/load.ts";
import { prepareGeneration } from "../../lib/infer/plan.ts";
import { GenerationBatcher } from "../../lib/infer/batch.ts";
import { nextWindow } from "../../lib/infer/_window.ts";
import type { CpuDecoder } from "../../lib/cpu/decode.ts";
import { conditioningIds } from "../../lib/data/conditioning.ts";
import { condRemi } from "./_cond_model.ts";
import { writeTinyCheckpoint } from "./_fixtures.ts";

Deno.test("nextWindow: the lead, then the history from windowStart, at most ctx − 1 ids, never the old lead", () => {
  assertEquals(nextWindow([1, 9, 3, 4, 5, 6, 7], 8, () => 4, [1, 9]), [1, 9, 5, 6, 7]);
  assertEquals(nextWindow([1, 9, 3, 4, 5, 6, 7, 8], 8, () => 0, [1, 9]), [1, 9, 4, 5, 6, 7, 8], "≤ ctx − 1");
  assertEquals(nextWindow([1, 9, 3], 8, () => 0, [1, 9]), [1, 9, 3], "not the lead twice");
  assertEquals(nextWindow([3, 4, 5, 6, 7, 8, 9, 10], 8, undefined), [7, 8, 9, 10]);
  assertEquals(nextWindow([3, 4, 5], 8, () => 99), [5], "at least the newest id");
});

Deno.test("a conditioning model slides with its lead: CPU decoder = engine = batcher, guided or not", async () => {
  const tok = condRemi.toJSON();
  const dir = await writeTinyCheckpoint(
    { vocab: tok.vocab.length, d: 24, ffn: 40, layers: 1, heads: 2, maxPos: 32 },
    5,
    tok,
  );
  const cpu = await loadModel(dir, { device: "cpu" });
  const gpu = await loadModel(dir, { device: "gpu" });
  try {
    const c = conditioningIds(cpu.tokenizer.vocab)!;
    const opts = { conditions: { style: "pop" as const, key: "D minor" }, maxTokens: 200, seed: 3, batch: 2 };
    const plan = prepareGeneration({ model: cpu, ...opts });
    const lead = plan.prompt.slice(0, 5);
    assertEquals(plan.windowLead, lead);
    assertEquals(lead[0], 1);
    // every prefill the CPU decoder gets, per slot
    const calls: { seq: number; ids: number[] }[] = [];
    const make = cpu.cpuDecoder!;
    (cpu as { cpuDecoder?: (b: number) => CpuDecoder }).cpuDecoder = (b: number) => {
      const d = make(b), prefill = d.prefill.bind(d);
      d.prefill = (ids, o) => (calls.push({ seq: o?.seq ?? 0, ids: Array.from(ids) }), prefill(ids, o));
      return d;
    };
    for (const guidanceScale of [1, 3]) {
      calls.length = 0;
      const a = await generate({ model: cpu, ...opts, guidanceScale });
      const b = await generate({ model: gpu, ...opts, guidanceScale });
      assertEquals(a.ids, b.ids, `engine = CPU decoder at guidance ${guidanceScale}`);
      assert(a.ids.some((x) => x.length > 100), "long enough to slide many times");
      const slides = calls.slice(opts.batch * (guidanceScale === 1 ? 1 : 2)); // after each slot's first prefill
      assert(slides.length >= 10, `${slides.length} re-prefills`);
      for (const k of slides) {
        const want = k.seq < opts.batch ? lead : [1, ...c.none];
        assertEquals(k.ids.slice(0, 5), want, `slot ${k.seq} re-prefill starts with its lead`);
      }
    }
    // the server's batcher (CPU rows and engine rows) draws what generate draws alone
    for (const model of [cpu, gpu]) {
      const batcher = new GenerationBatcher({ chunk: 8 });
      const one = { conditions: opts.conditions, maxTokens: 200 };
      const got = await Promise.all([4, 5].map((seed) => batcher.generate({ model, ...one, seed })));
      for (const [i, seed] of [4, 5].entries()) {
        assertEquals(
          got[i].ids,
          (await generate({ model: cpu, ...one, seed })).ids,
          `${model.device} seed ${seed}`,
        );
      }
    }
  } finally {
    cpu.dispose();
    gpu.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
