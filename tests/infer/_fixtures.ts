/** Test fixtures for the inference engine: random-weight Llama checkpoints and a REMI vocabulary. */
import { encodeSafetensors } from "../../lib/util/safetensors.ts";
import type { TokenizerJson } from "../../lib/tokenizers/tokenizer.ts";
import { mulberry32 } from "../../lib/util/rng.ts";

/** Shape of a random test model. */
export interface TinyShape {
  vocab: number;
  d: number;
  ffn: number;
  layers: number;
  heads: number;
  maxPos: number;
}

/** Deterministic PRNG (mulberry32, the state starting at `seed`) returning floats in [0, 1). */
export const rng: (seed: number) => () => number = mulberry32;

/** A random array with values uniform in [-scale, scale]. */
export function randomArray(n: number, scale: number, r: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * scale;
  return a;
}

/** A MidiTok-style REMI vocabulary (specials at 0–3). */
export function remiVocab(): string[] {
  const v = ["PAD_None", "BOS_None", "EOS_None", "MASK_None", "Bar_None"];
  for (let p = 0; p < 32; p++) v.push(`Position_${p}`);
  for (let p = 21; p <= 108; p++) v.push(`Pitch_${p}`);
  for (let i = 1; i <= 32; i++) v.push(`Velocity_${Math.floor(i * 127 / 32)}`);
  for (let b = 0; b < 4; b++) for (let p = b === 0 ? 1 : 0; p < 8; p++) v.push(`Duration_${b}.${p}.8`);
  for (let i = 0; i < 8; i++) v.push(`Tempo_${(40 + i * 30).toFixed(2)}`);
  for (const q of ["maj", "min", "dim", "aug"]) v.push(`Chord_C:${q}`);
  for (let i = 1; i <= 8; i++) v.push(`Rest_0.${i}.8`);
  v.push("TimeSig_4/4");
  return v;
}

/** A REMI tokenizer.json, optionally with BPE merges appended (given as pairs of names or ids). */
export function remiTokenizer(merges: [number, number][] = []): TokenizerJson {
  const vocab = remiVocab();
  const names = [...vocab];
  for (const [a, b] of merges) names.push(`${names[a]}+${names[b]}`);
  return merges.length
    ? { kind: "remi-bpe", config: { beatRes: 8 }, vocab: names, merges }
    : { kind: "remi", config: { beatRes: 8 }, vocab };
}

/** Random Llama weights as HF-named tensors. */
export function randomTensors(s: TinyShape, seed: number) {
  const r = rng(seed);
  const t: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
  const add = (name: string, shape: number[], scale: number, around = 0) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = randomArray(n, scale, r);
    if (around) { for (let i = 0; i < n; i++) data[i] += around; }
    t[name] = { dtype: "F32", shape, data };
  };
  add("model.embed_tokens.weight", [s.vocab, s.d], 1);
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}.`;
    for (const n of ["q", "k", "v", "o"]) {
      add(`${p}self_attn.${n}_proj.weight`, [s.d, s.d], 1.5 / Math.sqrt(s.d));
    }
    add(`${p}mlp.gate_proj.weight`, [s.ffn, s.d], 1.5 / Math.sqrt(s.d));
    add(`${p}mlp.up_proj.weight`, [s.ffn, s.d], 1.5 / Math.sqrt(s.d));
    add(`${p}mlp.down_proj.weight`, [s.d, s.ffn], 1.5 / Math.sqrt(s.ffn));
    add(`${p}input_layernorm.weight`, [s.d], 0.3, 1);
    add(`${p}post_attention_layernorm.weight`, [s.d], 0.3, 1);
  }
  add("model.norm.weight", [s.d], 0.3, 1);
  return t;
}

/** The config.json of a random test model. */
export function tinyConfig(s: TinyShape): Record<string, unknown> {
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    vocab_size: s.vocab,
    hidden_size: s.d,
    intermediate_size: s.ffn,
    num_hidden_layers: s.layers,
    num_attention_heads: s.heads,
    num_key_value_heads: s.heads,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    max_position_embeddings: s.maxPos,
    tie_word_embeddings: true,
    bos_token_id: 1,
    eos_token_id: 2,
    etude: { arch: "transformer", preset: "test" },
  };
}

/** Writes a random-weight checkpoint directory; returns its path (a new temp dir unless `dir` is given). */
export async function writeTinyCheckpoint(
  s: TinyShape,
  seed: number,
  tokenizer?: TokenizerJson,
  dir?: string,
): Promise<string> {
  dir ??= await Deno.makeTempDir({ prefix: "etude_infer_" });
  const tok = tokenizer ??
    {
      kind: "remi",
      config: {},
      vocab: Array.from({ length: s.vocab }, (_, i) => `Tok_${i}`),
    } as TokenizerJson;
  await Deno.writeFile(`${dir}/model.safetensors`, encodeSafetensors(randomTensors(s, seed)));
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(tinyConfig(s), null, 2));
  await Deno.writeTextFile(`${dir}/tokenizer.json`, JSON.stringify(tok));
  return dir;
}
