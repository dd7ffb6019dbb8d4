/**
 * Worker side of {@link WorkerGradientHelper}: holds a model copy on its own tfjs backend and returns gradients for
 * the windows it is sent, with the weights it is sent.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import * as tf from "@tensorflow/tfjs-core";
import { type BackendChoice, selectBackend } from "../model/backend.ts";
import type { ModelConfig } from "../model/config.ts";
import { TfModel } from "../model/model.ts";
import { accumulateGradients } from "./step.ts";

let model: TfModel | null = null;

self.onmessage = async (e: MessageEvent) => {
  const m = e.data;
  try {
    if (m.type === "init") {
      await selectBackend(m.backend as BackendChoice);
      const cfg = m.model as ModelConfig;
      model = TfModel.init(cfg, 0);
      self.postMessage({ type: "ready" });
    } else if (m.type === "grads") {
      if (!model) throw new Error("worker: grads before init");
      model.setWeights(m.weights);
      const { grads, loss } = accumulateGradients(
        model,
        m.windows,
        m.rows,
        m.micro,
        m.totalTargets,
        m.batchRows,
      );
      const out: Record<string, Float32Array> = {};
      // copies with their own buffers (never a view of the wasm heap, which must not be transferred)
      for (const [k, g] of Object.entries(grads)) out[k] = ((await g.data()) as Float32Array).slice();
      const l = (await loss.data())[0];
      tf.dispose([loss, ...Object.values(grads)]);
      self.postMessage(
        { type: "grads", grads: out, loss: l },
        Object.values(out).map((a) => a.buffer as ArrayBuffer),
      );
    } else if (m.type === "close") {
      model?.dispose();
      self.close();
    }
  } catch (err) {
    self.postMessage({ type: "error", message: (err as Error).message });
  }
};
