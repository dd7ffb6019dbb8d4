/**
 * The LSTM baselines (v2–v6) in tfjs-core ops. Checkpoint tensor names (PyTorch `nn.LSTM`-like, gate order
 * i, f, g, o; the two PyTorch biases summed into one):
 *
 * - `embed.weight` [vocab, embedDim] (only with `input: "embedding"`, v6)
 * - `lstm.weight_ih_l{i}` [4·hidden_i, in_i], `lstm.weight_hh_l{i}` [4·hidden_i, hidden_i], `lstm.bias_l{i}` [4·hidden_i]
 *   (in_0 = 1 for float input — the id divided by vocab − 1 — or embedDim; in_i = hidden_{i−1})
 * - `head.weight` [vocab, hidden_last], `head.bias` [vocab]
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { LstmConfig } from "./config.ts";
import { embedOneHot } from "./transformer.ts";

// deno-doc-ignore private-type-ref -- tfjs types, public in their own package (denoland/deno#27364)
/**
 * LSTM forward pass: ids [B, T] → logits [B, T, vocab], zero initial state.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { applyOverrides, getPreset } from "./config.ts";
 * import { lstmForward } from "./lstm.ts";
 * import { TfModel } from "./model.ts";
 * const { model } = applyOverrides(getPreset("v6"), { hidden: [16], embedDim: 8, vocab: 20 });
 * const m = TfModel.init(model, 1), c = m.config;
 * if (c.arch === "lstm") {
 *   const logits = tf.tidy(() => lstmForward(c, m.vars, tf.tensor2d([[1, 5, 9]], [1, 3], "int32")));
 *   logits.shape; // [1, 3, 20]
 * }
 * ```
 */
export function lstmForward(c: LstmConfig, p: Record<string, tf.Tensor>, ids: tf.Tensor2D): tf.Tensor3D {
  const [B, T] = ids.shape;
  let x: tf.Tensor2D = c.input === "float"
    ? tf.reshape(tf.div(tf.cast(ids, "float32"), c.vocabSize - 1), [B * T, 1])
    : embedOneHot(ids, p["embed.weight"]);
  for (let l = 0; l < c.hidden.length; l++) {
    const H = c.hidden[l];
    const xw = tf.reshape(
      tf.add(tf.matMul(x, tf.transpose(p[`lstm.weight_ih_l${l}`] as tf.Tensor2D)), p[`lstm.bias_l${l}`]),
      [B, T, 4 * H],
    );
    const steps = tf.unstack(xw, 1);
    // transposed once: tfjs-wasm's matmul is fast only without transpose flags
    const whhT = tf.transpose(p[`lstm.weight_hh_l${l}`] as tf.Tensor2D);
    let h: tf.Tensor2D = tf.zeros([B, H]);
    let cell: tf.Tensor = tf.zeros([B, H]);
    const outs: tf.Tensor[] = [];
    for (let t = 0; t < T; t++) {
      const g = tf.add(steps[t], tf.matMul(h, whhT));
      const [gi, gf, gg, go] = tf.split(g, 4, 1);
      cell = tf.add(tf.mul(tf.sigmoid(gf), cell), tf.mul(tf.sigmoid(gi), tf.tanh(gg)));
      h = tf.mul(tf.sigmoid(go), tf.tanh(cell));
      outs.push(h);
    }
    x = tf.reshape(tf.stack(outs, 1), [B * T, H]);
  }
  const logits = tf.add(tf.matMul(x, tf.transpose(p["head.weight"] as tf.Tensor2D)), p["head.bias"]);
  return tf.reshape(logits, [B, T, c.vocabSize]);
}

/**
 * Initial LSTM weights: PyTorch's U(−1/√h, 1/√h) for LSTM matrices and the head, forget-gate bias 1, embedding
 * N(0, 1)·0.1. `uniform` supplies U[0, 1) samples (seeded by the caller).
 *
 * @example
 * ```ts
 * import { getPreset, tensorShapes } from "./config.ts";
 * import { initLstmWeights } from "./lstm.ts";
 * const m = getPreset("v2").model;
 * if (m.arch !== "lstm") throw new Error("v2 is an LSTM preset");
 * const w = initLstmWeights(m, Math.random, tensorShapes(m));
 * ```
 */
export function initLstmWeights(
  c: LstmConfig,
  uniform: () => number,
  shapes: Record<string, number[]>,
): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const a = new Float32Array(n);
    const fanIn = name === "head.weight" || name === "head.bias" ? shape[shape.length - 1] : 0;
    const layer = /_l(\d+)$/.exec(name);
    const H = layer ? c.hidden[Number(layer[1])] : 0;
    const bound = name.startsWith("lstm.")
      ? 1 / Math.sqrt(H)
      : name === "embed.weight"
      ? 0.1
      : 1 / Math.sqrt(fanIn);
    const hb = name === "head.bias" ? 1 / Math.sqrt(c.hidden[c.hidden.length - 1]) : bound;
    for (let i = 0; i < n; i++) a[i] = (2 * uniform() - 1) * hb;
    if (name.startsWith("lstm.bias_l")) { for (let i = H; i < 2 * H; i++) a[i] = 1; }
    out[name] = a;
  }
  return out;
}
