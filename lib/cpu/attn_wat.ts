/**
 * The WebAssembly (SIMD128) source of one decode step's attention over the KV cache (`kv_cache.ts`): for each of `H`
 * heads, scores `scale · q·K[j]` for the `n` cached positions, a softmax (max subtracted; exp as a degree-7 polynomial of
 * 2^frac, f32), and the weighted sum of V — all heads of a row in one call, no BLAS calls of a few hundred flops each;
 * and the step's SwiGLU with the same exp.
 * `lib/cpu/_attn_wasm.ts` holds the module compiled from this text by WABT (see there).
 *
 * @module
 */

/** f32x4 exp(x) for x ≤ 0 (below −87 → 0): 2^(x·log2 e) as 2^⌊y⌋ (exponent bits) × a polynomial of the fraction. */
const EXP = `
  (func $exp4 (param $x v128) (result v128)
    (local $y v128) (local $n v128) (local $f v128) (local $r v128)
    (local.set $y (f32x4.max (f32x4.mul (local.get $x) (v128.const f32x4 1.4426950408889634 1.4426950408889634 1.4426950408889634 1.4426950408889634))
                             (v128.const f32x4 -126 -126 -126 -126)))
    (local.set $n (f32x4.floor (local.get $y)))
    (local.set $f (f32x4.sub (local.get $y) (local.get $n)))
    (local.set $r (v128.const f32x4 1.525273380405984e-5 1.525273380405984e-5 1.525273380405984e-5 1.525273380405984e-5))
    ${
  [
    0.00015403530393381608,
    0.0013333558146428443,
    0.009618129107628477,
    0.05550410866482158,
    0.2402265069591007,
    0.6931471805599453,
    1.0,
  ].map((c) =>
    `(local.set $r (f32x4.add (f32x4.mul (local.get $r) (local.get $f)) (v128.const f32x4 ${c} ${c} ${c} ${c})))`
  )
    .join("\n    ")
}
    ;; × 2^n: n + 127 in the exponent field; y clamped at −126 keeps it normal, x < −87 gives exactly 0 below
    (local.set $r (f32x4.mul (local.get $r)
      (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $n)) (v128.const i32x4 127 127 127 127)) (i32.const 23))))
    (v128.and (local.get $r) (f32x4.ge (local.get $x) (v128.const f32x4 -87 -87 -87 -87))))`;

/**
 * The module's text: imports `env.mem` (not shared) and exports `swiglu(gu, out, rows, f)` (SwiGLU of `rows` rows
 * [gate | up] of 2f floats, f a multiple of 4) and `attn(q, k, v, out, sc, n, hd, H, hs, scale)`:
 * q and out are [H, hd] f32 at byte offsets `q`, `out`; head h's K and V rows start at `k + h·hs`, `v + h·hs` (byte
 * stride hd·4 per position); `sc` is scratch for n + 3 scores. `hd` must be a multiple of 4.
 *
 * @example
 * ```ts
 * import { attnWat } from "./attn_wat.ts";
 * attnWat().includes('(export "attn")'); // true
 * ```
 */
export function attnWat(): string {
  return `(module
  (import "env" "mem" (memory 1))${EXP}
  (func (export "attn")
    (param $q i32) (param $k i32) (param $v i32) (param $out i32) (param $sc i32) (param $n i32) (param $hd i32)
    (param $H i32) (param $hs i32) (param $scale f32)
    (local $h i32) (local $j i32) (local $e i32) (local $kp i32) (local $qp i32) (local $op i32) (local $row i32)
    (local $acc v128) (local $m f32) (local $s f32) (local $p f32) (local $pv v128) (local $mv v128) (local $n4 i32)
    (local.set $row (i32.shl (local.get $hd) (i32.const 2)))
    (local.set $n4 (i32.and (i32.add (local.get $n) (i32.const 3)) (i32.const -4)))
    (local.set $h (i32.const 0))
    (loop $heads
      ;; scores and their maximum
      (local.set $m (f32.const -inf))
      (local.set $kp (local.get $k))
      (local.set $j (i32.const 0))
      (loop $pos
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (local.set $qp (local.get $q))
        (local.set $e (i32.add (local.get $kp) (local.get $row)))
        (loop $dot
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load (local.get $kp)) (v128.load (local.get $qp)))))
          (local.set $kp (i32.add (local.get $kp) (i32.const 16)))
          (local.set $qp (i32.add (local.get $qp) (i32.const 16)))
          (br_if $dot (i32.lt_u (local.get $kp) (local.get $e))))
        (local.set $s (f32.mul (local.get $scale)
          (f32.add (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
                   (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc))))))
        (f32.store (i32.add (local.get $sc) (i32.shl (local.get $j) (i32.const 2))) (local.get $s))
        (local.set $m (f32.max (local.get $m) (local.get $s)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $pos (i32.lt_u (local.get $j) (local.get $n))))
      ;; pad the scores to a multiple of 4 with −inf (exp → 0), then exp(s − max) four at a time, and their sum
      (block $padded (loop $pad
        (br_if $padded (i32.ge_u (local.get $j) (local.get $n4)))
        (f32.store (i32.add (local.get $sc) (i32.shl (local.get $j) (i32.const 2))) (f32.const -inf))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $pad)))
      (local.set $mv (f32x4.splat (local.get $m)))
      (local.set $acc (v128.const i32x4 0 0 0 0))
      (local.set $j (i32.const 0))
      (loop $ex
        (local.set $e (i32.add (local.get $sc) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $pv (call $exp4 (f32x4.sub (v128.load (local.get $e)) (local.get $mv))))
        (v128.store (local.get $e) (local.get $pv))
        (local.set $acc (f32x4.add (local.get $acc) (local.get $pv)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br_if $ex (i32.lt_u (local.get $j) (local.get $n4))))
      (local.set $s (f32.div (f32.const 1)
        (f32.add (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
                 (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc))))))
      ;; out = Σ p_j V[j] / Σ p
      (local.set $op (local.get $out))
      (local.set $e (i32.add (local.get $out) (local.get $row)))
      (loop $zero
        (v128.store (local.get $op) (v128.const i32x4 0 0 0 0))
        (local.set $op (i32.add (local.get $op) (i32.const 16)))
        (br_if $zero (i32.lt_u (local.get $op) (local.get $e))))
      (local.set $kp (local.get $v))
      (local.set $j (i32.const 0))
      (loop $wsum
        (local.set $pv (f32x4.splat (f32.mul (local.get $s) (f32.load (i32.add (local.get $sc) (i32.shl (local.get $j) (i32.const 2)))))))
        (local.set $op (local.get $out))
        (loop $axpy
          (v128.store (local.get $op) (f32x4.add (v128.load (local.get $op)) (f32x4.mul (local.get $pv) (v128.load (local.get $kp)))))
          (local.set $kp (i32.add (local.get $kp) (i32.const 16)))
          (local.set $op (i32.add (local.get $op) (i32.const 16)))
          (br_if $axpy (i32.lt_u (local.get $op) (local.get $e))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $wsum (i32.lt_u (local.get $j) (local.get $n))))
      ;; next head
      (local.set $q (i32.add (local.get $q) (local.get $row)))
      (local.set $out (i32.add (local.get $out) (local.get $row)))
      (local.set $k (i32.add (local.get $k) (local.get $hs)))
      (local.set $v (i32.add (local.get $v) (local.get $hs)))
      (local.set $h (i32.add (local.get $h) (i32.const 1)))
      (br_if $heads (i32.lt_u (local.get $h) (local.get $H)))))
  (func (export "swiglu") (param $gu i32) (param $out i32) (param $rows i32) (param $f i32)
    ;; out[r, i] = g / (1 + exp(−g)) · u for g = gu[r, i], u = gu[r, f + i]; f a multiple of 4
    (local $r i32) (local $g i32) (local $u i32) (local $o i32) (local $e i32) (local $x v128) (local $ex v128)
    (local.set $g (local.get $gu))
    (local.set $o (local.get $out))
    (local.set $r (i32.const 0))
    (loop $rowl
      (local.set $u (i32.add (local.get $g) (i32.shl (local.get $f) (i32.const 2))))
      (local.set $e (local.get $u))
      (loop $el
        (local.set $x (v128.load (local.get $g)))
        ;; exp(−|g|) ≤ 1 (the kernel's exp takes x ≤ 0): σ(g) = 1/(1 + e) for g ≥ 0, e/(1 + e) below
        (local.set $ex (call $exp4 (f32x4.neg (f32x4.abs (local.get $x)))))
        (v128.store (local.get $o) (f32x4.mul (f32x4.mul (local.get $x) (v128.load (local.get $u)))
          (f32x4.div
            (v128.bitselect (v128.const f32x4 1 1 1 1) (local.get $ex) (f32x4.ge (local.get $x) (v128.const f32x4 0 0 0 0)))
            (f32x4.add (v128.const f32x4 1 1 1 1) (local.get $ex)))))
        (local.set $g (i32.add (local.get $g) (i32.const 16)))
        (local.set $u (i32.add (local.get $u) (i32.const 16)))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br_if $el (i32.lt_u (local.get $g) (local.get $e))))
      (local.set $g (local.get $u))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br_if $rowl (i32.lt_u (local.get $r) (local.get $rows)))))
)
`;
}
