/**
 * The WebGPU backend of the Transformer's training (`deno task train --backend gpu`): etude's own WGSL kernels
 * (`kernels/train/*.wgsl`) for the Llama block's named ops of lib/cpu, one to one — tiled matmul in its three forms,
 * RMSNorm, RoPE, flash attention (no [T, T] matrix in memory), SwiGLU, fused softmax + cross-entropy, embedding
 * gather and atomics-free scatter-add, the gradient norm and AdamW over one flat parameter buffer — a model holding
 * its parameters, gradients and activations on the GPU, and a trainer whose step is one command buffer of prebuilt
 * dispatches that reads the loss back only every N steps. Also the device plumbing the inference engine shares
 * (`device.ts`).
 *
 * @example
 * ```ts ignore
 * import { CpuTransformer } from "../cpu/model.ts";
 * import { GpuTrainer } from "./mod.ts";
 * const m = CpuTransformer.init({ vocabSize: 16, dim: 8, layers: 1, heads: 2, ffn: 16, maxPositions: 32, ropeTheta: 1e4, normEps: 1e-5 }, 1);
 * const tr = await GpuTrainer.create(m.config, m.params, { beta1: 0.9, beta2: 0.95, adamEps: 1e-8, weightDecay: 0.1, clip: 1, microBatch: 0 }, { readEvery: 10 });
 * const windows = new Int32Array(2 * 9).map((_, i) => 4 + (i % 10));
 * for (let s = 0; s < 10; s++) await tr.step(windows, 2, 1e-3); // the 10th step reads the 10 losses back
 * console.log(tr.history, tr.counters);
 * ```
 *
 * @module
 */
export * from "./device.ts";
export * from "./kernels.ts";
export * from "./dispatch.ts";
export * from "./ops.ts";
export * from "./tokens.ts";
export * from "./model.ts";
export * from "./train.ts";
export type { CpuModelConfig, ParamInfo } from "../cpu/layout.ts";
export type { CpuTrainOptions } from "../cpu/train.ts";
