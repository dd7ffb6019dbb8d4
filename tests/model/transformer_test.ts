import * as tf from "@tensorflow/tfjs-core";
import { assert, assertEquals } from "../_assert.ts";
import { selectBackend } from "../../lib/model/backend.ts";
import {
  applyOverrides,
  getPreset,
  type LstmConfig,
  type TransformerConfig,
} from "../../lib/model/config.ts";
import { crossEntropy, forwardLogits, TfModel } from "../../lib/model/model.ts";
import { applyRope, transformerForward } from "../../lib/model/transformer.ts";

await selectBackend("wasm");

const tiny = applyOverrides(getPreset("v8"), { layers: 2, dim: 16, heads: 2, ffn: 24, vocab: 12, seqLen: 16 })
  .model as TransformerConfig;

/**
 * Plain-JS Llama forward in float64 written from the HF definitions (nn.Linear y = W x with W [out, in]; RoPE
 * rotate_half with inv_freq θ^(−2j/hd); RMSNorm; SwiGLU; tied output) — the spec the WebGPU engine codes against.
 */
function referenceLogits(c: TransformerConfig, w: Record<string, Float32Array>, ids: number[]): Float64Array {
  const d = c.dim, H = c.heads, hd = d / H, T = ids.length, F = c.ffn, V = c.vocabSize;
  const lin = (W: Float32Array, x: Float64Array, out: number, inn: number) => {
    const y = new Float64Array(out);
    for (let o = 0; o < out; o++) {
      let s = 0;
      for (let i = 0; i < inn; i++) s += W[o * inn + i] * x[i];
      y[o] = s;
    }
    return y;
  };
  const norm = (x: Float64Array, g: Float32Array) => {
    let ms = 0;
    for (const v of x) ms += v * v;
    const r = 1 / Math.sqrt(ms / x.length + c.normEps);
    return x.map((v, i) => v * r * g[i]);
  };
  const rope = (x: Float64Array, pos: number) => {
    const y = new Float64Array(x.length);
    for (let h = 0; h < H; h++) {
      for (let j = 0; j < hd / 2; j++) {
        const ang = pos * Math.pow(c.ropeTheta, (-2 * j) / hd);
        const a = x[h * hd + j], b = x[h * hd + j + hd / 2];
        y[h * hd + j] = a * Math.cos(ang) - b * Math.sin(ang);
        y[h * hd + j + hd / 2] = b * Math.cos(ang) + a * Math.sin(ang);
      }
    }
    return y;
  };
  const E = w["model.embed_tokens.weight"];
  let hs = ids.map((id) => Float64Array.from(E.subarray(id * d, id * d + d)));
  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}.`;
    const xs = hs.map((h) => norm(h, w[p + "input_layernorm.weight"]));
    const q = xs.map((x, t) => rope(lin(w[p + "self_attn.q_proj.weight"], x, d, d), t));
    const k = xs.map((x, t) => rope(lin(w[p + "self_attn.k_proj.weight"], x, d, d), t));
    const v = xs.map((x) => lin(w[p + "self_attn.v_proj.weight"], x, d, d));
    hs = hs.map((h, t) => {
      const y = new Float64Array(d);
      for (let hh = 0; hh < H; hh++) {
        const s: number[] = [];
        for (let u = 0; u <= t; u++) {
          let dot = 0;
          for (let j = 0; j < hd; j++) dot += q[t][hh * hd + j] * k[u][hh * hd + j];
          s.push(dot / Math.sqrt(hd));
        }
        const m = Math.max(...s), e = s.map((z) => Math.exp(z - m)), z = e.reduce((a, b) => a + b, 0);
        for (let u = 0; u <= t; u++) {
          for (let j = 0; j < hd; j++) y[hh * hd + j] += (e[u] / z) * v[u][hh * hd + j];
        }
      }
      const h2 = h.map((x, i) => x + lin(w[p + "self_attn.o_proj.weight"], y, d, d)[i]);
      const x2 = norm(h2, w[p + "post_attention_layernorm.weight"]);
      const g = lin(w[p + "mlp.gate_proj.weight"], x2, F, d), u = lin(w[p + "mlp.up_proj.weight"], x2, F, d);
      const a = g.map((gi, i) => (gi / (1 + Math.exp(-gi))) * u[i]);
      const down = lin(w[p + "mlp.down_proj.weight"], a, d, F);
      return h2.map((x, i) => x + down[i]);
    });
  }
  const out = new Float64Array(T * V);
  hs.forEach((h, t) => {
    const x = norm(h, w["model.norm.weight"]);
    for (let vv = 0; vv < V; vv++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += x[i] * E[vv * d + i];
      out[t * V + vv] = s;
    }
  });
  return out;
}

/** Random weights with larger scale than the init, so every path matters numerically. */
function randomModel(c: TransformerConfig | LstmConfig, seed: number, scale = 0.3): TfModel {
  const m = TfModel.init(c, seed);
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  for (const v of Object.values(m.vars)) {
    const a = new Float32Array(v.size).map(() => rnd() * scale + (v.rank === 1 ? 1 : 0));
    v.assign(tf.tensor(a, v.shape));
  }
  return m;
}

Deno.test("tfjs Transformer logits match an independent float64 Llama reference", async () => {
  const m = randomModel(tiny, 3);
  const ids = [1, 5, 9, 4, 11, 7, 7, 2, 6];
  const got = forwardLogits(m, ids);
  const want = referenceLogits(tiny, await m.weights(), ids);
  let maxErr = 0;
  for (let i = 0; i < want.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i] - want[i]));
  console.log(`max |tfjs − reference| = ${maxErr.toExponential(2)} over ${want.length} logits`);
  assert(maxErr < 1e-4, `max error ${maxErr}`);
  m.dispose();
});

Deno.test("RoPE: q·k after rotation depends only on the relative position", () => {
  const hd = 8, T = 12;
  const rnd = (n: number, s: number) =>
    Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + s * 78.233) * 2);
  const [q, k] = [rnd(hd, 1), rnd(hd, 2)];
  // the same q and k vectors at every position, one head: [1, 1, T, hd]
  const scores = tf.tidy(() => {
    const qt = tf.tile(tf.tensor4d(q, [1, 1, 1, hd]), [1, 1, T, 1]) as tf.Tensor4D;
    const kt = tf.tile(tf.tensor4d(k, [1, 1, 1, hd]), [1, 1, T, 1]) as tf.Tensor4D;
    const ang = (t: number, j: number) => t * Math.pow(10000, (-2 * (j % (hd / 2))) / hd);
    const cos = tf.tensor2d(
      Array.from({ length: T * hd }, (_, i) => Math.cos(ang(Math.floor(i / hd), i % hd))),
      [T, hd],
    );
    const sin = tf.tensor2d(
      Array.from({ length: T * hd }, (_, i) => Math.sin(ang(Math.floor(i / hd), i % hd))),
      [T, hd],
    );
    return tf.matMul(applyRope(qt, cos, sin), applyRope(kt, cos, sin), false, true)
      .arraySync() as number[][][][];
  })[0][0];
  for (let i = 0; i < T; i++) {
    for (let j = 0; j < T; j++) {
      for (const s of [1, 3]) {
        if (i + s < T && j + s < T) {
          assert(Math.abs(scores[i][j] - scores[i + s][j + s]) < 1e-4, `${i},${j}+${s}`);
        }
      }
    }
  }
  // …and it does depend on the distance (the test could fail)
  assert(Math.abs(scores[5][5] - scores[5][2]) > 1e-2);
});

Deno.test("RoPE in the model: a constant sequence gives Toeplitz attention scores", () => {
  const m = randomModel(tiny, 5);
  const probed: number[][][][][] = [];
  tf.tidy(() => {
    const ids = tf.tensor2d([new Array(10).fill(6)], [1, 10], "int32");
    transformerForward(tiny, m.vars, ids, (l, s) => {
      if (l === 0) probed.push(s.arraySync());
    });
  });
  const s = probed[0][0]; // [H, T, T]
  for (const head of s) {
    for (let i = 0; i + 1 < 10; i++) {
      for (let j = 0; j + 1 < 10; j++) assert(Math.abs(head[i][j] - head[i + 1][j + 1]) < 1e-4);
    }
    assert(Math.abs(head[9][9] - head[9][0]) > 1e-3);
  }
  m.dispose();
});

Deno.test("causal mask: changing a future token never changes an earlier logit", () => {
  const m = randomModel(tiny, 7);
  const V = tiny.vocabSize;
  const a = [1, 4, 8, 5, 9, 10, 6, 4];
  const base = forwardLogits(m, a);
  for (const t of [3, 6]) {
    const b = [...a];
    b[t] = b[t] === 11 ? 10 : 11;
    const other = forwardLogits(m, b);
    for (let i = 0; i < t * V; i++) {
      assertEquals(other[i], base[i], `logit ${i} moved when token ${t} changed`);
    }
    let moved = 0;
    for (let i = t * V; i < (t + 1) * V; i++) moved = Math.max(moved, Math.abs(other[i] - base[i]));
    assert(moved > 1e-3, "the changed position's own logits must move");
  }
  m.dispose();
});

/** Compares analytic gradients with central finite differences at sampled coordinates of every tensor. */
async function checkGradients(model: TfModel, ids: number[][], targets: number[][]) {
  const B = ids.length, T = ids[0].length;
  const x = tf.tensor2d(ids.flat(), [B, T], "int32"), y = tf.tensor2d(targets.flat(), [B, T], "int32");
  const lossOf = () => tf.tidy(() => crossEntropy(model.apply(x), y).dataSync()[0]);
  const names = new Map(Object.entries(model.vars).map(([k, v]) => [v.name, k]));
  const { value, grads } = tf.variableGrads(() => crossEntropy(model.apply(x), y), Object.values(model.vars));
  value.dispose();
  const analytic: number[] = [], numeric: number[] = [];
  const h = 1e-2;
  for (const [vn, g] of Object.entries(grads)) {
    const v = model.vars[names.get(vn)!];
    const gv = await g.data();
    const base = (await v.data()) as Float32Array;
    for (let s = 0; s < 3; s++) {
      const i = (s * 7919 + 13) % v.size;
      const p = base.slice();
      p[i] = base[i] + h;
      v.assign(tf.tensor(p, v.shape));
      const up = lossOf();
      p[i] = base[i] - h;
      v.assign(tf.tensor(p, v.shape));
      const down = lossOf();
      v.assign(tf.tensor(base, v.shape));
      analytic.push(gv[i]);
      numeric.push((up - down) / (2 * h));
    }
    g.dispose();
  }
  tf.dispose([x, y]);
  let dot = 0, na = 0, nn = 0, worst = 0;
  for (let i = 0; i < analytic.length; i++) {
    dot += analytic[i] * numeric[i];
    na += analytic[i] ** 2;
    nn += numeric[i] ** 2;
    worst = Math.max(worst, Math.abs(analytic[i] - numeric[i]) / (Math.abs(numeric[i]) + 2e-3));
  }
  const cosine = dot / Math.sqrt(na * nn);
  return { cosine, worst, n: analytic.length };
}

Deno.test("Transformer gradients match finite differences", async () => {
  const m = randomModel(tiny, 11, 0.4);
  const r = await checkGradients(m, [[1, 4, 8, 5, 9, 10], [1, 6, 6, 7, 3, 11]], [[4, 8, 5, 9, 10, 2], [
    6,
    6,
    7,
    3,
    11,
    0,
  ]]);
  console.log(
    `transformer: ${r.n} coordinates, cosine ${r.cosine.toFixed(5)}, worst rel err ${r.worst.toFixed(3)}`,
  );
  assert(r.cosine > 0.999, `cosine ${r.cosine}`);
  assert(r.worst < 0.1, `worst ${r.worst}`);
  m.dispose();
});

Deno.test("LSTM gradients match finite differences (embedding and float input)", async () => {
  for (const preset of ["v6", "v2"]) {
    const c = applyOverrides(getPreset(preset), { hidden: [8, 6], embedDim: 5, vocab: 12, seqLen: 8 }).model;
    const m = randomModel(c, 13, 0.5);
    const r = await checkGradients(m, [[1, 4, 8, 5, 9], [1, 6, 6, 7, 11]], [[4, 8, 5, 9, 2], [
      6,
      6,
      7,
      11,
      2,
    ]]);
    console.log(
      `${preset} lstm: ${r.n} coordinates, cosine ${r.cosine.toFixed(5)}, worst rel err ${
        r.worst.toFixed(3)
      }`,
    );
    assert(r.cosine > 0.999, `cosine ${r.cosine}`);
    assert(r.worst < 0.1, `worst ${r.worst}`);
    m.dispose();
  }
});
