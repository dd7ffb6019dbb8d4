/**
 * `generate()` on the CPU device (lib/cpu's KV-cache decoder + the reference sampler) against the WebGPU engine (the
 * software adapter here): the same seed gives the same tokens, with and without the grammar mask, with a batch, a
 * prompt, and a context small enough to slide many times; streaming, cancellation and the no-BLAS fallback.
 *
 * Equality is asserted token for token. Both paths draw from the same Philox streams (sampleReference is the CPU
 * reference of the GPU sampler, same bits); the logits differ by float rounding only (≈ 1e-6 here), so a difference
 * could only come from a sampled threshold falling between two rounded values — none has appeared in these runs. If
 * one ever does, the test prints the first differing step, and the check to make is that both paths' logits at that
 * step agree to 1e-4 (a tie), not that the paths diverge.
 */
import { assert, assertEquals } from "../_assert.ts";
import { generate, type GenerateOptions } from "../../lib/infer/generate.ts";
import { type LoadedModel, loadModel } from "../../lib/infer/load.ts";
import { grammarErrors } from "../../lib/infer/grammar.ts";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import { readMidiFile } from "../../lib/midi/mod.ts";
import { loadBlas } from "../../lib/cpu/blas.ts";
import { writeTinyCheckpoint } from "./_fixtures.ts";
import { type Note, sortNotes } from "../../lib/score.ts";

const REMI = new RemiTokenizer().toJSON();
const PROMPT = new URL("../testdata/midi/jazz-soft-test-c-major-scale.mid", import.meta.url).pathname;

function firstDiff(a: number[][], b: number[][]): string {
  for (let s = 0; s < Math.max(a.length, b.length); s++) {
    const x = a[s] ?? [], y = b[s] ?? [];
    for (let i = 0; i < Math.max(x.length, y.length); i++) {
      if (x[i] !== y[i]) return `sequence ${s}, token ${i}: cpu ${x[i]} vs engine ${y[i]}`;
    }
  }
  return "none";
}

async function same(cpu: LoadedModel, gpu: LoadedModel, o: Omit<GenerateOptions, "model">) {
  const a = await generate({ model: cpu, ...o });
  const b = await generate({ model: gpu, ...o });
  console.log(
    `${JSON.stringify({ ...o, prompt: o.prompt ? "…" : undefined })}: ${
      a.ids.map((x) => x.length)
    } tokens; ` +
      `cpu ${a.tokensPerSecond.toFixed(0)}/s on ${a.adapter}, engine ${b.tokensPerSecond.toFixed(0)}/s; ` +
      `first difference: ${firstDiff(a.ids, b.ids)}`,
  );
  assertEquals(a.ids, b.ids);
  assertEquals(a.scores, b.scores);
  return a;
}

Deno.test("cpu device: the default model gives the engine's tokens (seed, batch, no grammar, prompt + seconds)", async () => {
  const cpu = await loadModel("models/maestro-2m", { device: "cpu" });
  const gpu = await loadModel("models/maestro-2m", { device: "gpu" });
  try {
    assertEquals(cpu.device, "cpu");
    assert(cpu.adapter.startsWith("cpu ("), cpu.adapter);
    await same(cpu, gpu, { seed: 7, maxTokens: 256 });
    await same(cpu, gpu, { seed: 1, bars: 8, temperature: 1.1, topK: 20, topP: 0.9 });
    await same(cpu, gpu, { seed: 3, maxTokens: 200, batch: 2 });
    await same(cpu, gpu, { seed: 5, maxTokens: 200, grammar: false });
    await same(cpu, gpu, { seed: 11, seconds: 6, prompt: await readMidiFile(PROMPT) });
    // 700 tokens > the 512-position context: the window slides (re-prefill from a bar line)
    await same(cpu, gpu, { seed: 2, maxTokens: 700, batch: 2 });
  } finally {
    cpu.dispose();
    gpu.dispose();
  }
});

Deno.test("cpu device: a tiny random model with a 32-position context slides many times, as the engine", async () => {
  const dir = await writeTinyCheckpoint(
    { vocab: REMI.vocab.length, d: 24, ffn: 40, layers: 1, heads: 2, maxPos: 32 },
    3,
    REMI,
  );
  const cpu = await loadModel(dir, { device: "cpu" });
  const gpu = await loadModel(dir, { device: "gpu" });
  try {
    const hot = { temperature: 1.5, topK: 0, topP: 1 };
    await same(cpu, gpu, { seed: 9, maxTokens: 300, batch: 3, ...hot, chunk: 7 });
    await same(cpu, gpu, { seed: 4, maxTokens: 150, grammar: false, ...hot });
    // Grammar mask: 0 errors on the CPU path.
    const r = await generate({ model: cpu, seed: 5, maxTokens: 1000, batch: 4, ...hot });
    for (const ids of r.ids) {
      const e = grammarErrors(ids, REMI);
      assertEquals([e.type, e.time, e.dupn], [0, 0, 0]);
    }
  } finally {
    cpu.dispose();
    gpu.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cpu device: streamed notes are the final score's; a signal stops early", async () => {
  const cpu = await loadModel("models/maestro-2m", { device: "cpu" });
  try {
    const streamed: Record<number, Note[]> = { 0: [], 1: [] };
    const r = await generate({
      model: cpu,
      seed: 8,
      maxTokens: 300,
      batch: 2,
      onNotes: (notes, s) => streamed[s].push(...notes),
    });
    for (const s of [0, 1]) assertEquals(sortNotes(streamed[s]), r.scores[s].notes);
    const ac = new AbortController();
    const cut = await generate({
      model: cpu,
      seed: 8,
      maxTokens: 2000,
      chunk: 16,
      signal: ac.signal,
      onNotes: () => ac.abort(),
    });
    assert(cut.ids[0].length < 2000 && cut.ids[0].length > 0, `${cut.ids[0].length}`);
    assertEquals(cut.ids[0], r.ids[0].slice(0, cut.ids[0].length));
  } finally {
    cpu.dispose();
  }
});

Deno.test("cpu device without a BLAS (ETUDE_BLAS=/nonexistent): the TypeScript fallback gives the same tokens", async () => {
  const dir = await writeTinyCheckpoint(
    { vocab: REMI.vocab.length, d: 24, ffn: 40, layers: 1, heads: 2, maxPos: 48 },
    6,
    REMI,
  );
  const before = Deno.env.get("ETUDE_BLAS");
  Deno.env.set("ETUDE_BLAS", "/nonexistent/libopenblas.so");
  loadBlas({ fresh: true });
  let cpu: LoadedModel | undefined;
  try {
    cpu = await loadModel(dir, { device: "cpu" });
  } finally {
    if (before === undefined) Deno.env.delete("ETUDE_BLAS");
    else Deno.env.set("ETUDE_BLAS", before);
    loadBlas({ fresh: true });
  }
  const gpu = await loadModel(dir, { device: "gpu" });
  try {
    assert(cpu.adapter.includes("TypeScript"), cpu.adapter);
    await same(cpu, gpu, { seed: 12, maxTokens: 120, batch: 2, temperature: 1.5 });
  } finally {
    cpu.dispose();
    gpu.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
