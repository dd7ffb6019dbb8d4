/**
 * Gradients for the tfjs kernels the etude models use. The npm `@tensorflow/tfjs-core` main bundle (the one Deno
 * loads) registers no gradients — they live in extensionless ESM files Deno cannot import — so they are written here
 * against the public `registerGradient` API. Verified by finite differences in tests/model/transformer_test.ts.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

type T = tf.Tensor;
type Attrs = Record<string, unknown>;

/** Sums `g` down to `shape` (undoing broadcasting). */
function unbroadcast(g: T, shape: number[]): T {
  if (g.shape.join(",") === shape.join(",")) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  return tf.reshape(axes.length ? tf.sum(g, axes) : g, shape);
}

function keepShape(x: T, axis: unknown): number[] {
  const axes = (axis === undefined || axis === null ? x.shape.map((_, i) => i) : [axis].flat() as number[])
    .map((a) => (a < 0 ? a + x.rank : a));
  return x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

const binary = (
  name: string,
  da: (dy: T, a: T, b: T) => T,
  db: (dy: T, a: T, b: T) => T,
): tf.GradConfig => ({
  kernelName: name,
  inputsToSave: ["a", "b"],
  gradFunc: (dy, saved) => {
    const [a, b] = saved;
    return {
      a: () => unbroadcast(da(dy as T, a, b), a.shape),
      b: () => unbroadcast(db(dy as T, a, b), b.shape),
    };
  },
});

const configs: tf.GradConfig[] = [
  binary(tf.Add, (dy) => dy, (dy) => dy),
  binary(tf.Sub, (dy) => dy, (dy) => tf.neg(dy)),
  binary(
    tf.Multiply,
    (dy, _a, b) => tf.mul(dy, tf.cast(b, "float32")),
    (dy, a) => tf.mul(dy, tf.cast(a, "float32")),
  ),
  binary(
    tf.RealDiv,
    (dy, _a, b) => tf.div(dy, b),
    (dy, a, b) => tf.neg(tf.div(tf.mul(dy, a), tf.square(b))),
  ),
  {
    kernelName: tf.BatchMatMul,
    inputsToSave: ["a", "b"],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved;
      const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
      const g = dy as T;
      // 2-D: transpose explicitly (tfjs-wasm is fast only for untransposed operands); batched: pass the flags
      const mm = (x: T, y: T, tx: boolean, ty: boolean) =>
        x.rank === 2 && y.rank === 2
          ? tf.matMul(tx ? tf.transpose(x) : x, ty ? tf.transpose(y) : y)
          : tf.matMul(x, y, tx, ty);
      let da: () => T, db: () => T;
      if (!transposeA && !transposeB) {
        da = () => mm(g, b, false, true);
        db = () => mm(a, g, true, false);
      } else if (!transposeA && transposeB) {
        da = () => mm(g, b, false, false);
        db = () => mm(g, a, true, false);
      } else if (transposeA && !transposeB) {
        da = () => mm(b, g, false, true);
        db = () => mm(a, g, false, false);
      } else {
        da = () => mm(b, g, true, true);
        db = () => mm(g, a, true, true);
      }
      return { a: () => unbroadcast(da(), a.shape), b: () => unbroadcast(db(), b.shape) };
    },
  },
  { kernelName: tf.Neg, gradFunc: (dy) => ({ x: () => tf.neg(dy as T) }) },
  {
    kernelName: tf.Square,
    inputsToSave: ["x"],
    gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy as T, tf.mul(x, 2)) }),
  },
  {
    kernelName: tf.Rsqrt,
    inputsToSave: ["x"],
    gradFunc: (dy, [x]) => ({ x: () => tf.div(dy as T, tf.mul(tf.pow(x, 1.5), -2)) }),
  },
  {
    kernelName: tf.Sigmoid,
    outputsToSave: [true],
    gradFunc: (dy, [y]) => ({ x: () => tf.mul(dy as T, tf.mul(y, tf.sub(1, y))) }),
  },
  {
    kernelName: tf.Tanh,
    outputsToSave: [true],
    gradFunc: (dy, [y]) => ({ x: () => tf.mul(dy as T, tf.sub(1, tf.square(y))) }),
  },
  {
    kernelName: tf.Softmax,
    outputsToSave: [true],
    gradFunc: (dy, [y], attrs) => {
      const dim = (attrs as { dim: number }).dim;
      const g = tf.mul(dy as T, y);
      return { logits: () => tf.sub(g, tf.mul(tf.sum(g, dim, true), y)) };
    },
  },
  {
    kernelName: tf.Mean,
    inputsToSave: ["x"],
    gradFunc: (dy, [x], attrs) => {
      const ks = keepShape(x, (attrs as Attrs).axis);
      const n = x.size / ks.reduce((a, b) => a * b, 1);
      return { x: () => tf.mul(tf.reshape(dy as T, ks), tf.fill(x.shape, 1 / n)) };
    },
  },
  {
    kernelName: tf.Sum,
    inputsToSave: ["x"],
    gradFunc: (dy, [x], attrs) => {
      const ks = keepShape(x, (attrs as Attrs).axis);
      return { x: () => tf.mul(tf.reshape(dy as T, ks), tf.ones(x.shape)) };
    },
  },
  {
    kernelName: tf.Reshape,
    inputsToSave: ["x"],
    gradFunc: (dy, [x]) => ({ x: () => tf.reshape(dy as T, x.shape) }),
  },
  {
    kernelName: tf.Transpose,
    gradFunc: (dy, _s, attrs) => {
      const perm = (attrs as { perm: number[] }).perm;
      const inv = new Array<number>(perm.length);
      perm.forEach((p, i) => (inv[p] = i));
      return { x: () => tf.transpose(dy as T, inv) };
    },
  },
  {
    kernelName: tf.Slice,
    inputsToSave: ["x"],
    gradFunc: (dy, [x], attrs) => {
      const begin = [(attrs as { begin: number[] | number }).begin].flat();
      const g = dy as T;
      const pad = x.shape.map((d, i) =>
        [begin[i] ?? 0, d - (begin[i] ?? 0) - g.shape[i]] as [number, number]
      );
      return { x: () => tf.pad(g, pad) };
    },
  },
  {
    kernelName: tf.Concat,
    saveAllInputs: true,
    gradFunc: (dy, saved, attrs) => {
      const first = saved[0];
      let axis = (attrs as { axis: number }).axis;
      if (axis < 0) axis += first.rank;
      const parts = tf.split(dy as T, saved.map((t) => t.shape[axis]), axis);
      return Object.fromEntries(parts.map((p, i) => [String(i), () => p]));
    },
  },
  {
    kernelName: tf.Pack,
    saveAllInputs: true,
    gradFunc: (dy, saved, attrs) => {
      const parts = tf.unstack(dy as T, (attrs as { axis: number }).axis);
      return Object.fromEntries(saved.map((_, i) => [String(i), () => parts[i]]));
    },
  },
  {
    kernelName: tf.Unpack,
    inputsToSave: ["value"],
    gradFunc: (dys, [value], attrs) => {
      const axis = (attrs as { axis: number }).axis;
      const shape = value.shape.filter((_, i) => i !== axis);
      const gs = (dys as (T | null)[]).map((d) => d ?? tf.zeros(shape));
      return { value: () => tf.stack(gs, axis) };
    },
  },
  {
    kernelName: tf.SplitV,
    inputsToSave: ["x"],
    gradFunc: (dys, [x], attrs) => {
      let axis = (attrs as { axis: number }).axis;
      if (axis < 0) axis += x.rank;
      const sizes = (attrs as { numOrSizeSplits: number | number[] }).numOrSizeSplits;
      const n = Array.isArray(sizes) ? sizes.length : sizes;
      const each = Array.isArray(sizes) ? sizes : new Array(n).fill(x.shape[axis] / n);
      const gs = (dys as (T | null)[]).map((d, i) =>
        d ?? tf.zeros(x.shape.map((s, j) => (j === axis ? each[i] : s)))
      );
      return { x: () => tf.concat(gs, axis) };
    },
  },
  { kernelName: tf.Identity, gradFunc: (dy) => ({ x: () => tf.cast(dy as T, "float32") }) },
  { kernelName: tf.Cast, gradFunc: (dy) => ({ x: () => tf.clone(dy as T) }) },
];

let registered = false;

/**
 * Registers the gradients (idempotent; skips kernels that already have one).
 *
 * @example
 * ```ts
 * import { registerGradients } from "./_gradients.ts";
 * registerGradients();
 * ```
 */
export function registerGradients(): void {
  if (registered) return;
  for (const c of configs) if (!tf.getGradient(c.kernelName)) tf.registerGradient(c);
  registered = true;
}

registerGradients();
