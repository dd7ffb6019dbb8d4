import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { generate, GenerateParamError } from "../../lib/infer/generate.ts";
import { loadModel } from "../../lib/infer/load.ts";
import { grammarErrors, initialState, nextState } from "../../lib/infer/grammar.ts";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import { writeMidi } from "../../lib/midi/mod.ts";
import { emptyScore, ticksToSeconds } from "../../lib/score.ts";
import type { TokenizerJson } from "../../lib/tokenizers/tokenizer.ts";
import { writeTinyCheckpoint } from "./_fixtures.ts";
import { KERNEL_PATH_ENV } from "../../lib/infer/_kernels.ts";

const REMI = new RemiTokenizer().toJSON();

async function tinyModel(tok: TokenizerJson, maxPos = 96) {
  const dir = await writeTinyCheckpoint(
    { vocab: tok.vocab.length, d: 24, ffn: 40, layers: 1, heads: 2, maxPos },
    3,
    tok,
  );
  return { dir, model: await loadModel(dir) };
}

Deno.test("grammar mask: 10,000 sampled tokens have 0 type, time and duplicate-note errors; without the mask, many", async () => {
  const { dir, model } = await tinyModel(REMI);
  try {
    const engine = await model.engine(8);
    const run = async (grammar: boolean) => {
      const r = await engine.decode({
        prompt: [1],
        grammarState: initialState(model.grammar),
        grammar: grammar ? model.grammar : undefined,
        nextState: (s, id) => nextState(model.grammar, s, id),
        batch: 8,
        maxTokens: 1250,
        seed: 5,
        temperature: 1.5,
        topK: 0,
        topP: 1,
      });
      const e = { type: 0, time: 0, dupn: 0, tokens: 0 };
      for (const ids of r.ids) {
        const x = grammarErrors(ids, REMI);
        e.type += x.type, e.time += x.time, e.dupn += x.dupn, e.tokens += x.tokens;
      }
      return { e, r };
    };
    const on = await run(true);
    const off = await run(false);
    console.log(`with mask: ${JSON.stringify(on.e)}; without: ${JSON.stringify(off.e)}`);
    assertEquals(on.e.tokens, 10000);
    assertEquals(on.e.type, 0);
    assertEquals(on.e.time, 0);
    assertEquals(on.e.dupn, 0);
    assert(off.e.type > 1000, "unmasked sampling should break the grammar often");
    // Grammar-constrained REMI decodes to notes.
    assert(on.r.ids.every((ids) => model.tokenizer.decode(ids).notes.length > 50));
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("generate: same seed gives byte-identical MIDI; a batch gives different pieces; chunking does not matter", async () => {
  const { dir, model } = await tinyModel(REMI, 64);
  try {
    const hot = { temperature: 2, topK: 0, topP: 1 }; // a random model repeats Bar_None when sampled cold
    const a = await generate({ model, maxTokens: 150, seed: 42, ...hot });
    const b = await generate({ model, maxTokens: 150, seed: 42, chunk: 7, ...hot });
    assertEquals(a.ids, b.ids);
    assertEquals(writeMidi(a.scores[0]), writeMidi(b.scores[0]));
    assert(a.scores[0].notes.length > 0);
    const c = await generate({ model, maxTokens: 150, seed: 43, ...hot });
    assert(JSON.stringify(c.ids) !== JSON.stringify(a.ids), "another seed, another piece");
    const batch = await generate({ model, maxTokens: 100, seed: 42, batch: 4, ...hot });
    assertEquals(batch.ids.length, 4);
    assertEquals(new Set(batch.ids.map((x) => x.join(","))).size, 4);
    assert(batch.tokensPerSecond > 0 && batch.adapter.length > 0);
    // Stop criteria: bars and a prompt continuation.
    const bars = await generate({ model, bars: 3, seed: 1 });
    const barId = REMI.vocab.indexOf("Bar_None");
    assertEquals(bars.ids[0].filter((t) => t === barId).length, 3);
    const short = await generate({ model, maxTokens: 25, seed: 9, ...hot });
    const cont = await generate({ model, prompt: short.scores[0], maxTokens: 30, seed: 2, ...hot });
    assert(short.scores[0].notes.length > 0);
    const tok = model.tokenizer, promptNotes = tok.decode(tok.encode(short.scores[0])).notes;
    const key = (n: { pitch: number; start: number }) => `${n.pitch}@${n.start}`;
    const contKeys = new Set(cont.scores[0].notes.map(key));
    assert(promptNotes.every((n) => contKeys.has(key(n))), "the continuation keeps the prompt's notes");
    assert(cont.scores[0].notes.length > promptNotes.length);
    const secs = await generate({ model, seconds: 3, seed: 4, ...hot });
    const sc = secs.scores[0];
    assert(sc.notes.length > 0 && sc.notes.every((n) => ticksToSeconds(sc, n.start) < 3));
    let streamed = 0;
    await generate({ model, maxTokens: 120, seed: 42, ...hot, onNotes: (n) => streamed += n.length });
    assert(streamed > 0);
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("generate with the gpu kernel path (ETUDE_ENGINE_KERNELS=gpu, forced on any adapter): same seed, same tokens", async () => {
  const prev = Deno.env.get(KERNEL_PATH_ENV);
  Deno.env.set(KERNEL_PATH_ENV, "gpu");
  try {
    const { dir, model } = await tinyModel(REMI, 64);
    try {
      assertEquals((await model.engine(1)).kernels, "gpu");
      const hot = { temperature: 2, topK: 0, topP: 1 };
      const a = await generate({ model, maxTokens: 150, seed: 42, ...hot });
      const b = await generate({ model, maxTokens: 150, seed: 42, chunk: 7, ...hot });
      assertEquals(a.ids, b.ids);
      assertEquals(writeMidi(a.scores[0]), writeMidi(b.scores[0]));
      assert(a.scores[0].notes.length > 0);
      const c = await generate({ model, maxTokens: 150, seed: 43, ...hot });
      assert(JSON.stringify(c.ids) !== JSON.stringify(a.ids), "another seed, another piece");
      const batch = await generate({ model, maxTokens: 100, seed: 42, batch: 4, ...hot });
      assertEquals(new Set(batch.ids.map((x) => x.join(","))).size, 4);
      const again = await generate({ model, maxTokens: 100, seed: 42, batch: 4, chunk: 5, ...hot });
      assertEquals(again.ids, batch.ids);
    } finally {
      model.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  } finally {
    if (prev === undefined) Deno.env.delete(KERNEL_PATH_ENV);
    else Deno.env.set(KERNEL_PATH_ENV, prev);
  }
});

Deno.test("generate: a prompt longer than the context comes back whole, continued; seconds and streaming count after it", async () => {
  const { dir, model } = await tinyModel(REMI); // 96 positions: the model sees only the prompt's last bars
  try {
    const prompt = emptyScore(480);
    for (let i = 0; i < 160; i++) {
      prompt.notes.push({ pitch: 60 + (i % 8), velocity: 80, start: i * 480, duration: 400 });
    }
    const tok = model.tokenizer;
    const rendered = tok.decode(tok.encode(prompt)).notes;
    assert(tok.encode(prompt).length > 96 * 4, "the prompt is several contexts long");
    const key = (n: { pitch: number; start: number }) => `${n.pitch}@${n.start}`;
    const streamed: string[] = [];
    const r = await generate({
      model,
      prompt,
      maxTokens: 40,
      seed: 3,
      temperature: 1.2,
      onNotes: (ns) => streamed.push(...ns.map(key)),
    });
    const out = r.scores[0].notes;
    const keys = new Set(out.map(key));
    assert(rendered.every((n) => keys.has(key(n))), "every prompt note is in the result");
    const fresh = out.filter((n) => !new Set(rendered.map(key)).has(key(n)));
    assert(fresh.length > 0, "the continuation adds notes");
    const last = Math.max(...rendered.map((n) => n.start));
    assert(fresh.every((n) => n.start >= last), "new notes come after the prompt's last onset");
    assert(
      streamed.length > 0 && streamed.every((k) => !rendered.some((n) => key(n) === k)),
      "only new notes stream",
    );
    const timed = await generate({ model, prompt, seconds: 2, seed: 5, temperature: 1.2 });
    const sc = timed.scores[0];
    const lastSec = ticksToSeconds(sc, last);
    assert(sc.notes.length > rendered.length, "seconds counts after the prompt, not from the start");
    assert(sc.notes.every((n) => ticksToSeconds(sc, n.start) < lastSec + 2));
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("generate: out-of-range parameters name the field", async () => {
  const { dir, model } = await tinyModel(REMI, 32);
  try {
    for (
      const [field, o] of [
        ["temperature", { temperature: 3 }],
        ["topK", { topK: 501 }],
        ["topK", { topK: 2.5 }],
        ["topP", { topP: 0 }],
        ["batch", { batch: 0 }],
        ["seed", { seed: -1 }],
      ] as const
    ) {
      await assertRejects(() => generate({ model, ...o }), GenerateParamError);
      const e = await generate({ model, ...o }).catch((x) => x);
      assertEquals((e as GenerateParamError).field, field);
    }
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
