/**
 * The bench part for classifier-free guidance's cost (lib/infer/guidance.ts): `generate()` end to end on the faces
 * model (models/default, a conditioning model) with `--style classical`, unguided and at `--guidance-scale 5`, in
 * the same run and in turns (best of each), at batch 1 and 4 on the CPU device. Guidance runs each sequence beside its
 * `_none` twin (twice the decoding work), so the ratio is the number a user weighs against what guidance buys.
 *
 * Then what `--key "A minor" --density low` costs with the model's own per-condition guidance (its
 * `generation_config.json`: key and density at 5, two sequences) and with three distinct scales (`--guidance-scale 2
 * --density-guidance-scale 3 --key-guidance-scale 5` beside `--style classical`: four sequences), against the same
 * request with every scale 1.
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
      {
        id: `decode.guidance.b${b}.keyed.off`,
        label: `generate(), --key "A minor" --density low, batch ${b}, every guidance scale 1`,
        unit: "tokens/s",
      },
      {
        id: `decode.guidance.b${b}.keyed.ratio`,
        label: `the model's key and density guidance (2 sequences) ÷ every scale 1, batch ${b}`,
        unit: "×",
      },
      {
        id: `decode.guidance.b${b}.chain.ratio`,
        label: `+ --style classical at scales 2 / 3 / 5 (4 sequences) ÷ every scale 1, batch ${b}`,
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
    const { prepareGeneration } = await import("../lib/infer/plan.ts");
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
        const k = 6 * i;
        out.push(row(specs[k], off, { note }));
        out.push(row(specs[k + 1], on, { note }));
        out.push(
          row(specs[k + 2], on / off, { note: `the cost of ${SCALE}× steering toward the asked style` }),
        );
        // per-condition guidance: the same controls, every scale 1 against the model's defaults and a chain
        const keyed = {
          model,
          batch,
          maxTokens,
          seed: 5,
          controls: { key: "A minor", density: "low" as const },
        };
        const plain = { ...keyed, guidanceScale: 1, keyGuidanceScale: 1, densityGuidanceScale: 1 };
        const chain = {
          ...keyed,
          conditions: { style: "classical" as const },
          guidanceScale: 2,
          densityGuidanceScale: 3,
          keyGuidanceScale: 5,
        };
        let base = 0, dflt = 0, four = 0;
        for (let r = 0; r < reps; r++) {
          base = Math.max(base, (await generate(plain)).tokensPerSecond);
          dflt = Math.max(dflt, (await generate(keyed)).tokensPerSecond);
          four = Math.max(four, (await generate(chain)).tokensPerSecond);
        }
        const twins = (o: Parameters<typeof prepareGeneration>[0]) =>
          prepareGeneration(o).guidance?.twins.length ?? 0;
        out.push(row(specs[k + 3], base, { note }));
        out.push(
          row(specs[k + 4], dflt / base, {
            note: `${1 + twins(keyed)} sequences, ${dflt.toFixed(0)} tokens/s`,
          }),
        );
        out.push(
          row(specs[k + 5], four / base, {
            note: `${1 + twins(chain)} sequences, ${four.toFixed(0)} tokens/s`,
          }),
        );
      }
      return out;
    } finally {
      model.dispose();
    }
  },
};
