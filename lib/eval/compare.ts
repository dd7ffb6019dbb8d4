/**
 * `deno task eval --model NEW --compare OLD`: two (or more) checkpoints evaluated on the same files with the same
 * settings, side by side. Each model scores with its own tokenizer, so NLL per token is each model's own, while per
 * note and per second compare them; each model's samples are set against the same reference (the `--midi` files, e.g.
 * the MAESTRO test split), metric by metric, with a "within 10 %" flag and their count; and the grammar errors of
 * the samples. The first model is the one judged: every other one is a baseline it is divided by.
 *
 * @module
 */
import { formatTable } from "../util/table.ts";
import { type EvalOptions, type EvalReport, evaluate } from "./evaluate.ts";
import { METRIC_NAMES, type Metrics } from "./metrics.ts";

/** A metric is "within" when |samples − reference| ÷ |reference| is at most this. */
export const WITHIN = 0.1;

/**
 * One model's line of the comparison.
 *
 * @example
 * ```ts ignore
 * import { compareModels } from "./compare.ts";
 * const { models } = await compareModels({ midiDir: "maestro-v3.0.0", split: "test" }, ["models/corpus6", "models/default"]);
 * console.log(models[0].nll?.perNote, models[0].within, models[0].grammarErrors);
 * ```
 */
export interface ComparedModel {
  /** The checkpoint folder. */
  dir: string;
  /** Parameters. */
  params: number;
  /** Its tokenizer (`remi-bpe, 1024 tokens`). */
  tokenizer: string;
  /** NLL on the `--midi` files (else the data's test split), or null when it was skipped. */
  nll: {
    files: number;
    tokens: number;
    notes: number;
    seconds: number;
    perToken: number;
    perNote: number;
    perSecond: number;
  } | null;
  /** Per metric, the relative difference samples vs reference (null: skipped). */
  relativeDifference: Metrics | null;
  /** Per metric, whether it is within {@link WITHIN} of the reference. */
  withinFlags: Record<keyof Metrics, boolean> | null;
  /** How many of the 9 metrics are within. */
  within: number | null;
  /** Grammar errors (type + time + dupn) of the samples drawn with the grammar mask, and without it. */
  grammarErrors: { withMask: number; withoutMask: number; tokens: number } | null;
}

/**
 * The comparison: each model's line, each full report, and the NLL ratios of the first model to the others.
 *
 * @example
 * ```ts ignore
 * import { compareModels, formatComparison } from "./compare.ts";
 * const c = await compareModels({ midiDir: "maestro-v3.0.0", split: "test", cropSeconds: 60 }, ["models/a", "models/b"]);
 * console.log(formatComparison(c));
 * ```
 */
export interface Comparison {
  /** When it ran (ISO 8601, UTC). */
  date: string;
  /** Wall-clock seconds of all evaluations. */
  seconds: number;
  /** The models, the judged one first. */
  models: ComparedModel[];
  /** Per baseline (models[1…]): the first model's NLL per note and per second divided by the baseline's. */
  ratios: { baseline: string; perNote: number; perSecond: number }[];
  /** Problems that make the comparison unfair (e.g. different files scored), empty when none. */
  warnings: string[];
  /** The full reports, in the order of `models`. */
  reports: EvalReport[];
}

function count(rate: number, tokens: number): number {
  return Math.round((rate * tokens) / 1000);
}

/**
 * A model's line of the comparison from its report.
 *
 * @example
 * ```ts ignore
 * import { evaluate } from "./evaluate.ts";
 * import { comparedModel } from "./compare.ts";
 * const line = comparedModel(await evaluate({ modelDir: "models/default", midiDir: "midi/" }));
 * ```
 */
export function comparedModel(r: EvalReport): ComparedModel {
  let nll: ComparedModel["nll"] = null;
  if (!("skipped" in r.midiNll)) {
    const m = r.midiNll.model;
    nll = {
      files: r.midiNll.pieces,
      tokens: m.tokens,
      notes: m.notes,
      seconds: m.seconds,
      perToken: m.perToken,
      perNote: m.perNote,
      perSecond: m.perSecond,
    };
  } else if (!("skipped" in r.nll) && r.nll.splits.test) {
    const t = r.nll.splits.test, m = t.model;
    nll = {
      files: t.pieces,
      tokens: m.tokens,
      notes: m.notes,
      seconds: m.seconds,
      perToken: m.perToken,
      perNote: m.perNote,
      perSecond: m.perSecond,
    };
  }
  const rd = r.relativeDifference;
  const withinFlags = rd
    ? Object.fromEntries(METRIC_NAMES.map((k) => [k, Math.abs(rd[k]) <= WITHIN])) as Record<
      keyof Metrics,
      boolean
    >
    : null;
  const se = r.syntaxErrors;
  const grammarErrors = "skipped" in se ? null : {
    withMask: count(
      se.withGrammar.typePer1k + se.withGrammar.timePer1k + se.withGrammar.dupnPer1k,
      se.withGrammar.tokens,
    ),
    withoutMask: count(
      se.withoutGrammar.typePer1k + se.withoutGrammar.timePer1k + se.withoutGrammar.dupnPer1k,
      se.withoutGrammar.tokens,
    ),
    tokens: se.withGrammar.tokens,
  };
  return {
    dir: r.model.dir,
    params: r.model.params,
    tokenizer: r.model.tokenizer,
    nll,
    relativeDifference: rd,
    withinFlags,
    within: withinFlags ? Object.values(withinFlags).filter(Boolean).length : null,
    grammarErrors,
  };
}

/**
 * The comparison of reports already made (same options, one per model): lines, ratios, fairness warnings.
 *
 * @example
 * ```ts ignore
 * import { evaluate } from "./evaluate.ts";
 * import { compareReports } from "./compare.ts";
 * const o = { midiDir: "midi/", samples: 4 };
 * const c = compareReports([await evaluate({ ...o, modelDir: "models/a" }), await evaluate({ ...o, modelDir: "models/b" })]);
 * ```
 */
export function compareReports(reports: EvalReport[], seconds = 0): Comparison {
  const models = reports.map(comparedModel);
  const [first, ...rest] = models;
  const ratios = rest.map((b) => ({
    baseline: b.dir,
    perNote: first.nll && b.nll ? first.nll.perNote / b.nll.perNote : NaN,
    perSecond: first.nll && b.nll ? first.nll.perSecond / b.nll.perSecond : NaN,
  }));
  const warnings: string[] = [];
  const files = reports.map((r) => (r.folder ? r.folder.files.join("\n") : ""));
  if (files.some((f) => f !== files[0])) warnings.push("the models read different files");
  const scored = models.map((m) => m.nll?.files);
  if (scored.some((n) => n !== scored[0])) {
    warnings.push(
      `NLL scored different file counts (${
        scored.join(" vs ")
      }): raise --max-tokens (0 = all) or lower --crop`,
    );
  }
  return { date: new Date().toISOString(), seconds, models, ratios, warnings, reports };
}

/**
 * Evaluates each checkpoint of `modelDirs` with the same options (one after the other, each model freed before the
 * next) and compares them ({@link compareReports}).
 *
 * @example
 * ```ts ignore
 * import { compareModels, formatComparison } from "./compare.ts";
 * const o = { midiDir: "../shared/midi-corpus/maestro-asap/maestro-v3.0.0", split: "test", cropSeconds: 60, nllMaxTokens: 0 };
 * console.log(formatComparison(await compareModels(o, ["models/corpus6/last", "models/default"])));
 * ```
 */
export async function compareModels(
  base: Omit<EvalOptions, "modelDir">,
  modelDirs: readonly string[],
): Promise<Comparison> {
  if (modelDirs.length < 2) throw new Error(`compare: expected at least 2 models, got ${modelDirs.length}`);
  const t0 = performance.now();
  const reports: EvalReport[] = [];
  for (const modelDir of modelDirs) {
    base.log?.(`== ${modelDir}`);
    reports.push(await evaluate({ ...base, modelDir }));
  }
  return compareReports(reports, (performance.now() - t0) / 1000);
}

function f(v: number | undefined | null, digits = 3): string {
  return v === undefined || v === null || !Number.isFinite(v) ? "—" : v.toFixed(digits);
}

function pct(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? "—" : `${v >= 0 ? "+" : ""}${(100 * v).toFixed(1)}%`;
}

/**
 * The printed tables of a comparison: NLL, metrics (relative difference, ✓ within 10 %), grammar errors, ratios.
 *
 * @example
 * ```ts ignore
 * import { compareModels, formatComparison } from "./compare.ts";
 * console.log(formatComparison(await compareModels({ midiDir: "midi/" }, ["models/a", "models/b"])));
 * ```
 */
export function formatComparison(c: Comparison): string {
  const names = c.models.map((m) => m.dir);
  const r0 = c.reports[0];
  const lines = [
    `etude eval --compare ${c.date.slice(0, 16).replace("T", " ")} UTC, ${c.seconds.toFixed(0)} s`,
    `files: ${
      r0.folder
        ? `${r0.folder.files.length} of ${r0.folder.found} from ${r0.folder.dir}${
          r0.folder.split ? ` (${r0.folder.split} split)` : ""
        }${r0.folder.cropSeconds ? `, first ${r0.folder.cropSeconds} s of each` : ""}`
        : r0.data?.dir ?? "none"
    }`,
    "",
    "NLL (nats; each model with its own tokenizer: per note and per second compare them)",
  ];
  const nllRows = [[
    "model",
    "params",
    "tokenizer",
    "files",
    "tokens",
    "notes",
    "per token",
    "per note",
    "per second",
  ]];
  for (const m of c.models) {
    nllRows.push([
      m.dir,
      m.params.toLocaleString("en-US"),
      m.tokenizer,
      String(m.nll?.files ?? "—"),
      String(m.nll?.tokens ?? "—"),
      String(m.nll?.notes ?? "—"),
      f(m.nll?.perToken),
      f(m.nll?.perNote),
      f(m.nll?.perSecond, 2),
    ]);
  }
  lines.push(formatTable(nllRows));
  for (const r of c.ratios) {
    lines.push(
      `${names[0]} ÷ ${r.baseline}: per note ${f(r.perNote)} (goal ≤ 0.85), per second ${f(r.perSecond)}`,
    );
  }
  lines.push("");
  const ref = c.reports.find((r) => !("skipped" in r.reference))?.reference;
  const refLine = ref && !("skipped" in ref)
    ? `${ref.pieces} pieces of ${ref.source}, ${f(ref.seconds, 1)} s each`
    : "—";
  lines.push(`Sample metrics vs the reference (${refLine}): rel. diff, ✓ = within ${WITHIN * 100}%`);
  const head = ["metric", "reference", ...names];
  const rows = [head];
  for (const k of METRIC_NAMES) {
    const refV = ref && !("skipped" in ref) ? ref.metrics[k] : NaN;
    rows.push([
      k,
      f(refV),
      ...c.models.map((m, i) => {
        const s = c.reports[i].samples;
        const v = "skipped" in s ? NaN : s.metrics[k];
        return `${f(v)} ${pct(m.relativeDifference?.[k])}${m.withinFlags?.[k] ? " ✓" : ""}`;
      }),
    ]);
  }
  rows.push([
    "within 10%",
    "",
    ...c.models.map((m) => (m.within === null ? "—" : `${m.within} of 9 (goal ≥ 6)`)),
  ]);
  rows.push([
    "sample length",
    ref && !("skipped" in ref) ? `${f(ref.seconds, 1)} s` : "—",
    ...c.reports.map((
      r,
    ) => ("skipped" in r.samples ? "—" : `${r.samples.count} × ${f(r.samples.seconds, 1)} s`)),
  ]);
  lines.push(formatTable(rows));
  lines.push("");
  lines.push("Grammar errors of the samples (type + time + dupn; goal 0 with the mask)");
  const gRows = [["model", "tokens", "with mask", "without mask"]];
  for (const m of c.models) {
    const g = m.grammarErrors;
    gRows.push([m.dir, String(g?.tokens ?? "—"), String(g?.withMask ?? "—"), String(g?.withoutMask ?? "—")]);
  }
  lines.push(formatTable(gRows));
  for (const w of c.warnings) lines.push(`WARNING: ${w}`);
  return lines.join("\n");
}
