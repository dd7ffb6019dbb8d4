/**
 * The pieces a training step is made of: {@link View}s (float ranges of GPU buffers), {@link Dispatch}es (pipeline,
 * bind group, workgroup counts: built once, encoded every step) and the step uniform's 64 bytes
 * ({@link stepScalars}), the only numbers besides the token ids that a step writes.
 *
 * @module
 */
/** A float range of a GPU buffer. */
export interface View {
  /** The buffer. */
  buffer: GPUBuffer;
  /** First float. */
  offset: number;
  /** Floats. */
  size: number;
}

/**
 * A view of `size` floats at float `offset` of `buffer` (default: the whole buffer).
 *
 * @example
 * ```ts ignore
 * import { getGpu, storage } from "./device.ts";
 * import { view } from "./dispatch.ts";
 * const { device } = await getGpu();
 * const v = view(storage(device, 1024), 16, 64); // floats 16 … 79 of a 256-float buffer
 * ```
 */
export function view(buffer: GPUBuffer, offset = 0, size = buffer.size / 4 - offset): View {
  return { buffer, offset, size };
}

/** One compute dispatch, ready to encode. */
export interface Dispatch {
  /** The op's name (for counts and profiles). */
  name: string;
  /** Its pipeline. */
  pipeline: GPUComputePipeline;
  /** Its bind group (group 0). */
  bind: GPUBindGroup;
  /** Workgroups in x, y. */
  groups: [number, number];
}

/**
 * Encodes `list` into `pass` in order; returns the number of dispatches.
 *
 * @example
 * ```ts ignore
 * import { getGpu, storage } from "./device.ts";
 * import { compileTrainKernels, trainShapes } from "./kernels.ts";
 * import { encode, view } from "./dispatch.ts";
 * import { GpuOps } from "./ops.ts";
 * const { device } = await getGpu();
 * const shapes = trainShapes("software", 8);
 * const ops = new GpuOps(device, await compileTrainKernels(device, shapes, 8), shapes);
 * const gu = view(storage(device, 4 * 2 * 16 * 4)), act = view(storage(device, 4 * 16 * 4));
 * const encoder = device.createCommandEncoder();
 * const pass = encoder.beginComputePass();
 * const n = encode(pass, [ops.swigluForward(act, gu, 4, 16)]); // 1
 * pass.end();
 * device.queue.submit([encoder.finish()]);
 * ```
 */
export function encode(pass: GPUComputePassEncoder, list: readonly Dispatch[]): number {
  for (const d of list) {
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bind);
    pass.dispatchWorkgroups(d.groups[0], d.groups[1]);
  }
  return list.length;
}

/** The scalars of one step, as kernels/train/adamw.wgsl's (and xent.wgsl's) uniform `S` holds them. */
export interface StepScalars {
  /** 1 / the step's counted (non-PAD) targets; 0 when there are none. */
  invTotal: number;
  /** Learning rate. */
  lr: number;
  /** Decoupled weight decay (matrices only). */
  weightDecay: number;
  /** AdamW β₁. */
  beta1: number;
  /** AdamW β₂. */
  beta2: number;
  /** AdamW ε. */
  eps: number;
  /** Global gradient-norm clip. */
  clip: number;
  /** This update's AdamW step t (1 for the first; bias corrections 1 − βᵗ). */
  t: number;
  /** Where in the stats ring the step's (loss, norm) go. */
  slot: number;
  /** false: record the stats only, leave weights and moments. */
  update: boolean;
}

/**
 * The 64 bytes of the step uniform for `s` (written with one `queue.writeBuffer` per step).
 *
 * @example
 * ```ts
 * import { stepScalars } from "./dispatch.ts";
 * const bytes = stepScalars({ invTotal: 1 / 100, lr: 1e-3, weightDecay: 0.1, beta1: 0.9, beta2: 0.95, eps: 1e-8, clip: 1, t: 1, slot: 0, update: true });
 * new Float32Array(bytes)[3]; // c₁ = 1 − 0.9 ≈ 0.1
 * ```
 */
export function stepScalars(s: StepScalars): ArrayBuffer {
  const u = new ArrayBuffer(64), fl = new Float32Array(u), w = new Uint32Array(u);
  fl.set([
    s.invTotal,
    s.lr,
    1 - s.lr * s.weightDecay,
    1 - Math.pow(s.beta1, s.t),
    1 - Math.pow(s.beta2, s.t),
    s.beta1,
    s.beta2,
    1 - s.beta1,
    1 - s.beta2,
    s.eps,
    s.clip,
  ]);
  w[11] = s.slot;
  w[12] = s.update ? 1 : 0;
  return u;
}
