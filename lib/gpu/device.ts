/**
 * WebGPU plumbing shared by the inference engine (lib/infer) and the training backend (lib/gpu/train.ts): the device
 * (once per process), kernel sources (`kernels/<name>.wgsl` on disk, unless a program that carries the kernels in
 * memory — a bundle or compiled binary, lib/bundle/embed.ts — registered them first through
 * {@linkcode registerKernelSources}), their compilation, and small buffer helpers.
 *
 * @module
 */
const registered = new Map<string, string>();
const cache = new Map<string, Promise<string>>();

/**
 * Serves kernel sources from memory (kernel name, the file name without `.wgsl` → WGSL text); a registered name wins
 * over the file on disk from then on, for every engine created later.
 *
 * @example
 * ```ts
 * import { kernelSource, registerKernelSources } from "./device.ts";
 * registerKernelSources({ noop: "@compute @workgroup_size(1) fn main() {}" });
 * await kernelSource("noop"); // the source above
 * ```
 */
export function registerKernelSources(sources: Readonly<Record<string, string>>): void {
  for (const [name, code] of Object.entries(sources)) {
    registered.set(name, code);
    cache.delete(name);
  }
}

/**
 * The WGSL text of kernel `name`: the registered source, else `kernels/<name>.wgsl` read once from disk.
 *
 * @example
 * ```ts
 * import { kernelSource } from "./device.ts";
 * const code = await kernelSource("matmul");
 * ```
 */
export function kernelSource(name: string): Promise<string> {
  const mem = registered.get(name);
  if (mem !== undefined) return Promise.resolve(mem);
  let p = cache.get(name);
  if (!p) {
    p = Deno.readTextFile(new URL(`../../kernels/${name}.wgsl`, import.meta.url));
    cache.set(name, p);
  }
  return p;
}

/** A WebGPU device with the adapter's description. */
export interface Gpu {
  /** The WebGPU device every buffer and pipeline of the engine is created on. */
  device: GPUDevice;
  /** Human-readable adapter name, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`. */
  adapter: string;
  /** Whether this is a software (fallback) adapter. */
  software: boolean;
}

let shared: Promise<Gpu> | undefined;

/**
 * Requests (once per process) a WebGPU device with the adapter's largest buffer limits.
 *
 * @example
 * ```ts
 * import { getGpu } from "./device.ts";
 * const { device, adapter } = await getGpu();
 * console.log(adapter, device.limits.maxStorageBufferBindingSize);
 * ```
 */
export function getGpu(): Promise<Gpu> {
  shared ??= (async () => {
    prepareEnv();
    if (!("gpu" in navigator) || !navigator.gpu) {
      throw new Error("WebGPU is not available (navigator.gpu missing)");
    }
    const a = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
    if (!a) throw new Error("WebGPU: no adapter found (set XDG_RUNTIME_DIR, or install mesa-vulkan-drivers)");
    const device = await a.requestDevice({
      requiredLimits: {
        maxStorageBufferBindingSize: a.limits.maxStorageBufferBindingSize,
        maxBufferSize: a.limits.maxBufferSize,
        maxStorageBuffersPerShaderStage: Math.min(a.limits.maxStorageBuffersPerShaderStage, 10),
        maxComputeWorkgroupStorageSize: a.limits.maxComputeWorkgroupStorageSize,
      },
    });
    device.addEventListener("uncapturederror", (e) => {
      console.error(`WebGPU error: ${(e as GPUUncapturedErrorEvent).error.message}`);
    });
    const info = a.info;
    const adapter = info.description ||
      [info.vendor, info.architecture, info.device].filter(Boolean).join(" ") ||
      "unknown adapter";
    return { device, adapter, software: !!info.isFallbackAdapter };
  })();
  return shared;
}

/**
 * Mesa's software adapters need XDG_RUNTIME_DIR; Vulkan (lavapipe) compiles pipelines much faster than GL, so it is
 * preferred when its driver is installed. Both only when the user has not set them.
 */
function prepareEnv() {
  try {
    if (!Deno.env.get("XDG_RUNTIME_DIR")) {
      const dir = `/tmp/etude-xdg-${Deno.uid() ?? 0}`;
      Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
      Deno.env.set("XDG_RUNTIME_DIR", dir);
    }
    if (!Deno.env.get("DENO_WEBGPU_BACKEND") && Deno.build.os === "linux") {
      const icd = [
        "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json",
        "/usr/share/vulkan/icd.d/lvp_icd.aarch64.json",
      ];
      if (
        icd.some((f) => {
          try {
            return Deno.statSync(f).isFile;
          } catch {
            return false;
          }
        })
      ) Deno.env.set("DENO_WEBGPU_BACKEND", "vulkan");
    }
  } catch {
    // no env/fs permission: leave the environment as it is
  }
}

/**
 * Loads kernel `name` as WGSL text (from kernel_sources.ts: registered in memory, else `kernels/<name>.wgsl`),
 * optionally overriding module-scope `const NAME: type = value;` lines (tile sizes, workgroup sizes).
 *
 * @example
 * ```ts
 * import { loadKernel } from "./device.ts";
 * const code = await loadKernel("matmul", { TM: 1 });
 * ```
 */
export async function loadKernel(name: string, consts: Record<string, number> = {}): Promise<string> {
  let code = await kernelSource(name);
  for (const [k, v] of Object.entries(consts)) {
    const re = new RegExp(`const ${k}\\s*:\\s*(u32|i32|f32)\\s*=\\s*[^;]+;`);
    const m = code.match(re);
    if (!m) throw new Error(`kernel ${name}: no const ${k} to override`);
    const lit = m[1] === "f32" ? `${v}f` : m[1] === "u32" ? `${v}u` : `${v}i`;
    code = code.replace(re, `const ${k}: ${m[1]} = ${lit};`);
  }
  return code;
}

/** A compiled compute kernel and the layout of its bind group 0. */
export interface Kernel {
  /** The compute pipeline (entry point `main`). */
  pipeline: GPUComputePipeline;
  /** The layout its bind groups are created with. */
  layout: GPUBindGroupLayout;
}

/**
 * Compiles kernel `name` (entry point `main`, consts overridden as in {@linkcode loadKernel}) with an explicit bind
 * group layout: `bindings` has one letter per binding of group 0, in order: `u` uniform, `r` read-only storage,
 * `w` read-write storage.
 *
 * @example
 * ```ts
 * import { compileKernel, getGpu } from "./device.ts";
 * const { device } = await getGpu();
 * const embed = await compileKernel(device, "embed", "urrrw");
 * ```
 */
export async function compileKernel(
  device: GPUDevice,
  name: string,
  bindings: string,
  consts: Record<string, number> = {},
): Promise<Kernel> {
  const layout = device.createBindGroupLayout({
    entries: [...bindings].map((k, i) => ({
      binding: i,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: k === "u" ? "uniform" : k === "r" ? "read-only-storage" : "storage" },
    })),
  });
  const module = device.createShaderModule({ code: await loadKernel(name, consts), label: name });
  const pipeline = await device.createComputePipelineAsync({
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: "main" },
  });
  return { pipeline, layout };
}

/**
 * A storage buffer holding `data` (or `bytes` zeroed bytes), usable as copy source and destination.
 *
 * @example
 * ```ts
 * import { getGpu, storage } from "./device.ts";
 * const { device } = await getGpu();
 * const b = storage(device, new Float32Array([1, 2, 3]));
 * ```
 */
export function storage(
  device: GPUDevice,
  data: Float32Array | Uint32Array | Int32Array | number,
  label?: string,
): GPUBuffer {
  const size = typeof data === "number" ? data : data.byteLength;
  const buf = device.createBuffer({
    label,
    size: Math.max(16, Math.ceil(size / 16) * 16),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    mappedAtCreation: typeof data !== "number",
  });
  if (typeof data !== "number") {
    const dst = data instanceof Float32Array
      ? new Float32Array(buf.getMappedRange())
      : data instanceof Int32Array
      ? new Int32Array(buf.getMappedRange())
      : new Uint32Array(buf.getMappedRange());
    dst.set(data);
    buf.unmap();
  }
  return buf;
}

/**
 * A uniform buffer of `words` 32-bit words (contents written later with `queue.writeBuffer`).
 *
 * @example
 * ```ts
 * import { getGpu, uniform } from "./device.ts";
 * const { device } = await getGpu();
 * const u = uniform(device, 8);
 * ```
 */
export function uniform(device: GPUDevice, words: number, label?: string): GPUBuffer {
  return device.createBuffer({
    label,
    size: Math.max(16, Math.ceil(words * 4 / 16) * 16),
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
}

/**
 * Copies a storage buffer region back to the CPU (one map: ≈ 11 ms in Deno; for tests and setup, not the hot loop).
 *
 * @example
 * ```ts
 * import { getGpu, readBuffer, storage } from "./device.ts";
 * const { device } = await getGpu();
 * const bytes = await readBuffer(device, storage(device, new Float32Array([1])), 4);
 * ```
 */
export async function readBuffer(
  device: GPUDevice,
  src: GPUBuffer,
  bytes: number,
  offset = 0,
): Promise<ArrayBuffer> {
  const size = Math.ceil(bytes / 4) * 4;
  const st = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(src, offset, st, 0, size);
  device.queue.submit([enc.finish()]);
  await st.mapAsync(GPUMapMode.READ);
  const out = st.getMappedRange().slice(0, bytes);
  st.unmap();
  st.destroy();
  return out;
}
