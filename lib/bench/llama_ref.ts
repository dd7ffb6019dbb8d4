/**
 * A plain-TypeScript Llama forward (no KV cache, float64 accumulation): the bench's fallback reference for the
 * logits check against the PyTorch peer when neither the engine nor `lib/infer/reference.ts` is available, and an
 * independent check of both. Hugging Face Llama semantics: pre-norm RMSNorm (`x · rsqrt(mean x² + eps) · w`),
 * RoPE with `rotate_half` (first half / second half of each head), causal softmax attention, SwiGLU
 * `down(silu(gate x) ⊙ up x)`, final norm, output tied to `model.embed_tokens.weight`. Weights in nn.Linear layout
 * `[out, in]`.
 *
 * @module
 */

/** The shape fields of a Llama `config.json`. */
export interface LlamaShape {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  rms_norm_eps?: number;
  rope_theta?: number;
}

/** y[o] = Σ_i W[o, i] x[i] for one row. */
function linear(w: Float32Array, x: Float64Array, out: number, inp: number): Float64Array {
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = 0;
    const off = o * inp;
    for (let i = 0; i < inp; i++) s += w[off + i] * x[i];
    y[o] = s;
  }
  return y;
}

function rmsNorm(x: Float64Array, w: Float32Array, eps: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const r = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * r * w[i]);
}

/**
 * Logits `[ids.length × vocab]` for a token sequence, computed from a weight dict (HF Llama names).
 *
 * @example
 * ```ts
 * import { llamaLogits } from "./llama_ref.ts";
 * const cfg = { vocab_size: 8, hidden_size: 4, intermediate_size: 8, num_hidden_layers: 0, num_attention_heads: 2 };
 * const w = { "model.embed_tokens.weight": new Float32Array(32).fill(0.1), "model.norm.weight": new Float32Array(4).fill(1) };
 * llamaLogits(cfg, w, [1, 2]).length; // 16
 * ```
 */
export function llamaLogits(
  cfg: LlamaShape,
  w: Record<string, Float32Array>,
  ids: readonly number[],
): Float32Array {
  const d = cfg.hidden_size, f = cfg.intermediate_size, V = cfg.vocab_size, H = cfg.num_attention_heads;
  const hd = d / H, half = hd / 2, T = ids.length;
  const eps = cfg.rms_norm_eps ?? 1e-5, theta = cfg.rope_theta ?? 10000;
  const get = (name: string) => {
    const t = w[name];
    if (!t) throw new Error(`llamaLogits: missing tensor ${name}`);
    return t;
  };
  const emb = get("model.embed_tokens.weight");
  let xs = ids.map((id) => {
    if (!(id >= 0 && id < V)) throw new Error(`llamaLogits: id ${id} outside the vocabulary of ${V}`);
    return Float64Array.from(emb.subarray(id * d, (id + 1) * d));
  });
  const rope = (v: Float64Array, pos: number) => {
    const out = new Float64Array(d);
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < half; i++) {
        const ang = pos / theta ** ((2 * i) / hd);
        const c = Math.cos(ang), s = Math.sin(ang);
        const a = v[h * hd + i], b = v[h * hd + i + half];
        out[h * hd + i] = a * c - b * s;
        out[h * hd + i + half] = b * c + a * s;
      }
    }
    return out;
  };
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `model.layers.${l}.`;
    const normed = xs.map((x) => rmsNorm(x, get(p + "input_layernorm.weight"), eps));
    const q = normed.map((x, t) => rope(linear(get(p + "self_attn.q_proj.weight"), x, d, d), t));
    const k = normed.map((x, t) => rope(linear(get(p + "self_attn.k_proj.weight"), x, d, d), t));
    const v = normed.map((x) => linear(get(p + "self_attn.v_proj.weight"), x, d, d));
    const att = xs.map((_, t) => {
      const o = new Float64Array(d);
      for (let h = 0; h < H; h++) {
        const scores = new Float64Array(t + 1);
        let max = -Infinity;
        for (let s = 0; s <= t; s++) {
          let dot = 0;
          for (let i = 0; i < hd; i++) dot += q[t][h * hd + i] * k[s][h * hd + i];
          scores[s] = dot / Math.sqrt(hd);
          max = Math.max(max, scores[s]);
        }
        let z = 0;
        for (let s = 0; s <= t; s++) z += scores[s] = Math.exp(scores[s] - max);
        for (let s = 0; s <= t; s++) {
          for (let i = 0; i < hd; i++) o[h * hd + i] += (scores[s] / z) * v[s][h * hd + i];
        }
      }
      return o;
    });
    xs = xs.map((x, t) => {
      const proj = linear(get(p + "self_attn.o_proj.weight"), att[t], d, d);
      return x.map((val, i) => val + proj[i]);
    });
    xs = xs.map((x) => {
      const n = rmsNorm(x, get(p + "post_attention_layernorm.weight"), eps);
      const g = linear(get(p + "mlp.gate_proj.weight"), n, f, d);
      const u = linear(get(p + "mlp.up_proj.weight"), n, f, d);
      const a = g.map((gv, i) => (gv / (1 + Math.exp(-gv))) * u[i]);
      const down = linear(get(p + "mlp.down_proj.weight"), a, d, f);
      return x.map((val, i) => val + down[i]);
    });
  }
  const head = w["lm_head.weight"] ?? emb;
  const out = new Float32Array(T * V);
  xs.forEach((x, t) => out.set(linear(head, rmsNorm(x, get("model.norm.weight"), eps), V, d), t * V));
  return out;
}
