/**
 * The bench part for etude's own WGSL training kernels (`--backend gpu`, lib/gpu): v8 training tokens/s at
 * 32 × 256 against PyTorch CUDA eager fp32 on the same GPU (the goal: ≥ 1.0×), at the spec shape 8 × 256
 * beside the tfjs rows, and at the small shape 1 × 64 — the only one a software adapter runs (a v8 step at 8 × 256
 * takes minutes on llvmpipe); plus the dispatches and readbacks one step costs.
 *
 * @module
 */
import type { BenchResult } from "../lib/util/table.ts";
import type { BenchContext, BenchPart, RowSpec } from "./parts.ts";

const SECTION = "train";
const B32 = { batch: 32, seq: 256 };
const SPEC = { batch: 8, seq: 256 };
const SMALL = { batch: 1, seq: 64 };

function row(spec: RowSpec, value: number | null, extra: Partial<BenchResult> = {}): BenchResult {
  return { id: spec.id, section: SECTION, label: spec.label, unit: spec.unit, value, ...extra };
}

const hasCuda = (ctx: BenchContext) => ctx.torch.ok && ctx.torchVariants.some((v) => v.device === "cuda");

/**
 * `train.gpu`: see the module doc.
 *
 * @example
 * ```ts ignore
 * import { trainGpu } from "./gpu_train_part.ts";
 * const rows = trainGpu.rows(ctx).map((r) => r.id);
 * ```
 */
export const trainGpu: BenchPart = {
  id: "train.gpu",
  section: SECTION,
  requires: [
    "lib/gpu/train.ts",
    "lib/gpu/model.ts",
    "lib/gpu/ops.ts",
    "lib/gpu/dispatch.ts",
    "bench/gpu_train_bench.ts",
  ],
  rows: (ctx) => [
    {
      id: "train.gpu.b32",
      label: "etude WGSL kernels (--backend gpu), v8 seq 256 × batch 32",
      unit: "tokens/s",
    },
    ...(hasCuda(ctx)
      ? [
        {
          id: "train.gpu.torch_cuda.b32",
          label: "PyTorch CUDA eager fp32, seq 256 × batch 32",
          unit: "tokens/s",
        },
        {
          id: "train.gpu.vs_torch.b32",
          label: "etude WGSL ÷ PyTorch CUDA at 32 × 256, same GPU (goal ≥ 1.0)",
          unit: "×",
        },
      ]
      : []),
    { id: "train.gpu", label: "etude WGSL kernels (--backend gpu), seq 256 × batch 8", unit: "tokens/s" },
    {
      id: "train.gpu.small",
      label: "etude WGSL kernels (--backend gpu), seq 64 × batch 1",
      unit: "tokens/s",
    },
    {
      id: "train.gpu.dispatches",
      label: "WGSL training step: dispatches per layer (goal ≤ 40)",
      unit: "dispatches",
    },
    {
      id: "train.gpu.readbacks",
      label: "WGSL training step: readbacks in a step that does not log (goal 0)",
      unit: "readbacks",
    },
  ],
  timeoutS: (ctx) => (ctx.realGpu ? 600 : ctx.quick ? 240 : 480),
  async run(ctx) {
    const specs = Object.fromEntries(this.rows(ctx).map((s) => [s.id, s]));
    const { gpuTrainThroughput } = await import("./gpu_train_bench.ts");
    const out: BenchResult[] = [];
    let counts: { dispatchesPerStep: number; layers: number; readbacksQuietStep: number } | undefined;
    let wgsl32: number | null = null;
    const measure = async (spec: RowSpec, shape: { batch: number; seq: number }, steps: number) => {
      const r = await gpuTrainThroughput(ctx.ckptDir, { ...shape, steps });
      counts = r;
      out.push(row(spec, r.tokensPerSecond, {
        note: `${r.adapter}, ${r.secondsPerStep.toFixed(2)} s/step over ${steps} steps after a ${
          r.warmupSeconds.toFixed(1)
        } s warm-up step, 1 readback`,
      }));
      return r.tokensPerSecond;
    };
    const noGpu = `software adapter (${ctx.adapter}): a v8 step at 256 × 8 takes minutes there; see 64 × 1`;
    if (ctx.realGpu) wgsl32 = await measure(specs["train.gpu.b32"], B32, ctx.quick ? 3 : 10);
    else out.push(row(specs["train.gpu.b32"], null, { skipped: noGpu }));
    if (hasCuda(ctx)) {
      const { runTorchPeer } = await import("./torch_peer.ts");
      const steps = ctx.quick ? 3 : 10;
      const args = [
        "train",
        "--model",
        ctx.ckptDir,
        "--batch",
        "32",
        "--seq",
        "256",
        "--steps",
        String(steps),
      ];
      const r = await runTorchPeer([...args, "--device", "cuda"]);
      const torch = Number(r.tokens_per_s);
      out.push(row(specs["train.gpu.torch_cuda.b32"], torch, { note: `${steps} steps, torch ${r.torch}` }));
      const ratio = wgsl32 === null ? null : wgsl32 / torch;
      out.push(
        row(specs["train.gpu.vs_torch.b32"], ratio, {
          ...(ratio === null ? { skipped: "no WGSL measurement on this adapter" } : {
            note: ratio >= 1 ? "goal met" : "below the goal of 1.0×",
          }),
        }),
      );
    }
    if (ctx.realGpu) await measure(specs["train.gpu"], SPEC, ctx.quick ? 3 : 10);
    else out.push(row(specs["train.gpu"], null, { skipped: noGpu }));
    await measure(specs["train.gpu.small"], SMALL, ctx.realGpu ? 20 : ctx.quick ? 2 : 3);
    const c = counts!;
    out.push(row(specs["train.gpu.dispatches"], c.dispatchesPerStep / c.layers, {
      note: `${c.dispatchesPerStep} per step, ${c.layers} layers, one command buffer`,
    }));
    out.push(
      row(specs["train.gpu.readbacks"], c.readbacksQuietStep, {
        note: "the loss is read back every N steps",
      }),
    );
    return out;
  },
};
