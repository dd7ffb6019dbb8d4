/**
 * A model on the CPU device whose decoder runs the TypeScript BLAS (`fallbackBlas`, lib/cpu/blas.ts): its GEMM and
 * GEMV accumulate each dot product in float64 in the same order, so a step over several cache slots gives every
 * row the bits a step over it alone gives (OpenBLAS rounds the two differently). Tests use it to compare the CPU
 * batcher with `generate` token for token, where only the decoding logic can make them differ.
 */
import { type LoadedModel, loadModel } from "../../lib/infer/load.ts";
import { readCheckpoint } from "../../lib/model/checkpoint.ts";
import { fallbackBlas } from "../../lib/cpu/blas.ts";
import { toCpuConfig } from "../../lib/cpu/layout.ts";
import { CpuTransformer } from "../../lib/cpu/model.ts";
import { CpuDecoder } from "../../lib/cpu/decode.ts";

/** `loadModel(dir, { device: "cpu" })` with its decoder on the TypeScript BLAS. */
export async function loadExactCpuModel(dir: string): Promise<LoadedModel> {
  const model = await loadModel(dir, { device: "cpu" });
  const ck = await readCheckpoint(dir);
  if (ck.config.arch !== "transformer") throw new Error(`${dir}: expected a Transformer checkpoint`);
  const m = CpuTransformer.fromWeights(toCpuConfig(ck.config), ck.weights, fallbackBlas);
  let dec: CpuDecoder | undefined;
  return {
    ...model,
    adapter: "cpu (TypeScript BLAS)",
    cpuDecoder(batch: number) {
      if (!dec || dec.maxBatch < batch) dec = new CpuDecoder(m, { maxBatch: batch });
      return dec;
    },
  };
}
