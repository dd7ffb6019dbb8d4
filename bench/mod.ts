/**
 * The bench: `runBench` (what `deno task bench` runs), its parts, result tables and ratios, the PyTorch peer
 * runner, and random checkpoints.
 *
 * @example
 * ```ts
 * import { computeRatios } from "./mod.ts";
 * const [r] = computeRatios(
 *   [{ id: "a", section: "decode", label: "A", value: 60, unit: "tokens/s" }, { id: "b", section: "decode", label: "B", value: 30, unit: "tokens/s" }],
 *   [{ label: "A ÷ B", num: "a", den: "b" }],
 * );
 * r.value; // 2
 * ```
 *
 * @module
 */
export {
  type BenchOptions,
  type BenchReport,
  formatReport,
  HEADLINE_RATIOS,
  type MachineInfo,
  runBench,
} from "./run.ts";
export { BENCH_PARTS, type BenchContext, type BenchPart } from "./parts.ts";
export {
  type BenchResult,
  computeRatios,
  formatNumber,
  formatTable,
  type Ratio,
  type RatioSpec,
  ratiosTable,
  resultsTable,
  slug,
} from "../lib/util/table.ts";
export { decodeLimit, measureCopyBandwidth } from "./bandwidth.ts";
export { runTorchPeer, TORCH_INSTALL_HINT, torchAvailable, torchLogits } from "./torch_peer.ts";
export { benchModelConfig, writeRandomCheckpoint } from "./random_checkpoint.ts";
