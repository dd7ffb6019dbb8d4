/**
 * Private: the size limits `readMidiDetailed` enforces on the score it returns (documented on `ReadLimits` in
 * `lib/midi/read.ts`): a longest silence, a longest piece (seconds and bars) and a largest tick. Applied after the
 * notes are paired, sustained and merged, on the whole timeline (tempo and meter maps included), so a limit means
 * the same thing whatever track an event came from.
 *
 * @module
 */
import type { Score } from "../score.ts";

/**
 * The largest tick a score read from a file may hold: 2³¹ − 1, so ticks fit the Int32 arrays of `lib/data` and every
 * later sum stays an exact integer. Real music is far below it (a 30-minute MAESTRO performance ends near tick 1.8 M).
 *
 * @example
 * ```ts
 * import { MAX_SCORE_TICK } from "./_limits.ts";
 * MAX_SCORE_TICK; // 2147483647
 * ```
 */
export const MAX_SCORE_TICK = 2 ** 31 - 1;

/** The limits as `applyLimits` takes them (defaults filled in by the reader). */
export interface Limits {
  maxSeconds: number;
  maxBars: number;
  maxGapSeconds: number;
  onLimit: "clip" | "refuse";
}

/** What `applyLimits` changed. */
export interface LimitCounts {
  /** Silences longer than `maxGapSeconds`, shortened. */
  shortenedGaps: number;
  /** Seconds of silence removed by that. */
  removedSeconds: number;
  /** Notes dropped because they start at or past the end limit. */
  notesPastLimit: number;
  /** Notes cut short at the end limit. */
  notesCutAtLimit: number;
  /** Tempo and time-signature events at or past the end limit, dropped. */
  eventsPastLimit: number;
  /** Why the piece ends where it does, when the end limit cut anything. */
  endReason?: string;
}

/** Seconds ⇄ ticks through a tempo map (sorted, first entry at tick 0). */
class TempoMap {
  #ticks: number[] = [];
  #secs: number[] = [];
  #spt: number[] = [];
  constructor(score: Score) {
    let sec = 0;
    score.tempos.forEach((t, i) => {
      if (i > 0) sec += (t.tick - this.#ticks[i - 1]) * this.#spt[i - 1];
      this.#ticks.push(t.tick);
      this.#secs.push(sec);
      this.#spt.push(60 / (t.bpm * score.ticksPerBeat));
    });
  }
  #find(xs: number[], x: number): number {
    let lo = 0, hi = xs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (xs[mid] <= x) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
  seconds(tick: number): number {
    const i = this.#find(this.#ticks, tick);
    return this.#secs[i] + (tick - this.#ticks[i]) * this.#spt[i];
  }
  /** The (fractional) tick at which `sec` seconds have passed. */
  tick(sec: number): number {
    const i = this.#find(this.#secs, sec);
    return this.#ticks[i] + (sec - this.#secs[i]) / this.#spt[i];
  }
}

/** Ticks per bar of a time signature. */
function barTicks(score: Score, ts: { numerator: number; denominator: number }): number {
  return ts.numerator * 4 / ts.denominator * score.ticksPerBeat;
}

/**
 * The tick at which bar `bars` ends (bars counted from the time signatures, each change starting a new bar), or
 * Infinity.
 */
function tickAfterBars(score: Score, bars: number): number {
  let count = 0;
  const ts = score.timeSignatures;
  for (let i = 0; i < ts.length; i++) {
    const len = barTicks(score, ts[i]);
    const next = i + 1 < ts.length ? ts[i + 1].tick : Infinity;
    const inSeg = Math.ceil((next - ts[i].tick) / len);
    if (count + inSeg >= bars) return Math.min(ts[i].tick + (bars - count) * len, next);
    count += inSeg;
  }
  return Infinity;
}

/** How many bars (counted as in `tickAfterBars`) have begun before `tick`. */
function barsBefore(score: Score, tick: number): number {
  let count = 0;
  const ts = score.timeSignatures;
  for (let i = 0; i < ts.length && ts[i].tick < tick; i++) {
    const next = Math.min(tick, i + 1 < ts.length ? ts[i + 1].tick : Infinity);
    count += Math.ceil((next - ts[i].tick) / barTicks(score, ts[i]));
  }
  return count;
}

/**
 * Human-readable seconds: `12.5 s`, `42.0 min`, `13.9 h`.
 *
 * @example
 * ```ts
 * import { formatSeconds } from "./_limits.ts";
 * formatSeconds(50_100); // "13.9 h"
 * ```
 */
export function formatSeconds(s: number): string {
  if (s < 120) return `${+s.toFixed(1)} s`;
  if (s < 7200) return `${+(s / 60).toFixed(1)} min`;
  return `${+(s / 3600).toFixed(1)} h`;
}

/**
 * Applies the limits to `score` in place (notes sorted as `sortNotes` leaves them; tempo and time-signature lists
 * sorted, one entry per tick, the first at tick 0): silences over `maxGapSeconds` are shortened first, then the piece
 * is cut at the first of `maxSeconds`, `maxBars` and `MAX_SCORE_TICK`. With `onLimit: "refuse"`, `fail` is called
 * with a one-line reason instead of changing anything that involves a note.
 *
 * @example
 * ```ts
 * import { applyLimits } from "./_limits.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 80, start: 0, duration: 480 });
 * s.notes.push({ pitch: 62, velocity: 80, start: 480 * 10_000, duration: 480 }); // after 5,000 s of silence
 * const limits = { maxSeconds: 14_400, maxBars: 20_000, maxGapSeconds: 600, onLimit: "clip" as const };
 * applyLimits(s, limits, (m) => { throw new Error(m); }).shortenedGaps; // 1: the second note now starts at 600 s
 * ```
 */
export function applyLimits(score: Score, limits: Limits, fail: (msg: string) => never): LimitCounts {
  const counts: LimitCounts = {
    shortenedGaps: 0,
    removedSeconds: 0,
    notesPastLimit: 0,
    notesCutAtLimit: 0,
    eventsPastLimit: 0,
  };
  shortenGaps(score, limits, counts, fail);
  cutEnd(score, limits, counts, fail);
  return counts;
}

/** A stretch [from, to) of original ticks taken out of the timeline. */
interface Cut {
  from: number;
  to: number;
}

function shortenGaps(score: Score, limits: Limits, counts: LimitCounts, fail: (msg: string) => never) {
  if (score.notes.length === 0) return;
  const map = new TempoMap(score);
  const cuts: Cut[] = [];
  const sigs = score.timeSignatures;
  let sig = 0; // the time signature in force at the current note (notes are sorted by start)
  let until = 0; // where the notes so far stop sounding (the piece starts at tick 0)
  for (const n of score.notes) {
    while (sig + 1 < sigs.length && sigs[sig + 1].tick <= n.start) sig++;
    if (n.start > until) {
      const gap = map.seconds(n.start) - map.seconds(until);
      if (gap > limits.maxGapSeconds) {
        if (limits.onLimit === "refuse") {
          fail(
            `a silence of ${
              formatSeconds(gap)
            } (ticks ${until}–${n.start}) is longer than the maximum gap of ` +
              `${limits.maxGapSeconds} s (ReadMidiOptions.maxGapSeconds)`,
          );
        }
        // Keep maxGapSeconds of the silence and take out the rest, rounded up to whole bars (of the meter in force
        // at the next note, when it does not change inside the cut) if the silence stays ≥ 0: later notes keep
        // their place in the bar.
        let from = Math.max(until, Math.floor(map.tick(map.seconds(until) + limits.maxGapSeconds)));
        const bar = barTicks(score, sigs[sig]);
        if (Number.isInteger(bar)) {
          const rounded = n.start - Math.ceil((n.start - from) / bar) * bar;
          if (rounded >= until && rounded >= sigs[sig].tick) from = rounded;
        }
        if (from < n.start) {
          cuts.push({ from, to: n.start });
          counts.shortenedGaps++;
          counts.removedSeconds += map.seconds(n.start) - map.seconds(from);
        }
      }
    }
    until = Math.max(until, n.start + n.duration);
  }
  if (cuts.length === 0) return;
  // Original tick → new tick, for ticks in ascending order: later events move back by the cuts before them; events
  // inside a cut go to its start.
  const mapper = () => {
    let k = 0, shift = 0;
    return (t: number): number => {
      for (; k < cuts.length && t >= cuts[k].to; k++) shift += cuts[k].to - cuts[k].from;
      return k < cuts.length && t > cuts[k].from ? cuts[k].from - shift : t - shift;
    };
  };
  const mapNote = mapper();
  for (const n of score.notes) n.start = mapNote(n.start);
  const remap = <T extends { tick: number }>(xs: T[]): T[] => {
    const mapTick = mapper();
    const out: T[] = [];
    for (const x of xs) {
      const tick = mapTick(x.tick);
      // Several events can land on one tick: the last (the one in force at the end of the cut) wins.
      if (out.length && out[out.length - 1].tick === tick) out[out.length - 1] = { ...x, tick };
      else out.push({ ...x, tick });
    }
    return out;
  };
  score.tempos = remap(score.tempos);
  score.timeSignatures = remap(score.timeSignatures);
}

function cutEnd(score: Score, limits: Limits, counts: LimitCounts, fail: (msg: string) => never) {
  const map = new TempoMap(score);
  const bySeconds = map.tick(limits.maxSeconds);
  const byBars = tickAfterBars(score, limits.maxBars);
  const end = Math.max(1, Math.floor(Math.min(bySeconds, byBars, MAX_SCORE_TICK)));
  let last = 0;
  for (const n of score.notes) last = Math.max(last, n.start + n.duration);
  const why = end === Math.floor(bySeconds)
    ? `the maximum length of ${limits.maxSeconds} s (ReadMidiOptions.maxSeconds)`
    : end === Math.floor(byBars)
    ? `the maximum of ${limits.maxBars} bars (ReadMidiOptions.maxBars)`
    : `the largest tick a score may hold (${MAX_SCORE_TICK})`;
  if (last > end) {
    if (limits.onLimit === "refuse") {
      fail(
        `the piece ends at tick ${last} (${formatSeconds(map.seconds(last))}, ${
          barsBefore(score, last)
        } bars), ` +
          `past ${why}`,
      );
    }
    counts.endReason = why;
    const kept = [];
    for (const n of score.notes) {
      if (n.start >= end) counts.notesPastLimit++;
      else {
        if (n.start + n.duration > end) {
          n.duration = end - n.start;
          counts.notesCutAtLimit++;
        }
        kept.push(n);
      }
    }
    score.notes = kept;
  }
  const before = score.tempos.length + score.timeSignatures.length;
  score.tempos = score.tempos.filter((t) => t.tick < end);
  score.timeSignatures = score.timeSignatures.filter((t) => t.tick < end);
  counts.eventsPastLimit = before - score.tempos.length - score.timeSignatures.length;
}

/** The size of a score in the terms of the read limits. */
export interface ScoreExtent {
  /** Where the last note ends, in seconds through the tempo map. */
  seconds: number;
  /** Bars begun before the last note ends (time signatures as the limits count them). */
  bars: number;
  /** The longest silence (no note sounding, from tick 0 on) before a note, in seconds. */
  longestSilence: number;
  /** The tick at which the last note ends. */
  endTick: number;
}

/**
 * Measures a score as the read limits do (see `ReadLimits`): length in seconds and bars, longest silence. A score
 * `readMidi` returned has `seconds ≤ maxSeconds`, `bars ≤ maxBars`, `longestSilence ≤ maxGapSeconds`.
 *
 * @example
 * ```ts
 * import { measureScore } from "./_limits.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 80, start: 960, duration: 480 });
 * measureScore(s); // { seconds: 1.5, bars: 1, longestSilence: 1, endTick: 1440 }
 * ```
 */
export function measureScore(score: Score): ScoreExtent {
  const map = new TempoMap(score);
  let until = 0, longest = 0;
  for (const n of score.notes) {
    if (n.start > until) longest = Math.max(longest, map.seconds(n.start) - map.seconds(until));
    until = Math.max(until, n.start + n.duration);
  }
  return {
    seconds: map.seconds(until),
    bars: barsBefore(score, until),
    longestSilence: longest,
    endTick: until,
  };
}
