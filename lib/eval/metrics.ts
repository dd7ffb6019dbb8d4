/**
 * Objective metrics on a `Score`, as MusPy defines them (REFERENCE.md "Objective metrics"), computed exactly on the
 * score's ticks (no piano roll): pitch range, pitches and pitch classes used, pitch-class entropy, scale consistency,
 * empty-beat rate, polyphony, polyphony rate and groove consistency. Plus the aggregation used by `deno task eval`
 * (mean over pieces, relative difference sample vs corpus) and the pitch-class histogram drawn in its SVG.
 *
 * Where a metric is undefined (e.g. scale consistency of a score without notes) it is `NaN`; means skip `NaN`s.
 *
 * @module
 */
import type { Score } from "../score.ts";

/**
 * The metric values for one score (or their means over a set).
 *
 * @example
 * ```ts
 * import { computeMetrics } from "./metrics.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * for (const p of [60, 64, 67]) s.notes.push({ pitch: p, velocity: 80, start: 0, duration: 1920 }); // C major, a bar
 * const m = computeMetrics(s);
 * [m.pitchRange, m.nPitchClassesUsed, m.scaleConsistency, m.polyphony]; // [7, 3, 1, 3]
 * ```
 */
export interface Metrics {
  /** Highest minus lowest pitch (0 without notes). */
  pitchRange: number;
  /** Distinct MIDI pitches. */
  nPitchesUsed: number;
  /** Distinct pitch classes (0–12). */
  nPitchClassesUsed: number;
  /** −Σ p log2 p over the 12-bin pitch-class histogram of note counts (0 … log2 12 ≈ 3.585). */
  pitchClassEntropy: number;
  /** Largest share of notes inside one of the 24 major / natural-minor scales. */
  scaleConsistency: number;
  /** 1 − beats touched by a sounding note ÷ beats from tick 0 to the end of the last note. */
  emptyBeatRate: number;
  /** Mean number of distinct sounding pitches over the ticks where at least one sounds. */
  polyphony: number;
  /** Share of ticks (from 0 to the end) with more than 2 distinct sounding pitches. */
  polyphonyRate: number;
  /** 1 − mean Hamming distance between consecutive bars' onset vectors ÷ positions per bar. */
  grooveConsistency: number;
}

/**
 * The metric names, in the order tables print them.
 *
 * @example
 * ```ts
 * import { computeMetrics, METRIC_NAMES } from "./metrics.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 80, start: 0, duration: 480 });
 * const m = computeMetrics(s);
 * for (const k of METRIC_NAMES) console.log(k, m[k]);
 * ```
 */
export const METRIC_NAMES: readonly (keyof Metrics)[] = [
  "pitchRange",
  "nPitchesUsed",
  "nPitchClassesUsed",
  "pitchClassEntropy",
  "scaleConsistency",
  "emptyBeatRate",
  "polyphony",
  "polyphonyRate",
  "grooveConsistency",
];

/**
 * Options for {@link computeMetrics}.
 *
 * @example
 * ```ts
 * import { computeMetrics } from "./metrics.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * for (let i = 0; i < 16; i++) s.notes.push({ pitch: 60, velocity: 80, start: i * 160, duration: 160 }); // triplets
 * computeMetrics(s, { positionsPerBeat: 12 }).grooveConsistency; // 0.83 (0.5 on the default sixteenth grid)
 * ```
 */
export interface MetricOptions {
  /** Onset grid for groove consistency, in positions per quarter-note beat (default 4: sixteenth notes). */
  positionsPerBeat?: number;
}

const MAJOR = [0, 2, 4, 5, 7, 9, 11];
const MINOR = [0, 2, 3, 5, 7, 8, 10];

/**
 * Note counts per pitch class (index 0 = C).
 *
 * @example
 * ```ts
 * import { pitchClassCounts } from "./metrics.ts";
 * pitchClassCounts({ ticksPerBeat: 4, notes: [{ pitch: 60, velocity: 80, start: 0, duration: 4 }], tempos: [], timeSignatures: [] })[0]; // 1
 * ```
 */
export function pitchClassCounts(score: Score): number[] {
  const h = new Array(12).fill(0);
  for (const n of score.notes) h[((n.pitch % 12) + 12) % 12]++;
  return h;
}

/**
 * Shannon entropy in bits of a histogram (counts need not be normalised; empty bins contribute 0).
 *
 * @example
 * ```ts
 * import { entropyBits } from "./metrics.ts";
 * entropyBits(new Array(12).fill(1)); // log2(12) ≈ 3.585
 * ```
 */
export function entropyBits(counts: readonly number[]): number {
  let total = 0;
  for (const c of counts) total += c;
  if (total <= 0) return 0;
  let h = 0;
  for (const c of counts) {
    if (c > 0) {
      const p = c / total;
      h -= p * Math.log2(p);
    }
  }
  return h;
}

/**
 * Highest minus lowest pitch; 0 for a score without notes.
 *
 * @example
 * ```ts
 * import { pitchRange } from "./metrics.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(4);
 * s.notes.push({ pitch: 60, velocity: 80, start: 0, duration: 4 }, { pitch: 72, velocity: 80, start: 4, duration: 4 });
 * pitchRange(s); // 12
 * ```
 */
export function pitchRange(score: Score): number {
  if (score.notes.length === 0) return 0;
  let lo = Infinity, hi = -Infinity;
  for (const n of score.notes) {
    lo = Math.min(lo, n.pitch);
    hi = Math.max(hi, n.pitch);
  }
  return hi - lo;
}

/**
 * Number of distinct MIDI pitches.
 *
 * @example
 * ```ts
 * import { nPitchesUsed } from "./metrics.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(4);
 * s.notes.push({ pitch: 60, velocity: 80, start: 0, duration: 4 }, { pitch: 72, velocity: 80, start: 4, duration: 4 });
 * nPitchesUsed(s); // 2
 * ```
 */
export function nPitchesUsed(score: Score): number {
  return new Set(score.notes.map((n) => n.pitch)).size;
}

/**
 * Number of distinct pitch classes.
 *
 * @example
 * ```ts
 * import { nPitchClassesUsed } from "./metrics.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(4);
 * s.notes.push({ pitch: 60, velocity: 80, start: 0, duration: 4 }, { pitch: 72, velocity: 80, start: 4, duration: 4 });
 * nPitchClassesUsed(s); // 1
 * ```
 */
export function nPitchClassesUsed(score: Score): number {
  return pitchClassCounts(score).filter((c) => c > 0).length;
}

/**
 * Entropy (bits) of the 12-bin pitch-class histogram of note counts; 0 without notes.
 *
 * @example
 * ```ts
 * import { pitchClassEntropy } from "./metrics.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(4);
 * for (let p = 60; p < 72; p++) s.notes.push({ pitch: p, velocity: 80, start: (p - 60) * 4, duration: 4 });
 * pitchClassEntropy(s); // log2(12)
 * ```
 */
export function pitchClassEntropy(score: Score): number {
  return entropyBits(pitchClassCounts(score));
}

/**
 * Largest share of notes that lie in one of the 24 major / natural-minor scales; `NaN` without notes.
 *
 * @example
 * ```ts
 * import { scaleConsistency } from "./metrics.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(4);
 * [60, 62, 64, 65, 67, 69, 71].forEach((p, i) => s.notes.push({ pitch: p, velocity: 80, start: i * 4, duration: 4 }));
 * scaleConsistency(s); // 1
 * ```
 */
export function scaleConsistency(score: Score): number {
  const h = pitchClassCounts(score);
  const total = h.reduce((a, b) => a + b, 0);
  if (total === 0) return NaN;
  let best = 0;
  for (const scale of [MAJOR, MINOR]) {
    for (let root = 0; root < 12; root++) {
      let inScale = 0;
      for (const step of scale) inScale += h[(root + step) % 12];
      best = Math.max(best, inScale);
    }
  }
  return best / total;
}

/**
 * 1 − (quarter-note beats touched by a sounding note) ÷ (beats from tick 0 to the end of the last note, rounded
 * up). A note sounds on [start, start + duration); a zero-length note touches the beat of its onset. `NaN` without
 * notes.
 *
 * @example
 * ```ts
 * import { emptyBeatRate } from "./metrics.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(4);
 * s.notes.push({ pitch: 60, velocity: 80, start: 0, duration: 4 }, { pitch: 60, velocity: 80, start: 12, duration: 4 });
 * emptyBeatRate(s); // 0.5: beats 1 and 2 of 4 are silent
 * ```
 */
export function emptyBeatRate(score: Score): number {
  if (score.notes.length === 0) return NaN;
  const tpb = score.ticksPerBeat;
  let end = 0;
  for (const n of score.notes) end = Math.max(end, n.start + Math.max(n.duration, 1));
  const totalBeats = Math.ceil(end / tpb);
  const touched = new Uint8Array(totalBeats);
  for (const n of score.notes) {
    const first = Math.floor(n.start / tpb);
    const last = Math.floor((n.start + Math.max(n.duration, 1) - 1) / tpb);
    touched.fill(1, first, last + 1);
  }
  let count = 0;
  for (const t of touched) count += t;
  return 1 - count / totalBeats;
}

/** Piecewise-constant number of distinct sounding pitches: segments [tick, next tick) with `count` pitches. */
function soundingSegments(score: Score): { start: number; end: number; count: number }[] {
  const events: [number, number, number][] = []; // tick, +1/-1, pitch
  for (const n of score.notes) {
    if (n.duration <= 0) continue;
    events.push([n.start, 1, n.pitch], [n.start + n.duration, -1, n.pitch]);
  }
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const active = new Map<number, number>();
  const segs: { start: number; end: number; count: number }[] = [];
  let i = 0;
  while (i < events.length) {
    const tick = events[i][0];
    while (i < events.length && events[i][0] === tick) {
      const [, d, p] = events[i];
      const c = (active.get(p) ?? 0) + d;
      if (c <= 0) active.delete(p);
      else active.set(p, c);
      i++;
    }
    if (i < events.length) segs.push({ start: tick, end: events[i][0], count: active.size });
  }
  return segs;
}

/**
 * Mean number of distinct sounding pitches over the ticks where at least one pitch sounds; `NaN` when nothing
 * sounds.
 *
 * @example
 * ```ts
 * import { polyphony } from "./metrics.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(4);
 * for (const p of [60, 64, 67]) s.notes.push({ pitch: p, velocity: 80, start: 0, duration: 16 });
 * polyphony(s); // 3
 * ```
 */
export function polyphony(score: Score): number {
  let ticks = 0, weighted = 0;
  for (const s of soundingSegments(score)) {
    if (s.count === 0) continue;
    ticks += s.end - s.start;
    weighted += (s.end - s.start) * s.count;
  }
  return ticks > 0 ? weighted / ticks : NaN;
}

/**
 * Share of ticks, from 0 to the end of the last note, where more than `threshold` (default 2) distinct pitches
 * sound; `NaN` when nothing sounds.
 *
 * @example
 * ```ts
 * import { polyphonyRate } from "./metrics.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(4);
 * for (const p of [60, 64, 67]) s.notes.push({ pitch: p, velocity: 80, start: 0, duration: 16 });
 * polyphonyRate(s); // 1
 * ```
 */
export function polyphonyRate(score: Score, threshold = 2): number {
  const segs = soundingSegments(score);
  if (segs.length === 0) return NaN;
  const end = segs[segs.length - 1].end;
  let over = 0;
  for (const s of segs) if (s.count > threshold) over += s.end - s.start;
  return end > 0 ? over / end : NaN;
}

/** Bars from tick 0 through the bar containing `endTick`, each `[start, length]` in ticks. */
function barSpans(score: Score, endTick: number): [number, number][] {
  const sigs = [...score.timeSignatures].sort((a, b) => a.tick - b.tick);
  const bars: [number, number][] = [];
  let num = 4, den = 4, si = 0, t = 0;
  while (si < sigs.length && sigs[si].tick <= 0) ({ numerator: num, denominator: den } = sigs[si++]);
  for (let guard = 0; guard < 10_000_000; guard++) {
    const len = Math.max(1, Math.round(score.ticksPerBeat * num * 4 / den));
    bars.push([t, len]);
    t += len;
    if (t > endTick) break;
    while (si < sigs.length && sigs[si].tick <= t) ({ numerator: num, denominator: den } = sigs[si++]);
  }
  return bars;
}

/**
 * Bar start ticks from tick 0 up to and including the bar containing `endTick`, following the score's time
 * signatures (4/4 before the first; a change takes effect at the first bar line at or after its tick).
 *
 * @example
 * ```ts
 * import { barStarts } from "./metrics.ts";
 * import { emptyScore } from "../score.ts";
 * barStarts(emptyScore(4), 40); // [0, 16, 32]
 * ```
 */
export function barStarts(score: Score, endTick: number): number[] {
  return barSpans(score, endTick).map(([s]) => s);
}

/**
 * Groove consistency: 1 − mean over consecutive bar pairs of the Hamming distance between their binary onset
 * vectors ÷ positions per bar. Onsets are snapped to a grid of `positionsPerBeat` per quarter note (default 4);
 * bars run from tick 0 to the last onset. `NaN` with fewer than two bars.
 *
 * @example
 * ```ts
 * import { grooveConsistency } from "./metrics.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(4);
 * for (let bar = 0; bar < 4; bar++) s.notes.push({ pitch: 60, velocity: 80, start: bar * 16, duration: 4 });
 * grooveConsistency(s); // 1: identical bars
 * ```
 */
export function grooveConsistency(score: Score, positionsPerBeat = 4): number {
  if (score.notes.length === 0) return NaN;
  let lastOnset = 0;
  for (const n of score.notes) lastOnset = Math.max(lastOnset, n.start);
  const bars = barSpans(score, lastOnset);
  if (bars.length < 2) return NaN;
  const step = score.ticksPerBeat / positionsPerBeat;
  const vectors = bars.map(([, len]) => new Uint8Array(Math.max(1, Math.round(len / step))));
  let bi = 0;
  const sorted = [...score.notes].sort((a, b) => a.start - b.start);
  for (const n of sorted) {
    while (bi + 1 < bars.length && bars[bi + 1][0] <= n.start) bi++;
    const v = vectors[bi];
    const pos = Math.min(v.length - 1, Math.round((n.start - bars[bi][0]) / step));
    v[pos] = 1;
  }
  let sum = 0;
  for (let i = 1; i < vectors.length; i++) {
    const a = vectors[i - 1], b = vectors[i];
    const len = Math.max(a.length, b.length);
    let d = 0;
    for (let k = 0; k < len; k++) if ((a[k] ?? 0) !== (b[k] ?? 0)) d++;
    sum += d / len;
  }
  return 1 - sum / (vectors.length - 1);
}

/**
 * All metrics for one score.
 *
 * @example
 * ```ts
 * import { computeMetrics } from "./metrics.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 80, start: 0, duration: 480 });
 * computeMetrics(s).nPitchesUsed; // 1
 * ```
 */
export function computeMetrics(score: Score, opts: MetricOptions = {}): Metrics {
  return {
    pitchRange: pitchRange(score),
    nPitchesUsed: nPitchesUsed(score),
    nPitchClassesUsed: nPitchClassesUsed(score),
    pitchClassEntropy: pitchClassEntropy(score),
    scaleConsistency: scaleConsistency(score),
    emptyBeatRate: emptyBeatRate(score),
    polyphony: polyphony(score),
    polyphonyRate: polyphonyRate(score),
    grooveConsistency: grooveConsistency(score, opts.positionsPerBeat ?? 4),
  };
}

/**
 * Mean of each metric over a set of per-piece metrics, skipping `NaN`s (a metric undefined for every piece stays
 * `NaN`).
 *
 * @example
 * ```ts
 * import { computeMetrics, meanMetrics } from "./metrics.ts";
 * import { emptyScore } from "../score.ts";
 * const a = emptyScore(4), b = emptyScore(4);
 * a.notes.push({ pitch: 60, velocity: 80, start: 0, duration: 4 });
 * b.notes.push({ pitch: 60, velocity: 80, start: 0, duration: 4 }, { pitch: 64, velocity: 80, start: 0, duration: 4 });
 * meanMetrics([computeMetrics(a), computeMetrics(b)]).nPitchesUsed; // 1.5
 * ```
 */
export function meanMetrics(list: readonly Metrics[]): Metrics {
  const out = {} as Metrics;
  for (const k of METRIC_NAMES) {
    let s = 0, n = 0;
    for (const m of list) {
      if (Number.isFinite(m[k])) {
        s += m[k];
        n++;
      }
    }
    out[k] = n > 0 ? s / n : NaN;
  }
  return out;
}

/**
 * Relative difference `(sample − reference) ÷ |reference|` per metric (`NaN` where the reference is 0 or `NaN`).
 *
 * @example
 * ```ts
 * import { relativeDifference } from "./metrics.ts";
 * relativeDifference({ pitchRange: 30 } as never, { pitchRange: 40 } as never).pitchRange; // -0.25
 * ```
 */
export function relativeDifference(sample: Metrics, reference: Metrics): Metrics {
  const out = {} as Metrics;
  for (const k of METRIC_NAMES) {
    const r = reference[k];
    out[k] = Number.isFinite(r) && r !== 0 && Number.isFinite(sample[k])
      ? (sample[k] - r) / Math.abs(r)
      : NaN;
  }
  return out;
}

/**
 * Pooled pitch-class distribution (shares summing to 1, or all 0) of a set of scores.
 *
 * @example
 * ```ts
 * import { pitchClassDistribution } from "./metrics.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(4);
 * s.notes.push({ pitch: 60, velocity: 80, start: 0, duration: 4 });
 * pitchClassDistribution([s])[0]; // 1
 * ```
 */
export function pitchClassDistribution(scores: readonly Score[]): number[] {
  const h = new Array(12).fill(0);
  for (const s of scores) pitchClassCounts(s).forEach((c, i) => h[i] += c);
  const total = h.reduce((a, b) => a + b, 0);
  return total > 0 ? h.map((c) => c / total) : h;
}
