/**
 * Decoding on the CPU with a KV cache: the prefill runs the block as GEMMs over the prompt rows, each decode step as
 * GEMVs (batch 1) or one GEMM per weight (batch > 1), with each row's attention over the cache one call of a
 * WebAssembly SIMD kernel (`kv_cache.ts`; two small BLAS products per head where that kernel is unavailable). With
 * `weights: "bf16" | "int8"` the weight products run on reduced-precision copies (`qgemv.ts`). Residual adds are
 * fused into the output projections (β = 1).
 *
 * Sequences live in slots `0 … maxBatch − 1`, each with its own cache of `maxPositions` positions. Sliding the
 * window as the WebGPU engine does (`lib/infer/engine.ts`) is a fresh {@link CpuDecoder.prefill} of the kept ids but
 * the newest at `posBase` 0, then a step with the newest at its new position.
 *
 * @module
 */
import type { Blas } from "./blas.ts";
import type { ModelViews } from "./layout.ts";
import type { CpuTransformer } from "./model.ts";
import { causalSoftmax } from "./attention.ts";
import { embeddingForward, fastExp, rmsnormForward, swigluForward } from "./ops.ts";
import { ropeForward } from "./rope.ts";
import { KvCache } from "./kv_cache.ts";
import { type QuantMatrix, QuantWeights, type WeightFormat } from "./qgemv.ts";

/** Options for {@link CpuDecoder}. */
export interface CpuDecoderOptions {
  /** Sequences decoded together (cache slots); default 1. */
  maxBatch?: number;
  /** Cache length in positions; default (and at most) the model's `maxPositions`. */
  maxPositions?: number;
  /**
   * Weight layout the products read. `"in-out"` (default) keeps transposed copies of the matrices ([in, out]), taken
   * at construction (later weight updates are not seen; one more copy of the weights in memory): OpenBLAS's
   * transposed GEMV streams them ≈ 1.3× faster than the HF layout on this project's EPYC boxes (v8 weight GEMVs
   * 8.2–9.3 ms vs 11.4–12.2 ms per token, measured side by side). `"out-in"` reads the model's own matrices.
   */
  layout?: "out-in" | "in-out";
  /**
   * Weight format of the products: `"f32"` (default: the model's own weights through BLAS), or `"bf16"` / `"int8"`
   * (per-row scales): a reduced-precision copy multiplied by WebAssembly SIMD kernels on `threads` threads (see
   * `qgemv.ts`) — fewer bytes per weight, so batch-1 steps run past the f32 read-bandwidth limit, with a small logit
   * error (the bench's `decode.cpu.bf16.error` and `decode.cpu.int8.error` rows). `layout` does not apply.
   */
  weights?: WeightFormat;
  /** Threads of the bf16/int8 products (default 1, see `QuantWeights.create`); BLAS threads are set on the BLAS. */
  threads?: number;
}

/** A weight matrix as the decoder reads it: HF layout [out, in], or transposed [in, out] when `t`; or quantized `q`. */
interface Mat {
  w: Float32Array;
  out: number;
  in: number;
  t: boolean;
  q?: QuantMatrix;
}

function mat(w: Float32Array, out: number, inn: number, transpose: boolean): Mat {
  if (!transpose) return { w, out, in: inn, t: false };
  const wt = new Float32Array(w.length);
  for (let o = 0; o < out; o++) for (let i = 0; i < inn; i++) wt[i * out + o] = w[o * inn + i];
  return { w: wt, out, in: inn, t: true };
}

/**
 * Rows up to which `linear` runs one GEMV per row instead of a GEMM: OpenBLAS's GEMM at 2–4 rows is slow here (v8
 * on 2 cores: a 2- or 3-row step 19–21 ms as GEMMs, 10–13 ms as per-row GEMVs, 4 rows 16 ms; the default model's
 * 2-row step 3.0 → 1.9 ms, which is what guidance runs at batch 1), and per-row GEMVs make each row's numbers
 * exactly those of a batch-1 step.
 */
const GEMV_ROWS = 4;

/** y ← x·Wᵀ + β·y for `rows` rows of x: one GEMV per row up to `GEMV_ROWS` rows, a GEMM above. */
function linear(blas: Blas, rows: number, x: Float32Array, m: Mat, beta: number, y: Float32Array): void {
  if (m.q) m.q.apply(rows, x, beta, y);
  else if (rows <= GEMV_ROWS) {
    for (let r = 0; r < rows; r++) {
      const xr = rows === 1 ? x : x.subarray(r * m.in, (r + 1) * m.in);
      const yr = rows === 1 ? y : y.subarray(r * m.out, (r + 1) * m.out);
      if (m.t) blas.sgemv(true, m.in, m.out, 1, m.w, m.out, xr, beta, yr);
      else blas.sgemv(false, m.out, m.in, 1, m.w, m.in, xr, beta, yr);
    }
  } else if (m.t) blas.sgemm(false, false, rows, m.out, m.in, 1, x, m.in, m.w, m.out, beta, y, m.out);
  else blas.sgemm(false, true, rows, m.out, m.in, 1, x, m.in, m.w, m.in, beta, y, m.out);
}

/** Milliseconds spent per part of the decode steps since {@link CpuDecoder.resetProfile}. */
export interface DecodeProfile {
  /** Steps counted. */
  steps: number;
  /** Whole steps (wall). */
  total: number;
  /** Weight products: q|k|v, o, gate|up, down, logits (GEMV at batch 1, GEMM above). */
  gemv: number;
  /** Attention over the cache: RoPE, cache writes, scores, softmax, weighted sum. */
  attention: number;
  /** RMSNorms. */
  norms: number;
  /** Embedding and SwiGLU. */
  elementwise: number;
}

/**
 * A KV-cache decoder over a {@link CpuTransformer} (the weights are shared, not copied).
 *
 * @example
 * ```ts
 * import { CpuTransformer } from "./model.ts";
 * import { CpuDecoder } from "./decode.ts";
 * const m = CpuTransformer.init({ vocabSize: 16, dim: 8, layers: 1, heads: 2, ffn: 16, maxPositions: 32, ropeTheta: 1e4, normEps: 1e-5 }, 1);
 * const dec = new CpuDecoder(m);
 * let logits = dec.prefill([1, 5, 7]); // next-token logits after the prompt (16 values)
 * logits = dec.step([9]); // after one more token at position 3
 * ```
 */
export class CpuDecoder {
  /** Cache slots. */
  readonly maxBatch: number;
  /** Cache length. */
  readonly maxPositions: number;
  /** Positions held in each slot's cache (the next token's position). */
  readonly lengths: Int32Array;
  /** The weight format the products read. */
  readonly weights: WeightFormat;
  /** Collects a time breakdown of steps when set (see {@link CpuDecoder.resetProfile}). */
  profile: DecodeProfile | null = null;
  readonly #quant?: QuantWeights;
  readonly #m: CpuTransformer;
  readonly #blas: Blas;
  readonly #w: ModelViews;
  readonly #mats: { qkv: Mat; o: Mat; gu: Mat; down: Mat }[];
  readonly #head: Mat;
  readonly #cache: KvCache;
  readonly #kc: Float32Array[][][]; // [layer][slot][head] → [maxPos, hd]
  readonly #vc: Float32Array[][][];
  // step buffers, [maxBatch, …]
  readonly #x: Float32Array;
  readonly #h: Float32Array;
  readonly #rstd: Float32Array;
  readonly #qkv: Float32Array;
  readonly #att: Float32Array;
  readonly #gu: Float32Array;
  readonly #act: Float32Array;
  readonly #logits: Float32Array;
  readonly #sc: Float32Array;
  readonly #qv: Float32Array[][]; // [slot][head] views of #qkv
  readonly #av: Float32Array[][]; // [slot][head] views of #att
  readonly #pos: Int32Array;
  #pre?: {
    T: number;
    x: Float32Array;
    h: Float32Array;
    rstd: Float32Array;
    qkv: Float32Array;
    att: Float32Array;
    gu: Float32Array;
    act: Float32Array;
    S: Float32Array;
    logits: Float32Array;
  };

  /** A decoder over `model`'s weights with KV caches for up to `opts.maxBatch` sequences. */
  constructor(model: CpuTransformer, opts: CpuDecoderOptions = {}) {
    const c = model.config, { dim: d, ffn: f, heads: H, vocabSize: V } = c, hd = d / H;
    this.#m = model;
    this.#blas = model.blas;
    this.#w = model.w;
    this.weights = opts.weights ?? "f32";
    if (!["f32", "bf16", "int8"].includes(this.weights)) {
      throw new RangeError(`weights: ${JSON.stringify(this.weights)}, expected "f32", "bf16" or "int8"`);
    }
    const tr = this.weights === "f32" && (opts.layout ?? "in-out") === "in-out";
    this.#mats = model.w.layers.map((L) => ({
      qkv: mat(L.qkv, 3 * d, d, tr),
      o: mat(L.o, d, d, tr),
      gu: mat(L.gu, 2 * f, d, tr),
      down: mat(L.down, d, f, tr),
    }));
    this.#head = mat(model.w.embed, V, d, tr);
    if (this.weights !== "f32") {
      const all = [...this.#mats.flatMap((m) => [m.qkv, m.o, m.gu, m.down]), this.#head];
      this.#quant = QuantWeights.create(this.weights, all, { threads: opts.threads });
      all.forEach((m, i) => m.q = this.#quant!.matrices[i]);
    }
    this.maxBatch = Math.max(1, opts.maxBatch ?? 1);
    this.maxPositions = Math.min(opts.maxPositions ?? c.maxPositions, c.maxPositions);
    const B = this.maxBatch, P = this.maxPositions;
    this.lengths = new Int32Array(B);
    this.#cache = new KvCache(c.layers, B, H, P, hd, f);
    this.#kc = this.#cache.k;
    this.#vc = this.#cache.v;
    this.#x = new Float32Array(B * d);
    this.#h = new Float32Array(B * d);
    this.#rstd = new Float32Array(B);
    this.#qkv = new Float32Array(B * 3 * d);
    this.#att = new Float32Array(B * d);
    this.#gu = new Float32Array(B * 2 * f);
    this.#act = new Float32Array(B * f);
    this.#logits = new Float32Array(B * V);
    this.#sc = new Float32Array(P);
    this.#qv = Array.from(
      { length: B },
      (_, b) =>
        Array.from({ length: H }, (_, h) => this.#qkv.subarray(b * 3 * d + h * hd, b * 3 * d + (h + 1) * hd)),
    );
    this.#av = Array.from(
      { length: B },
      (_, b) => Array.from({ length: H }, (_, h) => this.#att.subarray(b * d + h * hd, b * d + (h + 1) * hd)),
    );
    this.#pos = new Int32Array(B);
  }

  /** Stops the bf16/int8 product threads (nothing to do for f32); the decoder cannot be used after. */
  dispose(): void {
    this.#quant?.dispose();
  }

  /** Forgets slot `seq` (all slots when omitted). */
  reset(seq?: number): void {
    if (seq === undefined) this.lengths.fill(0);
    else this.lengths[seq] = 0;
  }

  /** Starts a fresh time breakdown (and turns profiling on). */
  resetProfile(): DecodeProfile {
    this.profile = { steps: 0, total: 0, gemv: 0, attention: 0, norms: 0, elementwise: 0 };
    return this.profile;
  }

  /**
   * Runs `tokens` at positions `posBase …` of slot `seq` through the model as one GEMM pass, writing their keys and
   * values into the cache (positions below `posBase` must be there already). Returns the logits of the last token
   * ([V]) or, with `allRows`, of every token ([T, V]) — an internal buffer, valid until the next call.
   */
  prefill(
    tokens: ArrayLike<number>,
    opts: { seq?: number; posBase?: number; allRows?: boolean } = {},
  ): Float32Array {
    const seq = opts.seq ?? 0, P0 = opts.posBase ?? 0, T = tokens.length;
    const c = this.#m.config, blas = this.#blas, W = this.#w;
    const { dim: d, ffn: f, heads: H, vocabSize: V, normEps: eps } = c, hd = d / H, d3 = 3 * d;
    if (T < 1 || P0 < 0 || P0 + T > this.maxPositions) {
      throw new RangeError(
        `prefill of ${T} tokens at position ${P0} exceeds the cache (${this.maxPositions})`,
      );
    }
    if (!(seq >= 0 && seq < this.maxBatch)) {
      throw new RangeError(`slot ${seq} outside 0…${this.maxBatch - 1}`);
    }
    if (P0 > this.lengths[seq]) {
      throw new RangeError(`slot ${seq} holds ${this.lengths[seq]} positions, not ${P0}`);
    }
    for (let i = 0; i < T; i++) this.#checkId(tokens[i]);
    const b = this.#prefillBuffers(T);
    const S = P0 + T, scale = 1 / Math.sqrt(hd);
    embeddingForward(b.x, tokens, W.embed, T, d);
    for (let l = 0; l < c.layers; l++) {
      const Lw = W.layers[l], M = this.#mats[l], kc = this.#kc[l][seq], vc = this.#vc[l][seq];
      rmsnormForward(b.h, b.rstd, b.x, Lw.ln1, T, d, eps);
      linear(blas, T, b.h, M.qkv, 0, b.qkv);
      ropeForward(b.qkv, T, T, d3, 0, 2 * H, this.#m.rope, P0);
      for (let h = 0; h < H; h++) {
        const K = kc[h], Vh = vc[h];
        for (let t = 0; t < T; t++) {
          const src = t * d3 + h * hd, dst = (P0 + t) * hd;
          for (let e = 0; e < hd; e++) {
            K[dst + e] = b.qkv[src + d + e];
            Vh[dst + e] = b.qkv[src + 2 * d + e];
          }
        }
        blas.sgemm(false, true, T, S, hd, scale, b.qkv.subarray(h * hd), d3, K, hd, 0, b.S, S);
        causalSoftmax(b.S, T, S, P0);
        blas.sgemm(false, false, T, hd, S, 1, b.S, S, Vh, hd, 0, b.att.subarray(h * hd), d);
      }
      linear(blas, T, b.att, M.o, 1, b.x);
      rmsnormForward(b.h, b.rstd, b.x, Lw.ln2, T, d, eps);
      linear(blas, T, b.h, M.gu, 0, b.gu);
      swigluForward(b.act, b.gu, T, f);
      linear(blas, T, b.act, M.down, 1, b.x);
    }
    this.lengths[seq] = S;
    const first = opts.allRows ? 0 : T - 1, rows = T - first;
    const xs = b.x.subarray(first * d, T * d), hs = b.h.subarray(0, rows * d);
    rmsnormForward(hs, b.rstd, xs, W.norm, rows, d, eps);
    const out = b.logits.subarray(0, rows * V);
    linear(blas, rows, hs, this.#head, 0, out);
    return out;
  }

  /**
   * One decode step for slots `0 … B−1` (B = `tokens.length`): token `tokens[b]` at position `positions[b]`
   * (default: the slot's length, i.e. right after what it holds). Returns logits [B, V] — an internal buffer,
   * valid until the next call.
   */
  step(tokens: ArrayLike<number>, positions?: ArrayLike<number>): Float32Array {
    const B = tokens.length, c = this.#m.config, blas = this.#blas, W = this.#w;
    const { dim: d, ffn: f, heads: H, vocabSize: V, normEps: eps } = c, hd = d / H, d3 = 3 * d;
    if (B < 1 || B > this.maxBatch) throw new RangeError(`batch ${B} must be 1…${this.maxBatch}`);
    const pos = this.#pos;
    for (let b = 0; b < B; b++) {
      const p = positions ? positions[b] : this.lengths[b];
      if (!(p >= 0 && p < this.maxPositions)) throw new RangeError(`position ${p} outside the cache`);
      if (p > this.lengths[b]) throw new RangeError(`slot ${b} holds ${this.lengths[b]} positions, not ${p}`);
      this.#checkId(tokens[b]);
      pos[b] = p;
    }
    const prof = this.profile;
    const t0 = prof ? performance.now() : 0;
    this.#t = t0;
    const lap = this.#lap;
    const x = this.#x, h = this.#h, qkv = this.#qkv, att = this.#att, gu = this.#gu, act = this.#act;
    const sc = this.#sc, scale = 1 / Math.sqrt(hd), rope = this.#m.rope, wasmAttn = this.#cache.wasm;
    embeddingForward(x, tokens, W.embed, B, d);
    if (prof) lap("elementwise");
    for (let l = 0; l < c.layers; l++) {
      const Lw = W.layers[l], M = this.#mats[l], kcl = this.#kc[l], vcl = this.#vc[l];
      rmsnormForward(h, this.#rstd, x, Lw.ln1, B, d, eps);
      if (prof) lap("norms");
      linear(blas, B, h, M.qkv, 0, qkv);
      if (prof) lap("gemv");
      ropeForward(qkv, B, 1, d3, 0, 2 * H, rope, 0, pos);
      for (let b = 0; b < B; b++) {
        const p = pos[b],
          n = p + 1,
          row = b * d3,
          K = kcl[b],
          Vc = vcl[b],
          qv = this.#qv[b],
          av = this.#av[b];
        for (let hh = 0; hh < H; hh++) {
          const Kh = K[hh], Vh = Vc[hh], src = row + hh * hd, dst = p * hd;
          for (let e = 0; e < hd; e++) {
            Kh[dst + e] = qkv[src + d + e];
            Vh[dst + e] = qkv[src + 2 * d + e];
          }
        }
        if (wasmAttn) {
          this.#cache.attend(l, b, n, qkv.subarray(row, row + d), att.subarray(b * d, (b + 1) * d), scale);
          continue;
        }
        for (let hh = 0; hh < H; hh++) {
          const Kh = K[hh], Vh = Vc[hh];
          blas.sgemv(false, n, hd, scale, Kh, hd, qv[hh], 0, sc);
          let m = -Infinity;
          for (let j = 0; j < n; j++) if (sc[j] > m) m = sc[j];
          let sum = 0;
          for (let j = 0; j < n; j++) sum += sc[j] = fastExp(sc[j] - m);
          blas.sgemv(true, n, hd, 1 / sum, Vh, hd, sc, 0, av[hh]);
        }
      }
      if (prof) lap("attention");
      linear(blas, B, att, M.o, 1, x);
      if (prof) lap("gemv");
      rmsnormForward(h, this.#rstd, x, Lw.ln2, B, d, eps);
      if (prof) lap("norms");
      linear(blas, B, h, M.gu, 0, gu);
      if (prof) lap("gemv");
      if (!this.#cache.swiglu(act, gu, B)) swigluForward(act, gu, B, f);
      if (prof) lap("elementwise");
      linear(blas, B, act, M.down, 1, x);
      if (prof) lap("gemv");
    }
    rmsnormForward(h, this.#rstd, x, W.norm, B, d, eps);
    if (prof) lap("norms");
    const logits = this.#logits.subarray(0, B * V);
    linear(blas, B, h, this.#head, 0, logits);
    for (let b = 0; b < B; b++) this.lengths[b] = pos[b] + 1;
    if (prof) {
      lap("gemv");
      prof.steps++;
      prof.total += this.#t - t0;
    }
    return logits;
  }

  #t = 0;
  readonly #lap = (k: "gemv" | "attention" | "norms" | "elementwise"): void => {
    const n = performance.now();
    this.profile![k] += n - this.#t;
    this.#t = n;
  };

  #checkId(id: number) {
    if (!(id >= 0 && id < this.#m.config.vocabSize)) {
      throw new RangeError(`token id ${id} outside the vocabulary (${this.#m.config.vocabSize})`);
    }
  }

  #prefillBuffers(T: number) {
    if (this.#pre && this.#pre.T >= T) return this.#pre;
    const c = this.#m.config, { dim: d, ffn: f, vocabSize: V } = c;
    const n = Math.max(T, Math.min(64, this.maxPositions));
    this.#pre = {
      T: n,
      x: new Float32Array(n * d),
      h: new Float32Array(n * d),
      rstd: new Float32Array(n),
      qkv: new Float32Array(n * 3 * d),
      att: new Float32Array(n * d),
      gu: new Float32Array(n * 2 * f),
      act: new Float32Array(n * f),
      S: new Float32Array(n * this.maxPositions),
      logits: new Float32Array(n * V),
    };
    return this.#pre;
  }
}
