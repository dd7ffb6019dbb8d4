/**
 * The logits function every NLL of `deno task eval` runs on, built once per checkpoint: the WebGPU engine on a real
 * GPU, the CPU backend (lib/cpu: BLAS GEMMs over a window, KV cache reset per window) where a BLAS loads, tfjs
 * otherwise (and always for LSTMs), or the plain-TS reference.
 *
 * @module
 */
import type { Checkpoint } from "../model/checkpoint.ts";
import type { LogitsFn } from "./nll.ts";
import { trainedContext } from "../model/config.ts";

export { trainedContext };

/**
 * Which forward computes the model's logits for NLL: `auto` = the WebGPU engine on a real GPU, else the CPU backend
 * when a BLAS loads, else tfjs (and always tfjs for LSTMs).
 *
 * @example
 * ```ts ignore
 * import { evaluate } from "./evaluate.ts";
 * // the slow plain-TS forward, as an independent check of the engine's NLL
 * const opts = { modelDir: "models/default", dataDir: "data/prepared/piano", samples: 0 };
 * const r = await evaluate({ ...opts, backend: "reference" });
 * ```
 */
export type EvalBackend = "auto" | "engine" | "cpu" | "tfjs" | "reference";

/**
 * A logits function for NLL, with its vocabulary, context, name and disposal.
 *
 * @example
 * ```ts ignore
 * import { makeLogits } from "./logits.ts";
 * import { readCheckpoint } from "../model/checkpoint.ts";
 * const lm = await makeLogits(await readCheckpoint("models/default"), "auto");
 * const rows = await lm.fn([1, 5, 9]); // 3 × lm.vocab logits
 * lm.dispose();
 * ```
 */
export interface Logits {
  /** Logits of every position of a window (length ≤ `context`). */
  fn: LogitsFn;
  /** Row width. */
  vocab: number;
  /** Longest window. */
  context: number;
  /** Which forward (`engine (…)`, `cpu (…)`, `tfjs …`, `plain-TS reference`). */
  name: string;
  /** Frees its buffers. */
  dispose: () => void;
}

/**
 * Builds the logits function of a checkpoint on `backend` (see {@link EvalBackend}).
 *
 * @example
 * ```ts ignore
 * import { makeLogits } from "./logits.ts";
 * import { readCheckpoint } from "../model/checkpoint.ts";
 * const lm = await makeLogits(await readCheckpoint("models/default"), "reference");
 * console.log(lm.name, lm.context);
 * ```
 */
export async function makeLogits(ck: Checkpoint, backend: EvalBackend): Promise<Logits> {
  // auto: the WebGPU engine on a real GPU; without one, the CPU backend's GEMMs when a BLAS loads (tfjs-wasm prefills
  // ≈ 6× faster than the engine on a software adapter: 512 tokens of a 6-layer d384 model, 1.3 s vs 7.3 s on
  // llvmpipe), and LSTMs only run on tfjs
  const arch = ck.config.arch;
  let choice = backend;
  if (choice === "auto") {
    const { hasRealGpu } = await import("../model/backend.ts");
    if (arch !== "transformer") choice = "tfjs";
    else if (await hasRealGpu()) choice = "engine";
    else {
      const { loadBlas } = await import("../cpu/blas.ts");
      choice = loadBlas().blas ? "cpu" : "tfjs";
    }
  }
  if (choice !== "tfjs" && arch !== "transformer") {
    throw new Error(`--backend ${choice} runs Transformers only`);
  }
  if (choice === "engine") {
    const { engineModel } = await import("../infer/model_loader.ts");
    const { Engine } = await import("../infer/engine.ts");
    const { config, weights } = engineModel(ck);
    const engine = await Engine.create(config, weights, { maxBatch: 1 });
    return {
      fn: (ids) => engine.forward([...ids], { allRows: true }),
      vocab: config.vocabSize,
      context: trainedContext(ck.config),
      name: `engine (${engine.adapter})`,
      dispose: () => engine.dispose(),
    };
  }
  if (choice === "cpu") {
    const { loadBlas, getBlas } = await import("../cpu/blas.ts");
    const { toCpuConfig } = await import("../cpu/layout.ts");
    const { CpuTransformer } = await import("../cpu/model.ts");
    const { CpuDecoder } = await import("../cpu/decode.ts");
    if (ck.config.arch !== "transformer") throw new Error("--backend cpu runs Transformers only");
    const { blas: found } = loadBlas();
    const m = CpuTransformer.fromWeights(toCpuConfig(ck.config), ck.weights, found ?? getBlas());
    const dec = new CpuDecoder(m, { maxBatch: 1 });
    const V = ck.config.vocabSize;
    return {
      fn: (ids) => {
        dec.reset(0);
        return dec.prefill(ids, { seq: 0, allRows: true }).slice(0, ids.length * V);
      },
      vocab: V,
      context: trainedContext(ck.config),
      name: `cpu (${found ? found.name : "TypeScript fallback, no BLAS"})`,
      dispose: () => dec.dispose(),
    };
  }
  if (choice === "reference") {
    const { engineModel } = await import("../infer/model_loader.ts");
    const { referenceLogits } = await import("../infer/reference.ts");
    const { config, weights } = engineModel(ck);
    return {
      fn: (ids) => referenceLogits(config, weights, ids),
      vocab: config.vocabSize,
      context: trainedContext(ck.config),
      name: "plain-TS reference",
      dispose: () => {},
    };
  }
  const { selectBackend } = await import("../model/backend.ts");
  const { TfModel, forwardLogits } = await import("../model/model.ts");
  const name = await selectBackend("auto");
  const model = TfModel.fromCheckpoint(ck);
  const c = model.config;
  return {
    fn: (ids) => forwardLogits(model, ids),
    vocab: c.vocabSize,
    context: trainedContext(c),
    name: `tfjs ${name}`,
    dispose: () => model.dispose(),
  };
}
