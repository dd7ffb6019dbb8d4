import { assertEquals } from "../_assert.ts";
import { FastSampler, sampleFast } from "../../lib/infer/sample_fast.ts";
import { sampleReference, type SamplerParams } from "../../lib/infer/sampling.ts";
import { rng } from "./_fixtures.ts";

type Case = {
  logits: Float32Array;
  params: SamplerParams;
  seq: number;
  draw: number;
  allowed?: Uint8Array;
  bias?: Float32Array;
};

/** A random case: sizes 3…20000, ties, huge spreads (exps underflowing), masks, -inf biases, every filter regime. */
function randomCase(r: () => number, maxV: number): Case {
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const V = 3 + Math.floor(r() ** 2 * (maxV - 3));
  const scale = pick([0.01, 1, 4, 20, 200]);
  const quant = pick([0, 0, 0.5, 1, 4]); // > 0: logits on a grid (many ties)
  const logits = new Float32Array(V);
  for (let v = 0; v < V; v++) {
    const x = (r() * 2 - 1) * scale;
    logits[v] = quant ? Math.round(x / quant) * quant : x;
  }
  if (r() < 0.05) logits.fill(pick([0, -0, 3]));
  if (r() < 0.1) logits[Math.floor(r() * V)] = -Infinity;
  let allowed: Uint8Array | undefined;
  if (r() < 0.5) {
    const p = pick([0.02, 0.3, 0.9, 1, 0]);
    allowed = Uint8Array.from({ length: V }, () => (r() < p ? 1 : 0));
    if (r() < 0.3) allowed[Math.floor(r() * V)] = 2; // not 1: masked
  }
  let bias: Float32Array | undefined;
  if (r() < 0.3) {
    bias = Float32Array.from({ length: V }, () => (r() < 0.2 ? -Infinity : r() < 0.5 ? 0 : (r() - 0.5) * 3));
  }
  const topK = pick([0, 0, 1, 2, 3, 7, 40, V, V + 5, Math.floor(r() * V)]);
  const topP = pick([1, 1, 0.95, 0.9, 0.5, 0.1, 1e-6, 0.999999, r()]);
  const temperature = pick([0.1, 0.7, 1, 1.3, 2, 0.1 + r() * 1.9]);
  return {
    logits,
    params: { temperature, topK, topP, seed: Math.floor(r() * 2 ** 40) },
    seq: Math.floor(r() * 20),
    draw: Math.floor(r() * 1000),
    allowed,
    bias,
  };
}

function check(s: FastSampler, c: Case, what: string) {
  const want = sampleReference(c.logits, c.params, c.seq, c.draw, c.allowed, c.bias);
  const got = s.sample(c.logits, c.params, c.seq, c.draw, c.allowed, c.bias);
  assertEquals(got, want, `${what}: V ${c.logits.length}, ${JSON.stringify(c.params)}`);
}

Deno.test("fast sampler = reference sampler (token and candidates) on 4000 random cases, V 3…1100", () => {
  const r = rng(12), s = new FastSampler();
  for (let i = 0; i < 4000; i++) check(s, randomCase(r, 1100), `case ${i}`);
});

Deno.test("fast sampler = reference sampler on 40 large vocabularies (up to 20000) with one reused sampler", () => {
  const r = rng(77), s = new FastSampler();
  for (let i = 0; i < 40; i++) {
    const c = randomCase(r, 20000);
    check(s, c, `case ${i}`);
    // the same buffers, now on a smaller input
    check(s, randomCase(r, 50), `small after ${i}`);
  }
});

Deno.test("fast sampler = reference sampler on edge cases: all masked, one allowed, ties, odd top-k/top-p, NaN and inf", () => {
  const s = new FastSampler();
  const base = new Float32Array([1, 3, 3, -2, 3, 0.5, -Infinity, 3]);
  const V = base.length;
  const p = (o: Partial<SamplerParams>): SamplerParams => ({
    temperature: 1,
    topK: 0,
    topP: 1,
    seed: 5,
    ...o,
  });
  const cases: Case[] = [];
  for (const topK of [0, 1, 2, 3, 4, 5, 8, 9, -1, 2.5, NaN]) {
    for (const topP of [1, 0.999, 0.7, 0.3, 1e-9, 0, -1, NaN, 2]) {
      for (let draw = 0; draw < 4; draw++) {
        cases.push({ logits: base, params: p({ topK, topP }), seq: 1, draw });
      }
    }
  }
  const none = new Uint8Array(V), one = new Uint8Array(V);
  one[3] = 1;
  cases.push({ logits: base, params: p({ topP: 0.5 }), seq: 0, draw: 0, allowed: none });
  cases.push({ logits: base, params: p({ topK: 3 }), seq: 0, draw: 0, allowed: one });
  cases.push({ logits: base, params: p({}), seq: 0, draw: 0, bias: new Float32Array(V).fill(-Infinity) });
  const onlyInf = new Uint8Array(V);
  onlyInf[6] = 1;
  cases.push({ logits: base, params: p({ topP: 0.5 }), seq: 0, draw: 0, allowed: onlyInf });
  for (const bad of [NaN, Infinity]) {
    const l = base.slice();
    l[2] = bad;
    cases.push({ logits: l, params: p({ topP: 0.8 }), seq: 0, draw: 3 });
    const masked = new Uint8Array(V).fill(1);
    masked[2] = 0;
    cases.push({ logits: l, params: p({ topP: 0.8 }), seq: 0, draw: 3, allowed: masked });
  }
  for (const temperature of [0, -1, 1e-30, 1e30]) {
    cases.push({ logits: base, params: p({ temperature }), seq: 2, draw: 9 });
  }
  cases.push({ logits: new Float32Array([-0, 0, -0]), params: p({ topK: 1 }), seq: 0, draw: 0 });
  cases.push({ logits: new Float32Array([-100, 0, -200]), params: p({ temperature: 0.1 }), seq: 0, draw: 0 });
  cases.forEach((c, i) => check(s, c, `edge ${i}`));
});

Deno.test("sampleFast (shared sampler) draws what the reference draws over a sequence of draws", () => {
  const r = rng(5);
  const logits = Float32Array.from({ length: 1024 }, () => (r() - 0.5) * 8);
  const params = { temperature: 1, topK: 0, topP: 0.95, seed: 1 };
  for (let d = 0; d < 200; d++) {
    assertEquals(sampleFast(logits, params, d % 3, d), sampleReference(logits, params, d % 3, d));
  }
});
