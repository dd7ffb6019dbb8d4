/**
 * The CPU-backend bench helpers measure what they say: the read-bandwidth passes read the whole buffer (their sums
 * are checked), the decode breakdown adds up to the step, the training breakdown to the step, and the parts skip
 * every row with the reason when no BLAS can be opened.
 */
import { assert, assertAlmostEquals, assertEquals } from "../_assert.ts";
import { fallbackBlas, getBlas } from "../../lib/cpu/blas.ts";
import { CpuTransformer } from "../../lib/cpu/model.ts";
import {
  cpuDecodeThroughput,
  cpuTrainThroughput,
  measureBlasReadBandwidth,
  measureReadBandwidth,
} from "../../bench/cpu_bench.ts";

const TINY = {
  vocabSize: 64,
  dim: 32,
  layers: 2,
  heads: 4,
  ffn: 64,
  maxPositions: 64,
  ropeTheta: 1e4,
  normEps: 1e-5,
};

Deno.test("read bandwidth: workers and sgemv read every byte once (sums checked inside)", async () => {
  const ts = await measureReadBandwidth(8, 2, 2);
  assertEquals([ts.bytes, ts.threads], [8 * 1024 * 1024, 2]);
  assert(ts.gbPerSecond > 0 && Number.isFinite(ts.gbPerSecond));
  const b = measureBlasReadBandwidth(fallbackBlas, 4, 1);
  assertEquals(b.bytes, 4 * 1024 * 1024);
  assertAlmostEquals(b.gbPerSecond, b.bytes / b.seconds / 1e9, 1e-9);
});

Deno.test("decode and training breakdowns add up to the step they describe", () => {
  const m = CpuTransformer.init(TINY, 1, getBlas());
  for (const batch of [1, 4]) {
    const r = cpuDecodeThroughput(m, { batch, steps: 4, prompt: 5, reps: 1 });
    const sum = Object.values(r.breakdown).reduce((a, b) => a + b, 0);
    assertAlmostEquals(sum, r.msPerStep, 1e-6);
    assertAlmostEquals(r.tokensPerSecond, batch * 1000 / r.msPerStep, 1e-6);
    for (const [k, v] of Object.entries(r.breakdown)) if (k !== "js") assert(v >= 0, `${k} ${v}`);
  }
  const t = cpuTrainThroughput(TINY, m.params, getBlas(), { batch: 2, seq: 16, steps: 2 });
  const sum = Object.values(t.breakdown).reduce((a, b) => a + b, 0);
  assertAlmostEquals(sum, t.msPerStep, 1e-6);
  assertAlmostEquals(t.tokensPerSecond, 32 * 1000 / t.msPerStep, 1e-6);
  assert(t.breakdown.forwardGemm > 0 && t.breakdown.backwardGemm > 0 && t.gflops > 0);
});

Deno.test("without a BLAS every CPU-backend bench row is skipped with the install hint", async () => {
  const src = `
    import { decodeCpu, trainCpu } from ${
    JSON.stringify(new URL("../../bench/cpu_parts.ts", import.meta.url).href)
  };
    const ctx = { quick: true, ckptDir: "/nonexistent", weightBytes: 1 };
    const rows = [...await decodeCpu.run(ctx), ...await trainCpu.run(ctx)];
    console.log(JSON.stringify(rows));`;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["eval", src],
    env: { ETUDE_BLAS: "/nonexistent/libcblas.so" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(r.stdout);
  assertEquals(r.code, 0, new TextDecoder().decode(r.stderr));
  const rows = JSON.parse(out) as { value: number | null; skipped?: string }[];
  assert(rows.length >= 10);
  for (const row of rows) {
    assertEquals(row.value, null);
    assert(/libopenblas0-pthread/.test(row.skipped ?? ""), row.skipped);
  }
});
