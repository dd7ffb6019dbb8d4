/**
 * The Llama block's named ops on the GPU, mirroring lib/cpu one to one (`ops.ts`, `rope.ts`, `attention.ts`,
 * `loss.ts`, `adamw.ts`): each method builds one {@link Dispatch} — pipeline, bind group and a uniform buffer
 * filled once — for fixed buffers and sizes, so a training step is a list of prebuilt dispatches encoded into one
 * command buffer. Sizes and gradient conventions follow the CPU ops (weight gradients accumulate, the residual
 * stream's gradient accumulates, other gradients are written).
 *
 * Tensors are {@link View}s: a buffer and a float offset and length, bound as an aligned range with the rest of the
 * offset passed to the kernel (so a tensor of the flat parameter buffer binds on any adapter).
 *
 * @module
 */
import type { Kernel } from "./device.ts";
import type { Dispatch, View } from "./dispatch.ts";
import type { TrainKernels, TrainShapes } from "./kernels.ts";

/** A float field of a uniform (other fields are u32). */
class F32 {
  constructor(readonly v: number) {}
}
const f = (v: number) => new F32(v);

/** x × y workgroups covering `groups` (x at most 65535). */
function grid(groups: number): [number, number] {
  const x = Math.max(1, Math.min(groups, 65535));
  return [x, Math.max(1, Math.ceil(groups / x))];
}

/** RoPE tables on the GPU (lib/cpu/rope.ts `ropeTables`, same float32 values). */
export interface GpuRope {
  /** cos [maxPos, half]. */
  cos: GPUBuffer;
  /** sin [maxPos, half]. */
  sin: GPUBuffer;
  /** headDim / 2. */
  half: number;
}

/**
 * Builds the training step's dispatches (see the module doc). Every method allocates its uniform buffer and bind
 * group: call them once per plan, not per step.
 *
 * @example
 * ```ts ignore
 * import { getGpu, storage } from "./device.ts";
 * import { compileTrainKernels, trainShapes } from "./kernels.ts";
 * import { view } from "./dispatch.ts";
 * import { GpuOps } from "./ops.ts";
 * const { device } = await getGpu();
 * const shapes = trainShapes("software", 8);
 * const ops = new GpuOps(device, await compileTrainKernels(device, shapes, 8), shapes);
 * const [N, inDim, outDim] = [4, 16, 32];
 * const x = view(storage(device, N * inDim * 4)), w = view(storage(device, outDim * inDim * 4));
 * const d = ops.matmulForward(view(storage(device, N * outDim * 4)), x, w, N, inDim, outDim);
 * ```
 */
export class GpuOps {
  readonly #dummy: GPUBuffer;
  readonly #align: number;

  /** Ops on `device` with compiled `kernels` of `shapes`. */
  constructor(readonly device: GPUDevice, readonly kernels: TrainKernels, readonly shapes: TrainShapes) {
    this.#dummy = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE, label: "dummy" });
    this.#align = device.limits.minStorageBufferOffsetAlignment;
  }

  #uniform(fields: (number | F32)[], name: string): GPUBuffer {
    const words = Math.max(4, Math.ceil(fields.length / 4) * 4);
    const buf = this.device.createBuffer({
      label: `${name}.u`,
      size: words * 4,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      mappedAtCreation: true,
    });
    const ab = buf.getMappedRange(), u = new Uint32Array(ab), fl = new Float32Array(ab);
    fields.forEach((x, i) => x instanceof F32 ? (fl[i] = x.v) : (u[i] = x >>> 0));
    buf.unmap();
    return buf;
  }

  /** A binding for a view: the aligned range holding it, and the float offset of the view inside that range. */
  #range(v: View): { res: GPUBufferBinding; off: number } {
    const byte = v.offset * 4, start = byte - (byte % this.#align);
    const size = Math.max(16, Math.ceil((byte + v.size * 4 - start) / 16) * 16);
    return {
      res: { buffer: v.buffer, offset: start, size: Math.min(size, v.buffer.size - start) },
      off: (byte - start) / 4,
    };
  }

  /**
   * A dispatch of `kernel` binding the uniform `fields(offsets)` then `views` in order (a GPUBuffer binds whole);
   * `offsets` are the views' float offsets inside their aligned bindings, for the kernel's `*Off` fields.
   */
  #dispatch(
    name: string,
    kernel: Kernel,
    groups: [number, number],
    views: (View | GPUBuffer)[],
    fields: (offs: number[]) => (number | F32)[],
  ): Dispatch {
    const ranges = views.map((v) => "buffer" in v ? this.#range(v) : { res: { buffer: v }, off: 0 });
    const u = this.#uniform(fields(ranges.map((r) => r.off)), name);
    const bind = this.device.createBindGroup({
      label: name,
      layout: kernel.layout,
      entries: [
        { binding: 0, resource: { buffer: u } },
        ...ranges.map((r, i) => ({ binding: i + 1, resource: r.res })),
      ],
    });
    return { name, pipeline: kernel.pipeline, bind, groups };
  }

  /** C = A·B in one of the three forms; see kernels/train/matmul.wgsl. */
  #matmul(
    name: string,
    kernel: Kernel,
    c: View,
    a: View,
    b: View,
    r: View | null,
    M: number,
    N: number,
    K: number,
    flags: number,
  ): Dispatch {
    const { BM, BN } = this.shapes.matmul;
    const groups: [number, number] = [Math.ceil(N / BN), Math.ceil(M / BM)];
    const rv = r ?? this.#dummy;
    return this.#dispatch(
      name,
      kernel,
      groups,
      [a, b, rv, c],
      ([ao, bo, ro, co]) => [M, N, K, flags, ao, bo, co, ro],
    );
  }

  /** `out = x·Wᵀ` (+ `residual`) for x [N, inDim], W [outDim, inDim] (lib/cpu `matmulForward`). */
  matmulForward(
    out: View,
    x: View,
    w: View,
    N: number,
    inDim: number,
    outDim: number,
    residual: View | null = null,
  ): Dispatch {
    const k = this.kernels.matmulForward;
    return this.#matmul("matmul_fwd", k, out, x, w, residual, N, outDim, inDim, residual ? 2 : 0);
  }

  /** `dx = dout·W` (written), the input half of lib/cpu `matmulBackward`. */
  matmulBackwardInput(dx: View, dout: View, w: View, N: number, inDim: number, outDim: number): Dispatch {
    const k = this.kernels.matmulBackwardInput;
    return this.#matmul("matmul_bwd_x", k, dx, dout, w, null, N, inDim, outDim, 0);
  }

  /** `dw += doutᵀ·x`, the weight half of lib/cpu `matmulBackward`. */
  matmulBackwardWeight(dw: View, dout: View, x: View, N: number, inDim: number, outDim: number): Dispatch {
    const k = this.kernels.matmulBackwardWeight;
    return this.#matmul("matmul_bwd_w", k, dw, dout, x, null, outDim, inDim, N, 1);
  }

  /** RMSNorm forward; `rstd` [N] kept for the backward. */
  rmsnormForward(out: View, rstd: View, x: View, w: View, N: number, d: number, eps: number): Dispatch {
    const k = this.kernels.rmsnormForward;
    return this.#dispatch(
      "rmsnorm_fwd",
      k,
      [Math.min(N, 65535), 1],
      [x, w, out, rstd],
      ([, wo]) => [N, d, wo, f(eps)],
    );
  }

  /** RMSNorm backward: `dx +=` (or `=` when not `accumulate`), `dw +=`. */
  rmsnormBackward(
    dx: View,
    dw: View,
    dout: View,
    x: View,
    w: View,
    rstd: View,
    N: number,
    d: number,
    accumulate = true,
  ): Dispatch {
    const k = this.kernels.rmsnormBackward;
    const cols = Math.ceil(d / this.shapes.normCols), rows = Math.min(N, 65535 - cols);
    return this.#dispatch(
      "rmsnorm_bwd",
      k,
      [rows + cols, 1],
      [dout, x, w, rstd, dx, dw],
      ([, , wo, , , dwo]) => [N, d, wo, dwo, rows, accumulate ? 1 : 0],
    );
  }

  #rope(
    x: View,
    N: number,
    T: number,
    stride: number,
    col: number,
    heads: number,
    rope: GpuRope,
    sign: number,
  ) {
    const total = N * heads * rope.half;
    return this.#dispatch(
      sign > 0 ? "rope_fwd" : "rope_bwd",
      this.kernels.rope,
      grid(Math.ceil(total / this.shapes.elem)),
      [rope.cos, rope.sin, x],
      () => [N, T, stride, col, heads, rope.half, f(sign), 0],
    );
  }

  /** RoPE in place on `heads` heads from column `col` of rows of `stride` (lib/cpu `ropeForward`). */
  ropeForward(
    x: View,
    N: number,
    T: number,
    stride: number,
    col: number,
    heads: number,
    rope: GpuRope,
  ): Dispatch {
    return this.#rope(x, N, T, stride, col, heads, rope, 1);
  }

  /** RoPE backward in place: the inverse rotation (lib/cpu `ropeBackward`). */
  ropeBackward(
    x: View,
    N: number,
    T: number,
    stride: number,
    col: number,
    heads: number,
    rope: GpuRope,
  ): Dispatch {
    return this.#rope(x, N, T, stride, col, heads, rope, -1);
  }

  /** Causal attention forward: `out` [B·T, d] and `lse` [B, H, T] from `qkv` [B·T, 3d]. */
  attentionForward(out: View, lse: View, qkv: View, B: number, T: number, H: number, hd: number): Dispatch {
    const groups: [number, number] = [Math.ceil(T / this.shapes.attention.rows), B * H];
    return this.#dispatch(
      "attention_fwd",
      this.kernels.attentionForward,
      groups,
      [qkv, out, lse],
      () => [T, H, H * hd, f(1 / Math.sqrt(hd))],
    );
  }

  /** Attention backward: writes `dqkv` [B·T, 3d] from `dout`, the forward's `out`, `lse` and `qkv` (2 dispatches). */
  attentionBackward(
    dqkv: View,
    dout: View,
    out: View,
    lse: View,
    qkv: View,
    B: number,
    T: number,
    H: number,
    hd: number,
  ): Dispatch[] {
    const groups: [number, number] = [Math.ceil(T / this.shapes.attention.rows), B * H];
    const u = () => [T, H, H * hd, f(1 / Math.sqrt(hd))];
    const views = [qkv, out, dout, lse, dqkv];
    return [
      this.#dispatch("attention_bwd_kv", this.kernels.attentionBackwardKV, groups, views, u),
      this.#dispatch("attention_bwd_q", this.kernels.attentionBackwardQ, groups, views, u),
    ];
  }

  /** SwiGLU forward: `act` [N, f] from `gu` [N, 2f]. */
  swigluForward(act: View, gu: View, N: number, f: number): Dispatch {
    const groups = grid(Math.ceil(N * f / this.shapes.elem));
    return this.#dispatch("swiglu_fwd", this.kernels.swigluForward, groups, [gu, act], () => [N, f]);
  }

  /** SwiGLU backward: `dgu` [N, 2f] from `dact` [N, f] and `gu`. */
  swigluBackward(dgu: View, dact: View, gu: View, N: number, f: number): Dispatch {
    const groups = grid(Math.ceil(N * f / this.shapes.elem));
    return this.#dispatch("swiglu_bwd", this.kernels.swigluBackward, groups, [dact, gu, dgu], () => [N, f]);
  }

  /** Embedding gather: `out[n] = table[ids[n]]`, ids at word `idOff` of `tokens`. */
  embeddingForward(out: View, tokens: GPUBuffer, idOff: number, table: View, N: number, d: number): Dispatch {
    const groups = grid(Math.ceil(N * d / this.shapes.elem));
    return this.#dispatch(
      "embedding_fwd",
      this.kernels.embeddingForward,
      groups,
      [tokens, table, out],
      ([, to]) => [N, d, idOff, to],
    );
  }

  /**
   * Embedding backward: `dtable[v] += Σ dout[n]` over the positions n holding id v, listed in `tokens` as CSR
   * (`start` [V + 1] at word `startOff`, positions at `posOff`).
   */
  embeddingBackward(
    dtable: View,
    dout: View,
    tokens: GPUBuffer,
    startOff: number,
    posOff: number,
    V: number,
    d: number,
  ): Dispatch {
    return this.#dispatch(
      "embedding_bwd",
      this.kernels.embeddingBackward,
      [Math.min(V, 65535), 1],
      [tokens, dout, dtable],
      ([, , to]) => [V, d, startOff, posOff, to],
    );
  }

  /**
   * Fused softmax + cross-entropy of `logits` [N, V] against targets at word `tgtOff` of `tokens`: `lse` [N],
   * per-row losses at `rowOff` of `rowloss`; with `backward`, the logits become their gradient scaled by the
   * step uniform's 1 / counted targets.
   */
  crossEntropy(
    logits: View,
    lse: View,
    rowloss: View,
    rowOff: number,
    tokens: GPUBuffer,
    tgtOff: number,
    step: GPUBuffer,
    N: number,
    V: number,
    ignoreIndex: number,
    backward: boolean,
  ): Dispatch {
    const k = this.kernels.crossEntropy;
    const layout = k.layout, u = this.#uniform([N, V, tgtOff, rowOff, ignoreIndex, backward ? 1 : 0], "xent");
    const entries = [
      { binding: 0, resource: { buffer: u } },
      { binding: 1, resource: { buffer: step } },
      ...[tokens, logits, lse, rowloss].map((v, i) => ({
        binding: i + 2,
        resource: "buffer" in v ? this.#range(v).res : { buffer: v },
      })),
    ];
    for (const v of [logits, lse, rowloss]) if (this.#range(v).off) throw new Error("xent: unaligned view");
    const bind = this.device.createBindGroup({ label: "xent", layout, entries });
    return { name: "cross_entropy", pipeline: k.pipeline, bind, groups: [Math.min(N, 65535), 1] };
  }

  /**
   * The gradient norm's partial sums over `g` into `partial[partOff …]` (`parts` workgroups); with `rows` > 0 one
   * more workgroup sums `rowloss[0 … rows)` into `partial[lossAt]`.
   */
  gradNorm(
    partial: GPUBuffer,
    g: View,
    rowloss: View,
    parts: number,
    partOff: number,
    rows: number,
    lossAt: number,
  ): Dispatch {
    const k = this.kernels.gradNorm;
    if (this.#range(g).off) throw new Error("gradnorm: unaligned range");
    return this.#dispatch(
      "grad_norm",
      k,
      [parts + (rows > 0 ? 1 : 0), 1],
      [g, rowloss, partial],
      () => [g.size, parts, partOff, rows, lossAt],
    );
  }

  /**
   * AdamW with clipping over a range of the flat buffers (`base`: its first float; the views must start there):
   * reads the norm's `parts` partials (the loss at `partial[parts]`), writes (loss, norm) to `stats` when `first`.
   */
  adamw(
    p: View,
    g: View,
    m: View,
    v: View,
    mask: GPUBuffer,
    partial: GPUBuffer,
    stats: GPUBuffer,
    step: GPUBuffer,
    parts: number,
    first: boolean,
  ): Dispatch {
    const k = this.kernels.adamw, n = p.size;
    const ranges = [p, g, m, v].map((x) => this.#range(x));
    if (ranges.some((r) => r.off)) throw new Error("adamw: unaligned range");
    const u = this.#uniform([n, p.offset, parts, first ? 1 : 0], "adamw");
    const res = (b: GPUBuffer) => ({ buffer: b });
    const entries = [u, step, partial, mask].map((b, i) => ({ binding: i, resource: res(b) }))
      .concat(
        [ranges[1], ranges[0], ranges[2], ranges[3]].map((r, i) => ({ binding: i + 4, resource: r.res })),
      )
      .concat([{ binding: 8, resource: res(stats) }]);
    const bind = this.device.createBindGroup({ label: "adamw", layout: k.layout, entries });
    const groups = Math.min(65535, Math.max(1, Math.ceil(n / (this.shapes.reduce * 8))));
    return { name: "adamw", pipeline: k.pipeline, bind, groups: [groups, 1] };
  }
}
