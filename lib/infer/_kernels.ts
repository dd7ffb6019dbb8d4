/**
 * Which matmul kernels the engine uses, per adapter. Two paths:
 *
 * - `software` (Mesa's llvmpipe and other fallback adapters): kernels/matmul.wgsl and matmul_swiglu.wgsl as register
 *   tiled GEMVs with tiny workgroups for m ≤ 2 rows, the *_tile kernels above. Tuned and measured on llvmpipe.
 * - `gpu` (real GPUs): for small-M decode (m ≤ {@linkcode SPLITK_MAX_ROWS}) the split-K GEMVs
 *   kernels/gemv_splitk.wgsl and gemv_swiglu_splitk.wgsl, which launch one workgroup per 8 vec4 columns and row
 *   instead of one per 32 (llvmpipe's GEMV, whose every invocation walks all of K, leaves most of a real GPU idle
 *   at batch 1); the tile kernels above. Proven correct on the software adapter by the engine tests; its speed on a
 *   real GPU is NOT measured yet (no GPU time was left when it was written).
 *
 * Attention: both paths run one workgroup per (head, row) whose invocations share the cached positions for the
 * scores; the `gpu` path's kernels/attention_gpu.wgsl has 256 invocations instead of 64 and splits the weighted sum
 * of V over positions too (attention.wgsl walks every position in each head-dimension invocation). RoPE/KV and the
 * embedding are element-wise and the sampler is one 256-wide workgroup per sequence: shared by both paths.
 *
 * {@linkcode kernelSpecs} lists what the engine compiles on a path (file, bindings, const overrides), beside the
 * selector and the variants it picks from.
 *
 * @module
 */

/**
 * A kernel path: `gpu` (split-K decode GEMVs) or `software` (llvmpipe-tuned GEMVs).
 *
 * @example
 * ```ts
 * import { chooseKernelPath, type KernelPath } from "./_kernels.ts";
 * const path: KernelPath = chooseKernelPath({ software: false, adapter: "NVIDIA H200" }); // "gpu"
 * ```
 */
export type KernelPath = "gpu" | "software";

/** Environment variable that overrides the adapter's choice: `gpu` or `software`. */
export const KERNEL_PATH_ENV = "ETUDE_ENGINE_KERNELS";

/** Per-invocation register tile (TM rows × TN vec4 columns) and workgroup size of a matmul kernel. */
export type Variant = { TM: number; TN: number; WG: number };

// Measured on llvmpipe (see the README): small workgroups and few accumulators (each vec4 per invocation takes 4 of
// the 16 AVX2 registers in the SoA layout) win.
/** matmul.wgsl as the software path's GEMV (m ≤ 2). */
export const GEMV: Variant = { TM: 1, TN: 4, WG: 8 };
/** matmul_tile.wgsl (m > 2 on both paths). */
export const TILE: Variant = { TM: 4, TN: 2, WG: 8 };
/** matmul_swiglu.wgsl as the software path's GEMV (m ≤ 2). */
export const SWIGLU_GEMV: Variant = { TM: 1, TN: 2, WG: 8 };
/** matmul_swiglu_tile.wgsl (m > 2 on both paths). */
export const SWIGLU_TILE: Variant = { TM: 4, TN: 1, WG: 8 };

/**
 * Split-K GEMV shape (gemv_splitk.wgsl, gemv_swiglu_splitk.wgsl): COLS vec4 columns per workgroup, K split into KS
 * slices (a power of two), COLS × KS invocations. A first guess for real GPUs, not tuned: no GPU measurement yet.
 */
export const SPLITK = { COLS: 8, KS: 32 } as const;

/** Largest row count the `gpu` path runs through the split-K GEMVs (the tile kernels above it); not tuned yet. */
export const SPLITK_MAX_ROWS = 8;

/** Adapter names of software rasterisers, for drivers that do not set `isFallbackAdapter`. */
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|warp|software/i;

/**
 * The kernel path for an adapter: `requested` if given, else the {@linkcode KERNEL_PATH_ENV} environment variable,
 * else `software` for fallback/software adapters and `gpu` for the rest.
 *
 * @example
 * ```ts
 * import { chooseKernelPath } from "./_kernels.ts";
 * chooseKernelPath({ software: true, adapter: "llvmpipe (LLVM 15.0.6, 256 bits)" }); // "software"
 * chooseKernelPath({ software: true, adapter: "llvmpipe" }, "gpu"); // "gpu"
 * ```
 */
export function chooseKernelPath(
  gpu: { software: boolean; adapter: string },
  requested?: KernelPath,
): KernelPath {
  const req = requested ?? envKernelPath();
  if (req !== undefined) {
    if (req !== "gpu" && req !== "software") {
      throw new Error(`kernels: expected "gpu" or "software", got ${JSON.stringify(req)}`);
    }
    return req;
  }
  return gpu.software || SOFTWARE_ADAPTER.test(gpu.adapter) ? "software" : "gpu";
}

function envKernelPath(): KernelPath | undefined {
  let v: string | undefined;
  try {
    v = Deno.env.get(KERNEL_PATH_ENV);
  } catch {
    return undefined; // no env permission: the adapter decides
  }
  if (v === undefined || v === "") return undefined;
  if (v !== "gpu" && v !== "software") {
    throw new Error(`${KERNEL_PATH_ENV}: expected "gpu" or "software", got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Which compiled matmul kernel runs: G (llvmpipe GEMV), T (tile), S (split-K GEMV). */
export type MatmulKind = "G" | "T" | "S";

/**
 * The kernel and workgroup grid for an m × n (n4 = ceil(n / 4) vec4 columns) projection on a path.
 *
 * @example
 * ```ts
 * import { matmulPlan } from "./_kernels.ts";
 * matmulPlan("gpu", false, 1, 512); // { kind: "S", x: 64, y: 1 }
 * matmulPlan("software", false, 1, 512); // { kind: "G", x: 16, y: 1 }
 * ```
 */
export function matmulPlan(
  path: KernelPath,
  swiglu: boolean,
  m: number,
  n4: number,
): { kind: MatmulKind; x: number; y: number } {
  if (path === "gpu" && m <= SPLITK_MAX_ROWS) return { kind: "S", x: Math.ceil(n4 / SPLITK.COLS), y: m };
  const big = m > 2;
  const v = swiglu ? (big ? SWIGLU_TILE : SWIGLU_GEMV) : big ? TILE : GEMV;
  return { kind: big ? "T" : "G", x: Math.ceil(n4 / (v.WG * v.TN)), y: Math.ceil(m / v.TM) };
}

/**
 * The attention kernel file of a path: `attention` (software) or `attention_gpu` (real GPUs; speed not measured yet).
 *
 * @example
 * ```ts
 * import { attentionKernel } from "./_kernels.ts";
 * attentionKernel("gpu"); // "attention_gpu"
 * ```
 */
export function attentionKernel(path: KernelPath): string {
  return path === "gpu" ? "attention_gpu" : "attention";
}

/** A kernel the engine compiles: its file in kernels/, bind group letters (see `compileKernel`), const overrides. */
export interface KernelSpec {
  /** kernels/<file>.wgsl. */
  file: string;
  /** One letter per binding of group 0: `u` uniform, `r` read-only storage, `w` read-write storage. */
  bindings: string;
  /** Module-scope consts to override (tile and workgroup sizes, the attention's MAXPOS). */
  consts?: Record<string, number>;
}

/** The engine's kernels by role; matmul roles are `mm` (plain) or `sw` (SwiGLU) + a {@linkcode MatmulKind}. */
export type KernelRole = "embed" | "rope" | "attn" | "sampler" | `${"mm" | "sw"}${MatmulKind}`;

/**
 * What the engine compiles on a path: the shared element-wise kernels and sampler, the llvmpipe GEMVs and the tile
 * kernels on both paths, the split-K GEMVs (`mmS`, `swS`) on the `gpu` path only, and the path's attention sized
 * for `maxPos` cached positions.
 *
 * @example
 * ```ts
 * import { kernelSpecs } from "./_kernels.ts";
 * kernelSpecs("gpu", 256).mmS; // { file: "gemv_splitk", bindings: "urrw", consts: { COLS: 8, KS: 32 } }
 * kernelSpecs("software", 256).mmS; // undefined
 * ```
 */
export function kernelSpecs(path: KernelPath, maxPos: number): Partial<Record<KernelRole, KernelSpec>> {
  return {
    embed: { file: "embed", bindings: "urrrw" },
    mmG: { file: "matmul", bindings: "urrw", consts: GEMV },
    mmT: { file: "matmul_tile", bindings: "urrw", consts: { WG: TILE.WG } },
    swG: { file: "matmul_swiglu", bindings: "urrrw", consts: SWIGLU_GEMV },
    swT: { file: "matmul_swiglu_tile", bindings: "urrrw", consts: { WG: SWIGLU_TILE.WG } },
    rope: { file: "rope_kv", bindings: "urrrwww" },
    attn: { file: attentionKernel(path), bindings: "urrrrw", consts: { MAXPOS: maxPos } },
    sampler: { file: "sampler", bindings: "urwwrrwrr" },
    ...(path === "gpu"
      ? {
        mmS: { file: "gemv_splitk", bindings: "urrw", consts: SPLITK },
        swS: { file: "gemv_swiglu_splitk", bindings: "urrrw", consts: SPLITK },
      }
      : {}),
  };
}
