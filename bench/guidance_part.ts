/**
 * The bench part for classifier-free guidance's cost (lib/infer/guidance.ts): `generate()` end to end on the faces
 * model (models/default, a conditioning model) with `--style classical`, unguided and at `--guidance-scale 5`, in
 * the same run and in turns (best of each), at batch 1 and 4 on the CPU device. Guidance runs each sequence beside its
 * `_none` twin (twice the decoding work), so the ratio is the number a user weighs against what guidance buys.
 *
 * @module
 */
import type { BenchResult } from "../lib/util/table.ts";
import type { BenchContext, BenchPart, RowSpec } from "./parts.ts";

const SECTION = "decode";
const SCALE = 5;
const BATCHES = [1, 4] as const;

function row(spec: RowSpec, value: number | null, extra: Partial<BenchResult> = {}): BenchResult {
  return { id: spec.id, section: SECTION, label: spec.label, unit: spec.unit, value, ...extra };
}

/** Tokens each sequence samples per measurement. */
const tokensOf = (ctx: BenchContext) => (ctx.quick ? 48 : 256);

/**
 * `decode.guidance`: see the module doc.
 *
 * @example
 * ```ts ignore
 * import { decodeGuidance } from "./guidance_part.ts";
 * decodeGuidance.rows(ctx).map((r) => r.id); // decode.guidance.b1.off, decode.guidance.b1.g5, decode.guidance.b1.ratio, …
 * ```
 */
export const decodeGuidance: BenchPart = {
  id: "decode.guidance",
  section: SECTION,
  requires: ["lib/infer/guidance.ts", "lib/infer/generate.ts", "lib/infer/load.ts"],
  rows: () =>
    BATCHES.flatMap((b) => [
      {
        id: `decode.guidance.b${b}.off`,
        label: `generate(), faces model, --style classical, CPU device, batch ${b}, unguided`,
        unit: "tokens/s",
      },
      {
        id: `decode.guidance.b${b}.g${SCALE}`,
        label:
          `generate(), faces model, --style classical, CPU device, batch ${b}, --guidance-scale ${SCALE}`,
        unit: "tokens/s",
      },
      {
        id: `decode.guidance.b${b}.ratio`,
        label: `guided ÷ unguided tokens/s, batch ${b} (guidance decodes a _none twin beside each sequence)`,
        unit: "×",
      },
    ]),
  timeoutS: (ctx) => (ctx.quick ? 120 : 420),
  async run(ctx) {
    const specs = this.rows(ctx);
    if (!ctx.facesModelsDir || !ctx.facesModelName) {
      return specs.map((s) => row(s, null, { skipped: "no faces model (models/default) to measure" }));
    }
    const dir = `${ctx.facesModelsDir}/${ctx.facesModelName}`;
    const { loadBlas } = await import("../lib/cpu/blas.ts");
    const { blas, reason } = loadBlas();
    if (!blas) return specs.map((s) => row(s, null, { skipped: reason }));
    const { loadModel } = await import("../lib/infer/load.ts");
    const { generate } = await import("../lib/infer/generate.ts");
    const { conditioningIds } = await import("../lib/data/conditioning.ts");
    const model = await loadModel(dir, { device: "cpu" });
    try {
      if (!conditioningIds(model.tokenizer.vocab)) {
        return specs.map((s) =>
          row(s, null, { skipped: `${dir} has no condition tokens (guidance needs a conditioning model)` })
        );
      }
      const maxTokens = tokensOf(ctx), reps = ctx.quick ? 1 : 3;
      const out: BenchResult[] = [];
      // warm-up (compiles the JIT paths and touches the weights and the KV slots), not measured
      const warm = { model, maxTokens: 16, seed: 1, conditions: { style: "classical" as const } };
      await generate(warm);
      await generate({ ...warm, guidanceScale: SCALE });
      for (const [i, batch] of BATCHES.entries()) {
        const opts = { model, batch, maxTokens, seed: 5, conditions: { style: "classical" as const } };
        let off = 0, on = 0;
        // in turns, best of each: a shared machine's load drifts over both alike
        for (let r = 0; r < reps; r++) {
          off = Math.max(off, (await generate(opts)).tokensPerSecond);
          on = Math.max(on, (await generate({ ...opts, guidanceScale: SCALE })).tokensPerSecond);
        }
        const note = `${maxTokens} tokens × ${batch}, best of ${reps}, ${blas.getThreads()} BLAS threads`;
        out.push(row(specs[3 * i], off, { note }));
        out.push(row(specs[3 * i + 1], on, { note }));
        out.push(
          row(specs[3 * i + 2], on / off, { note: `the cost of ${SCALE}× steering toward the asked style` }),
        );
      }
      return out;
    } finally {
      model.dispose();
    }
  },
};
