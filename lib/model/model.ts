/**
 * `TfModel`: a Transformer or LSTM as named tfjs variables (checkpoint names), its forward pass, the training loss,
 * and `forwardLogits` — the reference logits the WebGPU engine and the evaluator compare against.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "./_gradients.ts";
import { Rng } from "../util/rng.ts";
import { type Checkpoint, readCheckpoint, saveCheckpoint, type TrainState } from "./checkpoint.ts";
import { type ModelConfig, tensorShapes, validateModelConfig } from "./config.ts";
import { initLstmWeights, lstmForward } from "./lstm.ts";
import { initTransformerWeights, transformerForward } from "./transformer.ts";

/**
 * A model on the active tfjs backend. Call `dispose()` when done.
 *
 * @example
 * ```ts
 * import { applyOverrides, getPreset } from "./config.ts";
 * import { TfModel } from "./model.ts";
 * const { model: cfg } = applyOverrides(getPreset("v8"), { layers: 1, dim: 16, heads: 2, ffn: 32, vocab: 20 });
 * const m = TfModel.init(cfg, 1);
 * m.dispose();
 * ```
 */
export class TfModel {
  // deno-doc-ignore private-type-ref -- a tfjs type, public in its own package (denoland/deno#27364)
  /** The weights as tfjs variables, by checkpoint tensor name. */
  readonly vars: Record<string, tf.Variable>;

  /** Uploads `weights` (by checkpoint name) to the active backend. */
  constructor(readonly config: ModelConfig, weights: Record<string, Float32Array>) {
    validateModelConfig(config);
    this.vars = {};
    for (const [name, shape] of Object.entries(tensorShapes(config))) {
      const w = weights[name];
      if (!w) throw new Error(`model weights: missing tensor ${name}`);
      this.vars[name] = tf.variable(tf.tensor(w, shape, "float32"), true);
    }
  }

  /** A freshly initialised model; the same seed gives the same weights on every backend. */
  static init(config: ModelConfig, seed: number): TfModel {
    const rng = new Rng(seed);
    const shapes = tensorShapes(config);
    const w = config.arch === "transformer"
      ? initTransformerWeights(config, () => rng.normal(), shapes)
      : initLstmWeights(config, () => rng.next(), shapes);
    return new TfModel(config, w);
  }

  /** Uploads a checkpoint already read (`readCheckpoint`) to the active backend. */
  static fromCheckpoint(ck: Pick<Checkpoint, "config" | "weights">): TfModel {
    return new TfModel(ck.config, ck.weights);
  }

  /** Reads a checkpoint directory (`readCheckpoint`) onto the active backend. */
  static async load(
    dir: string,
  ): Promise<{ model: TfModel; state: TrainState | null; tokenizerJson: unknown }> {
    const ck = await readCheckpoint(dir);
    return { model: TfModel.fromCheckpoint(ck), state: ck.state, tokenizerJson: ck.tokenizerJson };
  }

  // deno-doc-ignore private-type-ref -- tfjs types, public in their own package (denoland/deno#27364)
  /** Logits [B, T, vocab] for ids [B, T] (call inside `tf.tidy`). */
  apply(ids: tf.Tensor2D): tf.Tensor3D {
    return this.config.arch === "transformer"
      ? transformerForward(this.config, this.vars, ids)
      : lstmForward(this.config, this.vars, ids);
  }

  /** Copies of all weights, by checkpoint name. */
  async weights(): Promise<Record<string, Float32Array>> {
    const out: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(this.vars)) out[k] = (await v.data()) as Float32Array;
    return out;
  }

  /** Replaces all weights in place (shapes must match). */
  setWeights(weights: Record<string, Float32Array>): void {
    for (const [k, v] of Object.entries(this.vars)) {
      // the variable takes its own reference to the data: the upload must be freed, or every call leaks a model
      // (a gradient worker calls this each step: ~8 MB a step filled tfjs-wasm's 4 GB heap after ~360 steps)
      const t = tf.tensor(weights[k], v.shape, "float32");
      v.assign(t);
      t.dispose();
    }
  }

  /** Writes the model as a checkpoint directory. */
  async save(dir: string, extra: { tokenizerJson?: unknown; state?: TrainState | null } = {}): Promise<void> {
    await saveCheckpoint(dir, { config: this.config, weights: await this.weights(), ...extra });
  }

  /** Frees the variables. */
  dispose(): void {
    for (const v of Object.values(this.vars)) v.dispose();
  }
}

// deno-doc-ignore private-type-ref -- tfjs types, public in their own package (denoland/deno#27364)
/**
 * Mean cross-entropy (nats per token) of `logits` [B, T, V] against `targets` [B, T]; PAD (id 0) targets are
 * ignored. Uses a one-hot product instead of gather so every backend can differentiate it.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { crossEntropy } from "./model.ts";
 * const l = crossEntropy(tf.zeros([1, 2, 4]), tf.tensor2d([[1, 2]], [1, 2], "int32")); // ln 4
 * ```
 */
export function crossEntropy(logits: tf.Tensor3D, targets: tf.Tensor2D): tf.Scalar {
  const [B, T, V] = logits.shape;
  const flat = tf.cast(tf.reshape(targets, [B * T]), "int32");
  const lsm = tf.logSoftmax(tf.reshape(logits, [B * T, V]));
  const picked = tf.sum(tf.mul(lsm, tf.cast(tf.oneHot(flat, V), "float32")), 1);
  const w = tf.cast(tf.notEqual(flat, 0), "float32");
  return tf.div(tf.neg(tf.sum(tf.mul(picked, w))), tf.maximum(tf.sum(w), 1));
}

/**
 * Reference logits for one sequence: ids [T] → Float32Array of T × vocab (row-major, position-major). Synchronous:
 * cpu/wasm only (use {@link forwardLogitsAsync} on webgpu). The engine and evaluator compare their logits against this.
 *
 * @example
 * ```ts
 * import { applyOverrides, getPreset } from "./config.ts";
 * import { forwardLogits, TfModel } from "./model.ts";
 * const { model: cfg } = applyOverrides(getPreset("v8"), { layers: 1, dim: 16, heads: 2, ffn: 32, vocab: 20 });
 * const m = TfModel.init(cfg, 1);
 * const logits = forwardLogits(m, [1, 5, 7]); // length 3 * 20
 * ```
 */
export function forwardLogits(model: TfModel, ids: ArrayLike<number>): Float32Array {
  return tf.tidy(() => {
    const t = tf.tensor2d(Int32Array.from(ids), [1, ids.length], "int32");
    return model.apply(t).dataSync() as Float32Array;
  });
}

/**
 * {@link forwardLogits} with an asynchronous read-back: works on every backend, webgpu included (tfjs-webgpu
 * cannot read synchronously under Deno).
 *
 * @example
 * ```ts
 * import { applyOverrides, getPreset } from "./config.ts";
 * import { forwardLogitsAsync, TfModel } from "./model.ts";
 * const { model: cfg } = applyOverrides(getPreset("v8"), { layers: 1, dim: 16, heads: 2, ffn: 32, vocab: 20 });
 * const logits = await forwardLogitsAsync(TfModel.init(cfg, 1), [1, 5, 7]);
 * ```
 */
export async function forwardLogitsAsync(model: TfModel, ids: ArrayLike<number>): Promise<Float32Array> {
  const out = tf.tidy(() => model.apply(tf.tensor2d(Int32Array.from(ids), [1, ids.length], "int32")));
  const data = (await out.data()) as Float32Array;
  out.dispose();
  return data;
}
