/**
 * Rotary position embeddings in Hugging Face's `rotate_half` convention (the first and second half of each head
 * form the rotated pairs), as an in-place op with its backward (the inverse rotation).
 *
 * @module
 */

/** RoPE cos/sin tables, each [maxPos, headDim/2]. */
export interface RopeTables {
  /** cos(pos · θ^(−2j/hd)) at [pos · half + j]. */
  cos: Float32Array;
  /** sin(pos · θ^(−2j/hd)) at [pos · half + j]. */
  sin: Float32Array;
  /** headDim / 2. */
  half: number;
}

/**
 * RoPE tables with Hugging Face's float32 angles (`inv_freq` and `pos · inv_freq` rounded to float32, as
 * transformers and `lib/model/transformer.ts` compute them).
 *
 * @example
 * ```ts
 * import { ropeTables } from "./rope.ts";
 * const t = ropeTables(512, 64, 10000); // t.cos.length = 512 × 32
 * ```
 */
export function ropeTables(maxPos: number, headDim: number, theta: number): RopeTables {
  const half = headDim / 2;
  const cos = new Float32Array(maxPos * half), sin = new Float32Array(maxPos * half);
  for (let j = 0; j < half; j++) {
    const inv = Math.fround(1 / Math.pow(theta, (2 * j) / headDim));
    for (let p = 0; p < maxPos; p++) {
      const a = Math.fround(p * inv);
      cos[p * half + j] = Math.cos(a);
      sin[p * half + j] = Math.sin(a);
    }
  }
  return { cos, sin, half };
}

/**
 * RoPE in place (HF `rotate_half`: the first and second half of each head are the pair), on `heads` heads of width
 * `2·half` starting at column `col` of each of `N` rows of stride `stride`. Row n sits at position
 * `pos[n]` when `pos` is given, else `posBase + n % T`.
 *
 * @example
 * ```ts
 * import { ropeForward, ropeTables } from "./rope.ts";
 * const tab = ropeTables(4, 2, 10000), x = new Float32Array([1, 0, 1, 0]);
 * ropeForward(x, 2, 2, 2, 0, 1, tab); // row 1 rotated by 1 radian: [cos 1, sin 1]
 * ```
 */
export function ropeForward(
  x: Float32Array,
  N: number,
  T: number,
  stride: number,
  col: number,
  heads: number,
  tab: RopeTables,
  posBase = 0,
  pos?: ArrayLike<number>,
): void {
  rope(x, N, T, stride, col, heads, tab, posBase, pos, 1);
}

/**
 * RoPE backward in place: the inverse rotation applied to the gradient (same arguments as {@link ropeForward}).
 *
 * @example
 * ```ts
 * import { ropeBackward, ropeForward, ropeTables } from "./rope.ts";
 * const tab = ropeTables(4, 2, 10000), x = new Float32Array([1, 2, 3, 4]);
 * ropeForward(x, 2, 2, 2, 0, 1, tab);
 * ropeBackward(x, 2, 2, 2, 0, 1, tab); // back to [1, 2, 3, 4]
 * ```
 */
export function ropeBackward(
  dx: Float32Array,
  N: number,
  T: number,
  stride: number,
  col: number,
  heads: number,
  tab: RopeTables,
  posBase = 0,
  pos?: ArrayLike<number>,
): void {
  rope(dx, N, T, stride, col, heads, tab, posBase, pos, -1);
}

function rope(
  x: Float32Array,
  N: number,
  T: number,
  stride: number,
  col: number,
  heads: number,
  tab: RopeTables,
  posBase: number,
  pos: ArrayLike<number> | undefined,
  sign: number,
): void {
  const { cos, sin, half } = tab, hd = 2 * half;
  for (let n = 0; n < N; n++) {
    const p = pos ? pos[n] : posBase + (n % T);
    const t = p * half, row = n * stride + col;
    for (let h = 0; h < heads; h++) {
      const o = row + h * hd;
      for (let j = 0; j < half; j++) {
        const c = cos[t + j], s = sign * sin[t + j];
        const a = x[o + j], b = x[o + j + half];
        x[o + j] = a * c - b * s;
        x[o + j + half] = b * c + a * s;
      }
    }
  }
}
