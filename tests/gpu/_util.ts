/**
 * Shared helpers for the WebGPU training tests: the device, ops compiled per (kernel path, head size), buffers with
 * tensors at unaligned offsets, running dispatches and reading results back.
 */
import { getGpu } from "../../lib/gpu/device.ts";
import { compileTrainKernels, type TrainKernelPath, trainShapes } from "../../lib/gpu/kernels.ts";
import { type Dispatch, encode, type View, view } from "../../lib/gpu/dispatch.ts";
import { GpuOps } from "../../lib/gpu/ops.ts";

export { maxDiff, randn } from "../cpu/_util.ts";

/** The shared device (Mesa's software adapter in CI). */
export const gpu = await getGpu();
export const device = gpu.device;

/** Both kernel paths: the software shapes and the real-GPU ones (checked here too, before any GPU runs them). */
export const PATHS: TrainKernelPath[] = ["software", "gpu"];

const cache = new Map<string, Promise<GpuOps>>();

/** Ops with every training kernel compiled for `path` and head size `hd` (cached). */
export function opsFor(path: TrainKernelPath, hd: number): Promise<GpuOps> {
  const key = `${path}:${hd}`;
  let p = cache.get(key);
  if (!p) {
    const shapes = trainShapes(path, hd, device.limits.maxComputeWorkgroupStorageSize);
    p = compileTrainKernels(device, shapes, hd).then((k) => new GpuOps(device, k, shapes));
    cache.set(key, p);
  }
  return p;
}

/**
 * A buffer holding `data` at float offset `at` (unaligned on purpose, as tensors of the flat parameter buffer are),
 * and the view of it.
 */
export function tensor(data: Float32Array | number, at = 0): View {
  const n = typeof data === "number" ? data : data.length;
  const buffer = device.createBuffer({
    size: Math.ceil((at + n + 8) / 4) * 16,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
  if (typeof data !== "number") device.queue.writeBuffer(buffer, at * 4, data as Float32Array<ArrayBuffer>);
  return view(buffer, at, n);
}

/** A storage buffer of 32-bit words. */
export function words(data: Uint32Array | Int32Array): GPUBuffer {
  const buffer = device.createBuffer({
    size: Math.max(16, Math.ceil(data.byteLength / 16) * 16),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
  });
  device.queue.writeBuffer(buffer, 0, data as Uint32Array<ArrayBuffer>);
  return buffer;
}

/** Encodes `list` in one pass and submits it. */
export function run(list: Dispatch[]): void {
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  encode(pass, list);
  pass.end();
  device.queue.submit([enc.finish()]);
}

/** Reads a view back. */
export async function read(v: View): Promise<Float32Array> {
  const bytes = v.size * 4;
  const st = device.createBuffer({
    size: Math.ceil(bytes / 4) * 4,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(v.buffer, v.offset * 4, st, 0, bytes);
  device.queue.submit([enc.finish()]);
  await st.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(st.getMappedRange().slice(0));
  st.destroy();
  return out;
}

/** Throws unless max |got − want| ≤ tol · max(max |want|, floor). */
export function close(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: number,
  what: string,
  floor = 1e-6,
) {
  if (got.length !== want.length) throw new Error(`${what}: length ${got.length} ≠ ${want.length}`);
  let diff = 0, scale = 0, at = -1;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= diff)) {
      diff = d;
      at = i;
    }
    scale = Math.max(scale, Math.abs(want[i]));
  }
  if (!(diff <= tol * Math.max(scale, floor))) {
    throw new Error(`${what}: max diff ${diff} at ${at} (got ${got[at]}, want ${want[at]}; scale ${scale})`);
  }
}
