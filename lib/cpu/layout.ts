/**
 * The CPU model's configuration and its flat parameter layout: one `Float32Array` holding every tensor in
 * checkpoint order under the Hugging Face names, with per-block views where q|k|v and gate|up are contiguous.
 *
 * @module
 */
import type { TransformerConfig } from "../model/config.ts";

/** The hyper-parameters the CPU model needs (a subset of `TransformerConfig` / HF `LlamaConfig`). */
export interface CpuModelConfig {
  /** Vocabulary size. */
  vocabSize: number;
  /** Hidden size d. */
  dim: number;
  /** Blocks. */
  layers: number;
  /** Attention heads (= key/value heads). */
  heads: number;
  /** SwiGLU hidden size. */
  ffn: number;
  /** Longest position (RoPE table and KV cache length). */
  maxPositions: number;
  /** RoPE base θ. */
  ropeTheta: number;
  /** RMSNorm ε. */
  normEps: number;
}

/**
 * A {@link CpuModelConfig} from lib/model's `TransformerConfig`, an engine-style config (`hidden`, `eps`, `maxPos`),
 * or a parsed HF `config.json` (snake_case fields).
 *
 * @example
 * ```ts
 * import { toCpuConfig } from "./layout.ts";
 * const c = toCpuConfig({ vocab_size: 16, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2 });
 * c.maxPositions; // 512
 * ```
 */
export function toCpuConfig(
  c: TransformerConfig | CpuModelConfig | Record<string, unknown>,
): CpuModelConfig {
  const r = c as Record<string, unknown>;
  const pick = (keys: string[], def?: number): number => {
    for (const k of keys) if (typeof r[k] === "number") return r[k] as number;
    if (def !== undefined) return def;
    throw new Error(`model config: missing ${keys.join(" / ")}`);
  };
  const out: CpuModelConfig = {
    vocabSize: pick(["vocabSize", "vocab_size"]),
    dim: pick(["dim", "hidden", "hidden_size"]),
    layers: pick(["layers", "num_hidden_layers"]),
    heads: pick(["heads", "num_attention_heads"]),
    ffn: pick(["ffn", "intermediate_size"]),
    maxPositions: pick(["maxPositions", "maxPos", "max_position_embeddings"], 512),
    ropeTheta: pick(["ropeTheta", "rope_theta"], 10000),
    normEps: pick(["normEps", "eps", "rms_norm_eps"], 1e-5),
  };
  const kv = r.num_key_value_heads;
  if (typeof kv === "number" && kv !== out.heads) {
    throw new Error(`model config: num_key_value_heads ${kv} ≠ num_attention_heads ${out.heads} (no GQA)`);
  }
  if (r.tie_word_embeddings === false) throw new Error("model config: untied lm_head is not supported");
  if (out.dim % out.heads !== 0 || (out.dim / out.heads) % 2 !== 0) {
    throw new Error(`model config: dim ${out.dim} must split into ${out.heads} heads of even size`);
  }
  return out;
}

/** One tensor's place in the flat buffer. */
export interface ParamInfo {
  /** HF tensor name. */
  name: string;
  /** Shape (HF layout). */
  shape: number[];
  /** Offset in floats. */
  offset: number;
  /** Element count. */
  size: number;
  /** Whether AdamW's weight decay applies (matrices: rank ≥ 2). */
  decay: boolean;
}

/**
 * The flat parameter layout, in checkpoint order (the order of `lib/model/config.ts`'s `tensorShapes`).
 *
 * @example
 * ```ts
 * import { paramLayout } from "./layout.ts";
 * const l = paramLayout({ vocabSize: 8, dim: 4, layers: 1, heads: 2, ffn: 8, maxPositions: 16, ropeTheta: 1e4, normEps: 1e-5 });
 * l[0].name; // "model.embed_tokens.weight"
 * ```
 */
export function paramLayout(c: CpuModelConfig): ParamInfo[] {
  const { vocabSize: V, dim: d, ffn: f } = c;
  const out: ParamInfo[] = [];
  let offset = 0;
  const add = (name: string, shape: number[]) => {
    const size = shape.reduce((a, b) => a * b, 1);
    out.push({ name, shape, offset, size, decay: shape.length >= 2 });
    offset += size;
  };
  add("model.embed_tokens.weight", [V, d]);
  for (let i = 0; i < c.layers; i++) {
    const p = `model.layers.${i}.`;
    add(p + "input_layernorm.weight", [d]);
    for (const n of ["q", "k", "v", "o"]) add(`${p}self_attn.${n}_proj.weight`, [d, d]);
    add(p + "post_attention_layernorm.weight", [d]);
    add(p + "mlp.gate_proj.weight", [f, d]);
    add(p + "mlp.up_proj.weight", [f, d]);
    add(p + "mlp.down_proj.weight", [d, f]);
  }
  add("model.norm.weight", [d]);
  return out;
}

/** One block's tensors as views (fused: `qkv` = q|k|v [3d, d], `gu` = gate|up [2f, d]). */
export interface LayerViews {
  /** Input RMSNorm weight [d]. */
  ln1: Float32Array;
  /** q, k, v projections stacked [3d, d]. */
  qkv: Float32Array;
  /** Output projection [d, d]. */
  o: Float32Array;
  /** Post-attention RMSNorm weight [d]. */
  ln2: Float32Array;
  /** gate, up projections stacked [2f, d]. */
  gu: Float32Array;
  /** Down projection [d, f]. */
  down: Float32Array;
}

/** Named and per-layer views into one flat buffer. */
export interface ModelViews {
  /** Every tensor by HF name. */
  byName: Record<string, Float32Array>;
  /** Token embedding = tied output head [V, d]. */
  embed: Float32Array;
  /** Per block. */
  layers: LayerViews[];
  /** Final RMSNorm weight [d]. */
  norm: Float32Array;
}

/**
 * Views of a flat buffer laid out as `layout`: by HF name, and per block with the fused q|k|v and gate|up matrices.
 *
 * @example
 * ```ts
 * import { paramLayout, views } from "./layout.ts";
 * const c = { vocabSize: 8, dim: 4, layers: 1, heads: 2, ffn: 8, maxPositions: 16, ropeTheta: 1e4, normEps: 1e-5 };
 * const layout = paramLayout(c);
 * const v = views(c, layout, new Float32Array(layout.reduce((n, p) => n + p.size, 0)));
 * v.layers[0].qkv.length; // 3 · 4 · 4
 * ```
 */
export function views(c: CpuModelConfig, layout: ParamInfo[], flat: Float32Array): ModelViews {
  const byName: Record<string, Float32Array> = {};
  for (const p of layout) byName[p.name] = flat.subarray(p.offset, p.offset + p.size);
  const at = (name: string, size: number) => {
    const o = layout.find((p) => p.name === name)!.offset;
    return flat.subarray(o, o + size);
  };
  const d = c.dim, f = c.ffn;
  const layers = Array.from({ length: c.layers }, (_, i) => {
    const p = `model.layers.${i}.`;
    return {
      ln1: byName[p + "input_layernorm.weight"],
      qkv: at(p + "self_attn.q_proj.weight", 3 * d * d),
      o: byName[p + "self_attn.o_proj.weight"],
      ln2: byName[p + "post_attention_layernorm.weight"],
      gu: at(p + "mlp.gate_proj.weight", 2 * f * d),
      down: byName[p + "mlp.down_proj.weight"],
    };
  });
  return { byName, embed: byName["model.embed_tokens.weight"], layers, norm: byName["model.norm.weight"] };
}
