/**
 * The decoder's KV cache, inside a WebAssembly memory so that a decode step's attention (every head of a row: scores,
 * softmax, weighted sum of V) is one call of a SIMD kernel (`attn_wat.ts`) instead of two BLAS calls of a few hundred
 * flops per head. The caches are plain `Float32Array` views (the prefill's GEMMs read them through BLAS). Where the
 * memory cannot be had (a cache above 2 GiB, a head size not a multiple of 4), the views are ordinary arrays and
 * {@link KvCache.attend} is unavailable (`wasm` false): the decoder then keeps its BLAS path.
 *
 * @module
 */
import { ATTN_WASM_BASE64 } from "./_attn_wasm.ts";

type SwigluFn = (gu: number, out: number, rows: number, f: number) => void;
type AttnFn = (
  q: number,
  k: number,
  v: number,
  out: number,
  sc: number,
  n: number,
  hd: number,
  H: number,
  hs: number,
  scale: number,
) => void;

/**
 * Keys and values of `layers` × `slots` × `heads` caches of `positions` × `hd` floats.
 *
 * @example
 * ```ts
 * import { KvCache } from "./kv_cache.ts";
 * const c = new KvCache(1, 1, 1, 4, 4);
 * c.k[0][0][0].set([1, 0, 0, 0]); // position 0's key
 * c.v[0][0][0].set([5, 6, 7, 8]);
 * const out = new Float32Array(4);
 * c.attend(0, 0, 1, new Float32Array([1, 1, 1, 1]), out, 0.5); // out = [5, 6, 7, 8] (one position: weight 1)
 * ```
 */
export class KvCache {
  /** Keys: `k[layer][slot][head]` → [positions, hd]. */
  readonly k: Float32Array[][][];
  /** Values, as `k`. */
  readonly v: Float32Array[][][];
  /** Whether {@link KvCache.attend} runs (the kernel and its memory were had). */
  readonly wasm: boolean;
  readonly #fn?: AttnFn;
  readonly #swiglu?: SwigluFn;
  readonly #ffn: number;
  readonly #rows: number;
  readonly #gu: number;
  readonly #f32?: Float32Array;
  readonly #hd: number;
  readonly #heads: number;
  readonly #hs: number; // bytes between heads
  readonly #q = 0;
  readonly #out: number;
  readonly #sc: number;

  /**
   * Caches for `layers` layers, `slots` sequences, `heads` heads of `positions` × `hd`; with `ffn`, room for the
   * SwiGLU of `slots` rows of that width ({@link KvCache.swiglu}).
   */
  constructor(layers: number, slots: number, heads: number, positions: number, hd: number, ffn = 0) {
    const per = slots * heads * positions * hd, d = heads * hd;
    this.#ffn = ffn % 4 === 0 ? ffn : 0;
    this.#rows = slots;
    this.#hd = hd;
    this.#heads = heads;
    this.#hs = positions * hd * 4;
    this.#out = d * 4;
    this.#sc = 2 * d * 4;
    this.#gu = Math.ceil((2 * d + positions + 4) / 4) * 16;
    const base = this.#gu + slots * 3 * this.#ffn * 4;
    const bytes = base + 2 * layers * per * 4;
    let buf: ArrayBuffer | undefined;
    if (hd % 4 === 0 && bytes <= 2 ** 31) {
      try {
        const mem = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536) });
        const bin = Uint8Array.from(atob(ATTN_WASM_BASE64), (ch) => ch.charCodeAt(0));
        const ex = new WebAssembly.Instance(new WebAssembly.Module(bin), { env: { mem } }).exports;
        this.#fn = ex.attn as AttnFn;
        this.#swiglu = ex.swiglu as SwigluFn;
        buf = mem.buffer as ArrayBuffer; // not shared
        this.#f32 = new Float32Array(buf);
      } catch {
        buf = undefined; // no memory that large here: ordinary arrays and the BLAS path
      }
    }
    this.wasm = buf !== undefined;
    const views = (at: number) => {
      const arr = buf ? new Float32Array(buf, at, per) : new Float32Array(per);
      return Array.from(
        { length: slots },
        (_, b) =>
          Array.from(
            { length: heads },
            (_, h) => arr.subarray((b * heads + h) * positions * hd, (b * heads + h + 1) * positions * hd),
          ),
      );
    };
    this.k = Array.from({ length: layers }, (_, l) => views(base + 2 * l * per * 4));
    this.v = Array.from({ length: layers }, (_, l) => views(base + (2 * l + 1) * per * 4));
  }

  /**
   * SwiGLU of `rows` rows (≤ the slots): `out[r, i] = silu(gu[r, i]) · gu[r, f + i]` (f = the `ffn` given), in the
   * kernel. Returns false, doing nothing, where the kernel is unavailable (no memory, no `ffn`, f not a multiple of 4).
   */
  swiglu(out: Float32Array, gu: Float32Array, rows: number): boolean {
    const f = this.#ffn;
    if (!this.wasm || f === 0 || rows > this.#rows) return false;
    const f32 = this.#f32!, g = this.#gu / 4, o = g + rows * 2 * f;
    f32.set(gu.subarray(0, rows * 2 * f), g);
    this.#swiglu!(this.#gu, o * 4, rows, f);
    out.set(f32.subarray(o, o + rows * f));
    return true;
  }

  /**
   * Attention of one row at layer `l`, slot `b` over its first `n` positions: `out[h] = softmax(scale · q[h]·Kᵀ) · V`
   * for every head (q and out [heads × hd]). Only when `wasm`.
   */
  attend(l: number, b: number, n: number, q: Float32Array, out: Float32Array, scale: number): void {
    const f32 = this.#f32!, d = this.#heads * this.#hd;
    f32.set(q.subarray(0, d), this.#q / 4);
    const k = this.k[l][b][0], v = this.v[l][b][0];
    this.#fn!(
      this.#q,
      k.byteOffset,
      v.byteOffset,
      this.#out,
      this.#sc,
      n,
      this.#hd,
      this.#heads,
      this.#hs,
      scale,
    );
    out.set(f32.subarray(this.#out / 4, this.#out / 4 + d));
  }
}
