/**
 * Bench results, the ratios that are the bench's headline, and the printed tables.
 *
 * Every measurement is a {@link BenchResult} keyed by `id` (e.g. `decode.engine.b1`); a part that could not run is
 * still a row, with `value: null` and `skipped` saying why. Ratios are computed from ids after the run, so a skipped
 * part makes its ratios skipped too (with the reason) instead of silently vanishing.
 *
 * @module
 */

/** One measurement (or one visibly skipped part). */
export interface BenchResult {
  /** Stable key, e.g. `decode.torch.t1.b1`. */
  id: string;
  /** Section, e.g. `decode`, `train`, `tokenizer`. */
  section: string;
  /** Human label, e.g. `PyTorch KV cache, batch 1, OPENBLAS 1 thread`. */
  label: string;
  /** The measured value, or null when the part did not run. */
  value: number | null;
  /** Unit, e.g. `tokens/s`, `GB/s`, `s`. */
  unit: string;
  /** Why the part did not run (present iff value is null). */
  skipped?: string;
  /** Extra facts (adapter, backend, sizes, max abs diff…). */
  note?: string;
}

/** A ratio of two results: `num ÷ den`. */
export interface RatioSpec {
  /** What the ratio says, e.g. `engine ÷ PyTorch`. */
  label: string;
  /** Result id of the numerator. */
  num: string;
  /** Result id of the denominator. */
  den: string;
  /** What the project aims for, e.g. `≥ 1.0`. */
  goal?: string;
}

/** A computed ratio (null with the reason when either side is missing). */
export interface Ratio extends RatioSpec {
  /** `num ÷ den`, or null when either side is missing. */
  value: number | null;
  /** Why the ratio could not be computed. */
  skipped?: string;
}

/**
 * Computes ratios from results by id; a missing or skipped side gives `value: null` with the reason.
 *
 * @example
 * ```ts
 * import { computeRatios } from "./table.ts";
 * const rs = computeRatios(
 *   [{ id: "a", section: "s", label: "A", value: 30, unit: "x" }, { id: "b", section: "s", label: "B", value: 10, unit: "x" }],
 *   [{ label: "A vs B", num: "a", den: "b" }],
 * );
 * rs[0].value; // 3
 * ```
 */
export function computeRatios(results: readonly BenchResult[], specs: readonly RatioSpec[]): Ratio[] {
  const byId = new Map(results.map((r) => [r.id, r]));
  return specs.map((s) => {
    const n = byId.get(s.num), d = byId.get(s.den);
    const why = (id: string, r: BenchResult | undefined) =>
      r === undefined
        ? `${id} not measured`
        : r.value === null
        ? `${id} skipped: ${r.skipped ?? "?"}`
        : undefined;
    const reason = why(s.num, n) ?? why(s.den, d);
    if (reason) return { ...s, value: null, skipped: reason };
    if (d!.value === 0) return { ...s, value: null, skipped: `${s.den} is 0` };
    return { ...s, value: n!.value! / d!.value! };
  });
}

/**
 * Formats a number with 3 significant digits (thousands grouped above 1,000; `—` for null/NaN).
 *
 * @example
 * ```ts
 * import { formatNumber } from "./table.ts";
 * formatNumber(12345.6); // "12,346"
 * formatNumber(0.012345); // "0.0123"
 * formatNumber(0.0000176); // "1.76e-5"
 * ```
 */
export function formatNumber(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "—";
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString("en-US");
  if (a === 0) return "0";
  if (a < 1e-3) return v.toExponential(2);
  return Number(v.toPrecision(3)).toString();
}

/**
 * Aligns rows into a plain-text table (first row = header, separated by a rule); numeric-looking cells are
 * right-aligned.
 *
 * @example
 * ```ts
 * import { formatTable } from "./table.ts";
 * console.log(formatTable([["what", "tokens/s"], ["engine", "61.2"]]));
 * ```
 */
export function formatTable(rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return "";
  const cols = Math.max(...rows.map((r) => r.length));
  const width = Array.from(
    { length: cols },
    (_, c) => Math.max(...rows.map((r) => [...(r[c] ?? "")].length)),
  );
  const numeric = /^[−\-+]?[\d,.]+(e[−\-+]?\d+)?[×%]?$|^—$/;
  const line = (r: readonly string[]) =>
    r.map((cell, c) => {
      const pad = " ".repeat(width[c] - [...cell].length);
      return numeric.test(cell) ? pad + cell : cell + pad;
    }).join("  ").trimEnd();
  const [head, ...body] = rows;
  return [line(head), width.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

/**
 * The results table: section, what, value, unit, and the note or the skip reason.
 *
 * @example
 * ```ts
 * import { resultsTable } from "./table.ts";
 * console.log(resultsTable([{ id: "bw", section: "memory", label: "copy 256 MB", value: 30.1, unit: "GB/s" }]));
 * ```
 */
export function resultsTable(results: readonly BenchResult[]): string {
  return formatTable([
    ["section", "what", "value", "unit", "note"],
    ...results.map((r) => [
      r.section,
      r.label,
      r.value === null ? "—" : formatNumber(r.value),
      r.unit,
      r.value === null ? `SKIPPED: ${r.skipped ?? "?"}` : r.note ?? "",
    ]),
  ]);
}

/**
 * The headline table: each ratio as `1.23×`, its goal, and the skip reason when it could not be computed.
 *
 * @example
 * ```ts
 * import { ratiosTable } from "./table.ts";
 * console.log(ratiosTable([{ label: "engine ÷ PyTorch", num: "a", den: "b", value: 0.5, goal: "≥ 1.0" }]));
 * ```
 */
export function ratiosTable(ratios: readonly Ratio[]): string {
  return formatTable([
    ["ratio", "value", "goal", "note"],
    ...ratios.map((r) => [
      r.label,
      r.value === null ? "—" : `${formatNumber(r.value)}×`,
      r.goal ?? "",
      r.value === null ? `SKIPPED: ${r.skipped}` : "",
    ]),
  ]);
}

/**
 * A filesystem-safe slug of an adapter / machine name (`NVIDIA H100 80GB HBM3` → `nvidia-h100-80gb-hbm3`).
 *
 * @example
 * ```ts
 * import { slug } from "./table.ts";
 * slug("llvmpipe (LLVM 15.0.6, 256 bits)"); // "llvmpipe-llvm-15-0-6-256-bits"
 * ```
 */
export function slug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60) || "unknown";
}
