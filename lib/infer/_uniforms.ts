/**
 * The host side of every kernel's uniform struct and of the per-sequence state words: one named builder per layout,
 * the field order written once beside it. Each `*_UNIFORMS` layout lists the fields of the WGSL `struct P` of its
 * kernels (see {@linkcode KERNEL_UNIFORMS}) in declaration order; tests/infer/uniforms_test.ts parses the structs from
 * kernels/*.wgsl and compares names, types and order, so a call site names every value and never a position.
 *
 * @module
 */

/** A WGSL scalar type of a uniform field. */
export type UniformType = "u32" | "i32" | "f32";

/** A uniform struct: its fields' names and types in WGSL declaration order. */
export type UniformLayout = readonly (readonly [name: string, type: UniformType])[];

/** Field values of a layout, by name. */
export type UniformValues<L extends UniformLayout> = { [F in L[number] as F[0]]: number };

/**
 * Packs named values into a layout's bytes: 4 bytes per field in order (u32 wraps like `>>> 0`), the size padded to a
 * multiple of 16 bytes (at least 16), as a uniform buffer binding needs. A missing field throws.
 *
 * @example
 * ```ts
 * import { EMBED_UNIFORMS, packUniforms } from "./_uniforms.ts";
 * const bytes = packUniforms(EMBED_UNIFORMS, { m: 1, d: 64, prefill: 0, seq: 0 }); // 16 bytes
 * ```
 */
export function packUniforms<L extends UniformLayout>(layout: L, values: UniformValues<L>): ArrayBuffer {
  const buf = new ArrayBuffer(Math.max(16, Math.ceil(layout.length * 4 / 16) * 16));
  const dv = new DataView(buf);
  const named = values as Record<string, number>;
  layout.forEach(([name, type], i) => {
    const v = named[name];
    if (typeof v !== "number") throw new Error(`uniform ${name}: expected a number, got ${v}`);
    if (type === "f32") dv.setFloat32(i * 4, v, true);
    else if (type === "i32") dv.setInt32(i * 4, v, true);
    else dv.setUint32(i * 4, v >>> 0, true);
  });
  return buf;
}

/** kernels/embed.wgsl. */
export const EMBED_UNIFORMS = [
  ["m", "u32"],
  ["d", "u32"],
  ["prefill", "u32"],
  ["seq", "u32"],
] as const satisfies UniformLayout;

/** Every matmul kernel: matmul, matmul_tile, matmul_swiglu, matmul_swiglu_tile, gemv_splitk, gemv_swiglu_splitk. */
export const MATMUL_UNIFORMS = [
  ["m", "u32"],
  ["n4", "u32"],
  ["k", "u32"],
  ["flags", "u32"],
  ["xRow0", "u32"],
  ["yRow0", "u32"],
  ["eps", "f32"],
  ["n", "u32"],
] as const satisfies UniformLayout;

/** kernels/rope_kv.wgsl. */
export const ROPE_UNIFORMS = [
  ["m", "u32"],
  ["d", "u32"],
  ["hd", "u32"],
  ["prefill", "u32"],
  ["seq", "u32"],
  ["posBase", "u32"],
  ["maxPos", "u32"],
  ["nseq", "u32"],
] as const satisfies UniformLayout;

/** kernels/attention.wgsl and attention_gpu.wgsl. */
export const ATTENTION_UNIFORMS = [
  ["m", "u32"],
  ["d", "u32"],
  ["hd", "u32"],
  ["prefill", "u32"],
  ["seq", "u32"],
  ["posBase", "u32"],
  ["maxPos", "u32"],
  ["scale", "f32"],
] as const satisfies UniformLayout;

/** kernels/sampler.wgsl (the sampling settings themselves are per sequence: {@linkcode ROW_FIELDS}). */
export const SAMPLER_UNIFORMS = [
  ["v", "u32"],
  ["b", "u32"],
  ["chunkStart", "u32"],
  ["debug", "u32"],
  ["nTypes", "u32"],
  ["rowStride", "u32"],
  ["seq0", "u32"],
] as const satisfies UniformLayout;

/** Which layout each kernel file (kernels/<name>.wgsl) declares as its `struct P`. */
export const KERNEL_UNIFORMS: Readonly<Record<string, UniformLayout>> = {
  embed: EMBED_UNIFORMS,
  matmul: MATMUL_UNIFORMS,
  matmul_tile: MATMUL_UNIFORMS,
  matmul_swiglu: MATMUL_UNIFORMS,
  matmul_swiglu_tile: MATMUL_UNIFORMS,
  gemv_splitk: MATMUL_UNIFORMS,
  gemv_swiglu_splitk: MATMUL_UNIFORMS,
  rope_kv: ROPE_UNIFORMS,
  attention: ATTENTION_UNIFORMS,
  attention_gpu: ATTENTION_UNIFORMS,
  sampler: SAMPLER_UNIFORMS,
};

/** Largest uniform struct in words: every uniform buffer is allocated this size. */
export const UNIFORM_WORDS: number = Math.max(...Object.values(KERNEL_UNIFORMS).map((l) => l.length));

/** The rows a dispatch runs over: a prefill of one sequence's tokens, or one decode step of every sequence. */
export interface RowSpan {
  /** Rows: tokens of the prefill, or sequences of the decode step. */
  rows: number;
  /** Prefill: row m is token m of sequence `seq` at position `posBase + m`. Decode: row m is sequence m at the
   * position in its state words. */
  prefill: boolean;
  /** The prefilled sequence (prefill only; 0 for decode). */
  seq: number;
  /** Position of the first prefilled token (prefill only; 0 for decode). */
  posBase: number;
}

/**
 * kernels/embed.wgsl: x[m] = embedding of row m's token (the prompt buffer in a prefill, the state's last sampled
 * token in a decode step).
 *
 * @example
 * ```ts
 * import { embedUniforms } from "./_uniforms.ts";
 * embedUniforms({ rows: 2, prefill: false, seq: 0, posBase: 0, hidden: 64 });
 * ```
 */
export function embedUniforms(o: RowSpan & { hidden: number }): ArrayBuffer {
  return packUniforms(EMBED_UNIFORMS, { m: o.rows, d: o.hidden, prefill: +o.prefill, seq: o.seq });
}

/** The `flags` bits of the matmul kernels. */
export const MATMUL_FLAGS = {
  /** Scale each X row by 1/rms (the norm's weight is folded into W at load). The SwiGLU kernels always do. */
  FUSE_RMSNORM: 1,
  /** Add the product into Y instead of overwriting it (the residual connection). */
  ADD_RESIDUAL: 2,
} as const;

/** Options of {@linkcode matmulUniforms}. */
export interface MatmulUniformOptions {
  /** Rows of X (and of Y) to compute. */
  rows: number;
  /** Output columns (Y's row length; W holds ceil(n / 4) vec4 columns). */
  n: number;
  /** Inner dimension (X's row length). */
  k: number;
  /** Fused RMSNorm of X's rows ({@linkcode MATMUL_FLAGS}.FUSE_RMSNORM). */
  fuseRmsNorm: boolean;
  /** Y += X·W ({@linkcode MATMUL_FLAGS}.ADD_RESIDUAL). */
  addResidual: boolean;
  /** RMSNorm epsilon. */
  eps: number;
  /** First row of X read (default 0). */
  xRow0?: number;
  /** First row of Y written (default 0). */
  yRow0?: number;
}

/**
 * Every matmul kernel (plain, tiled, SwiGLU, split-K): Y[yRow0 + r] (+)= rms(X[xRow0 + r]) · X[xRow0 + r] · W.
 *
 * @example
 * ```ts
 * import { matmulUniforms } from "./_uniforms.ts";
 * // The QKV projection of one decode row with the input RMSNorm fused:
 * matmulUniforms({ rows: 1, n: 3 * 64, k: 64, fuseRmsNorm: true, addResidual: false, eps: 1e-5 });
 * ```
 */
export function matmulUniforms(o: MatmulUniformOptions): ArrayBuffer {
  return packUniforms(MATMUL_UNIFORMS, {
    m: o.rows,
    n4: Math.ceil(o.n / 4),
    k: o.k,
    flags: (o.fuseRmsNorm ? MATMUL_FLAGS.FUSE_RMSNORM : 0) | (o.addResidual ? MATMUL_FLAGS.ADD_RESIDUAL : 0),
    xRow0: o.xRow0 ?? 0,
    yRow0: o.yRow0 ?? 0,
    eps: o.eps,
    n: o.n,
  });
}

/** Model dimensions the position-dependent kernels need. */
export interface AttentionShape {
  /** Model width d. */
  hidden: number;
  /** d / heads. */
  headDim: number;
  /** The KV cache's positions per sequence. */
  maxPos: number;
}

/**
 * kernels/rope_kv.wgsl: rotates q and k of each row and appends k, v to the KV cache; a prefill writes the caches of
 * `sequences` sequences from `seq` on (a batch continuing one prompt), a decode step each row's own.
 *
 * @example
 * ```ts
 * import { ropeUniforms } from "./_uniforms.ts";
 * ropeUniforms({ rows: 5, prefill: true, seq: 0, posBase: 0, hidden: 64, headDim: 16, maxPos: 256, sequences: 4 });
 * ```
 */
export function ropeUniforms(o: RowSpan & AttentionShape & { sequences: number }): ArrayBuffer {
  return packUniforms(ROPE_UNIFORMS, {
    m: o.rows,
    d: o.hidden,
    hd: o.headDim,
    prefill: +o.prefill,
    seq: o.seq,
    posBase: o.posBase,
    maxPos: o.maxPos,
    nseq: o.sequences,
  });
}

/**
 * kernels/attention.wgsl and attention_gpu.wgsl: causal attention of each row over its sequence's cache, scores
 * scaled by 1/√headDim.
 *
 * @example
 * ```ts
 * import { attentionUniforms } from "./_uniforms.ts";
 * attentionUniforms({ rows: 1, prefill: false, seq: 0, posBase: 0, hidden: 64, headDim: 16, maxPos: 256 });
 * ```
 */
export function attentionUniforms(o: RowSpan & AttentionShape): ArrayBuffer {
  return packUniforms(ATTENTION_UNIFORMS, {
    m: o.rows,
    d: o.hidden,
    hd: o.headDim,
    prefill: +o.prefill,
    seq: o.seq,
    posBase: o.posBase,
    maxPos: o.maxPos,
    scale: 1 / Math.sqrt(o.headDim),
  });
}

/** Options of {@linkcode samplerUniforms}. */
export interface SamplerUniformOptions {
  /** Vocabulary size (logits per row). */
  vocab: number;
  /** Sequences per step in the `tokens` buffer: the stride of its rows (the dispatch may cover fewer). */
  batch: number;
  /**
   * The global draw counter the `tokens` buffer's row 0 holds: a sequence whose state's `draws` is d writes its
   * token to row d − chunkStart.
   */
  chunkStart: number;
  /** Write the kept-candidate flags (tests). */
  debug: boolean;
  /** Grammar token types (`N_TYPES`). */
  types: number;
  /** Every sequence samples from logits row 0 (after a prefill) instead of its own row. */
  sharedRow: boolean;
  /** The first sequence of the dispatch: workgroup i samples sequence `seq0 + i` (default 0). */
  seq0?: number;
}

/**
 * kernels/sampler.wgsl: grammar mask → temperature → top-k → top-p → Philox draw, one workgroup per sequence, each
 * with its own settings ({@linkcode packRows}).
 *
 * @example
 * ```ts
 * import { samplerUniforms } from "./_uniforms.ts";
 * samplerUniforms({ vocab: 314, batch: 2, chunkStart: 0, debug: false, types: 12, sharedRow: false });
 * ```
 */
export function samplerUniforms(o: SamplerUniformOptions): ArrayBuffer {
  return packUniforms(SAMPLER_UNIFORMS, {
    v: o.vocab,
    b: o.batch,
    chunkStart: o.chunkStart,
    debug: +o.debug,
    nTypes: o.types,
    rowStride: o.sharedRow ? 0 : 1,
    seq0: o.seq0 ?? 0,
  });
}

/**
 * The u32 words of one sequence's sampling settings (8 per sequence, the sampler's `rows` buffer, written by the host
 * only): the Philox key, the stream and the draw the sequence's counter starts from, temperature (as its f32
 * inverse), top-k, top-p, and flags. Indices as the sampler reads them (`rows[seq * 8 + i]`).
 */
export const ROW_FIELDS = {
  seedLo: 0,
  seedHi: 1,
  stream: 2,
  origin: 3,
  invT: 4,
  topK: 5,
  topP: 6,
  flags: 7,
} as const;

/** u32 words of per-sequence sampling settings. */
export const ROW_WORDS = 8;

/** The `flags` bits of {@linkcode ROW_FIELDS}. */
export const ROW_FLAGS = {
  /** The grammar mask applies to this sequence. */
  GRAMMAR: 1,
  /** The sequence is idle: its sampler leaves its state alone and writes no token (a free slot of a batch). */
  IDLE: 2,
  /** The row's controls bias (`RowSettings.bias`, in the sampler's `bias` buffer) is added to its logits. */
  BIAS: 4,
} as const;

/** One sequence's sampling settings, as {@linkcode packRows} writes them. */
export interface RowSettings {
  /** Temperature (the sampler uses the f32 of its inverse). */
  temperature: number;
  /** Top-k, 0 = off. */
  topK: number;
  /** Top-p, 1 = off. */
  topP: number;
  /** The Philox key: the seed's low and high 32 bits (`seedWords`). */
  seedWords: readonly [number, number];
  /**
   * The Philox stream (the counter's second word): the sequence's index in a `generate({ batch })`, 0 for a
   * request served alone or in a server batch.
   */
  stream: number;
  /** The state's `draws` value of this sequence's first draw: its Philox counter is `draws − origin`. */
  origin: number;
  /** Whether the grammar mask applies. */
  grammar: boolean;
  /** A free slot: nothing is sampled (default false). */
  idle?: boolean;
  /** The controls' per-token bias (vocab floats, -inf = masked; see lib/infer/controls.ts); none: unbiased. */
  bias?: Float32Array;
}

/**
 * The sampling words of consecutive sequences.
 *
 * @example
 * ```ts
 * import { packRows } from "./_uniforms.ts";
 * packRows([{ temperature: 0.8, topK: 50, topP: 0.95, seedWords: [7, 0], stream: 0, origin: 0, grammar: true }]);
 * ```
 */
export function packRows(rows: readonly RowSettings[]): Uint32Array<ArrayBuffer> {
  const w = new Uint32Array(rows.length * ROW_WORDS);
  const fl = new Float32Array(w.buffer);
  rows.forEach((r, i) => {
    const o = i * ROW_WORDS, f = ROW_FIELDS;
    w[o + f.seedLo] = r.seedWords[0];
    w[o + f.seedHi] = r.seedWords[1];
    w[o + f.stream] = r.stream;
    w[o + f.origin] = r.origin >>> 0;
    fl[o + f.invT] = 1 / r.temperature;
    w[o + f.topK] = r.topK;
    fl[o + f.topP] = r.topP;
    w[o + f.flags] = (r.grammar ? ROW_FLAGS.GRAMMAR : 0) | (r.idle ? ROW_FLAGS.IDLE : 0) |
      (r.bias ? ROW_FLAGS.BIAS : 0);
  });
  return w;
}

/**
 * The u32 words of one sequence's state (16 per sequence), read and advanced by the kernels: the token the next step
 * embeds, its position, the grammar state (type, position in bar, bar length, pitch mask of the current onset) and
 * the draw counter. Indices as the kernels read them (`state[seq * 16 + i]`).
 */
export const STATE_FIELDS = {
  token: 0,
  pos: 1,
  gType: 2,
  gPos: 3,
  draws: 4,
  gBar: 5,
  gPitch: 8,
} as const;

/** u32 words of per-sequence state. */
export const STATE_WORDS = 16;

/** One sequence's state, as {@linkcode packStates} writes it. */
export interface SequenceState {
  /** The token the next step embeds (ignored by a prefill). */
  token: number;
  /** The position the next step processes. */
  pos: number;
  /** Grammar token type of the last token. */
  gType: number;
  /** Grammar position in the bar (−1: none; stored as its u32 bits). */
  gPos: number;
  /** Grammar bar length (default 0x7fffffff: unknown). */
  gBar?: number;
  /** Grammar pitch mask of the current onset, 4 words (default none). */
  gPitch?: readonly number[];
  /** Draws so far (the Philox counter). */
  draws: number;
}

/**
 * The state words of consecutive sequences.
 *
 * @example
 * ```ts
 * import { packStates } from "./_uniforms.ts";
 * packStates([{ token: 5, pos: 3, gType: 0, gPos: -1, draws: 0 }]); // Uint32Array(16)
 * ```
 */
export function packStates(rows: readonly SequenceState[]): Uint32Array<ArrayBuffer> {
  const s = new Uint32Array(rows.length * STATE_WORDS);
  rows.forEach((r, i) => {
    const o = i * STATE_WORDS, f = STATE_FIELDS;
    s[o + f.token] = r.token;
    s[o + f.pos] = r.pos;
    s[o + f.gType] = r.gType;
    s[o + f.gPos] = r.gPos >>> 0;
    s[o + f.draws] = r.draws;
    s[o + f.gBar] = r.gBar ?? 0x7fffffff;
    s.set(r.gPitch ?? [0, 0, 0, 0], o + f.gPitch);
  });
  return s;
}
