/**
 * A fast CPU sampler that returns exactly what {@link sampleReference} returns (the same token and the same candidates,
 * bit for bit): the same f32 keys, chunk sums, tree sums and exp polynomial, but the top-k threshold found by a radix
 * select over the allowed keys (not 32 counting passes), exp computed once and only for the top-k survivors, and the
 * top-p threshold found by a binary search over their sorted distinct keys (each probe the kernel's chunk and tree sums
 * over the survivors only). Buffers are kept between calls. Inputs outside the reference's monotone regime (a NaN
 * logit among the allowed tokens, an infinite maximum, a temperature whose inverse is not finite and positive) go to
 * the reference itself.
 *
 * @module
 */
import { drawChunk, sampleReference, type SampleResult, type SamplerParams, uniformAt } from "./sampling.ts";

export type { SampleResult, SamplerParams };

const WG = 256;
const f = Math.fround;
const C0 = f(1.525273380405984e-5);
const CS = [
  0.00015403530393381608,
  0.0013333558146428443,
  0.009618129107628477,
  0.05550410866482158,
  0.2402265069591007,
  0.6931471805599453,
  1.0,
].map(f);
const [C1, C2, C3, C4, C5, C6, C7] = CS;
const LOG2E = f(1.4426950408889634);
const POW2 = Float64Array.from({ length: 256 }, (_, i) => 2 ** (i - 128));

/** `fexp` of lib/infer/sampling.ts, unrolled (same f32 operations in the same order). */
function fexp(x: number): number {
  const y = f(x * LOG2E);
  if (y < -126) return 0;
  const n = Math.floor(y);
  const fr = f(y - n);
  let r = C0;
  r = f(f(r * fr) + C1);
  r = f(f(r * fr) + C2);
  r = f(f(r * fr) + C3);
  r = f(f(r * fr) + C4);
  r = f(f(r * fr) + C5);
  r = f(f(r * fr) + C6);
  r = f(f(r * fr) + C7);
  return n < 128 ? r * POW2[n + 128] : r * 2 ** n;
}

/**
 * A sampler with buffers reused between calls (one per thread of use; not re-entrant).
 *
 * @example
 * ```ts
 * import { FastSampler } from "./sample_fast.ts";
 * const s = new FastSampler();
 * s.sample(new Float32Array([0, 5, 1]), { temperature: 1, topK: 1, topP: 1, seed: 1 }, 0, 0).token; // 1
 * ```
 */
export class FastSampler {
  #cap = 0;
  #lb = new Float32Array(0); // logits + bias
  #bits = new Uint32Array(0);
  #sel = new Uint32Array(0); // radix-select scratch
  #ci = new Int32Array(0); // survivors of top-k: index (ascending), key, exp, chunk
  #ck = new Uint32Array(0);
  #ce = new Float64Array(0);
  #cc = new Int32Array(0);
  #sorted = new Uint32Array(0);
  readonly #sums = new Float64Array(WG);
  readonly #tree = new Float64Array(WG);
  readonly #hist = new Int32Array(256);

  #ensure(V: number) {
    if (V <= this.#cap) return;
    this.#cap = V;
    this.#lb = new Float32Array(V);
    this.#bits = new Uint32Array(this.#lb.buffer);
    this.#sel = new Uint32Array(V);
    this.#ci = new Int32Array(V);
    this.#ck = new Uint32Array(V);
    this.#ce = new Float64Array(V);
    this.#cc = new Int32Array(V);
    this.#sorted = new Uint32Array(V);
  }

  /**
   * Same arguments and result as {@link sampleReference}: draw `draw` of Philox stream `seq` from `logits` under
   * `params`, with the grammar mask `allowed` (1 = may be sampled) and a control's `bias` (-inf = masked).
   */
  sample(
    logits: Float32Array,
    params: SamplerParams,
    seq: number,
    draw: number,
    allowed?: Uint8Array,
    bias?: Float32Array,
  ): SampleResult {
    const V = logits.length;
    const invT = f(1 / params.temperature);
    if (!(invT > 0 && invT < Infinity)) return sampleReference(logits, params, seq, draw, allowed, bias);
    this.#ensure(V);
    const lb = this.#lb, bits = this.#bits, sel = this.#sel;
    if (bias) { for (let v = 0; v < V; v++) lb[v] = logits[v] + bias[v]; }
    else lb.set(logits);
    // allowed keys (into sel), their maximum and its first index
    let n = 0, kmax = 0, imax = -1;
    for (let v = 0; v < V; v++) {
      if ((bias && !(bias[v] > -3.4e38)) || (allowed && allowed[v] !== 1)) continue;
      const x = lb[v];
      if (x !== x) return sampleReference(logits, params, seq, draw, allowed, bias);
      const u = bits[v];
      const key = (u & 0x80000000 ? ~u : u | 0x80000000) >>> 0;
      sel[n++] = key;
      if (key > kmax) kmax = key, imax = v;
    }
    if (n === 0) return { token: 0, candidates: [] };
    const lmax = lb[imax];
    if (!(Math.abs(lmax) < Infinity)) return sampleReference(logits, params, seq, draw, allowed, bias);
    // top-k threshold: the greedy bitwise search of the reference = the k-th largest allowed key
    const k = params.topK === 0 ? V : params.topK;
    let thr: number;
    if (k <= 0) thr = 0xffffffff;
    else if (!(Math.ceil(k) <= n)) thr = 0;
    else thr = this.#kthLargest(n, Math.ceil(k));
    // survivors (ascending index) with their exp and chunk
    const chunk = Math.ceil(V / WG);
    const ci = this.#ci, ck = this.#ck, ce = this.#ce, cc = this.#cc;
    let m = 0;
    for (let v = 0; v < V; v++) {
      if ((bias && !(bias[v] > -3.4e38)) || (allowed && allowed[v] !== 1)) continue;
      const u = bits[v];
      const key = (u & 0x80000000 ? ~u : u | 0x80000000) >>> 0;
      if (key < thr) continue;
      ci[m] = v;
      ck[m] = key;
      ce[m] = fexp(f(f(lb[v] - lmax) * invT));
      cc[m] = (v / chunk) | 0;
      m++;
    }
    const topP = f(params.topP);
    if (topP < 1) {
      const target = f(this.#treeSum(this.#chunkSums(m, thr)) * topP);
      // the reference's tp: the largest key whose survivor set still reaches the target (the sum only grows as the
      // threshold drops); the empty set when even it does (target ≤ 0), unchanged when none does
      let tp: number;
      if (0 >= target) tp = 0xffffffff;
      else {
        const sorted = this.#sorted.subarray(0, m), s = this.#sel;
        sorted.set(ck.subarray(0, m));
        sorted.sort();
        // distinct keys, descending
        let d = 0;
        for (let i = m - 1; i >= 0; i--) if (d === 0 || sorted[i] !== s[d - 1]) s[d++] = sorted[i];
        let lo = 0, hi = d; // first index in [0, d) whose set reaches the target; d = none
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (this.#treeSum(this.#chunkSums(m, s[mid])) >= target) hi = mid;
          else lo = mid + 1;
        }
        tp = lo < d ? s[lo] : 0;
      }
      thr = Math.max(tp, thr);
    }
    const { target, chunk: ct, before } = drawChunk(
      this.#chunkSums(m, thr),
      uniformAt(params.seed, seq, draw),
    );
    let acc = before;
    let chosen = -1, last = -1;
    const candidates: number[] = [];
    for (let i = 0; i < m; i++) {
      if (ck[i] < thr) continue;
      candidates.push(ci[i]);
      if (cc[i] === ct && chosen < 0) {
        const ev = ce[i];
        if (ev > 0) {
          acc = f(acc + ev);
          last = ci[i];
          if (acc > target) chosen = ci[i];
        }
      }
    }
    if (chosen < 0) chosen = last;
    if (chosen < 0) chosen = imax;
    return { token: chosen, candidates };
  }

  /** The `k`-th largest of `sel[0 … n)` (1 ≤ k ≤ n) by a byte-wise radix select (reorders `sel`). */
  #kthLargest(n: number, k: number): number {
    const sel = this.#sel, hist = this.#hist;
    let prefix = 0;
    for (let shift = 24; shift >= 0; shift -= 8) {
      hist.fill(0);
      for (let i = 0; i < n; i++) hist[(sel[i] >>> shift) & 255]++;
      let b = 255;
      while (hist[b] < k) k -= hist[b--];
      prefix = (prefix | (b << shift)) >>> 0;
      if (shift === 0) break;
      let j = 0;
      for (let i = 0; i < n; i++) if (((sel[i] >>> shift) & 255) === b) sel[j++] = sel[i];
      n = j;
    }
    return prefix;
  }

  /** The kernel's 256 chunk sums (f32, index order) over the survivors whose key is ≥ `t`. */
  #chunkSums(m: number, t: number): Float64Array {
    const s = this.#sums, ck = this.#ck, ce = this.#ce, cc = this.#cc;
    s.fill(0);
    for (let i = 0; i < m; i++) if (ck[i] >= t) s[cc[i]] = f(s[cc[i]] + ce[i]);
    return s;
  }

  /** The kernel's tree reduction of 256 sums (f32). */
  #treeSum(vals: Float64Array): number {
    const r = this.#tree;
    r.set(vals);
    for (let s = WG / 2; s > 0; s >>= 1) for (let t = 0; t < s; t++) r[t] = f(r[t] + r[t + s]);
    return r[0];
  }
}

const shared = new FastSampler();

/**
 * {@link sampleReference}'s result (token and candidates, bit for bit) at a fraction of its cost, on a shared
 * {@link FastSampler}.
 *
 * @example
 * ```ts
 * import { sampleFast } from "./sample_fast.ts";
 * const { token } = sampleFast(new Float32Array([0, 5, 1]), { temperature: 1, topK: 1, topP: 1, seed: 1 }, 0, 0);
 * // token === 1 (top-k = 1 is argmax)
 * ```
 */
export function sampleFast(
  logits: Float32Array,
  params: SamplerParams,
  seq: number,
  draw: number,
  allowed?: Uint8Array,
  bias?: Float32Array,
): SampleResult {
  return shared.sample(logits, params, seq, draw, allowed, bias);
}
