/**
 * WebGPU plumbing for the inference engine: the device, kernel source loading (the one seam a bundler swaps for an
 * embedded map), and small buffer helpers.
 *
 * @module
 */
import { embeddedKernel } from "../bundle/embed.ts";

/** A WebGPU device with the adapter's description. */
export interface Gpu {
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
 * import { getGpu } from "./_gpu.ts";
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

const sources = new Map<string, Promise<string>>();

/**
 * Loads `kernels/<name>.wgsl` as text, optionally overriding module-scope `const NAME: type = value;` lines
 * (tile sizes, workgroup sizes). The one place kernel sources are read: embedded sources (lib/bundle/embed.ts) win.
 *
 * @example
 * ```ts
 * import { loadKernel } from "./_gpu.ts";
 * const code = await loadKernel("matmul", { TM: 1 });
 * ```
 */
export async function loadKernel(name: string, consts: Record<string, number> = {}): Promise<string> {
  let p = sources.get(name);
  if (!p) {
    // Bundles and compiled binaries carry the kernels in memory (lib/bundle/embed.ts); otherwise read kernels/ from disk.
    const embedded = embeddedKernel(name);
    p = embedded !== undefined
      ? Promise.resolve(embedded)
      : Deno.readTextFile(new URL(`../../kernels/${name}.wgsl`, import.meta.url));
    sources.set(name, p);
  }
  let code = await p;
  for (const [k, v] of Object.entries(consts)) {
    const re = new RegExp(`const ${k}\\s*:\\s*(u32|i32|f32)\\s*=\\s*[^;]+;`);
    const m = code.match(re);
    if (!m) throw new Error(`kernel ${name}: no const ${k} to override`);
    const lit = m[1] === "f32" ? `${v}f` : m[1] === "u32" ? `${v}u` : `${v}i`;
    code = code.replace(re, `const ${k}: ${m[1]} = ${lit};`);
  }
  return code;
}

/**
 * Creates a compute pipeline from a kernel file (entry point `main`).
 *
 * @example
 * ```ts
 * import { getGpu, makePipeline } from "./_gpu.ts";
 * const { device } = await getGpu();
 * const p = await makePipeline(device, "rmsnorm");
 * ```
 */
export async function makePipeline(
  device: GPUDevice,
  name: string,
  consts: Record<string, number> = {},
): Promise<GPUComputePipeline> {
  const code = await loadKernel(name, consts);
  const module = device.createShaderModule({ code, label: name });
  return await device.createComputePipelineAsync({ layout: "auto", compute: { module, entryPoint: "main" } });
}

/**
 * A storage buffer holding `data` (or `bytes` zeroed bytes), usable as copy source and destination.
 *
 * @example
 * ```ts
 * import { getGpu, storage } from "./_gpu.ts";
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
 * import { getGpu, uniform } from "./_gpu.ts";
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
 * import { getGpu, readBuffer, storage } from "./_gpu.ts";
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

/**
 * Packs mixed u32/i32/f32 values into one uniform word array (numbers tagged by the `kinds` string: u, i, f).
 *
 * @example
 * ```ts
 * import { packParams } from "./_gpu.ts";
 * const bytes = packParams("uuf", [4, 8, 1e-5]); // 16 bytes (padded to a multiple of 16)
 * ```
 */
export function packParams(kinds: string, values: number[]): ArrayBuffer {
  const buf = new ArrayBuffer(Math.max(16, Math.ceil(values.length * 4 / 16) * 16));
  const dv = new DataView(buf);
  values.forEach((v, i) => {
    const k = kinds[i];
    if (k === "f") dv.setFloat32(i * 4, v, true);
    else if (k === "i") dv.setInt32(i * 4, v, true);
    else dv.setUint32(i * 4, v >>> 0, true);
  });
  return buf;
}
