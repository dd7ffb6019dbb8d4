/**
 * The training kernels (`kernels/train/*.wgsl`), the shapes they are compiled with, and the selector that picks
 * those shapes per adapter: a real GPU gets 64 × 64 matmul tiles of 256 threads and 256-thread row kernels; a
 * software adapter (Mesa llvmpipe / lavapipe, where a workgroup runs on one CPU thread and barriers are costly) keeps
 * its own, smaller ones. Attention tiles are sized to the adapter's workgroup memory and the head size.
 *
 * @module
 */
import { compileKernel, type Kernel } from "./device.ts";

/** Workgroup and tile sizes of the training kernels (compile-time constants of the WGSL). */
export interface TrainShapes {
  /**
   * Matmul: the kernel (`matmul`: tiles staged in workgroup memory, for GPUs; `matmul_reg`: straight from the
   * buffers, no barriers, for software adapters) and its tile: BM × BN outputs per workgroup (BM·BN/16 threads,
   * 4 × 4 each), BK deep per slice (`matmul` only).
   */
  matmul: { kernel: "matmul" | "matmul_reg"; BM: number; BN: number; BK: number };
  /** Threads per workgroup of the per-row kernels (RMSNorm, cross-entropy, embedding backward). */
  row: number;
  /** Threads per workgroup of the elementwise kernels (RoPE, SwiGLU, embedding). */
  elem: number;
  /** Threads per workgroup of the reductions (gradient norm, AdamW). */
  reduce: number;
  /** RMSNorm backward: columns per weight-gradient workgroup (the rest of its `row` threads split the rows). */
  normCols: number;
  /** Attention: rows per workgroup (one thread each) and rows per tile staged in workgroup memory. */
  attention: { rows: number; tile: number };
  /** Most workgroups of the gradient norm's first pass. */
  normParts: number;
}

/** Which kernel shapes: `gpu` (real GPUs) or `software` (CPU rasterizers such as Mesa's llvmpipe). */
export type TrainKernelPath = "gpu" | "software";

/**
 * Environment variable that overrides the adapter's choice of training kernels (`gpu` or `software`).
 *
 * @example
 * ```ts
 * import { TRAIN_KERNELS_ENV } from "./kernels.ts";
 * Deno.env.get(TRAIN_KERNELS_ENV); // e.g. "gpu" to try the GPU shapes on a software adapter
 * ```
 */
export const TRAIN_KERNELS_ENV = "ETUDE_TRAIN_KERNELS";

/** Adapter names of software rasterisers, for drivers that do not set `isFallbackAdapter`. */
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|software|warp/i;

/**
 * The training kernel path for an adapter: `requested` if given, else the {@linkcode TRAIN_KERNELS_ENV} variable,
 * else `software` for fallback / software adapters and `gpu` for the rest.
 *
 * @example
 * ```ts
 * import { trainKernelPath } from "./kernels.ts";
 * trainKernelPath({ software: false, adapter: "llvmpipe (LLVM 15.0.6, 256 bits)" }); // "software"
 * trainKernelPath({ software: false, adapter: "NVIDIA H100 80GB HBM3" }); // "gpu"
 * ```
 */
export function trainKernelPath(
  gpu: { software: boolean; adapter: string },
  requested?: TrainKernelPath,
): TrainKernelPath {
  let req: string | undefined = requested;
  if (req === undefined) {
    try {
      req = Deno.env.get(TRAIN_KERNELS_ENV) || undefined;
    } catch {
      // no env permission: the adapter decides
    }
  }
  if (req !== undefined) {
    if (req !== "gpu" && req !== "software") {
      throw new Error(`training kernels: expected "gpu" or "software", got ${JSON.stringify(req)}`);
    }
    return req;
  }
  return gpu.software || SOFTWARE_ADAPTER.test(gpu.adapter) ? "software" : "gpu";
}

/**
 * The shapes for a kernel path; `headDim` and the adapter's workgroup memory (`workgroupBytes`, at least the
 * WebGPU minimum 16 KiB) size the attention tiles.
 *
 * @example
 * ```ts
 * import { trainShapes } from "./kernels.ts";
 * const s = trainShapes("gpu", 64, 32768);
 * s.matmul; // { kernel: "matmul", BM: 64, BN: 64, BK: 16 }
 * ```
 */
export function trainShapes(path: TrainKernelPath, headDim: number, workgroupBytes = 16384): TrainShapes {
  const software = path === "software";
  // K and V (or Q and dO) tiles of `tile` rows × headDim floats, plus two floats a row, within workgroup memory
  let tile = software ? 16 : 64;
  while (tile > 1 && (2 * tile * headDim + 2 * tile) * 4 > Math.min(workgroupBytes, 32768)) tile /= 2;
  return software
    ? {
      matmul: { kernel: "matmul_reg", BM: 32, BN: 32, BK: 16 },
      row: 64,
      elem: 64,
      reduce: 64,
      normCols: 16,
      attention: { rows: 16, tile },
      normParts: 16,
    }
    : {
      matmul: { kernel: "matmul", BM: 64, BN: 64, BK: 16 },
      row: 256,
      elem: 256,
      reduce: 256,
      normCols: 32,
      attention: { rows: 64, tile },
      normParts: 512,
    };
}

/** The compiled training kernels (one pipeline each; the matmul in its three forms). */
export interface TrainKernels {
  /** Y = X·Wᵀ (+ R). */
  matmulForward: Kernel;
  /** dX = dY·W. */
  matmulBackwardInput: Kernel;
  /** dW += dYᵀ·X. */
  matmulBackwardWeight: Kernel;
  /** RMSNorm forward. */
  rmsnormForward: Kernel;
  /** RMSNorm backward (dx and dw in one dispatch). */
  rmsnormBackward: Kernel;
  /** RoPE (forward and backward: the sign of the rotation is a uniform). */
  rope: Kernel;
  /** SwiGLU forward. */
  swigluForward: Kernel;
  /** SwiGLU backward. */
  swigluBackward: Kernel;
  /** Embedding gather. */
  embeddingForward: Kernel;
  /** Embedding backward (per-token-id reduction). */
  embeddingBackward: Kernel;
  /** Fused softmax + cross-entropy, forward and (optionally) backward. */
  crossEntropy: Kernel;
  /** Flash attention forward. */
  attentionForward: Kernel;
  /** Attention backward: dK, dV. */
  attentionBackwardKV: Kernel;
  /** Attention backward: dQ. */
  attentionBackwardQ: Kernel;
  /** Gradient norm partial sums (and the step's loss sum). */
  gradNorm: Kernel;
  /** AdamW with clipping. */
  adamw: Kernel;
}

/**
 * Compiles every training kernel for a model of head size `headDim` with `shapes` (all pipelines at once, built
 * once per trainer).
 *
 * @example
 * ```ts ignore
 * import { getGpu } from "./device.ts";
 * import { compileTrainKernels, trainKernelPath, trainShapes } from "./kernels.ts";
 * const gpu = await getGpu();
 * const shapes = trainShapes(trainKernelPath(gpu), 16, gpu.device.limits.maxComputeWorkgroupStorageSize);
 * const k = await compileTrainKernels(gpu.device, shapes, 16);
 * ```
 */
export async function compileTrainKernels(
  device: GPUDevice,
  shapes: TrainShapes,
  headDim: number,
): Promise<TrainKernels> {
  const { kernel: mmName, BM, BN, BK } = shapes.matmul;
  const mm: Record<string, number> = mmName === "matmul" ? { BM, BN, BK } : { WX: BN / 4, WY: BM / 4 };
  const att = { HD: headDim, BR: shapes.attention.rows, BC: shapes.attention.tile };
  const row = { WG: shapes.row };
  const elem = { WG: shapes.elem };
  const red = { WG: shapes.reduce };
  const c = (name: string, bindings: string, consts: Record<string, number>) =>
    compileKernel(device, `train/${name}`, bindings, consts);
  const [
    matmulForward,
    matmulBackwardInput,
    matmulBackwardWeight,
    rmsnormForward,
    rmsnormBackward,
    rope,
    swigluForward,
    swigluBackward,
    embeddingForward,
    embeddingBackward,
    crossEntropy,
    attentionForward,
    attentionBackwardKV,
    attentionBackwardQ,
    gradNorm,
    adamw,
  ] = await Promise.all([
    c(mmName, "urrrw", { ...mm, TA: 0, TB: 1 }),
    c(mmName, "urrrw", { ...mm, TA: 0, TB: 0 }),
    c(mmName, "urrrw", { ...mm, TA: 1, TB: 0 }),
    c("rmsnorm_fwd", "urrww", row),
    c("rmsnorm_bwd", "urrrrww", { ...row, CW: shapes.normCols }),
    c("rope", "urrw", elem),
    c("swiglu_fwd", "urw", elem),
    c("swiglu_bwd", "urrw", elem),
    c("embed_fwd", "urrw", elem),
    c("embed_bwd", "urrw", row),
    c("xent", "uurwww", row),
    c("attn_fwd", "urww", att),
    c("attn_bwd_dkv", "urrrrw", att),
    c("attn_bwd_dq", "urrrrw", att),
    c("gradnorm", "urrw", red),
    c("adamw", "uurrrwwww", red),
  ]);
  return {
    matmulForward,
    matmulBackwardInput,
    matmulBackwardWeight,
    rmsnormForward,
    rmsnormBackward,
    rope,
    swigluForward,
    swigluBackward,
    embeddingForward,
    embeddingBackward,
    crossEntropy,
    attentionForward,
    attentionBackwardKV,
    attentionBackwardQ,
    gradNorm,
    adamw,
  };
}
