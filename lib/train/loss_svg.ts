/**
 * A dependency-free SVG loss curve: training loss per step (thin, with a moving average) and validation loss per
 * epoch (dots), on shared axes.
 *
 * @module
 */
import { esc } from "../util/svg.ts";

/**
 * One point of a curve.
 *
 * @example
 * ```ts
 * import { type LossPoint, lossCurveSvg } from "./loss_svg.ts";
 * const train: LossPoint[] = [5.1, 4.3, 3.9, 3.7].map((loss, step) => ({ step, loss }));
 * const svg = lossCurveSvg(train, [{ step: 3, loss: 3.8 }]);
 * ```
 */
export interface LossPoint {
  /** Optimizer steps taken in total. */
  step: number;
  /** The loss. */
  loss: number;
}

/**
 * Renders the curves as an SVG document (640 × 360).
 *
 * @example
 * ```ts
 * import { lossCurveSvg } from "./loss_svg.ts";
 * const svg = lossCurveSvg([{ step: 0, loss: 5 }, { step: 1, loss: 4 }], [{ step: 1, loss: 4.2 }], "run");
 * ```
 */
export function lossCurveSvg(train: LossPoint[], val: LossPoint[], title = "loss"): string {
  const W = 640, H = 360, L = 56, R = 16, T = 28, B = 36;
  const all = [...train, ...val].filter((p) => Number.isFinite(p.loss));
  const maxStep = Math.max(1, ...all.map((p) => p.step));
  const lo = all.length ? Math.min(...all.map((p) => p.loss)) : 0;
  const hi = all.length ? Math.max(...all.map((p) => p.loss)) : 1;
  const span = hi - lo || 1;
  const x = (s: number) => L + ((W - L - R) * s) / maxStep;
  const y = (l: number) => T + (H - T - B) * (1 - (l - lo) / span);
  const k = Math.max(1, Math.round(train.length / 50));
  const smooth = train.map((_, i) => {
    const a = train.slice(Math.max(0, i - k + 1), i + 1);
    return { step: train[i].step, loss: a.reduce((s, p) => s + p.loss, 0) / a.length };
  });
  const path = (pts: LossPoint[]) =>
    pts.filter((p) => Number.isFinite(p.loss)).map((p, i) =>
      `${i ? "L" : "M"}${x(p.step).toFixed(1)},${y(p.loss).toFixed(1)}`
    )
      .join(" ");
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => lo + f * span);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${L}" y="18" font-size="13">${esc(title)}</text>`,
    ...ticks.map((t) =>
      `<line x1="${L}" x2="${W - R}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#eee"/>` +
      `<text x="${L - 4}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${t.toFixed(3)}</text>`
    ),
    `<text x="${(W + L) / 2}" y="${H - 8}" text-anchor="middle">step (max ${maxStep})</text>`,
    `<path d="${path(train)}" fill="none" stroke="#9ecae1" stroke-width="1"/>`,
    `<path d="${path(smooth)}" fill="none" stroke="#3182bd" stroke-width="2"/>`,
    `<path d="${path(val)}" fill="none" stroke="#e6550d" stroke-width="1.5"/>`,
    ...val.map((p) =>
      `<circle cx="${x(p.step).toFixed(1)}" cy="${y(p.loss).toFixed(1)}" r="3" fill="#e6550d"/>`
    ),
    `<text x="${
      W - R
    }" y="18" text-anchor="end"><tspan fill="#3182bd">train</tspan> <tspan fill="#e6550d">validation</tspan></text>`,
    `</svg>`,
  ].join("\n");
}
