/**
 * `CpuTransformer`: the Llama-style Transformer on the CPU, its parameters in one flat `Float32Array` (and the
 * gradients in another) with named views under the Hugging Face / safetensors tensor names. The forward and the
 * backward read as lists of the named ops of `ops.ts` and `attention.ts` (llm.c's `gpt2_forward` / `gpt2_backward`
 * is the model); matrix products go to BLAS.
 *
 * The flat layout follows the checkpoint order (embedding; per layer the input norm, q, k, v, o, the post-attention
 * norm, gate, up, down; the final norm), so q|k|v form one [3d, d] matrix and gate|up one [2f, d]: one product each.
 *
 * @module
 */
import { readCheckpoint } from "../model/checkpoint.ts";
import { Rng } from "../util/rng.ts";
import { type Blas, getBlas } from "./blas.ts";
import { attentionBackward, attentionForward } from "./attention.ts";
import {
  embeddingBackward,
  embeddingForward,
  matmulBackward,
  matmulForward,
  residualForward,
  rmsnormBackward,
  rmsnormForward,
  swigluBackward,
  swigluForward,
} from "./ops.ts";
import { ropeBackward, ropeForward, type RopeTables, ropeTables } from "./rope.ts";
import { crossEntropyBackward, crossEntropyForward } from "./loss.ts";

export {
  type CpuModelConfig,
  type LayerViews,
  type ModelViews,
  type ParamInfo,
  paramLayout,
  toCpuConfig,
} from "./layout.ts";
import {
  type CpuModelConfig,
  type ModelViews,
  type ParamInfo,
  paramLayout,
  toCpuConfig,
  views,
} from "./layout.ts";

/** Activations of one forward, kept for the backward (sized for B·T rows). */
interface Acts {
  B: number;
  T: number;
  ids: Int32Array;
  targets: Int32Array;
  /** Residual stream: resid[l] enters block l; resid[L] leaves the last. */
  resid: Float32Array[];
  ln1: Float32Array[];
  rstd1: Float32Array[];
  qkv: Float32Array[];
  probs: Float32Array[];
  att: Float32Array[];
  mid: Float32Array[];
  ln2: Float32Array[];
  rstd2: Float32Array[];
  gu: Float32Array[];
  act: Float32Array[];
  sig: Float32Array[];
  proj: Float32Array;
  lnf: Float32Array;
  rstdf: Float32Array;
  logits: Float32Array;
  lse: Float32Array;
}

/** Backward scratch buffers (capacity-sized). */
interface Scratch {
  N: number;
  TT: number;
  dresid: Float32Array;
  dln: Float32Array;
  dqkv: Float32Array;
  datt: Float32Array;
  dgu: Float32Array;
  dact: Float32Array;
  dP: Float32Array;
}

/**
 * The Transformer on the CPU. Weight gradients accumulate in `grads` (call {@link CpuTransformer.zeroGrad} once per
 * optimizer step).
 *
 * @example
 * ```ts
 * import { CpuTransformer } from "./model.ts";
 * const m = CpuTransformer.init({ vocabSize: 16, dim: 8, layers: 1, heads: 2, ffn: 16, maxPositions: 32, ropeTheta: 1e4, normEps: 1e-5 }, 1);
 * const ids = new Int32Array([1, 5, 7, 9]);
 * const loss = m.loss(ids.subarray(0, 3), ids.subarray(1), 1, 3); // ≈ ln 16
 * m.zeroGrad();
 * m.backward();
 * ```
 */
export class CpuTransformer {
  /** The model's hyper-parameters. */
  readonly config: CpuModelConfig;
  /** Where each tensor sits in {@link CpuTransformer.params}. */
  readonly layout: ParamInfo[];
  /** All parameters, one buffer. */
  readonly params: Float32Array;
  /** Views of {@link CpuTransformer.params}. */
  readonly w: ModelViews;
  /** The BLAS in use. */
  readonly blas: Blas;
  /** RoPE tables for `maxPositions` positions. */
  readonly rope: RopeTables;
  #grads?: Float32Array;
  #g?: ModelViews;
  #acts?: Acts;
  #cap?: Acts & { N: number; P: number };
  #bwd?: Scratch;
  #count = 0;
  #lossReady = false;
  #ignore = 0;

  /** A model over `params` (adopted, not copied; length must match the layout). */
  constructor(config: CpuModelConfig, params?: Float32Array, blas: Blas = getBlas()) {
    this.config = config;
    this.layout = paramLayout(config);
    const n = this.layout.reduce((a, p) => a + p.size, 0);
    if (params && params.length !== n) {
      throw new Error(`parameters: ${params.length} floats, layout needs ${n}`);
    }
    this.params = params ?? new Float32Array(n);
    this.w = views(config, this.layout, this.params);
    this.blas = blas;
    this.rope = ropeTables(config.maxPositions, config.dim / config.heads, config.ropeTheta);
  }

  /**
   * Fresh weights, drawn exactly as lib/model's `initTransformerWeights` with `Rng(seed)` (so `TfModel.init(cfg,
   * seed)` holds the same values): matrices N(0, 0.02), o/down scaled by 1/√(2·layers), norms 1.
   */
  static init(config: CpuModelConfig, seed: number, blas?: Blas): CpuTransformer {
    const m = new CpuTransformer(config, undefined, blas);
    const rng = new Rng(seed);
    for (const p of m.layout) {
      const a = m.w.byName[p.name];
      if (!p.decay) a.fill(1);
      else {
        const std = /o_proj|down_proj/.test(p.name) ? 0.02 / Math.sqrt(2 * config.layers) : 0.02;
        for (let i = 0; i < p.size; i++) a[i] = rng.normal() * std;
      }
    }
    return m;
  }

  /** A model from tensors by HF name (copied into the flat buffer; shapes checked by size). */
  static fromWeights(
    config: CpuModelConfig,
    weights: Record<string, Float32Array>,
    blas?: Blas,
  ): CpuTransformer {
    const m = new CpuTransformer(config, undefined, blas);
    m.setWeights(weights);
    return m;
  }

  /**
   * Reads a checkpoint directory through the one checkpoint reader (`readCheckpoint` in lib/model: config.json,
   * model.safetensors in F32/F16/BF16, shapes and names checked there, errors naming the file and field).
   */
  static async load(dir: string, blas?: Blas): Promise<CpuTransformer> {
    const ck = await readCheckpoint(dir);
    if (ck.config.arch !== "transformer") {
      throw new Error(
        `${dir}/config.json: the CPU backend runs Transformer checkpoints, this one is ${ck.config.arch}`,
      );
    }
    return CpuTransformer.fromWeights(toCpuConfig(ck.config), ck.weights, blas);
  }

  /** Parameter count. */
  get size(): number {
    return this.params.length;
  }

  /** Replaces all weights (by HF name; every tensor must be present with the right size). */
  setWeights(weights: Record<string, Float32Array>): void {
    for (const p of this.layout) {
      const w = weights[p.name];
      if (!w || w.length !== p.size) {
        throw new Error(`weights: ${p.name} ${w ? `has ${w.length} values, expected ${p.size}` : "missing"}`);
      }
      this.w.byName[p.name].set(w);
    }
  }

  /** Copies of all weights by HF name (for checkpoints). */
  weights(): Record<string, Float32Array> {
    const out: Record<string, Float32Array> = {};
    for (const p of this.layout) out[p.name] = this.w.byName[p.name].slice();
    return out;
  }

  /** The gradient buffer (same layout as `params`; allocated on first use). */
  get grads(): Float32Array {
    if (!this.#grads) {
      this.#grads = new Float32Array(this.params.length);
      this.#g = views(this.config, this.layout, this.#grads);
    }
    return this.#grads;
  }

  /** Gradient views by HF name. */
  get gradViews(): ModelViews {
    void this.grads;
    return this.#g!;
  }

  /** Zeroes the gradients. */
  zeroGrad(): void {
    this.grads.fill(0);
  }

  #activations(B: number, T: number): Acts {
    const a = this.#acts;
    if (a && a.B === B && a.T === T) return a;
    const { dim: d, ffn: f, heads: H, vocabSize: V, layers: L } = this.config;
    const N = B * T, P = B * H * T * T;
    // buffers sized for the largest shape seen; other shapes (a smaller last micro-batch) use views of them
    let cap = this.#cap;
    if (!cap || cap.N < N || cap.P < P) {
      const n = Math.max(N, cap?.N ?? 0), p = Math.max(P, cap?.P ?? 0);
      const per = (k: number) => Array.from({ length: L }, () => new Float32Array(k));
      this.#acts = undefined;
      cap = this.#cap = {
        N: n,
        P: p,
        B: 0,
        T: 0,
        ids: new Int32Array(n),
        targets: new Int32Array(n),
        resid: Array.from({ length: L + 1 }, () => new Float32Array(n * d)),
        ln1: per(n * d),
        rstd1: per(n),
        qkv: per(n * 3 * d),
        probs: per(p),
        att: per(n * d),
        mid: per(n * d),
        ln2: per(n * d),
        rstd2: per(n),
        gu: per(n * 2 * f),
        act: per(n * f),
        sig: per(n * f),
        proj: new Float32Array(n * d),
        lnf: new Float32Array(n * d),
        rstdf: new Float32Array(n),
        logits: new Float32Array(n * V),
        lse: new Float32Array(n),
      };
    }
    const v = (x: Float32Array, k: number) => x.subarray(0, k);
    const vs = (xs: Float32Array[], k: number) => xs.map((x) => x.subarray(0, k));
    this.#acts = {
      B,
      T,
      ids: cap.ids.subarray(0, N),
      targets: cap.targets.subarray(0, N),
      resid: vs(cap.resid, N * d),
      ln1: vs(cap.ln1, N * d),
      rstd1: vs(cap.rstd1, N),
      qkv: vs(cap.qkv, N * 3 * d),
      probs: vs(cap.probs, P),
      att: vs(cap.att, N * d),
      mid: vs(cap.mid, N * d),
      ln2: vs(cap.ln2, N * d),
      rstd2: vs(cap.rstd2, N),
      gu: vs(cap.gu, N * 2 * f),
      act: vs(cap.act, N * f),
      sig: vs(cap.sig, N * f),
      proj: v(cap.proj, N * d),
      lnf: v(cap.lnf, N * d),
      rstdf: v(cap.rstdf, N),
      logits: v(cap.logits, N * V),
      lse: v(cap.lse, N),
    };
    return this.#acts;
  }

  /** Backward scratch, sized like the activations (views for smaller shapes). */
  #scratch(N: number, T: number) {
    const { dim: d, ffn: f } = this.config, cap = this.#cap!;
    let s = this.#bwd;
    if (!s || s.N < cap.N || s.TT < T * T) {
      const n = cap.N, tt = Math.max(T * T, s?.TT ?? 0);
      s = this.#bwd = {
        N: n,
        TT: tt,
        dresid: new Float32Array(n * d),
        dln: new Float32Array(n * d),
        dqkv: new Float32Array(n * 3 * d),
        datt: new Float32Array(n * d),
        dgu: new Float32Array(n * 2 * f),
        dact: new Float32Array(n * f),
        dP: new Float32Array(tt),
      };
    }
    return {
      dresid: s.dresid.subarray(0, N * d),
      dln: s.dln.subarray(0, N * d),
      dqkv: s.dqkv.subarray(0, N * 3 * d),
      datt: s.datt.subarray(0, N * d),
      dgu: s.dgu.subarray(0, N * 2 * f),
      dact: s.dact.subarray(0, N * f),
      dP: s.dP.subarray(0, T * T),
    };
  }

  /**
   * Logits [B·T, V] (row-major, position-major) for ids [B, T]; activations are kept for {@link backward}. The
   * returned array is internal: valid until the next forward or backward.
   */
  forward(ids: ArrayLike<number>, B: number, T: number): Float32Array {
    const c = this.config, blas = this.blas, W = this.w;
    const { dim: d, ffn: f, heads: H, vocabSize: V, normEps: eps } = c;
    const hd = d / H, N = B * T;
    if (ids.length !== N) throw new RangeError(`ids: ${ids.length} values for B ${B} × T ${T}`);
    if (T > c.maxPositions) throw new RangeError(`T ${T} exceeds maxPositions ${c.maxPositions}`);
    const a = this.#activations(B, T);
    for (let n = 0; n < N; n++) {
      const id = ids[n];
      if (!(id >= 0 && id < V)) throw new RangeError(`token id ${id} outside the vocabulary (${V})`);
      a.ids[n] = id;
    }
    this.#lossReady = false;
    embeddingForward(a.resid[0], a.ids, W.embed, N, d);
    for (let l = 0; l < c.layers; l++) {
      const Lw = W.layers[l];
      rmsnormForward(a.ln1[l], a.rstd1[l], a.resid[l], Lw.ln1, N, d, eps);
      matmulForward(blas, a.qkv[l], a.ln1[l], Lw.qkv, N, d, 3 * d);
      ropeForward(a.qkv[l], N, T, 3 * d, 0, 2 * H, this.rope); // q and k: 2H heads side by side
      attentionForward(blas, a.att[l], a.probs[l], a.qkv[l], B, T, H, hd);
      matmulForward(blas, a.proj, a.att[l], Lw.o, N, d, d);
      residualForward(a.mid[l], a.resid[l], a.proj, N * d);
      rmsnormForward(a.ln2[l], a.rstd2[l], a.mid[l], Lw.ln2, N, d, eps);
      matmulForward(blas, a.gu[l], a.ln2[l], Lw.gu, N, d, 2 * f);
      swigluForward(a.act[l], a.gu[l], N, f, a.sig[l]);
      matmulForward(blas, a.proj, a.act[l], Lw.down, N, f, d);
      residualForward(a.resid[l + 1], a.mid[l], a.proj, N * d);
    }
    rmsnormForward(a.lnf, a.rstdf, a.resid[c.layers], W.norm, N, d, eps);
    matmulForward(blas, a.logits, a.lnf, W.embed, N, d, V);
    return a.logits;
  }

  /**
   * Forward plus the mean cross-entropy of `targets` [B, T] (target `ignoreIndex`, PAD = 0 by default, is not
   * counted — as lib/model's `crossEntropy`). Returns the loss; {@link backward} may follow.
   */
  loss(ids: ArrayLike<number>, targets: ArrayLike<number>, B: number, T: number, ignoreIndex = 0): number {
    const V = this.config.vocabSize, N = B * T;
    if (targets.length !== N) throw new RangeError(`targets: ${targets.length} values for B ${B} × T ${T}`);
    const logits = this.forward(ids, B, T);
    const a = this.#acts!;
    for (let n = 0; n < N; n++) {
      const t = targets[n];
      if (t !== ignoreIndex && !(t >= 0 && t < V)) throw new RangeError(`target ${t} outside the vocabulary`);
      a.targets[n] = t;
    }
    const { loss, count } = crossEntropyForward(a.lse, logits, a.targets, N, V, ignoreIndex);
    this.#count = count;
    this.#ignore = ignoreIndex;
    this.#lossReady = true;
    return loss;
  }

  /**
   * Backward of the last {@link loss}: `grads += dloss · ∂loss/∂params` (`dloss` weights a micro-batch's share of
   * the step's mean). Overwrites the logits.
   */
  backward(dloss = 1): void {
    if (!this.#lossReady) throw new Error("backward() needs a loss() first");
    this.#lossReady = false;
    const c = this.config, blas = this.blas, W = this.w, G = this.gradViews, a = this.#acts!;
    const { dim: d, ffn: f, heads: H, vocabSize: V } = c;
    const hd = d / H, B = a.B, T = a.T, N = B * T;
    const { dresid, dln, dqkv, datt, dgu, dact, dP } = this.#scratch(N, T);
    const dlogits = a.logits; // in place
    crossEntropyBackward(dlogits, a.logits, a.lse, a.targets, N, V, this.#count, dloss, this.#ignore);
    dresid.fill(0);
    matmulBackward(blas, dln, G.embed, dlogits, a.lnf, W.embed, N, d, V);
    rmsnormBackward(dresid, G.norm, dln, a.resid[c.layers], W.norm, a.rstdf, N, d);
    for (let l = c.layers - 1; l >= 0; l--) {
      const Lw = W.layers[l], Lg = G.layers[l];
      // resid[l+1] = mid + down(act): the residual passes dresid to both (shared buffer)
      matmulBackward(blas, dact, Lg.down, dresid, a.act[l], Lw.down, N, f, d);
      swigluBackward(dgu, dact, a.gu[l], N, f, a.sig[l]);
      matmulBackward(blas, dln, Lg.gu, dgu, a.ln2[l], Lw.gu, N, d, 2 * f);
      rmsnormBackward(dresid, Lg.ln2, dln, a.mid[l], Lw.ln2, a.rstd2[l], N, d);
      // mid = resid[l] + o(att)
      matmulBackward(blas, datt, Lg.o, dresid, a.att[l], Lw.o, N, d, d);
      attentionBackward(blas, dqkv, dP, datt, a.probs[l], a.qkv[l], B, T, H, hd);
      ropeBackward(dqkv, N, T, 3 * d, 0, 2 * H, this.rope);
      matmulBackward(blas, dln, Lg.qkv, dqkv, a.ln1[l], Lw.qkv, N, d, 3 * d);
      rmsnormBackward(dresid, Lg.ln1, dln, a.resid[l], Lw.ln1, a.rstd1[l], N, d);
    }
    embeddingBackward(G.embed, dresid, a.ids, N, d);
  }

  /** Drops the cached activations (memory), e.g. after training. */
  release(): void {
    this.#acts = this.#cap = this.#bwd = undefined;
    this.#lossReady = false;
  }
}
