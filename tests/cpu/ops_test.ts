/**
 * Every op's backward against central finite differences of its forward on a tiny shape (scalar loss Σ out ⊙ R,
 * accumulated in float64), on the native BLAS and on the TypeScript fallback.
 */
import { assert, assertAlmostEquals } from "../_assert.ts";
import {
  embeddingBackward,
  embeddingForward,
  fastExp,
  matmulBackward,
  matmulForward,
  residualBackward,
  residualForward,
  rmsnormBackward,
  rmsnormForward,
  swigluBackward,
  swigluForward,
} from "../../lib/cpu/ops.ts";
import { ropeBackward, ropeForward, ropeTables } from "../../lib/cpu/rope.ts";
import { crossEntropyBackward, crossEntropyForward, gradNorm } from "../../lib/cpu/loss.ts";
import { attentionBackward, attentionForward, causalSoftmax } from "../../lib/cpu/attention.ts";
import { BLASES, dotF64, fdError, randn } from "./_util.ts";

const TOL = 2e-3;

function ok(name: string, r: { err: number; scale: number }, tol = TOL) {
  assert(r.scale > 0, `${name}: gradient is all zeros`);
  assert(r.err <= tol, `${name}: finite-difference error ${r.err.toExponential(2)} > ${tol}`);
}

Deno.test("embedding backward = finite differences (repeated ids scatter-add)", () => {
  const V = 5, d = 3, ids = new Int32Array([1, 4, 1, 0]), N = ids.length;
  const table = randn(V * d, 1), R = randn(N * d, 2), out = new Float32Array(N * d);
  const f = () => (embeddingForward(out, ids, table, N, d), dotF64(out, R));
  const dt = new Float32Array(V * d);
  embeddingBackward(dt, R, ids, N, d);
  ok("dtable", fdError(table, dt, f));
  assert(dt.subarray(2 * d, 4 * d).every((v) => v === 0), "rows of unused ids get no gradient");
});

Deno.test("rmsnorm backward = finite differences (dx, dw; dx accumulates)", () => {
  const N = 3, d = 6, eps = 1e-5;
  const x = randn(N * d, 3), w = randn(d, 4), R = randn(N * d, 5);
  const out = new Float32Array(N * d), rstd = new Float32Array(N);
  const f = () => (rmsnormForward(out, rstd, x, w, N, d, eps), dotF64(out, R));
  f();
  const base = randn(N * d, 6), dx = base.slice(), dw = new Float32Array(d);
  rmsnormBackward(dx, dw, R, x, w, rstd, N, d);
  const gx = dx.map((v, i) => v - base[i]);
  ok("dx", fdError(x, gx, f, 1e-2));
  ok("dw", fdError(w, dw, f, 1e-2));
});

for (const blas of BLASES) {
  Deno.test(`${blas.kind}: matmul backward = finite differences (dx written, dW accumulated)`, () => {
    const N = 3, I = 4, O = 5;
    const x = randn(N * I, 7), w = randn(O * I, 8), R = randn(N * O, 9), out = new Float32Array(N * O);
    const f = () => (matmulForward(blas, out, x, w, N, I, O), dotF64(out, R));
    const dx = new Float32Array(N * I).fill(NaN), dw0 = randn(O * I, 10), dw = dw0.slice();
    matmulBackward(blas, dx, dw, R, x, w, N, I, O);
    ok("dx", fdError(x, dx, f));
    ok("dW", fdError(w, dw.map((v, i) => v - dw0[i]), f));
    // accumulate: out += x·Wᵀ
    const acc = randn(N * O, 11), want = acc.slice();
    matmulForward(blas, out, x, w, N, I, O);
    matmulForward(blas, acc, x, w, N, I, O, true);
    for (let i = 0; i < acc.length; i++) assertAlmostEquals(acc[i], want[i] + out[i], 1e-5);
  });

  for (const [T, block] of [[4, 64], [5, 2]]) {
    Deno.test(`${blas.kind}: causal attention backward = finite differences (T ${T}, row blocks of ${block})`, () => {
      const B = 2, H = 2, hd = 4, d = H * hd, N = B * T;
      const qkv = randn(N * 3 * d, 12), R = randn(N * d, 13);
      // NaN where nothing may be read: past each row block in probs, everywhere in the scratch and dqkv
      const out = new Float32Array(N * d), probs = new Float32Array(B * H * T * T).fill(NaN);
      const f = () => (attentionForward(blas, out, probs, qkv, B, T, H, hd, block), dotF64(out, R));
      f();
      assert(out.every(Number.isFinite));
      // causality: row i's weights sum to 1 over columns 0…i and are 0 after i up to its block's end
      for (let r = 0; r < B * H * T; r++) {
        const i = r % T, end = Math.min(T, (Math.floor(i / block) + 1) * block);
        let s = 0;
        for (let j = 0; j < end; j++) {
          s += probs[r * T + j];
          if (j > i) assert(probs[r * T + j] === 0);
        }
        assertAlmostEquals(s, 1, 1e-6);
      }
      const dqkv = new Float32Array(N * 3 * d).fill(NaN);
      attentionBackward(blas, dqkv, new Float32Array(T * T).fill(NaN), R, probs, qkv, B, T, H, hd, block);
      ok("dqkv", fdError(qkv, dqkv, f, 1e-2));
    });
  }
}

Deno.test("causal softmax over a cache: row i sees off + i + 1 columns", () => {
  const T = 3, S = 5, off = 2, s = randn(T * S, 14), ref = s.slice();
  causalSoftmax(s, T, S, off);
  for (let i = 0; i < T; i++) {
    const n = off + i + 1, row = Array.from(ref.subarray(i * S, i * S + n));
    const m = Math.max(...row), z = row.reduce((a, v) => a + Math.exp(v - m), 0);
    for (let j = 0; j < S; j++) {
      assertAlmostEquals(s[i * S + j], j < n ? Math.exp(ref[i * S + j] - m) / z : 0, 1e-6);
    }
  }
});

Deno.test("RoPE: HF rotate_half values, backward = finite differences, backward inverts forward", () => {
  const N = 6, T = 3, H = 2, hd = 4, stride = 3 * H * hd, col = H * hd; // rotate the middle block (k of qkv)
  const tab = ropeTables(8, hd, 10000);
  const x = randn(N * stride, 15), R = randn(N * stride, 16), y = x.slice();
  ropeForward(y, N, T, stride, col, H, tab, 2);
  // spot-check against the formula: position (n % T) + 2, pair (j, j + hd/2), angle p · θ^(−2j/hd)
  for (let n = 0; n < N; n++) {
    const p = (n % T) + 2;
    for (let h = 0; h < H; h++) {
      for (let j = 0; j < hd / 2; j++) {
        const a = n * stride + col + h * hd + j, b = a + hd / 2, ang = p * Math.pow(10000, -2 * j / hd);
        assertAlmostEquals(y[a], x[a] * Math.cos(ang) - x[b] * Math.sin(ang), 1e-5);
        assertAlmostEquals(y[b], x[b] * Math.cos(ang) + x[a] * Math.sin(ang), 1e-5);
      }
    }
    for (let i = 0; i < col; i++) {
      assert(y[n * stride + i] === x[n * stride + i], "columns outside untouched");
    }
  }
  const f = () => {
    const z = x.slice();
    ropeForward(z, N, T, stride, col, H, tab, 2);
    return dotF64(z, R);
  };
  const g = R.slice();
  ropeBackward(g, N, T, stride, col, H, tab, 2);
  ok("dx", fdError(x, g, f));
  const back = y.slice();
  ropeBackward(back, N, T, stride, col, H, tab, 2);
  for (let i = 0; i < x.length; i++) assertAlmostEquals(back[i], x[i], 1e-5);
  // explicit positions equal posBase + n % T
  const z = x.slice();
  ropeForward(z, N, 1, stride, col, H, tab, 0, Int32Array.from({ length: N }, (_, n) => (n % T) + 2));
  assert(z.every((v, i) => v === y[i]));
});

Deno.test("SwiGLU backward = finite differences", () => {
  const N = 3, f = 5, gu = randn(N * 2 * f, 17, 2), R = randn(N * f, 18), out = new Float32Array(N * f);
  const fn = () => (swigluForward(out, gu, N, f), dotF64(out, R));
  const g = gu[0], u = gu[f];
  fn();
  assertAlmostEquals(out[0], g / (1 + Math.exp(-g)) * u, 1e-6);
  const dgu = new Float32Array(N * 2 * f);
  swigluBackward(dgu, R, gu, N, f);
  ok("dgu", fdError(gu, dgu, fn));
  // with the sigmoid kept by the forward: same output, same gradient
  fn();
  const sig = new Float32Array(N * f), out2 = new Float32Array(N * f), dgu2 = new Float32Array(N * 2 * f);
  swigluForward(out2, gu, N, f, sig);
  swigluBackward(dgu2, R, gu, N, f, sig);
  assert(out2.every((v, i) => Math.abs(v - out[i]) <= 1e-6 * (1 + Math.abs(v))));
  assert(dgu2.every((v, i) => Math.abs(v - dgu[i]) <= 1e-6 * (1 + Math.abs(v))));
});

Deno.test("residual add forward and backward", () => {
  const a = randn(4, 19), b = randn(4, 20), out = new Float32Array(4), R = randn(4, 21);
  const f = () => (residualForward(out, a, b, 4), dotF64(out, R));
  const da = new Float32Array(4), db = new Float32Array(4);
  residualBackward(da, db, R, 4);
  ok("da", fdError(a, da, f));
  ok("db", fdError(b, db, f));
});

Deno.test("fused softmax + cross-entropy: PAD rows ignored, mean over the rest, backward = finite differences", () => {
  const N = 5, V = 7, logits = randn(N * V, 22, 2), targets = new Int32Array([3, 0, 6, 1, 0]);
  const lse = new Float32Array(N);
  const { loss, count } = crossEntropyForward(lse, logits, targets, N, V);
  assert(count === 3);
  let want = 0;
  for (const n of [0, 2, 3]) {
    const row = Array.from(logits.subarray(n * V, n * V + V));
    want += Math.log(row.reduce((a, v) => a + Math.exp(v), 0)) - row[targets[n]];
  }
  assertAlmostEquals(loss, want / 3, 1e-6);
  const f = () => crossEntropyForward(lse, logits, targets, N, V).loss * 0.7;
  const dl = new Float32Array(N * V);
  crossEntropyForward(lse, logits, targets, N, V);
  crossEntropyBackward(dl, logits, lse, targets, N, V, count, 0.7);
  ok("dlogits", fdError(logits, dl, f));
  assert(dl.subarray(V, 2 * V).every((v) => v === 0), "a PAD row has no gradient");
  // in place
  const inplace = logits.slice();
  crossEntropyBackward(inplace, inplace, lse, targets, N, V, count, 0.7);
  assert(inplace.every((v, i) => Math.abs(v - dl[i]) < 1e-7));
  // ignoreIndex −1 counts every row; all rows ignored → loss 0
  assert(crossEntropyForward(lse, logits, targets, N, V, -1).count === N);
  assert(crossEntropyForward(lse, logits, new Int32Array(N), N, V).loss === 0);
});

Deno.test("gradNorm = √Σg² in float64", () => {
  const g = randn(1001, 23);
  let s = 0;
  for (const v of g) s += v * v;
  assertAlmostEquals(gradNorm(g), Math.sqrt(s), 1e-9);
});

Deno.test("fastExp = Math.exp to 1e-8 relative over the double range; 0, ∞ and NaN at the edges", () => {
  let worst = 0;
  for (let i = 0; i <= 200_000; i++) {
    const x = -700 + i * 0.007;
    const e = Math.exp(x);
    worst = Math.max(worst, Math.abs(fastExp(x) - e) / e);
  }
  assert(worst < 1e-8, `worst relative error ${worst}`);
  assert(fastExp(0) === 1 && fastExp(-1000) === 0 && fastExp(-Infinity) === 0);
  assert(fastExp(1000) === Infinity && Number.isNaN(fastExp(NaN)));
});
