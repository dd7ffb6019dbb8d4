/**
 * The bf16/int8 weight products (WebAssembly SIMD, lib/cpu/qgemv.ts): equal to an f64 product over the same quantized
 * weights (and, for int8, the same int16 activations) on odd shapes, 1–9 rows, β 0 and 1; the same bits on 1 and 2
 * threads; within the quantization's own error bound of the f32 product; the module compiled from its source text.
 */
import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { QuantWeights } from "../../lib/cpu/qgemv.ts";
import { qgemvWat } from "../../lib/cpu/qgemv_wat.ts";
import { QGEMV_WASM_BASE64 } from "../../lib/cpu/_qgemv_wasm.ts";
import { randn } from "./_util.ts";

/** The bf16 value (f32 upper half, nearest-even) of each f32. */
function bf16(w: Float32Array): Float64Array {
  const bits = new Uint32Array(Float32Array.from(w).buffer);
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = ((bits[i] + 0x7fff + ((bits[i] >>> 16) & 1)) >>> 16) << 16;
  return Float64Array.from(new Float32Array(out.buffer));
}

/** int8 weights with per-row scales, dequantized in f64 (exactly the stored values). */
function int8(w: Float32Array, out: number, inn: number): Float64Array {
  const r = new Float64Array(w.length);
  for (let o = 0; o < out; o++) {
    let amax = 0;
    for (let i = 0; i < inn; i++) amax = Math.max(amax, Math.abs(w[o * inn + i]));
    const s = Math.fround(amax / 127);
    for (let i = 0; i < inn; i++) {
      r[o * inn + i] = s === 0 ? 0 : Math.max(-127, Math.min(127, Math.round(w[o * inn + i] / s))) * s;
    }
  }
  return r;
}

/** x rows as the int8 kernels see them: int16 with a per-row scale max |x| / 32767. */
function int16Rows(x: Float32Array, rows: number, inn: number): Float64Array {
  const r = new Float64Array(x.length);
  for (let b = 0; b < rows; b++) {
    let amax = 0;
    for (let i = 0; i < inn; i++) amax = Math.max(amax, Math.abs(x[b * inn + i]));
    for (let i = 0; i < inn; i++) r[b * inn + i] = Math.round(x[b * inn + i] * 32767 / amax) * (amax / 32767);
  }
  return r;
}

function matmul(
  w: ArrayLike<number>,
  x: ArrayLike<number>,
  rows: number,
  out: number,
  inn: number,
): Float64Array {
  const y = new Float64Array(rows * out);
  for (let b = 0; b < rows; b++) {
    for (let o = 0; o < out; o++) {
      let s = 0;
      for (let i = 0; i < inn; i++) s += w[o * inn + i] * x[b * inn + i];
      y[b * out + o] = s;
    }
  }
  return y;
}

const SHAPES: [number, number][] = [[5, 37], [64, 16], [33, 100], [1024, 512]];

for (const format of ["int8", "bf16"] as const) {
  Deno.test(`${format} products = f64 products over the stored weights (odd shapes, 1–9 rows, β 0 and 1, 1 and 2 threads)`, () => {
    const mats = SHAPES.map(([out, inn], k) => ({ w: randn(out * inn, 10 + k, 0.5), out, in: inn }));
    const q1 = QuantWeights.create(format, mats, { threads: 1 });
    const q2 = QuantWeights.create(format, mats, { threads: 2 });
    try {
      assertEquals(q2.threads, 2);
      mats.forEach(({ w, out, in: inn }, k) => {
        const wq = format === "int8" ? int8(w, out, inn) : bf16(w);
        for (const rows of [1, 3, 4, 9]) {
          const x = randn(rows * inn, 100 + rows + k);
          const xq = format === "int8" ? int16Rows(x, rows, inn) : Float64Array.from(x);
          const want = matmul(wq, xq, rows, out, inn);
          const y1 = new Float32Array(rows * out), y2 = new Float32Array(rows * out).fill(NaN);
          q1.matrices[k].apply(rows, x, 0, y1);
          q2.matrices[k].apply(rows, x, 0, y2);
          assertEquals(y2, y1, `${out}×${inn}, ${rows} rows: 2 threads differ from 1`);
          let scale = 0;
          for (const v of want) scale = Math.max(scale, Math.abs(v));
          for (let i = 0; i < want.length; i++) {
            assert(
              Math.abs(y1[i] - want[i]) <= 2e-6 * scale,
              `${out}×${inn}, ${rows} rows [${i}]: ${y1[i]} vs ${want[i]}`,
            );
          }
          // β = 1 adds onto y
          const acc = Float32Array.from({ length: rows * out }, (_, i) => i % 7);
          q1.matrices[k].apply(rows, x, 1, acc);
          for (let i = 0; i < want.length; i++) {
            assert(Math.abs(acc[i] - (want[i] + (i % 7))) <= 2e-6 * scale + 1e-6 * 7, `β = 1 [${i}]`);
          }
        }
      });
    } finally {
      q1.dispose();
      q2.dispose();
    }
  });
}

Deno.test("int8 and bf16 products stay within their quantization error bound of the f32 product", () => {
  const out = 200, inn = 300, rows = 4;
  const w = randn(out * inn, 3, 0.1), x = randn(rows * inn, 4);
  const exact = matmul(w, x, rows, out, inn);
  for (const format of ["int8", "bf16"] as const) {
    const q = QuantWeights.create(format, [{ w, out, in: inn }], { threads: 1 });
    const y = new Float32Array(rows * out);
    q.matrices[0].apply(rows, x, 0, y);
    q.dispose();
    for (let b = 0; b < rows; b++) {
      let ax = 0, sx = 0;
      for (let i = 0; i < inn; i++) {
        ax = Math.max(ax, Math.abs(x[b * inn + i])), sx += Math.abs(x[b * inn + i]);
      }
      for (let o = 0; o < out; o++) {
        let aw = 0, sw = 0;
        for (let i = 0; i < inn; i++) {
          aw = Math.max(aw, Math.abs(w[o * inn + i])), sw += Math.abs(w[o * inn + i]);
        }
        // int8: |Δw| ≤ scale/2 per weight, |Δx| ≤ x scale/2; bf16: |Δw| ≤ 2⁻⁹|w|; plus f32 rounding of the sums
        const bound = format === "int8"
          ? sx * (aw / 127) / 2 + sw * (ax / 32767) / 2 + 1e-5 * sw * ax
          : 2 ** -9 * sw * ax + 1e-5 * sw * ax;
        const e = Math.abs(y[b * out + o] - exact[b * out + o]);
        assert(e <= bound, `${format} row ${b} out ${o}: error ${e} > bound ${bound}`);
      }
    }
  }
});

Deno.test("qgemv: the embedded module exports the source text's four kernels; bad shapes are refused", () => {
  const wat = qgemvWat();
  const mod = new WebAssembly.Module(Uint8Array.from(atob(QGEMV_WASM_BASE64), (c) => c.charCodeAt(0)));
  const names = WebAssembly.Module.exports(mod).map((e) => e.name).sort();
  assertEquals(names, ["bf_1", "bf_4", "i8_1", "i8_4"]);
  for (const n of names) assert(wat.includes(`(export "${n}")`), n);
  assertThrows(
    () => QuantWeights.create("int8", [{ w: new Float32Array(5), out: 2, in: 3 }]),
    RangeError,
    "2 × 3",
  );
});
