/**
 * The tempo a performance is played at, from its onsets alone: for files whose tempo map says nothing (a recorded
 * performance written at a placeholder 120 bpm, as all of MAESTRO is). An onset envelope (10 ms bins, each onset
 * weighted by its velocity) is autocorrelated over beat periods of 40–240 bpm; the period with the most
 * self-similarity, weighed by a log-normal prior around 90 bpm one octave wide (the tempo prior of common beat
 * trackers, which keeps the estimate off the half- and double-tempo periods that correlate almost as well), is the
 * beat. Bounded: at most the first `maxSeconds` of the piece are read.
 *
 * Checked against pieces whose tempo is known (POP909's tempo maps, the maps removed and the notes kept at their
 * times in seconds): tests/score/tempo_test.ts.
 *
 * @module
 */
import type { Note, Score } from "../score.ts";
import { ticksToSeconds } from "../score.ts";

/** Options of {@link estimateTempo}. */
export interface TempoEstimateOptions {
  /** Seconds of the piece read (default 180). */
  maxSeconds?: number;
  /** Slowest and fastest beat considered, in bpm (default 40 and 240). */
  range?: [number, number];
  /**
   * Centre of the prior in bpm (default 90: on 166 POP909 songs with their maps removed, the beat at the map's level
   * for 61%, at a neighbouring metrical level — ×2, ×½, ×3⁄2, ×2⁄3 — for 93%; 110 gave 36% and 97%).
   */
  prior?: number;
}

/**
 * The estimated beat in bpm of `score`'s notes taken at their times in seconds (through its own tempo map), or
 * undefined with fewer than 16 onsets.
 *
 * @example
 * ```ts
 * import { estimateTempo } from "./tempo.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480); // 120 bpm map; notes every 0.75 s: a beat at 80 bpm
 * for (let i = 0; i < 64; i++) s.notes.push({ pitch: 60, velocity: i % 4 ? 60 : 100, start: i * 720, duration: 360 });
 * Math.round(estimateTempo(s)!); // 80
 * ```
 */
export function estimateTempo(score: Score, o: TempoEstimateOptions = {}): number | undefined {
  const maxSeconds = o.maxSeconds ?? 180, [slow, fast] = o.range ?? [40, 240], prior = o.prior ?? 90;
  const bin = 0.01;
  // each distinct onset tick with its summed velocity, in time order, up to maxSeconds
  const vel = new Map<number, number>();
  for (const n of score.notes as readonly Note[]) vel.set(n.start, (vel.get(n.start) ?? 0) + n.velocity);
  const onsets: { t: number; v: number }[] = [];
  for (const tick of [...vel.keys()].sort((a, b) => a - b)) {
    const s = ticksToSeconds(score, tick);
    if (s > maxSeconds) break;
    onsets.push({ t: s, v: vel.get(tick)! });
  }
  if (onsets.length < 16) return undefined;
  const first = onsets[0].t;
  const nBins = Math.ceil((onsets[onsets.length - 1].t - first) / bin) + 2;
  const env = new Float64Array(nBins);
  for (const { t, v } of onsets) {
    // spread over two bins: timing jitter of a few ms still correlates
    const x = (t - first) / bin, i = Math.floor(x), f = x - i;
    env[i] += Math.sqrt(v) * (1 - f);
    env[i + 1] += Math.sqrt(v) * f;
  }
  // remove the mean: a dense passage correlates at every lag otherwise
  let mean = 0;
  for (let i = 0; i < nBins; i++) mean += env[i];
  mean /= nBins;
  for (let i = 0; i < nBins; i++) env[i] -= mean;
  const lo = Math.max(1, Math.floor(60 / fast / bin)), hi = Math.ceil(60 / slow / bin);
  let best = -Infinity, bestLag = 0;
  for (let lag = lo; lag <= Math.min(hi, nBins - 1); lag++) {
    let ac = 0;
    for (let i = 0; i + lag < nBins; i++) ac += env[i] * env[i + lag];
    ac /= nBins - lag;
    const bpm = 60 / (lag * bin);
    const w = Math.exp(-0.5 * Math.log2(bpm / prior) ** 2);
    const score_ = ac * w;
    if (score_ > best) {
      best = score_;
      bestLag = lag;
    }
  }
  if (!(best > 0)) return undefined;
  return 60 / (bestLag * bin);
}
