/**
 * The KV-cache decoder: prefill (GEMM) and steps (one GEMV per row up to 4 rows, GEMM above) give transformers' logits (HF fixture)
 * and the plain-TS reference's to ≤ 1e-4 relative; batched steps equal single ones; chunked prefill equals one
 * prefill; a slid window equals a fresh decoder over it.
 */
import { logitError } from "../../lib/cpu/logit_error.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import { CpuDecoder } from "../../lib/cpu/decode.ts";
import { CpuTransformer } from "../../lib/cpu/model.ts";
import { referenceLogits } from "../../lib/infer/reference.ts";
import { BLASES, maxDiff, referenceInputs } from "./_util.ts";

const HF_DIR = new URL("../testdata/hf_llama/", import.meta.url).pathname;
const hf = JSON.parse(await Deno.readTextFile(`${HF_DIR}hf_logits.json`)) as {
  ids: number[];
  logits: number[][];
};

for (
  const [blas, layout] of BLASES.flatMap((b) => (["out-in", "in-out"] as const).map((l) => [b, l] as const))
) {
  Deno.test(`${blas.kind}, ${layout} weights: prefill + KV-cache steps = transformers' logits and the plain-TS reference`, async () => {
    const m = await CpuTransformer.load(HF_DIR, blas);
    const V = m.config.vocabSize, T = hf.ids.length, want = hf.logits.flat();
    const { config, weights } = referenceInputs(m);
    const ref = referenceLogits(config, weights, hf.ids);
    // all rows of one prefill
    const dec = new CpuDecoder(m, { layout });
    const pre = dec.prefill(hf.ids, { allRows: true }).slice();
    const a = maxDiff(pre, want);
    assert(a.diff <= 1e-4 * a.scale, `prefill vs HF ${a.diff}`);
    assert(maxDiff(pre, ref).diff <= 1e-4 * a.scale, "prefill vs reference");
    // prefill of the first token, then GEMV steps
    dec.reset();
    const rows = [dec.prefill(hf.ids.slice(0, 1)).slice()];
    for (let t = 1; t < T; t++) rows.push(dec.step([hf.ids[t]]).slice());
    const flat = new Float32Array(T * V);
    rows.forEach((r, t) => flat.set(r, t * V));
    const b = maxDiff(flat, want);
    console.log(
      `  ${blas.kind} ${layout} decode steps vs transformers: max |diff| ${b.diff.toExponential(2)}`,
    );
    assert(b.diff <= 1e-4 * b.scale, `steps vs HF ${b.diff}`);
    assert(maxDiff(flat, ref).diff <= 1e-4 * b.scale, "steps vs reference");
    assert(dec.lengths[0] === T);
  });

  Deno.test(`${blas.kind}, ${layout} weights: batched steps at different positions = each sequence alone (GEMV)`, async () => {
    const m = await CpuTransformer.load(HF_DIR, blas);
    const V = m.config.vocabSize;
    const all = [
      hf.ids.slice(0, 5),
      hf.ids.slice(2, 9),
      [1, 77, 3],
      hf.ids.slice(1, 4),
      [1, 5],
      hf.ids.slice(3, 10),
    ];
    // 3 rows: one GEMV per row (GEMV_ROWS), so each row is bit for bit its batch-1 step; 6 rows: a GEMM
    for (const rows of [3, 6]) {
      const prompts = all.slice(0, rows);
      const nexts = prompts.map((_, s) => [10 + s, 20 + s, 30 + s]);
      const batch = new CpuDecoder(m, { maxBatch: rows, layout });
      prompts.forEach((p, s) => batch.prefill(p, { seq: s }));
      const got: Float32Array[][] = prompts.map(() => []);
      for (let i = 0; i < 3; i++) {
        const lg = batch.step(nexts.map((n) => n[i]));
        for (let s = 0; s < rows; s++) got[s].push(lg.slice(s * V, (s + 1) * V));
      }
      for (let s = 0; s < rows; s++) {
        const one = new CpuDecoder(m, { layout });
        one.prefill(prompts[s]);
        for (let i = 0; i < 3; i++) {
          const r = maxDiff(got[s][i], one.step([nexts[s][i]]));
          if (rows <= 4) {
            assertEquals(r.diff, 0, `${rows} rows, seq ${s} step ${i}: per-row GEMVs are batch 1's`);
          } else assert(r.diff <= 1e-5 * r.scale, `${rows} rows, seq ${s} step ${i}: ${r.diff}`);
        }
        assert(batch.lengths[s] === prompts[s].length + 3);
      }
    }
  });
}

for (const blas of BLASES) {
  Deno.test(`${blas.kind}: chunked prefill and a slid window equal fresh computations`, async () => {
    const m = await CpuTransformer.load(HF_DIR, blas);
    const ids = hf.ids;
    const whole = new CpuDecoder(m).prefill(ids).slice();
    const dec = new CpuDecoder(m, { maxPositions: 16 });
    dec.prefill(ids.slice(0, 5));
    const chunked = dec.prefill(ids.slice(5), { posBase: 5 });
    const r = maxDiff(chunked, whole);
    assert(r.diff <= 1e-5 * r.scale, `chunked prefill ${r.diff}`);
    // the engine's slide: re-prefill the kept ids but the newest from position 0, then step the newest
    const kept = ids.slice(4);
    dec.prefill(kept.slice(0, -1));
    const slid = dec.step([kept.at(-1)!]).slice();
    const fresh = new CpuDecoder(m).prefill(kept);
    const s = maxDiff(slid, fresh);
    assert(s.diff <= 1e-5 * s.scale, `slid window ${s.diff}`);
    assert(dec.lengths[0] === kept.length);
  });
}

Deno.test("decoder range checks: cache overflow, holes, bad ids and slots", () => {
  const m = CpuTransformer.init(
    { vocabSize: 9, dim: 4, layers: 1, heads: 1, ffn: 8, maxPositions: 8, ropeTheta: 1e4, normEps: 1e-5 },
    1,
  );
  const dec = new CpuDecoder(m, { maxBatch: 2 });
  assertThrows(() => dec.prefill(new Array(9).fill(1)));
  assertThrows(() => dec.prefill([1, 2], { posBase: 3 })); // would leave a hole
  assertThrows(() => dec.prefill([9]));
  assertThrows(() => dec.prefill([1], { seq: 2 }));
  dec.prefill([1, 2, 3]);
  assertThrows(() => dec.step([1, 1, 1]));
  assertThrows(() => dec.step([1], [5]));
  dec.prefill([1, 2, 3, 4, 5, 6, 7]);
  dec.step([1]);
  assertThrows(() => dec.step([1]), RangeError); // position 8 is past the cache
});

Deno.test("the default model over its whole 512-token context: forward and KV-cache steps = the plain-TS reference", async () => {
  const m = await CpuTransformer.load(new URL("../../models/maestro-2m/", import.meta.url).pathname);
  const T = m.config.maxPositions, V = m.config.vocabSize;
  let seed = 7;
  const ids = Array.from(
    { length: T },
    (_, i) => (i === 0 ? 1 : 4 + ((seed = (seed * 1103515245 + 12345) >>> 0) % 1000)),
  );
  const { config, weights } = referenceInputs(m);
  const ref = referenceLogits(config, weights, ids);
  const fw = maxDiff(m.forward(ids, 1, T), ref);
  assert(fw.diff <= 1e-4 * fw.scale, `forward ${fw.diff} (scale ${fw.scale})`);
  const dec = new CpuDecoder(m), out = new Float32Array(T * V);
  out.set(dec.prefill(ids.slice(0, 1)));
  for (let t = 1; t < T; t++) out.set(dec.step([ids[t]]), t * V);
  const st = maxDiff(out, ref);
  console.log(
    `  forward max |diff| ${fw.diff.toExponential(2)}, steps ${st.diff.toExponential(2)} (scale ${
      st.scale.toFixed(1)
    })`,
  );
  assert(st.diff <= 1e-4 * st.scale, `steps ${st.diff}`);
});

Deno.test("bf16 and int8 weights on the default model: logits within their error bounds of f32, the same argmax almost everywhere; steps = prefill", async () => {
  const m = await CpuTransformer.load(new URL("../../models/maestro-2m/", import.meta.url).pathname);
  const V = m.config.vocabSize, T = 128;
  // a real continuation: the f32 model's greedy tokens after BOS
  const f32 = new CpuDecoder(m), ids = [1];
  let lg = f32.prefill(ids);
  while (ids.length < T) {
    let am = 0;
    for (let v = 1; v < V; v++) if (lg[v] > lg[am]) am = v;
    ids.push(am);
    lg = f32.step([am]);
  }
  const ref = f32.prefill(ids, { allRows: true }).slice();
  // measured 2026-12-01: bf16 max |Δ| ÷ logit range 9.5e-4, rms 1.6e-3, argmax 128/128; int8 4.9e-3, 5.8e-3, 127/128
  const bounds = {
    bf16: { range: 3e-3, rms: 5e-3, agree: 125 },
    int8: { range: 1.5e-2, rms: 2e-2, agree: 120 },
  };
  for (const weights of ["bf16", "int8"] as const) {
    const dec = new CpuDecoder(m, { weights, threads: 2 });
    try {
      const got = dec.prefill(ids, { allRows: true }).slice();
      const { maxAbs: err, range, rms, agree } = logitError(ref, got, V);
      console.log(
        `  ${weights}: max |Δ| ${err.toFixed(4)} = ${
          (err / range).toExponential(2)
        } of the logit range, rms ${rms.toExponential(2)}, argmax ${agree}/${T}`,
      );
      const b = bounds[weights];
      assert(
        err <= b.range * range && rms <= b.rms && agree >= b.agree,
        `${weights} logit error over its bound`,
      );
      assert(err > 0, `${weights}: logits identical to f32 (the reduced weights were not used)`);
      // the KV-cache steps (1-row kernels, BLAS attention GEMVs) = the prefill (4-row kernels, GEMMs)
      dec.reset();
      const rows = new Float32Array(T * V);
      rows.set(dec.prefill(ids.slice(0, 1)));
      for (let t = 1; t < T; t++) rows.set(dec.step([ids[t]]), t * V);
      const s = maxDiff(rows, got);
      assert(s.diff <= 1e-4 * s.scale, `${weights} steps vs prefill ${s.diff}`);
    } finally {
      dec.dispose();
    }
  }
  assertThrows(() => new CpuDecoder(m, { weights: "fp8" as "int8" }), RangeError, "weights");
});

Deno.test("loadModel({ device: 'cpu', weights }): int8 and bf16 generate grammatical pieces (the tokens shared with f32 printed); other devices refuse", async () => {
  const { generate } = await import("../../lib/infer/generate.ts");
  const { loadModel } = await import("../../lib/infer/load.ts");
  const { grammarErrors } = await import("../../lib/infer/grammar.ts");
  const f32 = await loadModel("models/maestro-2m", { device: "cpu" });
  const want = (await generate({ model: f32, seed: 7, maxTokens: 64 })).ids[0];
  f32.dispose();
  for (const weights of ["bf16", "int8"] as const) {
    const m = await loadModel("models/maestro-2m", { device: "cpu", weights });
    try {
      assert(m.adapter.endsWith(`, ${weights} weights)`), m.adapter);
      const got = (await generate({ model: m, seed: 7, maxTokens: 64 })).ids[0];
      let same = 0;
      while (same < got.length && got[same] === want[same]) same++;
      console.log(`  ${weights}: the first ${same} of ${got.length} tokens are f32's`);
      assertEquals(got.length, 64);
      assertEquals(grammarErrors(got, m.tokenizerJson).type, 0);
    } finally {
      m.dispose();
    }
  }
  await assertRejects(
    () => loadModel("models/maestro-2m", { device: "gpu", weights: "int8" }),
    Error,
    "CPU device",
  );
});
