/**
 * A plain-TypeScript CPU forward pass of the Llama model (float64 accumulation over Float32Array weights): the
 * independent reference the WebGPU engine is tested against, and a slow fallback for evaluation.
 *
 * @module
 */
import type { TransformerConfig } from "../model/config.ts";
import type { ModelWeights } from "./model_loader.ts";

function matvec(w: Float32Array, x: Float64Array, out: number, inp: number): Float64Array {
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = 0;
    const r = o * inp;
    for (let i = 0; i < inp; i++) s += w[r + i] * x[i];
    y[o] = s;
  }
  return y;
}

function rmsnorm(x: Float64Array, w: Float32Array, eps: number): Float64Array {
  let s = 0;
  for (const v of x) s += v * v;
  const inv = 1 / Math.sqrt(s / x.length + eps);
  return x.map((v, i) => v * inv * w[i]);
}

/**
 * Incremental decoder with a KV cache: `step(token)` returns the logits for the next token.
 *
 * @example
 * ```ts ignore
 * import { ReferenceDecoder } from "./reference.ts";
 * import { readEngineModel } from "./model_loader.ts";
 * const { config, weights } = await readEngineModel("models/default");
 * const dec = new ReferenceDecoder(config, weights);
 * const logits = dec.step(1); // after BOS
 * ```
 */
export class ReferenceDecoder {
  readonly #c: TransformerConfig;
  readonly #w: ModelWeights;
  readonly #k: Float64Array[][] = [];
  readonly #v: Float64Array[][] = [];
  readonly #inv: Float64Array;

  /** A decoder at position 0 with an empty KV cache (computes in float64). */
  constructor(config: TransformerConfig, weights: ModelWeights) {
    this.#c = config;
    this.#w = weights;
    for (let l = 0; l < config.layers; l++) this.#k.push([]), this.#v.push([]);
    const hd = config.dim / config.heads;
    this.#inv = new Float64Array(hd / 2).map((_, j) => Math.pow(config.ropeTheta, -2 * j / hd));
  }

  /** Number of tokens processed so far (the next token's position). */
  get position(): number {
    return this.#k[0]?.length ?? 0;
  }

  /** Feeds one token; returns the logits (vocab_size) predicting the next one. */
  step(token: number): Float32Array {
    const c = this.#c, w = this.#w, d = c.dim, H = c.heads, hd = d / H, half = hd / 2;
    const pos = this.position;
    let x = new Float64Array(d);
    for (let i = 0; i < d; i++) x[i] = w.embed[token * d + i];
    for (let l = 0; l < c.layers; l++) {
      const L = w.layers[l];
      const h = rmsnorm(x, L.ln1, c.normEps);
      const q = matvec(L.q, h, d, d), k = matvec(L.k, h, d, d), v = matvec(L.v, h, d, d);
      for (let hh = 0; hh < H; hh++) {
        for (let j = 0; j < half; j++) {
          const ang = pos * this.#inv[j], cs = Math.cos(ang), sn = Math.sin(ang);
          const a = hh * hd + j, b = a + half;
          [q[a], q[b]] = [q[a] * cs - q[b] * sn, q[b] * cs + q[a] * sn];
          [k[a], k[b]] = [k[a] * cs - k[b] * sn, k[b] * cs + k[a] * sn];
        }
      }
      this.#k[l].push(k);
      this.#v[l].push(v);
      const att = new Float64Array(d);
      const scale = 1 / Math.sqrt(hd);
      for (let hh = 0; hh < H; hh++) {
        const sc = new Float64Array(pos + 1);
        let mx = -Infinity;
        for (let t = 0; t <= pos; t++) {
          let s = 0;
          const kt = this.#k[l][t];
          for (let e = 0; e < hd; e++) s += q[hh * hd + e] * kt[hh * hd + e];
          sc[t] = s * scale;
          mx = Math.max(mx, sc[t]);
        }
        let sum = 0;
        for (let t = 0; t <= pos; t++) sum += sc[t] = Math.exp(sc[t] - mx);
        for (let t = 0; t <= pos; t++) {
          const vt = this.#v[l][t];
          for (let e = 0; e < hd; e++) att[hh * hd + e] += sc[t] / sum * vt[hh * hd + e];
        }
      }
      const o = matvec(L.o, att, d, d);
      x = x.map((xv, i) => xv + o[i]);
      const h2 = rmsnorm(x, L.ln2, c.normEps);
      const g = matvec(L.gate, h2, c.ffn, d), u = matvec(L.up, h2, c.ffn, d);
      const a = g.map((gv, i) => gv / (1 + Math.exp(-gv)) * u[i]);
      const dn = matvec(L.down, a, d, c.ffn);
      x = x.map((xv, i) => xv + dn[i]);
    }
    const hf = rmsnorm(x, w.norm, c.normEps);
    return Float32Array.from(matvec(w.embed, hf, c.vocabSize, d));
  }
}

/**
 * Logits at every position of `tokens` (full recomputation, one fresh decoder).
 *
 * @example
 * ```ts ignore
 * import { referenceForward } from "./reference.ts";
 * import { readEngineModel } from "./model_loader.ts";
 * const { config, weights } = await readEngineModel("models/default");
 * const rows = referenceForward(config, weights, [1, 5, 9]); // 3 × vocab_size
 * ```
 */
export function referenceForward(
  config: TransformerConfig,
  weights: ModelWeights,
  tokens: readonly number[],
): Float32Array[] {
  const dec = new ReferenceDecoder(config, weights);
  return tokens.map((t) => dec.step(t));
}

/**
 * Logits at every position of `tokens`, flattened row-major (`tokens.length × vocab_size`), for comparisons with
 * other implementations (the PyTorch peer, transformers).
 *
 * @example
 * ```ts ignore
 * import { referenceLogits } from "./reference.ts";
 * import { readEngineModel } from "./model_loader.ts";
 * const { config, weights } = await readEngineModel("models/default");
 * const flat = referenceLogits(config, weights, [1, 5, 9]); // Float32Array(3 × vocab_size)
 * ```
 */
export function referenceLogits(
  config: TransformerConfig,
  weights: ModelWeights,
  tokens: readonly number[],
): Float32Array {
  const rows = referenceForward(config, weights, tokens);
  const out = new Float32Array(rows.length * config.vocabSize);
  rows.forEach((r, i) => out.set(r, i * config.vocabSize));
  return out;
}
