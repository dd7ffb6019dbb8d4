/**
 * The CPU backend of the Transformer: matrix products through a system BLAS (Deno FFI; a TypeScript fallback where
 * none is found), the Llama block as named forward/backward ops, a flat-buffer model, a KV-cache decoder, AdamW and
 * one training step.
 *
 * @example
 * ```ts
 * import { CpuDecoder, CpuTransformer, loadBlas } from "./mod.ts";
 * const { blas, reason } = loadBlas();
 * console.log(blas ? `BLAS: ${blas.name}` : `no BLAS, using the TypeScript fallback (${reason})`);
 * const m = CpuTransformer.init({ vocabSize: 16, dim: 8, layers: 1, heads: 2, ffn: 16, maxPositions: 32, ropeTheta: 1e4, normEps: 1e-5 }, 1);
 * const logits = new CpuDecoder(m).prefill([1, 5, 7]);
 * ```
 *
 * @module
 */
export * from "./blas.ts";
export * from "./ops.ts";
export * from "./rope.ts";
export * from "./loss.ts";
export * from "./attention.ts";
export * from "./layout.ts";
export { CpuTransformer } from "./model.ts";
export * from "./decode.ts";
export * from "./logit_error.ts";
export { type QuantMatrix, type QuantSource, QuantWeights, type WeightFormat } from "./qgemv.ts";
export * from "./adamw.ts";
export * from "./train.ts";
