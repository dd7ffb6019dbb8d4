/**
 * The decode step's attention kernel (WebAssembly SIMD over the KV cache, lib/cpu/kv_cache.ts) against a plain f64
 * softmax attention, from one position to a full cache, with large score spreads (exps underflowing) and every head.
 */
import { assert, assertEquals } from "../_assert.ts";
import { KvCache } from "../../lib/cpu/kv_cache.ts";
import { attnWat } from "../../lib/cpu/attn_wat.ts";
import { ATTN_WASM_BASE64 } from "../../lib/cpu/_attn_wasm.ts";
import { randn } from "./_util.ts";

function reference(q: Float32Array, K: Float32Array, V: Float32Array, n: number, hd: number, scale: number) {
  const s = Array.from({ length: n }, (_, j) => {
    let a = 0;
    for (let e = 0; e < hd; e++) a += q[e] * K[j * hd + e];
    return a * scale;
  });
  const m = Math.max(...s), p = s.map((x) => Math.exp(x - m)), z = p.reduce((a, b) => a + b, 0);
  return Array.from({ length: hd }, (_, e) => p.reduce((acc, pj, j) => acc + pj * V[j * hd + e], 0) / z);
}

Deno.test("KV-cache attention kernel = f64 softmax attention (1…512 positions, 8 heads, 3 slots, spreads up to 200)", () => {
  const layers = 2, slots = 3, H = 8, P = 512, hd = 64;
  const c = new KvCache(layers, slots, H, P, hd);
  assert(c.wasm, "the kernel's memory was not had");
  let seed = 1;
  for (const n of [1, 2, 3, 5, 64, 127, 512]) {
    for (const spread of [0.1, 1, 200]) {
      const l = n % layers, b = n % slots;
      for (let h = 0; h < H; h++) {
        c.k[l][b][h].set(randn(P * hd, seed++, spread));
        c.v[l][b][h].set(randn(P * hd, seed++));
      }
      const q = randn(H * hd, seed++), out = new Float32Array(H * hd).fill(NaN);
      const scale = 1 / Math.sqrt(hd);
      c.attend(l, b, n, q, out, scale);
      for (let h = 0; h < H; h++) {
        const want = reference(q.subarray(h * hd), c.k[l][b][h], c.v[l][b][h], n, hd, scale);
        for (let e = 0; e < hd; e++) {
          const got = out[h * hd + e];
          assert(
            Math.abs(got - want[e]) <= 2e-5 * (1 + Math.abs(want[e])),
            `n ${n} spread ${spread} head ${h}[${e}]: ${got} vs ${want[e]}`,
          );
        }
      }
    }
  }
});

Deno.test("KV cache: a head size not a multiple of 4 keeps ordinary arrays (the decoder's BLAS path); the module exports the source's kernels", () => {
  const c = new KvCache(1, 2, 2, 8, 6);
  assertEquals(c.wasm, false);
  assertEquals(c.k[0][1][1].length, 8 * 6);
  const mod = new WebAssembly.Module(Uint8Array.from(atob(ATTN_WASM_BASE64), (ch) => ch.charCodeAt(0)));
  assertEquals(WebAssembly.Module.exports(mod).map((e) => e.name).sort(), ["attn", "swiglu"]);
  assert(attnWat().includes('(export "attn")') && attnWat().includes('(export "swiglu")'));
});

Deno.test("SwiGLU kernel = silu(g)·u in f64 (|g| up to 200, 1…4 rows); unavailable without an ffn width", () => {
  const f = 2048, c = new KvCache(1, 4, 2, 8, 4, f);
  for (const [rows, spread] of [[1, 1], [4, 8], [3, 200]]) {
    const gu = randn(rows * 2 * f, rows * 10 + spread, spread), out = new Float32Array(rows * f).fill(NaN);
    assert(c.swiglu(out, gu, rows));
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < f; i++) {
        const g = gu[r * 2 * f + i], u = gu[r * 2 * f + f + i], want = g / (1 + Math.exp(-g)) * u;
        const got = out[r * f + i];
        // f32 arithmetic (a few ulps) and its range reduction of g·log2 e (≈ 1e-7 · |g| relative)
        const tol = (1e-6 + 1.5e-7 * Math.abs(g)) * Math.abs(want) + 1e-30; // g < −87: exactly 0
        assert(Math.abs(got - want) <= tol, `row ${r} [${i}]: ${got} vs ${want} (g ${g})`);
      }
    }
  }
  assertEquals(new KvCache(1, 1, 1, 4, 4).swiglu(new Float32Array(4), new Float32Array(8), 1), false);
  assertEquals(c.swiglu(new Float32Array(5 * f), new Float32Array(10 * f), 5), false); // more rows than slots
});
