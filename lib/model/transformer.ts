/**
 * The Llama-style Transformer in tfjs-core ops (nanoGPT style): token embedding, pre-norm blocks (RMSNorm → causal
 * multi-head attention with RoPE on q/k → residual; RMSNorm → SwiGLU `down(silu(gate(x)) ⊙ up(x))` → residual), final
 * RMSNorm, output tied to the embedding. Weights are held under their Hugging Face names and layouts
 * (`nn.Linear` weight = [out, in]), so a checkpoint is the variables written out as they are.
 *
 * The embedding lookup is a one-hot × matmul: tfjs-wasm has no gradient for gather (UnsortedSegmentSum).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { TransformerConfig } from "./config.ts";

/** Cos/sin tables [T, headDim] in HF's rotate_half layout (frequencies repeated for both halves). */
export function ropeTables(
  T: number,
  headDim: number,
  theta: number,
): { cos: Float32Array; sin: Float32Array } {
  const half = headDim / 2;
  const cos = new Float32Array(T * headDim), sin = new Float32Array(T * headDim);
  for (let j = 0; j < half; j++) {
    const invFreq = Math.fround(1 / Math.pow(theta, (2 * j) / headDim));
    for (let t = 0; t < T; t++) {
      const a = Math.fround(t * invFreq);
      cos[t * headDim + j] = cos[t * headDim + j + half] = Math.cos(a);
      sin[t * headDim + j] = sin[t * headDim + j + half] = Math.sin(a);
    }
  }
  return { cos, sin };
}

const cache = new Map<string, { cos: tf.Tensor2D; sin: tf.Tensor2D; mask: tf.Tensor2D }>();

function constants(T: number, headDim: number, theta: number) {
  const key = `${tf.getBackend()}:${T}:${headDim}:${theta}`;
  let c = cache.get(key);
  if (!c) {
    const { cos, sin } = ropeTables(T, headDim, theta);
    const m = new Float32Array(T * T);
    for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = -1e9;
    c = tf.tidy(() => ({
      cos: tf.keep(tf.tensor2d(cos, [T, headDim])),
      sin: tf.keep(tf.tensor2d(sin, [T, headDim])),
      mask: tf.keep(tf.tensor2d(m, [T, T])),
    }));
    cache.set(key, c);
  }
  return c;
}

// deno-doc-ignore private-type-ref -- tfjs types, public in their own package (denoland/deno#27364)
/** RMSNorm over the last axis: x / sqrt(mean(x²) + eps) · w. */
export function rmsNorm(x: tf.Tensor, w: tf.Tensor, eps: number): tf.Tensor {
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), w);
}

// deno-doc-ignore private-type-ref -- tfjs types, public in their own package (denoland/deno#27364)
/** Applies RoPE (rotate_half convention) to [B, H, T, hd] with tables [T, hd]. */
export function applyRope(x: tf.Tensor4D, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor4D {
  const hd = x.shape[3];
  const x1 = tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, hd / 2]);
  const x2 = tf.slice(x, [0, 0, 0, hd / 2], [-1, -1, -1, hd / 2]);
  const rot = tf.concat([tf.neg(x2), x1], 3);
  return tf.add(tf.mul(x, cos), tf.mul(rot, sin));
}

/**
 * A linear layer with an HF-layout weight [out, in] on a 2-D input [N, in], with its own gradient: tfjs-wasm's matmul
 * is fast (XNNPACK) only for untransposed 2-D operands (13× slower with `transposeB`), so the weight is transposed
 * explicitly, and the backward pass uses dx = dy·W and dW = dyᵀ·x (one activation transpose, no weight transposes).
 */
const linearOp = tf.customGrad(
  ((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, w, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([x, w]);
    return {
      value: tf.matMul(x as tf.Tensor2D, tf.transpose(w as tf.Tensor2D)),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws] = saved as tf.Tensor2D[];
        return [tf.matMul(dy as tf.Tensor2D, ws), tf.matMul(tf.transpose(dy as tf.Tensor2D), xs)];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0],
);

function linear(x: tf.Tensor, w: tf.Tensor): tf.Tensor2D {
  return linearOp(x, w) as tf.Tensor2D;
}

/**
 * Causal attention softmax((q·kᵀ)·scale + mask)·v for [B, H, T, hd] inputs. On wasm, per (batch, head) 2-D matmuls
 * and a 2-D softmax: tfjs-wasm runs batched matmuls in a slow scalar loop (≈ 1.7 GFLOP/s) but 2-D ones through
 * XNNPACK (≈ 20 GFLOP/s), and keeping the T×T scores per head avoids (un)stacking them.
 */
function attention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  mask: tf.Tensor,
  scale: number,
  probe?: (scores: tf.Tensor4D) => void,
): tf.Tensor4D {
  if (tf.getBackend() !== "wasm") {
    const scores: tf.Tensor4D = tf.mul(tf.matMul(q, k, false, true), scale);
    probe?.(scores);
    return tf.matMul(tf.softmax(tf.add(scores, mask)) as tf.Tensor4D, v);
  }
  const [B, H, T, hd] = q.shape;
  const qs = tf.unstack(tf.reshape(q, [B * H, T, hd])) as tf.Tensor2D[];
  const kts = tf.unstack(tf.reshape(tf.transpose(k, [0, 1, 3, 2]), [B * H, hd, T])) as tf.Tensor2D[];
  const vs = tf.unstack(tf.reshape(v, [B * H, T, hd])) as tf.Tensor2D[];
  const scores = qs.map((qi, i) => tf.mul(tf.matMul(qi, kts[i]), scale));
  if (probe) probe(tf.reshape(tf.stack(scores), [B, H, T, T]));
  const ys = scores.map((s, i) => tf.matMul(tf.softmax(tf.add(s, mask)) as tf.Tensor2D, vs[i]));
  return tf.reshape(tf.stack(ys), [B, H, T, hd]);
}

/** Embeds ids [B, T] → [B·T, d] with a differentiable one-hot matmul. */
export function embedOneHot(ids: tf.Tensor2D, table: tf.Tensor): tf.Tensor2D {
  const [B, T] = ids.shape;
  const oh = tf.cast(tf.oneHot(tf.cast(tf.reshape(ids, [B * T]), "int32"), table.shape[0]), "float32");
  return tf.matMul(oh, table as tf.Tensor2D);
}

// deno-doc-ignore private-type-ref -- tfjs types, public in their own package (denoland/deno#27364)
/**
 * Transformer forward pass: ids [B, T] → logits [B, T, vocab]. `p` maps HF tensor names to tensors. When `probe` is
 * given, it receives each layer's pre-softmax attention scores [B, H, T, T] (for tests).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { applyOverrides, getPreset } from "./config.ts";
 * import { TfModel } from "./model.ts";
 * import { transformerForward } from "./transformer.ts";
 * const { model } = applyOverrides(getPreset("v8"), { layers: 1, dim: 16, heads: 2, ffn: 32, vocab: 20 });
 * const m = TfModel.init(model, 1), c = m.config;
 * if (c.arch === "transformer") {
 *   const logits = tf.tidy(() => transformerForward(c, m.vars, tf.tensor2d([[1, 5, 9]], [1, 3], "int32")));
 *   logits.shape; // [1, 3, 20]
 * }
 * ```
 */
export function transformerForward(
  c: TransformerConfig,
  p: Record<string, tf.Tensor>,
  ids: tf.Tensor2D,
  probe?: (layer: number, scores: tf.Tensor4D) => void,
): tf.Tensor3D {
  const [B, T] = ids.shape;
  const H = c.heads, hd = c.dim / c.heads, N = B * T;
  const { cos, sin, mask } = constants(T, hd, c.ropeTheta);
  const scale = 1 / Math.sqrt(hd);
  const heads = (x: tf.Tensor): tf.Tensor4D => tf.transpose(tf.reshape(x, [B, T, H, hd]), [0, 2, 1, 3]);
  let h: tf.Tensor = embedOneHot(ids, p["model.embed_tokens.weight"]);
  for (let i = 0; i < c.layers; i++) {
    const L = `model.layers.${i}.`;
    const x = rmsNorm(h, p[L + "input_layernorm.weight"], c.normEps);
    const q = applyRope(heads(linear(x, p[L + "self_attn.q_proj.weight"])), cos, sin);
    const k = applyRope(heads(linear(x, p[L + "self_attn.k_proj.weight"])), cos, sin);
    const v = heads(linear(x, p[L + "self_attn.v_proj.weight"]));
    const att = attention(q, k, v, mask, scale, probe && ((scores) => probe(i, scores)));
    const y = tf.reshape(tf.transpose(att, [0, 2, 1, 3]), [N, c.dim]);
    h = tf.add(h, linear(y, p[L + "self_attn.o_proj.weight"]));
    const x2 = rmsNorm(h, p[L + "post_attention_layernorm.weight"], c.normEps);
    const g = linear(x2, p[L + "mlp.gate_proj.weight"]);
    const u = linear(x2, p[L + "mlp.up_proj.weight"]);
    h = tf.add(h, linear(tf.mul(tf.mul(g, tf.sigmoid(g)), u), p[L + "mlp.down_proj.weight"]));
  }
  h = rmsNorm(h, p["model.norm.weight"], c.normEps);
  const logits = linear(h, p["model.embed_tokens.weight"]);
  return tf.reshape(logits, [B, T, c.vocabSize]);
}

/**
 * Initial weights (GPT-2 style): matrices N(0, 0.02), residual projections (o_proj, down_proj) scaled by
 * 1/√(2·layers), norm weights 1. `normal` supplies standard normal samples (seeded by the caller).
 *
 * @example
 * ```ts
 * import { applyOverrides, getPreset, tensorShapes } from "./config.ts";
 * import { initTransformerWeights } from "./transformer.ts";
 * import { Rng } from "../util/rng.ts";
 * const { model } = applyOverrides(getPreset("v8"), { layers: 1, dim: 16, heads: 2, ffn: 32, vocab: 20 });
 * if (model.arch !== "transformer") throw new Error("v8 is a Transformer preset");
 * const rng = new Rng(1);
 * const w = initTransformerWeights(model, () => rng.normal(), tensorShapes(model));
 * w["model.norm.weight"]; // Float32Array(16) [1, 1, …]
 * ```
 */
export function initTransformerWeights(
  c: TransformerConfig,
  normal: () => number,
  shapes: Record<string, number[]>,
): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const a = new Float32Array(n);
    if (name.endsWith("layernorm.weight") || name === "model.norm.weight") a.fill(1);
    else {
      const std = /o_proj|down_proj/.test(name) ? 0.02 / Math.sqrt(2 * c.layers) : 0.02;
      for (let i = 0; i < n; i++) a[i] = normal() * std;
    }
    out[name] = a;
  }
  return out;
}
