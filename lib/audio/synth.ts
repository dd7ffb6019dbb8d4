/**
 * A small piano-like additive synthesiser: a `Score` becomes floating-point PCM.
 *
 * Each note is a handful of slightly inharmonic partials (stiff-string stretch), each an exponentially decaying sine
 * computed with a damped complex-rotation recurrence (one complex multiply per sample, no `Math.sin` in the loop).
 * Higher partials and higher notes decay faster, as on a piano. A 3 ms attack ramp avoids clicks; the note sounds
 * (decaying) until its end, then a short release fades it out. Velocity sets loudness and brightness. The tempo map
 * is respected (`ticksToSeconds`). The mix is peak-normalised so it never clips.
 *
 * Cost: memory is about 14 bytes per second-sample of output (8 for the float64 mix, 4 for the float32 result, 2 for
 * WAV bytes; ≈ 37 MB per minute of mono 44.1 kHz audio), so a render longer than `maxSeconds` (default 20 minutes,
 * `DEFAULT_MAX_RENDER_SECONDS`) is refused with a `RenderLimitError` before anything is allocated. Each note costs
 * time only while it is audible (its partials decay below −100 dB within about 40 s), however long it is held.
 *
 * @module
 */
import { type Score, scoreEndTick, ticksToSeconds } from "../score.ts";

/**
 * The default longest render, in seconds: 20 minutes (the release included). Longer than any piece etude generates
 * and than most real ones (MAESTRO's longest performance is 39 min: raise `maxSeconds` to render it); at 44.1 kHz
 * mono it costs about 740 MB of memory while rendering and gives a 106 MB WAV.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_RENDER_SECONDS } from "./synth.ts";
 * DEFAULT_MAX_RENDER_SECONDS; // 1200
 * ```
 */
export const DEFAULT_MAX_RENDER_SECONDS = 1200;

/**
 * A render refused for its size: longer than `maxSeconds`, or too big for a WAV file (whose sizes are 32-bit). A
 * `RangeError`, so callers that catch bad options catch it too; a server should answer it with a 4xx.
 *
 * @example
 * ```ts
 * import { RenderLimitError, renderPcm } from "./synth.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 90, start: 480 * 7200, duration: 480 }); // at 1 hour
 * try {
 *   renderPcm(s);
 * } catch (e) {
 *   if (e instanceof RenderLimitError) console.log(e.seconds, e.maxSeconds); // 3600.75 1200
 * }
 * ```
 */
export class RenderLimitError extends RangeError {
  /** How long the render would be, in seconds. */
  readonly seconds: number;
  /** The limit it crossed, in seconds. */
  readonly maxSeconds: number;
  /**
   * An error for a render of `seconds` over the `maxSeconds` limit.
   *
   * @example
   * ```ts
   * import { RenderLimitError } from "./synth.ts";
   * new RenderLimitError("too long", 3600, 1200).name; // "RenderLimitError"
   * ```
   */
  constructor(message: string, seconds: number, maxSeconds: number) {
    super(message);
    this.name = "RenderLimitError";
    this.seconds = seconds;
    this.maxSeconds = maxSeconds;
  }
}

/**
 * Options for {@linkcode renderPcm} and `renderWav`.
 *
 * @example
 * ```ts
 * import { renderPcm } from "./synth.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 48, velocity: 90, start: 0, duration: 480 }, { pitch: 84, velocity: 90, start: 0, duration: 480 });
 * const pcm = renderPcm(s, { sampleRate: 22050, channels: 2, release: 0.5, peakDb: -3 });
 * pcm.channels.length; // 2: C3 leans left, C6 right
 * ```
 */
export interface SynthOptions {
  /**
   * Longest render in seconds, the release included (default `DEFAULT_MAX_RENDER_SECONDS`, 20 minutes); a longer one
   * throws `RenderLimitError` before any audio is computed.
   */
  maxSeconds?: number;
  /** Samples per second (default 44100). */
  sampleRate?: number;
  /** 1 (mono, default) or 2 (stereo, notes panned gently by pitch: low left, high right). */
  channels?: 1 | 2;
  /** Release time after each note's end, seconds (default 0.25). The output ends this long after the last note. */
  release?: number;
  /** Peak level of the normalised mix in dBFS, ≤ 0 (default −1). Quieter mixes are raised to it too. */
  peakDb?: number;
}

/**
 * Rendered audio: one Float32Array per channel, samples in [−1, 1].
 *
 * @example
 * ```ts
 * import { renderPcm } from "./synth.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 90, start: 0, duration: 480 });
 * const { sampleRate, channels } = renderPcm(s);
 * channels[0].length / sampleRate; // 0.75 s: the note and its 0.25 s release
 * ```
 */
export interface Pcm {
  /** Samples per second. */
  sampleRate: number;
  /** One array per channel (1 = mono, 2 = left, right), equal lengths. */
  channels: Float32Array[];
}

const MAX_PARTIALS = 8;
const ATTACK_S = 0.003;
const FLOOR = 1e-5; // −100 dB: a partial below this is no longer computed

/**
 * The length of a render, checked against `maxSeconds`: seconds (last note end through the tempo map, plus the
 * release) and frames. Throws `RangeError` for a bad option, `RenderLimitError` past `maxSeconds`.
 *
 * @example
 * ```ts
 * import { renderLength } from "./synth.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 100, start: 0, duration: 480 });
 * renderLength(s); // { seconds: 0.75, frames: 33075, sampleRate: 44100, channels: 1 }
 * ```
 */
export function renderLength(
  score: Score,
  opts: SynthOptions = {},
): { seconds: number; frames: number; sampleRate: number; channels: 1 | 2 } {
  const sr = opts.sampleRate ?? 44100;
  const nch = opts.channels ?? 1;
  const release = opts.release ?? 0.25;
  const maxSeconds = opts.maxSeconds ?? DEFAULT_MAX_RENDER_SECONDS;
  if (!(sr >= 8000 && sr <= 192000)) throw new RangeError(`sampleRate: expected 8000–192000, got ${sr}`);
  if (nch !== 1 && nch !== 2) throw new RangeError(`channels: expected 1 or 2, got ${nch}`);
  if (!(release >= 0 && release <= 10)) throw new RangeError(`release: expected 0–10 s, got ${release}`);
  if (!(maxSeconds > 0)) {
    throw new RangeError(`maxSeconds: expected a positive number of seconds, got ${maxSeconds}`);
  }
  const endSec = score.notes.length ? ticksToSeconds(score, scoreEndTick(score)) : 0;
  const seconds = endSec + release;
  if (!(seconds <= maxSeconds)) {
    const len = Number.isFinite(seconds) ? `${+seconds.toFixed(2)} s` : String(seconds);
    throw new RenderLimitError(
      `render: the piece lasts ${len} with its release, longer than the maximum of ${maxSeconds} s ` +
        `(SynthOptions.maxSeconds)`,
      seconds,
      maxSeconds,
    );
  }
  return {
    seconds,
    frames: Math.ceil(endSec * sr) + Math.round(release * sr),
    sampleRate: sr,
    channels: nch,
  };
}

/**
 * Renders a score to PCM. The length is the end of the last note (in seconds, through the tempo map) plus the
 * release, rounded up to whole samples; an empty score gives `release` seconds of silence. Throws `RenderLimitError`
 * when that is longer than `maxSeconds` (default 20 minutes).
 *
 * @example
 * ```ts
 * import { renderPcm } from "./synth.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 100, start: 0, duration: 480 });
 * const pcm = renderPcm(s); // 0.5 s + 0.25 s release at 44.1 kHz
 * pcm.channels[0].length; // 33075
 * ```
 */
export function renderPcm(score: Score, opts: SynthOptions = {}): Pcm {
  const { sampleRate: sr, channels: nch, frames: total } = renderLength(score, opts);
  const release = opts.release ?? 0.25;
  const peakDb = Math.min(0, opts.peakDb ?? -1);
  const relSamples = Math.round(release * sr);
  // Mix in float64 so thousands of overlapping notes accumulate without rounding drift.
  const mixL = new Float64Array(total);
  const mixR = nch === 2 ? new Float64Array(total) : mixL;
  const attack = Math.max(1, Math.round(ATTACK_S * sr));
  const relDecay = relSamples > 0 ? Math.exp(-6 / relSamples) : 0; // −52 dB at the end of the release
  const tempoCache = new Map<number, number>();
  const sec = (tick: number): number => {
    let v = tempoCache.get(tick);
    if (v === undefined) tempoCache.set(tick, v = ticksToSeconds(score, tick));
    return v;
  };

  let buf = new Float64Array(0);
  for (const note of score.notes) {
    if (note.velocity <= 0) continue;
    const s0 = Math.round(sec(note.start) * sr);
    const s1 = Math.max(s0 + 1, Math.round(sec(note.start + Math.max(0, note.duration)) * sr));
    const sEnd = Math.min(total, s1 + relSamples);
    if (s0 >= total) continue;
    const f0 = 440 * 2 ** ((note.pitch - 69) / 12);
    const vel = note.velocity / 127;
    const loud = 0.12 * vel ** 1.6;
    // Fundamental decay: ~4 s at A0 down to ~0.35 s at C8.
    const tau0 = 4 * 2 ** (-(note.pitch - 21) / 24);
    const pan = nch === 2 ? Math.min(1, Math.max(0, (note.pitch - 21) / 87)) * 0.6 + 0.2 : 0.5;
    const gl = nch === 2 ? Math.cos(pan * Math.PI / 2) * Math.SQRT2 : 1;
    const gr = nch === 2 ? Math.sin(pan * Math.PI / 2) * Math.SQRT2 : 1;
    // Sum the partials into a per-note buffer (branch-free hot loop), then apply the envelope and mix once. Past
    // the last partial's `stop` the note is silent: the buffer, the envelope and the mix stop there (`live`), so a
    // note held for minutes costs what its audible part does.
    const len = sEnd - s0;
    const partials: { fk: number; amp: number; tau: number; stop: number }[] = [];
    let live = 0;
    for (let k = 1; k <= MAX_PARTIALS; k++) {
      const fk = k * f0 * Math.sqrt(1 + 0.0004 * k * k);
      if (fk >= 0.45 * sr) break;
      // Brighter at higher velocity: upper partials fall off less steeply.
      const amp = loud * (k === 1 ? 1 : (0.55 + 0.3 * vel) ** (k - 1) / k ** 0.5);
      const tau = tau0 / (1 + 0.7 * (k - 1));
      // Samples until this partial falls below the floor (no further work after that).
      const stop = Math.min(len, Math.max(0, Math.ceil(tau * sr * Math.log(amp / FLOOR))));
      partials.push({ fk, amp, tau, stop });
      live = Math.max(live, stop);
    }
    if (buf.length < live) buf = new Float64Array(Math.max(live, 2 * buf.length));
    else buf.fill(0, 0, live);
    for (const { fk, amp, tau, stop } of partials) {
      const r = Math.exp(-1 / (tau * sr));
      const w = 2 * Math.PI * fk / sr;
      const cr = r * Math.cos(w), ci = r * Math.sin(w);
      let zr = amp, zi = 0;
      for (let j = 0; j < stop; j++) {
        buf[j] += zi;
        const nr = zr * cr - zi * ci;
        zi = zr * ci + zi * cr;
        zr = nr;
      }
    }
    const a = Math.min(attack, live);
    for (let j = 0; j < a; j++) buf[j] *= j / attack;
    let env = 1;
    for (let j = s1 - s0; j < live; j++) {
      env *= relDecay;
      buf[j] *= env;
    }
    if (nch === 2) {
      for (let j = 0; j < live; j++) {
        mixL[s0 + j] += buf[j] * gl;
        mixR[s0 + j] += buf[j] * gr;
      }
    } else {
      for (let j = 0; j < live; j++) mixL[s0 + j] += buf[j];
    }
  }

  let peak = 0;
  for (let i = 0; i < total; i++) {
    const a = Math.abs(mixL[i]);
    if (a > peak) peak = a;
    if (nch === 2) {
      const b = Math.abs(mixR[i]);
      if (b > peak) peak = b;
    }
  }
  const gain = peak > 0 ? 10 ** (peakDb / 20) / peak : 0;
  const channels: Float32Array[] = [];
  for (const mix of nch === 2 ? [mixL, mixR] : [mixL]) {
    const out = new Float32Array(total);
    for (let i = 0; i < total; i++) out[i] = mix[i] * gain;
    channels.push(out);
  }
  return { sampleRate: sr, channels };
}
