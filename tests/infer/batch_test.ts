/**
 * Continuous batching (lib/infer/batch.ts over `Engine.decodeRows`) on the real engine with tiny random REMI models:
 * a request served in a batch draws the same ids as `generate` alone (both kernel paths; different prompt lengths,
 * settings, seeds and lengths, a window slide, rows joining and leaving), cancelling one row leaves the others
 * untouched, rows never exceed `maxBatch`, requests of two models are served in arrival order, and a request
 * cancelled while it waits never runs.
 */
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { generate, type GenerateOptions, GenerateParamError, loadModel } from "../../lib/infer/generate.ts";
import { GenerationBatcher } from "../../lib/infer/batch.ts";
import { KERNEL_PATH_ENV } from "../../lib/infer/_kernels.ts";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import { writeMidi } from "../../lib/midi/mod.ts";
import { emptyScore, type Score } from "../../lib/score.ts";
import { writeTinyCheckpoint } from "./_fixtures.ts";

const REMI = new RemiTokenizer().toJSON();

async function tinyModel(seed = 3, maxPos = 64) {
  const dir = await writeTinyCheckpoint(
    { vocab: REMI.vocab.length, d: 24, ffn: 40, layers: 1, heads: 2, maxPos },
    seed,
    REMI,
  );
  return { dir, model: await loadModel(dir) };
}

function prompt(notes: number): Score {
  const s = emptyScore(480);
  for (let i = 0; i < notes; i++) {
    s.notes.push({ pitch: 60 + (i * 5) % 24, velocity: 80, start: i * 240, duration: 240 });
  }
  return s;
}

type Request = Omit<GenerateOptions, "model">;

/** Varied requests: prompts of different lengths, every sampling setting, token/bar/second lengths, a long one. */
function requests(): Request[] {
  return [
    { maxTokens: 40, seed: 1, temperature: 1.5 },
    { maxTokens: 70, seed: 2, temperature: 0.9, topK: 12 },
    { maxTokens: 25, seed: 3, topP: 0.8, prompt: prompt(3) },
    { maxTokens: 90, seed: 4, temperature: 1.2, grammar: false },
    { bars: 2, seed: 5, temperature: 1.3 },
    { maxTokens: 150, seed: 6, temperature: 1.4, prompt: prompt(8) }, // past the 64-position context: slides
    { seconds: 3, seed: 4, temperature: 2 },
    { maxTokens: 1, seed: 8 },
    { maxTokens: 55, seed: 9, temperature: 0.7, topK: 30, topP: 0.95, prompt: prompt(1) },
    { maxTokens: 33, seed: 2 ** 32 - 5, temperature: 1.6 },
  ];
}

async function withKernels<T>(path: "gpu" | "software", fn: () => Promise<T>): Promise<T> {
  const prev = Deno.env.get(KERNEL_PATH_ENV);
  Deno.env.set(KERNEL_PATH_ENV, path);
  try {
    return await fn();
  } finally {
    if (prev === undefined) Deno.env.delete(KERNEL_PATH_ENV);
    else Deno.env.set(KERNEL_PATH_ENV, prev);
  }
}

for (const path of ["software", "gpu"] as const) {
  Deno.test(`batcher (${path} kernels): every request in a batch draws the ids it draws alone with generate`, async () => {
    await withKernels(path, async () => {
      const { dir, model } = await tinyModel();
      try {
        const reqs = requests();
        const alone = [];
        for (const r of reqs) alone.push(await generate({ model, ...r }));
        // 3 slots for 10 requests: rows join as others leave; chunk 8 makes the joins frequent.
        const batcher = new GenerationBatcher({ maxBatch: 3, chunk: 8 });
        const batched = await Promise.all(reqs.map((r) => batcher.generate({ model, ...r })));
        await batcher.idle();
        assertEquals((await model.engine(1)).kernels, path);
        for (let i = 0; i < reqs.length; i++) {
          assertEquals(batched[i].ids, alone[i].ids, `request ${i} (${JSON.stringify(reqs[i])})`);
          assertEquals(writeMidi(batched[i].scores[0]), writeMidi(alone[i].scores[0]), `request ${i} MIDI`);
        }
        assert(alone[5].ids[0].length > 64, "the long request outgrew the context");
        assert(
          alone[6].scores[0].notes.length > 0 && alone[6].ids[0].length < 1000,
          "the seconds stop ended one",
        );
        assertEquals(alone[7].ids[0].length, 1);
        const st = batcher.stats();
        assertEquals(st.peakRows, 3);
        assertEquals([st.rows, st.waiting, st.served, st.loops], [0, 0, reqs.length, 1]);
      } finally {
        model.dispose();
        await Deno.remove(dir, { recursive: true });
      }
    });
  });
}

Deno.test("batcher: cancelling one row ends it early and leaves the rows beside it untouched", async () => {
  const { dir, model } = await tinyModel(5, 256);
  try {
    const reqs: Request[] = [0, 1, 2, 3].map((i) => ({ maxTokens: 200, seed: 50 + i, temperature: 1.4 }));
    const alone = [];
    for (const r of reqs) alone.push(await generate({ model, ...r }));
    const batcher = new GenerationBatcher({ maxBatch: 4, chunk: 8 });
    const ac = new AbortController();
    let streamed = 0;
    const runs = reqs.map((r, i) =>
      batcher.generate({
        model,
        ...r,
        ...(i === 1
          ? {
            signal: ac.signal,
            onNotes: (notes: unknown[]) => {
              streamed += notes.length;
              ac.abort();
            },
          }
          : {}),
      })
    );
    const out = await Promise.all(runs);
    for (const i of [0, 2, 3]) assertEquals(out[i].ids, alone[i].ids, `row ${i}`);
    assert(streamed > 0);
    const cut = out[1].ids[0];
    assert(cut.length < alone[1].ids[0].length, `the cancelled row stopped early (${cut.length} ids)`);
    assertEquals(cut, alone[1].ids[0].slice(0, cut.length), "what it drew is the start of its piece");
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("batcher: requests for two models are served in arrival order, each batch holding one model", async () => {
  const a = await tinyModel(3), b = await tinyModel(4);
  try {
    const order: string[] = [];
    const batcher = new GenerationBatcher({ maxBatch: 2, chunk: 4 });
    const plan: [string, typeof a.model][] = [
      ["a0", a.model],
      ["a1", a.model],
      ["a2", a.model],
      [
        "b0",
        b.model,
      ],
      ["b1", b.model],
      ["a3", a.model],
    ];
    const runs = plan.map(([name, model], i) =>
      batcher.generate({ model, maxTokens: 20 + 5 * i, seed: i, temperature: 1.3 }).then((r) => {
        order.push(name);
        return r;
      })
    );
    const out = await Promise.all(runs);
    await batcher.idle();
    for (let i = 0; i < plan.length; i++) {
      const alone = await generate({ model: plan[i][1], maxTokens: 20 + 5 * i, seed: i, temperature: 1.3 });
      assertEquals(out[i].ids, alone.ids, plan[i][0]);
    }
    // a0–a2 (2 rows at a time), then b0–b1, then a3: three loops, and no b before every earlier a.
    assertEquals(batcher.stats().loops, 3);
    assertEquals(batcher.stats().peakRows, 2);
    assert(
      order.indexOf("b0") > order.indexOf("a2") && order.indexOf("a3") > order.indexOf("b1"),
      order.join(),
    );
  } finally {
    a.model.dispose();
    b.model.dispose();
    await Deno.remove(a.dir, { recursive: true });
    await Deno.remove(b.dir, { recursive: true });
  }
});

Deno.test("batcher: a request cancelled while it waits never runs; parameter errors reject at once", async () => {
  const { dir, model } = await tinyModel();
  try {
    const batcher = new GenerationBatcher({ maxBatch: 1, chunk: 4 });
    const first = batcher.generate({ model, maxTokens: 60, seed: 1 });
    const ac = new AbortController();
    const second = batcher.generate({ model, maxTokens: 60, seed: 2, signal: ac.signal });
    ac.abort();
    assertEquals((await second).ids, [[]]);
    assertEquals((await first).ids[0].length, 60);
    await batcher.idle();
    const st = batcher.stats();
    assertEquals([st.waiting, st.served, st.loops], [0, 1, 1], "the cancelled request never became a row");
    await assertRejects(() => batcher.generate({ model, topK: -1 }), GenerateParamError);
    await assertRejects(() => batcher.generate({ model, temperature: 0 }), GenerateParamError);
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
