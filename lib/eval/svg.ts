/**
 * The SVG that `deno task eval` writes: paired bars per metric (samples vs reference corpus, each metric scaled to
 * the larger of the two, raw values printed) and the pitch-class histograms of both. Plain SVG text, no library.
 *
 * @module
 */
import { PITCH_CLASS_NAMES } from "../score.ts";
import { esc } from "../util/svg.ts";
import { METRIC_NAMES, type Metrics } from "./metrics.ts";

const COLORS = { sample: "#d9622b", reference: "#3a6ea5" };

function fmt(v: number): string {
  if (!Number.isFinite(v)) return "—";
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(3);
}

/**
 * Inputs of {@link evalSvg}.
 *
 * @example
 * ```ts
 * import { evalSvg } from "./svg.ts";
 * import { computeMetrics, pitchClassDistribution } from "./metrics.ts";
 * import { emptyScore } from "../score.ts";
 * const a = emptyScore(480), b = emptyScore(480);
 * a.notes.push({ pitch: 60, velocity: 80, start: 0, duration: 480 });
 * b.notes.push({ pitch: 67, velocity: 80, start: 0, duration: 480 });
 * const svg = evalSvg({
 *   title: "samples vs reference",
 *   sample: computeMetrics(a),
 *   reference: computeMetrics(b),
 *   samplePitchClasses: pitchClassDistribution([a]),
 *   referencePitchClasses: pitchClassDistribution([b]),
 *   sampleLabel: "v8, T 0.8",
 * });
 * ```
 */
export interface EvalSvgInput {
  /** The heading line (plain text; escaped). */
  title: string;
  /** Mean metrics of the generated samples. */
  sample: Metrics;
  /** Mean metrics of the reference corpus. */
  reference: Metrics;
  /** The samples' pooled pitch-class distribution: 12 shares, C first. */
  samplePitchClasses: readonly number[];
  /** The reference corpus' pooled pitch-class distribution: 12 shares, C first. */
  referencePitchClasses: readonly number[];
  /** Legend of the sample bars (default `samples`). */
  sampleLabel?: string;
  /** Legend of the reference bars (default `reference corpus`). */
  referenceLabel?: string;
}

/**
 * Renders the eval chart as an SVG document.
 *
 * @example
 * ```ts
 * import { evalSvg } from "./svg.ts";
 * import { computeMetrics } from "./metrics.ts";
 * import { emptyScore } from "../score.ts";
 * const m = computeMetrics(emptyScore(480));
 * const svg = evalSvg({ title: "eval", sample: m, reference: m, samplePitchClasses: new Array(12).fill(0), referencePitchClasses: new Array(12).fill(0) });
 * svg.startsWith("<svg"); // true
 * ```
 */
export function evalSvg(d: EvalSvgInput): string {
  const W = 860, rowH = 26, top = 60, labelW = 170, barW = 440;
  const names = METRIC_NAMES;
  const metricsH = names.length * rowH;
  const histTop = top + metricsH + 70, histH = 180;
  const H = histTop + histH + 60;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="20" y="26" font-size="16" font-weight="bold">${esc(d.title)}</text>`,
  );
  const sl = d.sampleLabel ?? "samples", rl = d.referenceLabel ?? "reference corpus";
  out.push(
    `<rect x="${W - 330}" y="14" width="12" height="12" fill="${COLORS.sample}"/>`,
    `<text x="${W - 314}" y="25">${esc(sl)}</text>`,
    `<rect x="${W - 180}" y="14" width="12" height="12" fill="${COLORS.reference}"/>`,
    `<text x="${W - 164}" y="25">${esc(rl)}</text>`,
    `<text x="20" y="${
      top - 12
    }" font-weight="bold">Metrics (bars scaled per metric to the larger value)</text>`,
  );
  names.forEach((k, i) => {
    const y = top + i * rowH;
    const s = d.sample[k], r = d.reference[k];
    const max = Math.max(Number.isFinite(s) ? Math.abs(s) : 0, Number.isFinite(r) ? Math.abs(r) : 0) || 1;
    const len = (v: number) => (Number.isFinite(v) ? (Math.abs(v) / max) * barW : 0);
    out.push(
      `<text x="20" y="${y + 15}">${esc(k)}</text>`,
      `<rect x="${labelW}" y="${y + 2}" width="${len(s).toFixed(1)}" height="10" fill="${COLORS.sample}"/>`,
      `<rect x="${labelW}" y="${y + 12}" width="${
        len(r).toFixed(1)
      }" height="10" fill="${COLORS.reference}"/>`,
      `<text x="${labelW + barW + 10}" y="${y + 11}">${fmt(s)}</text>`,
      `<text x="${labelW + barW + 10}" y="${y + 22}">${fmt(r)}</text>`,
    );
  });
  out.push(
    `<text x="20" y="${histTop - 20}" font-weight="bold">Pitch-class distribution (share of notes)</text>`,
  );
  const maxShare = Math.max(...d.samplePitchClasses, ...d.referencePitchClasses, 1e-9);
  const groupW = (W - 80) / 12;
  const base = histTop + histH;
  out.push(`<line x1="40" y1="${base}" x2="${W - 40}" y2="${base}" stroke="#444"/>`);
  for (let pc = 0; pc < 12; pc++) {
    const x = 40 + pc * groupW + groupW * 0.15;
    const bw = groupW * 0.35;
    const hs = (d.samplePitchClasses[pc] ?? 0) / maxShare * histH;
    const hr = (d.referencePitchClasses[pc] ?? 0) / maxShare * histH;
    out.push(
      `<rect x="${x.toFixed(1)}" y="${(base - hs).toFixed(1)}" width="${bw.toFixed(1)}" height="${
        hs.toFixed(1)
      }" fill="${COLORS.sample}"/>`,
      `<rect x="${(x + bw).toFixed(1)}" y="${(base - hr).toFixed(1)}" width="${bw.toFixed(1)}" height="${
        hr.toFixed(1)
      }" fill="${COLORS.reference}"/>`,
      `<text x="${(x + bw).toFixed(1)}" y="${base + 16}" text-anchor="middle">${
        PITCH_CLASS_NAMES[pc]
      }</text>`,
    );
  }
  out.push(
    `<text x="40" y="${histTop - 4}" fill="#666">max ${(maxShare * 100).toFixed(1)}%</text>`,
    `</svg>`,
  );
  return out.join("\n") + "\n";
}
