/**
 * The CPU reference of the GPU sampler (`kernels/sampler.wgsl`): grammar mask → temperature → top-k → top-p → draw
 * with Philox 4x32-10. Every float operation is rounded to f32 in the kernel's order (same 256-way chunking, tree
 * reductions and exp polynomial), so on the same logits and RNG state it selects the same candidates and token.
 *
 * @module
 */

const WG = 256;
const f = Math.fround;

/** Sampling settings shared by the GPU sampler and this reference. */
export interface SamplerParams {
  /** Temperature (0.1–2.0); logits are divided by it (multiplied by the f32 of 1/temperature). */
  temperature: number;
  /** Keep the k most likely tokens; 0 = off. */
  topK: number;
  /** Keep the smallest set of most likely tokens whose mass reaches p; 1 = off. */
  topP: number;
  /** RNG key (an integer below 2^53). */
  seed: number;
}

/**
 * Philox 4x32-10 (Salmon et al. 2011): a counter-based RNG; the same counter and key always give the same 4 words.
 *
 * @example
 * ```ts
 * import { philox4x32 } from "./sampling.ts";
 * philox4x32([0, 0, 0, 0], [0, 0]); // [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
 * ```
 */
export function philox4x32(ctr: readonly number[], key: readonly number[]): number[] {
  let [c0, c1, c2, c3] = ctr.map((x) => x >>> 0);
  let [k0, k1] = key.map((x) => x >>> 0);
  for (let i = 0; i < 10; i++) {
    const [h0, l0] = mulhilo(0xD2511F53, c0);
    const [h1, l1] = mulhilo(0xCD9E8D57, c2);
    [c0, c1, c2, c3] = [(h1 ^ c1 ^ k0) >>> 0, l1, (h0 ^ c3 ^ k1) >>> 0, l0];
    k0 = (k0 + 0x9E3779B9) >>> 0;
    k1 = (k1 + 0xBB67AE85) >>> 0;
  }
  return [c0, c1, c2, c3];
}

function mulhilo(a: number, b: number): [number, number] {
  const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
  const ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
  const mid = Math.floor(ll / 65536) + (lh & 0xffff) + (hl & 0xffff);
  const hi = (hh + Math.floor(lh / 65536) + Math.floor(hl / 65536) + Math.floor(mid / 65536)) >>> 0;
  return [hi, Math.imul(a, b) >>> 0];
}

/**
 * The uniform number in [0, 1) (24 bits) the sampler uses for draw `draw` of sequence `seq`.
 *
 * @example
 * ```ts
 * import { uniformAt } from "./sampling.ts";
 * const u = uniformAt(42, 0, 0); // same value as the GPU's first draw of sequence 0 with seed 42
 * ```
 */
export function uniformAt(seed: number, seq: number, draw: number): number {
  const [lo, hi] = seedWords(seed);
  return f(philox4x32([draw, seq, 0, 0], [lo, hi])[0] >>> 8) * (1 / 16777216);
}

/**
 * Splits an integer seed into its low and high 32-bit words (the Philox key).
 *
 * @example
 * ```ts
 * import { seedWords } from "./sampling.ts";
 * seedWords(2 ** 32 + 5); // [5, 1]
 * ```
 */
export function seedWords(seed: number): [number, number] {
  return [seed >>> 0, Math.floor(seed / 4294967296) >>> 0];
}

/**
 * exp(x) for x ≤ 0 exactly as the sampler kernel computes it (f32 Horner polynomial of 2^frac, then ldexp).
 *
 * @example
 * ```ts
 * import { fexp } from "./sampling.ts";
 * fexp(-1); // ≈ 0.36787944
 * ```
 */
export function fexp(x: number): number {
  const y = f(x * f(1.4426950408889634));
  if (y < -126) return 0;
  const n = Math.floor(y);
  const fr = f(y - n);
  let r = f(1.525273380405984e-5);
  for (
    const c of [
      0.00015403530393381608,
      0.0013333558146428443,
      0.009618129107628477,
      0.05550410866482158,
      0.2402265069591007,
      0.6931471805599453,
      1.0,
    ]
  ) r = f(f(r * fr) + f(c));
  return r * 2 ** n;
}

/**
 * Order-preserving u32 key of an f32 (larger float → larger key).
 *
 * @example
 * ```ts
 * import { floatKey } from "./sampling.ts";
 * floatKey(-1) < floatKey(0.5); // true
 * ```
 */
export function floatKey(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0];
  return (u & 0x80000000 ? ~u : u | 0x80000000) >>> 0;
}

/**
 * The draw's first stage, as the kernel does it: the f32 total of the 256 chunk sums, the target `u · total`, and
 * the chunk the target falls in (`chunk`; 256 = none) with the f32 sum of the chunks before it (`before`).
 *
 * @example
 * ```ts
 * import { drawChunk } from "./sampling.ts";
 * const sums = new Float32Array(256);
 * sums[3] = 1;
 * sums[7] = 3;
 * drawChunk(sums, 0.5); // { target: 2, chunk: 7, before: 1 }
 * ```
 */
export function drawChunk(
  sums: ArrayLike<number>,
  u: number,
): { target: number; chunk: number; before: number } {
  let total = 0;
  for (let t = 0; t < WG; t++) total = f(total + sums[t]);
  const target = f(u * total);
  let acc = 0;
  for (let t = 0; t < WG; t++) {
    if (sums[t] > 0 && f(acc + sums[t]) > target) return { target, chunk: t, before: acc };
    acc = f(acc + sums[t]);
  }
  return { target, chunk: WG, before: acc };
}

/** The result of one reference draw. */
export interface SampleResult {
  /** The drawn token id. */
  token: number;
  /** Token ids kept after mask, top-k and top-p (ascending). */
  candidates: number[];
}

function treeSum(vals: Float32Array): number {
  const r = Float32Array.from(vals);
  for (let s = WG / 2; s > 0; s >>= 1) for (let t = 0; t < s; t++) r[t] = f(r[t] + r[t + s]);
  return r[0];
}

/**
 * Samples one token from `logits` as the GPU sampler does for draw number `draw` of Philox stream `seq` (a
 * sequence's index in `generate({ batch })`; 0 for every request the server batches, whose draws count from its own
 * first token). `allowed` (optional) is the grammar mask (1 = may be sampled). The GPU finds the same thresholds by
 * other searches (a radix select, a binary search over sorted candidates), which agree with these bitwise ones: each
 * searches a monotone predicate over the same sums. `bias` (optional, a control's static per-token bias, see
 * `controlBias`) is added to the logits first (an f32 sum, as the kernel does); a token whose bias is -inf is masked.
 *
 * @example
 * ```ts
 * import { sampleReference } from "./sampling.ts";
 * const { token } = sampleReference(new Float32Array([0, 5, 1]), { temperature: 1, topK: 1, topP: 1, seed: 1 }, 0, 0);
 * // token === 1 (top-k = 1 is argmax)
 * ```
 */
export function sampleReference(
  logits: Float32Array,
  params: SamplerParams,
  seq: number,
  draw: number,
  allowed?: Uint8Array,
  bias?: Float32Array,
): SampleResult {
  if (bias) logits = Float32Array.from(logits, (x, v) => x + bias[v]);
  const V = logits.length;
  const chunk = Math.ceil(V / WG);
  const invT = f(1 / params.temperature);
  const ok = (v: number) => (!bias || bias[v] > -3.4e38) && (!allowed || allowed[v] === 1);
  const keys = new Uint32Array(V);
  let kmax = 0;
  for (let v = 0; v < V; v++) {
    keys[v] = floatKey(logits[v]);
    if (ok(v)) kmax = Math.max(kmax, keys[v]);
  }
  const lmax = logits[keys.indexOf(kmax)] ?? 0;
  const k = params.topK === 0 ? V : params.topK;
  let thr = 0;
  for (let bit = 31; bit >= 0; bit--) {
    const cand = (thr | (1 << bit)) >>> 0;
    let c = 0;
    for (let v = 0; v < V; v++) if (ok(v) && keys[v] >= cand) c++;
    if (c >= k) thr = cand;
  }
  const e = (v: number) => fexp(f(f(logits[v] - lmax) * invT));
  const chunkSums = (c2: number) => {
    const s = new Float32Array(WG);
    for (let t = 0; t < WG; t++) {
      const lo = Math.min(t * chunk, V), hi = Math.min(lo + chunk, V);
      let acc = 0;
      for (let v = lo; v < hi; v++) if (ok(v) && keys[v] >= c2) acc = f(acc + e(v));
      s[t] = acc;
    }
    return s;
  };
  const topP = f(params.topP);
  if (topP < 1) {
    const target = f(treeSum(chunkSums(thr)) * topP);
    let tp = 0;
    for (let bit = 31; bit >= 0; bit--) {
      const cand = (tp | (1 << bit)) >>> 0;
      if (treeSum(chunkSums(Math.max(cand, thr))) >= target) tp = cand;
    }
    thr = Math.max(tp, thr);
  }
  const { target, chunk: ct, before } = drawChunk(chunkSums(thr), uniformAt(params.seed, seq, draw));
  let acc = before;
  let chosen = -1, last = -1;
  if (ct < WG) {
    const lo = Math.min(ct * chunk, V), hi = Math.min(lo + chunk, V);
    for (let v = lo; v < hi; v++) {
      if (ok(v) && keys[v] >= thr) {
        const ev = e(v);
        if (ev > 0) {
          acc = f(acc + ev);
          last = v;
          if (acc > target) {
            chosen = v;
            break;
          }
        }
      }
    }
  }
  if (chosen < 0) chosen = last;
  if (chosen < 0) {
    chosen = 0;
    for (let v = 0; v < V; v++) {
      if (ok(v) && keys[v] >= kmax) {
        chosen = v;
        break;
      }
    }
  }
  const candidates: number[] = [];
  for (let v = 0; v < V; v++) if (ok(v) && keys[v] >= thr) candidates.push(v);
  return { token: chosen, candidates };
}
