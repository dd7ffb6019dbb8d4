import { assert, assertEquals } from "../_assert.ts";
import { readEngineModel } from "../../lib/infer/model_loader.ts";
import { Engine } from "../../lib/infer/engine.ts";
import { fexp, philox4x32, sampleReference, uniformAt } from "../../lib/infer/sampling.ts";
import { randomArray, rng, writeTinyCheckpoint } from "./_fixtures.ts";

Deno.test("philox4x32-10 matches the Random123 known-answer vectors", () => {
  assertEquals(philox4x32([0, 0, 0, 0], [0, 0]), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
  assertEquals(
    philox4x32([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff]),
    [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
  );
  assertEquals(
    philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]),
    [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
  );
});

Deno.test("fexp tracks Math.exp to f32 precision", () => {
  for (let x = -80; x <= 0; x += 0.37) {
    const rel = Math.abs(fexp(x) - Math.exp(x)) / Math.exp(x);
    assert(rel < 5e-6, `exp(${x}): rel ${rel}`);
  }
});

Deno.test("reference sampler: top-k = 1 is argmax; top-p keeps the smallest set reaching p", () => {
  const r = rng(3);
  for (let trial = 0; trial < 20; trial++) {
    const logits = randomArray(300, 4, r);
    const am = logits.indexOf(Math.max(...logits));
    for (let d = 0; d < 5; d++) {
      const s = sampleReference(logits, { temperature: 0.7, topK: 1, topP: 1, seed: trial }, 0, d);
      assertEquals(s.token, am);
      assertEquals(s.candidates, [am]);
    }
    const T = 1.3, p = 0.6;
    const { candidates } = sampleReference(logits, { temperature: T, topK: 0, topP: p, seed: 1 }, 0, 0);
    const probs = [...logits].map((l) => Math.exp(l / T));
    const Z = probs.reduce((a, b) => a + b, 0);
    const order = [...probs.keys()].sort((a, b) => probs[b] - probs[a]);
    let mass = 0, n = 0;
    while (mass < p * Z - 1e-9 * Z) mass += probs[order[n++]];
    assertEquals(candidates, order.slice(0, n).sort((a, b) => a - b));
  }
});

Deno.test("reference sampler: draw frequencies match the filtered distribution (chi-square)", () => {
  const logits = new Float32Array([2, 1.5, 1, 0.5, 0, -0.5, -1, 3, -2, 0.2]);
  const params = { temperature: 0.9, topK: 6, topP: 0.9, seed: 11 };
  const { candidates } = sampleReference(logits, params, 0, 0);
  const w = candidates.map((v) => Math.exp(logits[v] / params.temperature));
  const Z = w.reduce((a, b) => a + b, 0);
  const N = 8000;
  const counts = new Map<number, number>();
  for (let i = 0; i < N; i++) {
    const t = sampleReference(logits, params, 0, i).token;
    counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  let chi = 0;
  candidates.forEach((v, i) => {
    const e = N * w[i] / Z;
    chi += ((counts.get(v) ?? 0) - e) ** 2 / e;
  });
  for (const k of counts.keys()) assert(candidates.includes(k), `drew ${k} outside the candidates`);
  // df = candidates − 1 ≤ 5: the 0.999 quantile of chi-square(5) is 20.5.
  console.log(`chi-square ${chi.toFixed(2)} over ${candidates.length} candidates, ${N} draws`);
  assert(chi < 20.5, `chi-square ${chi}`);
  const u = Array.from({ length: 1000 }, (_, i) => uniformAt(5, 0, i));
  assert(u.every((x) => x >= 0 && x < 1));
});

Deno.test("GPU sampler equals the CPU reference: candidates and drawn token", async () => {
  const V = 1000;
  const dir = await writeTinyCheckpoint({ vocab: V, d: 8, ffn: 8, layers: 1, heads: 2, maxPos: 8 }, 1);
  const { config, weights } = await readEngineModel(dir);
  const engine = await Engine.create(config, weights, { maxBatch: 4 });
  const r = rng(9);
  let mismatches = 0, total = 0;
  try {
    for (
      const params of [
        { temperature: 0.8, topK: 50, topP: 0.95, seed: 1 },
        { temperature: 1.7, topK: 0, topP: 0.5, seed: 2 ** 40 + 3 },
        { temperature: 0.3, topK: 500, topP: 1, seed: 77 },
        { temperature: 1, topK: 1, topP: 1, seed: 5 },
        { temperature: 1.2, topK: 7, topP: 0.3, seed: 123456 },
      ]
    ) {
      for (let rep = 0; rep < 3; rep++) {
        const B = 4;
        const logits = randomArray(B * V, 6, r);
        for (let i = 0; i < 20; i++) logits[Math.floor(r() * B * V)] = logits[Math.floor(r() * B * V)]; // ties
        const draws = rep * 17 + 3;
        const out = await engine.sample(
          logits,
          params,
          Array.from({ length: B }, () => ({ gType: 0, gPos: -1, draws })),
        );
        for (let b = 0; b < B; b++) {
          const ref = sampleReference(logits.subarray(b * V, (b + 1) * V), params, b, draws);
          const kept: number[] = [];
          for (let v = 0; v < V; v++) if (out.kept[b * V + v]) kept.push(v);
          assertEquals(kept, ref.candidates, `candidates, params ${JSON.stringify(params)} seq ${b}`);
          total++;
          if (out.tokens[b] !== ref.token) mismatches++;
          assertEquals(out.state[b * 16 + 4], draws + 1);
        }
      }
    }
  } finally {
    engine.dispose();
    await Deno.remove(dir, { recursive: true });
  }
  console.log(`GPU vs CPU draws: ${total - mismatches}/${total} identical`);
  assertEquals(mismatches, 0);
});

Deno.test("GPU sampler: per-sequence settings and Philox counters (stream, origin) in one dispatch equal the CPU reference", async () => {
  const V = 300;
  const dir = await writeTinyCheckpoint({ vocab: V, d: 8, ffn: 8, layers: 1, heads: 2, maxPos: 8 }, 1);
  const { config, weights } = await readEngineModel(dir);
  const engine = await Engine.create(config, weights, { maxBatch: 5 });
  const r = rng(17);
  try {
    const settings = [
      { temperature: 0.8, topK: 50, topP: 0.95, seed: 1 },
      { temperature: 1.7, topK: 0, topP: 0.5, seed: 2 ** 32 + 9 },
      { temperature: 0.3, topK: 5, topP: 1, seed: 77 },
      { temperature: 1.2, topK: 7, topP: 0.3, seed: 123456 },
    ];
    // Different counters per sequence: (draws − origin, stream) as a server row (stream 0, its own origin) or a
    // batch sequence (stream = its index, origin 0).
    const states = [
      { gType: 0, gPos: -1, draws: 40, stream: 0, origin: 37 },
      { gType: 0, gPos: -1, draws: 41, stream: 0, origin: 0 },
      { gType: 0, gPos: -1, draws: 40, stream: 2, origin: 0 },
      { gType: 0, gPos: -1, draws: 42, stream: 0, origin: 40 },
    ];
    for (let rep = 0; rep < 3; rep++) {
      const logits = randomArray(4 * V, 6, r);
      const out = await engine.sample(logits, settings, states);
      for (let b = 0; b < 4; b++) {
        const ref = sampleReference(
          logits.subarray(b * V, (b + 1) * V),
          settings[b],
          states[b].stream,
          states[b].draws - states[b].origin,
        );
        const kept: number[] = [];
        for (let v = 0; v < V; v++) if (out.kept[b * V + v]) kept.push(v);
        assertEquals(kept, ref.candidates, `sequence ${b}: candidates`);
        assertEquals(out.tokens[b], ref.token, `sequence ${b}: token`);
        assertEquals(out.state[b * 16 + 4], states[b].draws + 1);
      }
    }
  } finally {
    engine.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("GPU sampler equals the CPU reference across top-k/top-p settings, with many ties (radix and sorted-candidate searches)", async () => {
  const V = 700;
  const dir = await writeTinyCheckpoint({ vocab: V, d: 8, ffn: 8, layers: 1, heads: 2, maxPos: 8 }, 1);
  const { config, weights } = await readEngineModel(dir);
  const engine = await Engine.create(config, weights, { maxBatch: 4 });
  const r = rng(23);
  let mismatches = 0, total = 0;
  try {
    for (let rep = 0; rep < 40; rep++) {
      // Logits on a coarse grid (many equal keys), some very negative (exp underflows to 0), a few large.
      const grid = [0.5, 0.25, 1, 2][rep % 4];
      const logits = new Float32Array(4 * V).map(() => {
        const x = r();
        return x < 0.1 ? -200 * r() : Math.round((r() * 12 - 6) / grid) * grid;
      });
      const params = {
        temperature: [0.3, 0.8, 1.3, 2][rep % 4],
        topK: [0, 1, 2, 7, 50, 255, 256, 257, 600, 700][rep % 10],
        topP: [1, 0.95, 0.5, 0.1, 0.999, 0.01][rep % 6],
        seed: 1000 + rep,
      };
      const states = Array.from({ length: 4 }, (_, b) => ({ gType: 0, gPos: -1, draws: rep + b }));
      const out = await engine.sample(logits, params, states);
      for (let b = 0; b < 4; b++) {
        const ref = sampleReference(logits.subarray(b * V, (b + 1) * V), params, b, rep + b);
        const kept: number[] = [];
        for (let v = 0; v < V; v++) if (out.kept[b * V + v]) kept.push(v);
        assertEquals(kept, ref.candidates, `candidates, ${JSON.stringify(params)} seq ${b}`);
        total++;
        if (out.tokens[b] !== ref.token) mismatches++;
      }
    }
  } finally {
    engine.dispose();
    await Deno.remove(dir, { recursive: true });
  }
  assertEquals(mismatches, 0, `${mismatches}/${total} draws differ`);
});
