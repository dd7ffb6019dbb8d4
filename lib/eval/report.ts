/**
 * Writing an eval report to disk: `eval.json` (the report as is) and, beside it, `eval.svg` (the chart of
 * lib/eval/svg.ts: metrics of the samples against the reference corpus, and both pitch-class histograms).
 *
 * @module
 */
import { writeFileAtomic } from "../util/atomic.ts";
import type { EvalReport } from "./evaluate.ts";
import type { Metrics } from "./metrics.ts";
import { evalSvg } from "./svg.ts";

/**
 * The eval chart of a report, or undefined when it has neither samples nor a reference corpus (a side that is
 * missing is drawn empty).
 *
 * @example
 * ```ts ignore
 * import { evaluate } from "./evaluate.ts";
 * import { evalReportSvg } from "./report.ts";
 * const report = await evaluate({ modelDir: "models/default", dataDir: "data/prepared/piano" });
 * const svg = evalReportSvg(report, "etude eval: models/default");
 * ```
 */
export function evalReportSvg(report: EvalReport, title: string): string | undefined {
  const s = "skipped" in report.samples ? undefined : report.samples;
  const r = "skipped" in report.reference ? undefined : report.reference;
  if (!s && !r) return undefined;
  const nan = Object.fromEntries(Object.keys((s ?? r)!.metrics).map((k) => [k, NaN])) as unknown as Metrics;
  return evalSvg({
    title,
    sample: s?.metrics ?? nan,
    reference: r?.metrics ?? nan,
    samplePitchClasses: s?.pitchClasses ?? new Array(12).fill(0),
    referencePitchClasses: r?.pitchClasses ?? new Array(12).fill(0),
  });
}

/**
 * Writes `report` to `out` (JSON) and its chart to `out` with `.svg` for `.json`; returns the paths written
 * (`svg` undefined when there was nothing to draw, see {@link evalReportSvg}).
 *
 * @example
 * ```ts ignore
 * import { evaluate } from "./evaluate.ts";
 * import { writeEvalReport } from "./report.ts";
 * const { json, svg } = await writeEvalReport(await evaluate({ modelDir: "models/default" }), "eval.json");
 * ```
 */
export async function writeEvalReport(
  report: EvalReport,
  out: string,
  title = `etude eval: ${report.model.dir}`,
): Promise<{ json: string; svg?: string }> {
  await writeFileAtomic(out, JSON.stringify(report, null, 2) + "\n");
  const chart = evalReportSvg(report, title);
  if (chart === undefined) return { json: out };
  const svg = out.replace(/\.json$/i, "") + ".svg";
  await writeFileAtomic(svg, chart);
  return { json: out, svg };
}
