/** The BLAS layer: native (when found) and fallback products against a float64 loop, with strided subarray views. */
import { assert } from "../_assert.ts";
import { type Blas, blasCandidates, fallbackBlas, installHint, loadBlas } from "../../lib/cpu/blas.ts";
import { BLASES, maxDiff, randn } from "./_util.ts";

function refGemm(
  tA: boolean,
  tB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: Float32Array,
  lda: number,
  B: Float32Array,
  ldb: number,
  beta: number,
  C: Float32Array,
  ldc: number,
) {
  const out = Float64Array.from(C);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        s += (tA ? A[k * lda + i] : A[i * lda + k]) * (tB ? B[j * ldb + k] : B[k * ldb + j]);
      }
      out[i * ldc + j] = alpha * s + (beta === 0 ? 0 : beta * C[i * ldc + j]);
    }
  }
  return out;
}

for (const blas of BLASES) {
  Deno.test(`${blas.kind} sgemm: all transposes, leading dimensions and view offsets`, () => {
    const M = 7, N = 5, K = 9, pad = 3, off = 13;
    for (const tA of [false, true]) {
      for (const tB of [false, true]) {
        for (const [alpha, beta] of [[1, 0], [0.5, 1], [-2, 0.25]]) {
          const lda = (tA ? M : K) + pad, ldb = (tB ? K : N) + pad, ldc = N + pad;
          const Abuf = randn(off + (tA ? K : M) * lda, 1), Bbuf = randn(off + (tB ? N : K) * ldb, 2);
          const Cbuf = randn(off + M * ldc, 3);
          const A = Abuf.subarray(off), B = Bbuf.subarray(off), C = Cbuf.subarray(off);
          const want = refGemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
          const before = Cbuf.slice(0, off);
          blas.sgemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
          for (let i = 0; i < M; i++) {
            for (let j = 0; j < N; j++) {
              const e = Math.abs(C[i * ldc + j] - want[i * ldc + j]);
              assert(e < 1e-5, `tA ${tA} tB ${tB} α ${alpha} β ${beta}: C[${i},${j}] off by ${e}`);
            }
            // padding columns untouched
            for (let j = N; j < ldc && i * ldc + j < C.length; j++) {
              assert(C[i * ldc + j] === Cbuf[off + i * ldc + j]);
            }
          }
          assert(before.every((v, i) => v === Cbuf[i]), "memory before the view was written");
        }
      }
    }
  });

  Deno.test(`${blas.kind} sgemv: both orientations with a strided matrix view`, () => {
    const M = 6, N = 4, lda = 7, off = 5;
    const A = randn(off + M * lda, 4).subarray(off);
    for (const t of [false, true]) {
      const x = randn(t ? M : N, 5), y0 = randn(t ? N : M, 6);
      for (const [alpha, beta] of [[1, 0], [0.5, 1]]) {
        const y = y0.slice();
        blas.sgemv(t, M, N, alpha, A, lda, x, beta, y);
        const want = refGemm(t, false, t ? N : M, 1, t ? M : N, alpha, A, lda, x, 1, beta, y0, 1);
        const { diff } = maxDiff(y, want);
        assert(diff < 1e-5, `trans ${t}: off by ${diff}`);
      }
    }
  });

  Deno.test(`${blas.kind} sgemm with β = 0 ignores NaN already in C`, () => {
    const C = new Float32Array([NaN, NaN]);
    blas.sgemm(false, false, 1, 2, 1, 1, new Float32Array([2]), 1, new Float32Array([1, 3]), 2, 0, C, 2);
    assert(C[0] === 2 && C[1] === 6, `got ${C}`);
  });
}

Deno.test("native and fallback sgemm agree on a larger product", () => {
  const native = BLASES.find((b: Blas) => b.kind === "native");
  if (!native) return;
  const M = 64, N = 48, K = 80;
  const A = randn(M * K, 7), B = randn(N * K, 8);
  const c1 = new Float32Array(M * N), c2 = new Float32Array(M * N);
  native.sgemm(false, true, M, N, K, 1, A, K, B, K, 0, c1, N);
  fallbackBlas.sgemm(false, true, M, N, K, 1, A, K, B, K, 0, c2, N);
  const { diff, scale } = maxDiff(c1, c2);
  assert(diff <= 1e-5 * scale, `diff ${diff}`);
});

Deno.test("loadBlas: a missing library gives undefined and says how to install one, without throwing", () => {
  const { blas, reason } = loadBlas({ candidates: ["/nonexistent/libcblas-nope.so"] });
  assert(blas === undefined);
  assert(reason.includes("/nonexistent/libcblas-nope.so"), reason);
  assert(reason.includes(installHint()), reason);
  assert(installHint("linux").includes("apt-get install libopenblas0-pthread"));
  assert(blasCandidates("linux").includes("libopenblas.so.0"));
  assert(blasCandidates("darwin")[0].includes("Accelerate.framework"));
  assert(blasCandidates("windows").includes("libopenblas.dll"));
});

Deno.test("ETUDE_BLAS naming no library: the model still runs on the fallback", async () => {
  const code = `
    import { getBlas, loadBlas } from "${new URL("../../lib/cpu/blas.ts", import.meta.url).href}";
    import { CpuTransformer } from "${new URL("../../lib/cpu/model.ts", import.meta.url).href}";
    const m = CpuTransformer.init({ vocabSize: 9, dim: 4, layers: 1, heads: 1, ffn: 8, maxPositions: 8, ropeTheta: 1e4, normEps: 1e-5 }, 1);
    const loss = m.loss([1, 2, 3], [2, 3, 4], 1, 3);
    m.zeroGrad(); m.backward();
    console.log(JSON.stringify({ kind: getBlas().kind, blas: m.blas.kind, reason: loadBlas().reason, finite: Number.isFinite(loss) }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    env: { ETUDE_BLAS: "/nonexistent/libopenblas.so" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert(out.success, new TextDecoder().decode(out.stderr));
  const r = JSON.parse(text);
  assert(r.kind === "fallback" && r.blas === "fallback" && r.finite, text);
  assert(r.reason.includes("ETUDE_BLAS"), r.reason);
});

Deno.test("thread control round-trips on the native BLAS", () => {
  const native = BLASES.find((b: Blas) => b.kind === "native");
  if (!native) return;
  const before = native.getThreads();
  native.setThreads(1);
  const one = native.getThreads();
  native.setThreads(before || 1);
  assert(one === 1 || one === 0, `threads ${one}`);
});
