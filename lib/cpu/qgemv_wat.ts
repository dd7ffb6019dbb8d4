/**
 * The WebAssembly (SIMD128) source of the reduced-precision weight products (`qgemv.ts`), each
 * `(w, s, x, xs, y, o0, o1, n, ldy)` computing outputs `o0 … o1−1` of 1 or 4 rows of x into y (row stride `ldy`):
 *
 * - `i8_1`, `i8_4`: int8 weights W [out, n] with a per-row f32 scale `s`, times x quantized to int16 per row (scale
 *   `xs[r]`): `y[r, o] = s[o] · xs[r] · Σᵢ W[o, i]·x[r, i]`, the sums exact in i32 (`i32x4.dot_i16x8_s`) over blocks of
 *   1024 weights, then f32 (the same result on any number of threads).
 * - `bf_1`, `bf_4`: bf16 weights (the upper halves of f32s) times f32 x, f32 sums (s and xs unused). Each 8 inputs
 *   of x come as their 4 even-indexed values, then the 4 odd ones (a bf16 pair is one i32 lane: shifting gives the
 *   even weight, masking the odd one).
 *
 * Rows of W and x are padded with zeros to `n`, a multiple of 16. The four-row versions decode each weight once for
 * four rows. `lib/cpu/_qgemv_wasm.ts` holds the module compiled from this text by WABT (see there).
 *
 * @module
 */

/** The f32 lane sum of v128 `a`. */
const hsum = (a: string) =>
  `(f32.add (f32.add (f32x4.extract_lane 0 ${a}) (f32x4.extract_lane 1 ${a}))
            (f32.add (f32x4.extract_lane 2 ${a}) (f32x4.extract_lane 3 ${a})))`;

const yAddr = (r: number) =>
  `(i32.add (local.get $y) (i32.shl (i32.add (local.get $o) (i32.mul (i32.const ${r}) (local.get $ldy))) (i32.const 2)))`;

function i8(rows: 1 | 4): string {
  const R = Array.from({ length: rows }, (_, r) => r);
  // x rows are i16: byte stride 2n
  const xr = (r: number) =>
    r === 0 ? `(local.get $xp)` : `(i32.add (local.get $xp) (i32.mul (i32.const ${r}) (local.get $ldx)))`;
  return `
  (func (export "i8_${rows}")
    (param $w i32) (param $s i32) (param $x i32) (param $xs i32) (param $y i32) (param $o0 i32) (param $o1 i32)
    (param $n i32) (param $ldy i32)
    (local $o i32) (local $i i32) (local $e i32) (local $wp i32) (local $xp i32) (local $ldx i32)
    (local $lo v128) (local $hi v128) (local $v v128)
    ${R.map((r) => `(local $a${r} v128) (local $f${r} v128)`).join(" ")}
    (local.set $ldx (i32.shl (local.get $n) (i32.const 1)))
    (local.set $o (local.get $o0))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $o) (local.get $o1)))
        (local.set $wp (i32.add (local.get $w) (i32.mul (local.get $o) (local.get $n))))
        (local.set $xp (local.get $x))
        (local.set $i (i32.const 0))
        ${R.map((r) => `(local.set $f${r} (v128.const i32x4 0 0 0 0))`).join(" ")}
        (loop $blocks
          ;; a block of up to 1024 weights: 256 products of |w·x| ≤ 127 · 32767 per lane, |Σ| < 2³¹
          (local.set $e (i32.add (local.get $i) (i32.const 1024)))
          (if (i32.gt_u (local.get $e) (local.get $n)) (then (local.set $e (local.get $n))))
          ${R.map((r) => `(local.set $a${r} (v128.const i32x4 0 0 0 0))`).join(" ")}
          (loop $cols
            (local.set $v (v128.load (local.get $wp)))
            (local.set $lo (i16x8.extend_low_i8x16_s (local.get $v)))
            (local.set $hi (i16x8.extend_high_i8x16_s (local.get $v)))
            ${
    R.map((r) =>
      `(local.set $a${r} (i32x4.add (local.get $a${r}) (i32x4.add
              (i32x4.dot_i16x8_s (local.get $lo) (v128.load ${xr(r)}))
              (i32x4.dot_i16x8_s (local.get $hi) (v128.load offset=16 ${xr(r)})))))`
    ).join("\n            ")
  }
            (local.set $wp (i32.add (local.get $wp) (i32.const 16)))
            (local.set $xp (i32.add (local.get $xp) (i32.const 32)))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (br_if $cols (i32.lt_u (local.get $i) (local.get $e))))
          ${
    R.map((r) =>
      `(local.set $f${r} (f32x4.add (local.get $f${r}) (f32x4.convert_i32x4_s (local.get $a${r}))))`
    ).join(" ")
  }
          (br_if $blocks (i32.lt_u (local.get $i) (local.get $n))))
        ${
    R.map((r) =>
      `(f32.store ${yAddr(r)} (f32.mul ${hsum(`(local.get $f${r})`)}
          (f32.mul (f32.load (i32.add (local.get $s) (i32.shl (local.get $o) (i32.const 2))))
                   (f32.load offset=${4 * r} (local.get $xs)))))`
    ).join("\n        ")
  }
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $rows))))`;
}

function bf(rows: 1 | 4): string {
  const R = Array.from({ length: rows }, (_, r) => r);
  const xr = (r: number) =>
    r === 0 ? `(local.get $xp)` : `(i32.add (local.get $xp) (i32.mul (i32.const ${r}) (local.get $ldx)))`;
  return `
  (func (export "bf_${rows}")
    (param $w i32) (param $s i32) (param $x i32) (param $xs i32) (param $y i32) (param $o0 i32) (param $o1 i32)
    (param $n i32) (param $ldy i32)
    (local $o i32) (local $i i32) (local $wp i32) (local $xp i32) (local $ldx i32)
    (local $v v128) (local $hi v128) (local $w0 v128) (local $w1 v128) (local $w2 v128) (local $w3 v128)
    ${R.map((r) => `(local $a${r} v128) (local $b${r} v128)`).join(" ")}
    (local.set $hi (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000))
    (local.set $ldx (i32.shl (local.get $n) (i32.const 2)))
    (local.set $o (local.get $o0))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $o) (local.get $o1)))
        (local.set $wp (i32.add (local.get $w) (i32.shl (i32.mul (local.get $o) (local.get $n)) (i32.const 1))))
        (local.set $xp (local.get $x))
        (local.set $i (i32.const 0))
        ${
    R.map((r) =>
      `(local.set $a${r} (v128.const i32x4 0 0 0 0)) (local.set $b${r} (v128.const i32x4 0 0 0 0))`
    ).join(" ")
  }
        (loop $cols
          ;; 16 bf16 (32 bytes): the even ones shifted up, the odd ones masked (x comes as evens then odds per 8)
          (local.set $v (v128.load (local.get $wp)))
          (local.set $w0 (i32x4.shl (local.get $v) (i32.const 16)))
          (local.set $w1 (v128.and (local.get $v) (local.get $hi)))
          (local.set $v (v128.load offset=16 (local.get $wp)))
          (local.set $w2 (i32x4.shl (local.get $v) (i32.const 16)))
          (local.set $w3 (v128.and (local.get $v) (local.get $hi)))
          ${
    R.map((r) =>
      `(local.set $a${r} (f32x4.add (local.get $a${r}) (f32x4.add
            (f32x4.mul (local.get $w0) (v128.load ${xr(r)}))
            (f32x4.mul (local.get $w1) (v128.load offset=16 ${xr(r)})))))
          (local.set $b${r} (f32x4.add (local.get $b${r}) (f32x4.add
            (f32x4.mul (local.get $w2) (v128.load offset=32 ${xr(r)}))
            (f32x4.mul (local.get $w3) (v128.load offset=48 ${xr(r)})))))`
    ).join("\n          ")
  }
          (local.set $wp (i32.add (local.get $wp) (i32.const 32)))
          (local.set $xp (i32.add (local.get $xp) (i32.const 64)))
          (local.set $i (i32.add (local.get $i) (i32.const 16)))
          (br_if $cols (i32.lt_u (local.get $i) (local.get $n))))
        ${
    R.map((r) => `(f32.store ${yAddr(r)} ${hsum(`(f32x4.add (local.get $a${r}) (local.get $b${r}))`)})`).join(
      "\n        ",
    )
  }
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $rows))))`;
}

/**
 * The module's text: imports a shared memory `env.mem` and exports `i8_1`, `i8_4`, `bf_1`, `bf_4`.
 *
 * @example
 * ```ts
 * import { qgemvWat } from "./qgemv_wat.ts";
 * qgemvWat().includes('(export "i8_4")'); // true
 * ```
 */
export function qgemvWat(): string {
  return `(module
  (import "env" "mem" (memory 1 65536 shared))${i8(1)}${i8(4)}${bf(1)}${bf(4)}
)
`;
}
