/**
 * WebGPU plumbing for the inference engine: the device, kernel loading and compilation, and small buffer helpers —
 * re-exported from lib/gpu/device.ts, where they live beside the training backend.
 *
 * @module
 */
export {
  compileKernel,
  getGpu,
  type Gpu,
  type Kernel,
  loadKernel,
  readBuffer,
  storage,
  uniform,
} from "../gpu/device.ts";
