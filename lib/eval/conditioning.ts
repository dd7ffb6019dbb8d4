/**
 * `deno task eval --conditioning`: does the model do what its condition tokens ask? For each value of style, of a few
 * keys and of density (and, as a baseline, with no condition), N samples from the prompt `BOS Style Key TempoClass
 * Density` (the asked value, `_none` for the other three; lib/data/conditioning.ts), then measured independently of
 * the model:
 *
 * - key agreement: the Krumhansl–Schmuckler estimate (lib/score/key.ts) of each key sample equals the asked key
 *   (tonic and mode); the share over all key samples is the figure (goal ≥ 80 %);
 * - density: mean notes per bar (notes ÷ the bars asked; `pieceFeatures`' measure, the one the density classes were
 *   cut on, for pieces without a bar count) of the low, medium and high samples; the ordering low < medium < high must hold; with the data's thresholds, the share of samples that
 *   land in the asked class too;
 * - per value: notes, notes per bar, mean tempo, pitch range, polyphony and pitch-class entropy, to read a style's
 *   effect; for a key, the share of notes on its tonic (what the `keyTonic` hard control raises).
 *
 * Scoring ({@link scoreConditioning}) is separate from generation ({@link conditioningCheck}), so it can be checked on
 * pieces of known key.
 *
 * @module
 */
import { formatTable } from "../util/table.ts";
import type { Score } from "../score.ts";
import { estimateKey, type Key, keyName, parseKey } from "../score/key.ts";
import {
  CLASSES,
  classOf,
  conditionIds,
  conditioningIds,
  pieceFeatures,
  STYLES,
} from "../data/conditioning.ts";
import { BOS_ID, type Tokenizer } from "../tokenizers/tokenizer.ts";
import { computeMetrics, meanMetrics } from "./metrics.ts";
import type { LoadedModel } from "../infer/load.ts";
import { resolveSampling } from "../infer/generation_config.ts";
import { type Controls, KEY_TONIC_DEFAULT } from "../infer/controls.ts";

/**
 * One group of samples: what was asked, and the pieces.
 *
 * @example
 * ```ts
 * import type { ConditionGroup } from "./conditioning.ts";
 * const g: ConditionGroup = { condition: "key", value: "E minor", scores: [] };
 * ```
 */
export interface ConditionGroup {
  /** Which condition (`none` = the unconditioned baseline). */
  condition: "style" | "key" | "density" | "none";
  /** The asked value (`pop`, `E minor`, `high`; `none`). */
  value: string;
  /** The samples. */
  scores: Score[];
  /** Bars each sample was asked to hold: notes per bar is then notes ÷ bars (else `pieceFeatures`' measure). */
  bars?: number;
}

/**
 * What one group's samples measured.
 *
 * @example
 * ```ts ignore
 * import { conditioningCheck } from "./conditioning.ts";
 * import { loadModel } from "../infer/load.ts";
 * const model = await loadModel("models/corpus6/last");
 * const r = await conditioningCheck(model, { samples: 20 });
 * for (const g of r.groups) console.log(g.condition, g.value, g.notesPerBar);
 * ```
 */
export interface ConditionGroupReport {
  /** Which condition. */
  condition: ConditionGroup["condition"];
  /** The asked value. */
  value: string;
  /** Samples. */
  samples: number;
  /** Mean notes per sample. */
  notes: number;
  /** Mean notes per bar. */
  notesPerBar: number;
  /** Mean tempo (bpm) of the samples with a tempo map other than a lone 120, NaN when none has one. */
  bpm: number;
  /** Mean pitch range. */
  pitchRange: number;
  /** Mean polyphony. */
  polyphony: number;
  /** Mean pitch-class entropy, bits (lib/eval/metrics.ts). */
  pitchClassEntropy: number;
  /** Key groups: the share of all the group's notes whose pitch class is the asked key's tonic. */
  tonicShare?: number;
  /** Key groups: samples whose estimated key is the asked one. */
  keyAgreement?: number;
  /** Key groups: the estimated keys, most frequent first (`"E minor": 12`). */
  estimatedKeys?: Record<string, number>;
  /** Density groups with thresholds: share of samples whose notes per bar fall in the asked class. */
  inClass?: number;
}

/**
 * The conditioning report.
 *
 * @example
 * ```ts ignore
 * import { conditioningCheck, formatConditioningReport } from "./conditioning.ts";
 * import { loadModel } from "../infer/load.ts";
 * const model = await loadModel("models/corpus6/last");
 * const r = await conditioningCheck(model, { samples: 20 });
 * console.log(r.keyAgreement, r.densityOrdered);
 * ```
 */
export interface ConditioningReport {
  /** Per group. */
  groups: ConditionGroupReport[];
  /** Share of all key samples whose estimated key is the asked one (NaN without key groups). */
  keyAgreement: number;
  /** Key samples in all. */
  keySamples: number;
  /** Mean notes per bar of the low, medium and high density groups (NaN for a group not run). */
  density: { low: number; medium: number; high: number };
  /** low < medium < high. */
  densityOrdered: boolean;
  /** The density thresholds used for `inClass` (notes per bar), or null. */
  densityThresholds: [number, number] | null;
}

function mean(xs: readonly number[]): number {
  const v = xs.filter(Number.isFinite);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
}

function sameKey(a: Key, b: Key): boolean {
  return a.tonic === b.tonic && a.mode === b.mode;
}

/**
 * Measures groups of samples (see the module doc): key agreement against the Krumhansl estimate, density ordering,
 * per-group notes per bar and a few metrics.
 *
 * @example
 * ```ts
 * import { scoreConditioning } from "./conditioning.ts";
 * import { emptyScore } from "../score.ts";
 * const cMajor = emptyScore(480); // a C major triad arpeggiated, then held
 * for (const [i, p] of [60, 64, 67, 72, 67, 64, 60].entries()) cMajor.notes.push({ pitch: p, velocity: 80, start: i * 480, duration: 480 });
 * cMajor.notes.push({ pitch: 48, velocity: 80, start: 0, duration: 3360 });
 * const r = scoreConditioning([{ condition: "key", value: "C major", scores: [cMajor] }]);
 * r.keyAgreement; // 1
 * ```
 */
export function scoreConditioning(
  groups: readonly ConditionGroup[],
  densityThresholds?: readonly [number, number],
): ConditioningReport {
  let agree = 0, keySamples = 0;
  const out: ConditionGroupReport[] = groups.map((g) => {
    const feats = g.scores.map((s) => pieceFeatures(s));
    const metrics = meanMetrics(g.scores.map((s) => computeMetrics(s)));
    const r: ConditionGroupReport = {
      condition: g.condition,
      value: g.value,
      samples: g.scores.length,
      notes: mean(g.scores.map((s) => s.notes.length)),
      notesPerBar: mean(
        g.bars ? g.scores.map((s) => s.notes.length / g.bars!) : feats.map((x) => x.notesPerBar),
      ),
      bpm: mean(feats.map((x) => x.bpm ?? NaN)),
      pitchRange: metrics.pitchRange,
      polyphony: metrics.polyphony,
      pitchClassEntropy: metrics.pitchClassEntropy,
    };
    if (g.condition === "key") {
      const asked = parseKey(g.value);
      const notes = g.scores.flatMap((s) => s.notes);
      r.tonicShare = notes.length
        ? notes.filter((x) => x.pitch % 12 === asked.tonic).length / notes.length
        : NaN;
      const est: Record<string, number> = {};
      let n = 0;
      for (const s of g.scores) {
        const k = estimateKey(s.notes, s.ticksPerBeat);
        est[keyName(k)] = (est[keyName(k)] ?? 0) + 1;
        if (s.notes.length && sameKey(k, asked)) n++;
      }
      r.keyAgreement = g.scores.length ? n / g.scores.length : NaN;
      r.estimatedKeys = Object.fromEntries(Object.entries(est).sort((a, b) => b[1] - a[1]));
      agree += n;
      keySamples += g.scores.length;
    }
    if (g.condition === "density" && densityThresholds) {
      const want = CLASSES.indexOf(g.value as typeof CLASSES[number]);
      const perBar = g.bars ? g.scores.map((s) => s.notes.length / g.bars!) : feats.map((x) => x.notesPerBar);
      const hit = perBar.filter((x) => classOf(x, densityThresholds) === want).length;
      r.inClass = feats.length ? hit / feats.length : NaN;
    }
    return r;
  });
  const dens = (v: string) => out.find((g) => g.condition === "density" && g.value === v)?.notesPerBar ?? NaN;
  const density = { low: dens("low"), medium: dens("medium"), high: dens("high") };
  return {
    groups: out,
    keyAgreement: keySamples ? agree / keySamples : NaN,
    keySamples,
    density,
    densityOrdered: density.low < density.medium && density.medium < density.high,
    densityThresholds: densityThresholds ? [densityThresholds[0], densityThresholds[1]] : null,
  };
}

/**
 * What a conditioned prompt asks (`ConditionRequest` of lib/data/conditioning.ts): a condition left out is `_none`.
 *
 * @example
 * ```ts
 * import type { ConditionAsk } from "./conditioning.ts";
 * const a: ConditionAsk = { style: "pop", key: "E minor", density: "high" };
 * ```
 */
export interface ConditionAsk {
  /** `classical` or `pop`. */
  style?: "classical" | "pop";
  /** A key name (`"E minor"`, `"Bb major"`). */
  key?: string;
  /** `slow`, `medium` or `fast`. */
  tempo?: "slow" | "medium" | "fast";
  /** `low`, `medium` or `high`. */
  density?: "low" | "medium" | "high";
}

/**
 * The prompt ids of a condition request: `BOS` and the four condition ids (`_none` for what is not asked). Throws a
 * one-line error when the tokenizer has no conditioning tokens.
 *
 * @example
 * ```ts
 * import { conditionPrompt } from "./conditioning.ts";
 * import { RemiTokenizer } from "../tokenizers/remi.ts";
 * import { CONDITIONING_TOKENS } from "../data/conditioning.ts";
 * const tok = new RemiTokenizer({ extraTokens: [...CONDITIONING_TOKENS] });
 * conditionPrompt(tok, { key: "E minor" }).map((id) => tok.vocab[id]);
 * // ["BOS_None", "Style_none", "Key_E:min", "TempoClass_none", "Density_none"]
 * ```
 */
export function conditionPrompt(tok: Tokenizer, request: ConditionAsk): number[] {
  const c = conditioningIds(tok.vocab);
  if (!c) {
    throw new Error(
      "--conditioning: the model's tokenizer has no condition tokens (made without tokenize --conditioning)",
    );
  }
  return [BOS_ID, ...conditionIds(c, request)];
}

/**
 * Options of {@link conditioningCheck}.
 *
 * @example
 * ```ts
 * import type { ConditioningCheckOptions } from "./conditioning.ts";
 * const o: ConditioningCheckOptions = { samples: 20, keys: ["C major", "E minor"], bars: 8, seed: 1 };
 * ```
 */
export interface ConditioningCheckOptions {
  /** Samples per value (default 20, at most 64: one batch). */
  samples?: number;
  /** Styles asked (default both). */
  styles?: readonly ("classical" | "pop")[];
  /**
   * A style asked beside every group (the key, density and baseline groups; no style groups then, the baseline is
   * the style alone): how the other conditions steer within a style.
   */
  style?: "classical" | "pop";
  /** Keys asked (default C major, A minor, E♭ major, F♯ minor). */
  keys?: readonly string[];
  /** Densities asked (default low, medium, high). */
  densities?: readonly ("low" | "medium" | "high")[];
  /** Also N samples with no condition, the baseline (default true). */
  baseline?: boolean;
  /** Bars per sample (default 8; the tokens are capped by the context). */
  bars?: number;
  /** Seed (default 1); every group uses it, sample b its own Philox stream. */
  seed?: number;
  /** Sampling temperature (default `GENERATE_PARAMS`'). */
  temperature?: number;
  /** Top-k (default `GENERATE_PARAMS`'). */
  topK?: number;
  /** Top-p (default `GENERATE_PARAMS`'). */
  topP?: number;
  /** Classifier-free guidance scale (default the model's, else 1 = off; lib/infer/guidance.ts). */
  guidanceScale?: number;
  /** The key's guidance scale (default the model's `key_guidance_scale`, else 1 = as `guidanceScale`). */
  keyGuidanceScale?: number;
  /** The density's guidance scale (default the model's `density_guidance_scale`, else 1 = as `guidanceScale`). */
  densityGuidanceScale?: number;
  /**
   * Also apply the hard control of each key and density value (the out-of-key Pitch mask, the density bias;
   * lib/infer/controls.ts), as `deno task generate --key/--density` does on top of the learned token: what a user
   * gets, not what the model learned (default false: the condition token alone).
   */
  hardControls?: boolean;
  /** With `hardControls`: the key samples' tonic weight (`keyTonic`, lib/infer/controls.ts; default its default). */
  keyTonic?: number;
  /** Density class thresholds in notes per bar (the data's `meta.json` `conditioning.notesPerBar`), for `inClass`. */
  densityThresholds?: readonly [number, number];
  /** Progress lines. */
  log?: (line: string) => void;
}

/** The default keys of the check: two majors, two minors, flats and sharps. */
export const CHECK_KEYS: readonly string[] = ["C major", "A minor", "Eb major", "F# minor"];

/**
 * Runs the conditioning check (see the module doc) on a loaded model whose tokenizer has the condition tokens: each
 * group is one `generate({ conditions, bars, batch })` call (the same seed for every group: sample b of each group
 * draws from Philox stream b).
 *
 * @example
 * ```ts ignore
 * import { conditioningCheck, formatConditioningReport } from "./conditioning.ts";
 * import { loadModel } from "../infer/load.ts";
 * const model = await loadModel("models/corpus6/last");
 * console.log(formatConditioningReport(await conditioningCheck(model, { samples: 20, bars: 8 })));
 * ```
 */
export async function conditioningCheck(
  model: LoadedModel,
  o: ConditioningCheckOptions = {},
): Promise<ConditioningReport & { seconds: number; settings: Record<string, unknown> }> {
  const { generate } = await import("../infer/generate.ts");
  const tok = model.tokenizer;
  const c = conditioningIds(tok.vocab);
  if (!c) {
    throw new Error(
      "--conditioning: the model's tokenizer has no condition tokens (made without tokenize --conditioning)",
    );
  }
  const n = o.samples ?? 20, bars = o.bars ?? 8, seed = o.seed ?? 1;
  // left out: the model's own sampling defaults (generation_config.json), then the table's
  const { temperature, topK, topP, guidanceScale, keyGuidanceScale, densityGuidanceScale } = resolveSampling(
    o,
    model.sampling,
  );
  const keys = o.keys ?? CHECK_KEYS;
  for (const k of keys) { // a bad key name fails before any sampling
    try {
      parseKey(k);
    } catch (e) {
      throw new Error(`--keys: ${(e as Error).message.replace(/^[^:]*: /, "")}`);
    }
  }
  const style = o.style ? { style: o.style } : {};
  const requests: { condition: ConditionGroup["condition"]; value: string; request: ConditionAsk }[] = [
    ...(o.style ? [] : o.styles ?? STYLES).map((s) => ({
      condition: "style" as const,
      value: s,
      request: { style: s },
    })),
    ...keys.map((k) => ({ condition: "key" as const, value: k, request: { key: k, ...style } })),
    ...(o.densities ?? CLASSES).map((d) => ({
      condition: "density" as const,
      value: d,
      request: { density: d, ...style },
    })),
    ...(o.baseline ?? true
      ? [{ condition: "none" as const, value: o.style ? `${o.style} only` : "none", request: { ...style } }]
      : []),
  ];
  const t0 = performance.now();
  const groups: ConditionGroup[] = [];
  for (const r of requests) {
    const ts = performance.now();
    conditionPrompt(tok, r.request); // a bad value fails here, with the field named
    // the official path: `generate` writes BOS and the four condition ids, bans them in the samples, stops at `bars`
    const { ids, scores } = await generate({
      model,
      conditions: r.request,
      controls: o.hardControls ? hardControlsOf(r.request, o.keyTonic) : undefined,
      bars,
      batch: n,
      temperature,
      topK,
      topP,
      guidanceScale,
      keyGuidanceScale,
      densityGuidanceScale,
      seed,
    });
    groups.push({ condition: r.condition, value: r.value, scores, bars });
    o.log?.(
      `${r.condition} ${r.value}: ${n} samples, ${ids.reduce((a, s) => a + s.length, 0)} tokens (${
        ((performance.now() - ts) / 1000).toFixed(1)
      } s)`,
    );
  }
  const report = scoreConditioning(groups, o.densityThresholds);
  return {
    ...report,
    seconds: (performance.now() - t0) / 1000,
    settings: {
      model: model.dir,
      samples: n,
      bars,
      seed,
      temperature,
      topK,
      topP,
      guidanceScale,
      keyGuidanceScale,
      densityGuidanceScale,
      hardControls: Boolean(o.hardControls),
      ...(o.hardControls ? { keyTonic: o.keyTonic ?? KEY_TONIC_DEFAULT } : {}),
      ...(o.style ? { style: o.style } : {}),
      adapter: model.adapter,
    },
  };
}

/** The hard controls `deno task generate` applies for a key or density condition (style has none). */
function hardControlsOf(r: ConditionAsk, keyTonic?: number): Controls | undefined {
  if (r.key) return { key: r.key, ...(keyTonic === undefined ? {} : { keyTonic }) };
  if (r.density) return { density: r.density };
  return undefined;
}

function f(v: number | undefined, digits = 2): string {
  return v === undefined || !Number.isFinite(v) ? "—" : v.toFixed(digits);
}

function pct(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? "—" : `${(100 * v).toFixed(0)}%`;
}

/**
 * The printed table of a conditioning report.
 *
 * @example
 * ```ts
 * import { formatConditioningReport, scoreConditioning } from "./conditioning.ts";
 * formatConditioningReport(scoreConditioning([])).includes("key agreement"); // true
 * ```
 */
export function formatConditioningReport(r: ConditioningReport): string {
  const rows = [[
    "condition",
    "value",
    "samples",
    "notes",
    "notes/bar",
    "bpm",
    "pitch range",
    "polyphony",
    "pc entropy",
    "on tonic",
    "key agrees",
    "in class",
  ]];
  for (const g of r.groups) {
    rows.push([
      g.condition,
      g.value,
      String(g.samples),
      f(g.notes, 1),
      f(g.notesPerBar),
      f(g.bpm, 0),
      f(g.pitchRange, 1),
      f(g.polyphony),
      f(g.pitchClassEntropy),
      g.tonicShare === undefined ? "" : pct(g.tonicShare),
      g.keyAgreement === undefined ? "" : pct(g.keyAgreement),
      g.inClass === undefined ? "" : pct(g.inClass),
    ]);
  }
  const d = r.density;
  return [
    formatTable(rows),
    `key agreement (Krumhansl estimate = asked key): ${
      pct(r.keyAgreement)
    } of ${r.keySamples} samples (goal ≥ 80%)`,
    `density ordering low < medium < high notes per bar: ${f(d.low)} < ${f(d.medium)} < ${f(d.high)}: ${
      r.densityOrdered ? "holds" : "DOES NOT HOLD"
    }${
      r.densityThresholds
        ? ` (classes cut at ${f(r.densityThresholds[0])}, ${f(r.densityThresholds[1])})`
        : ""
    }`,
  ].join("\n");
}
