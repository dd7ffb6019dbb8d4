import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { encodeWav, renderPcm, renderWav } from "../../lib/audio/mod.ts";
import { emptyScore, type Score } from "../../lib/score.ts";

function header(bytes: Uint8Array) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const str = (o: number, n: number) => String.fromCharCode(...bytes.subarray(o, o + n));
  return {
    riff: str(0, 4),
    riffSize: dv.getUint32(4, true),
    wave: str(8, 4),
    fmt: str(12, 4),
    fmtSize: dv.getUint32(16, true),
    format: dv.getUint16(20, true),
    channels: dv.getUint16(22, true),
    sampleRate: dv.getUint32(24, true),
    byteRate: dv.getUint32(28, true),
    blockAlign: dv.getUint16(32, true),
    bits: dv.getUint16(34, true),
    data: str(36, 4),
    dataSize: dv.getUint32(40, true),
  };
}

/** Two notes with a gap, and a tempo change between them: 120 bpm for the first beat, then 60 bpm. */
function twoNotes(): Score {
  const s = emptyScore(480);
  s.tempos = [{ tick: 0, bpm: 120 }, { tick: 480, bpm: 60 }];
  s.notes.push({ pitch: 69, velocity: 100, start: 0, duration: 480 }); // 0 – 0.5 s
  s.notes.push({ pitch: 57, velocity: 60, start: 1440, duration: 240 }); // 0.5 + 2 s = 2.5 s – 3 s
  return s;
}

Deno.test("renderWav: RIFF/WAVE header of 16-bit PCM at 44.1 kHz, mono and stereo", () => {
  for (const channels of [1, 2] as const) {
    const wav = renderWav(twoNotes(), { channels });
    const h = header(wav);
    const frames = Math.ceil(3 * 44100) + Math.round(0.25 * 44100);
    assertEquals(h, {
      riff: "RIFF",
      riffSize: wav.length - 8,
      wave: "WAVE",
      fmt: "fmt ",
      fmtSize: 16,
      format: 1,
      channels,
      sampleRate: 44100,
      byteRate: 44100 * 2 * channels,
      blockAlign: 2 * channels,
      bits: 16,
      data: "data",
      dataSize: frames * 2 * channels,
    });
    assertEquals(wav.length, 44 + frames * 2 * channels);
  }
});

Deno.test("renderPcm: length follows the tempo map, silence where no note sounds, peak at −1 dBFS", () => {
  const pcm = renderPcm(twoNotes());
  const x = pcm.channels[0];
  const sr = 44100;
  assertEquals(x.length, Math.ceil(3 * sr) + Math.round(0.25 * sr));
  // First note + its release ends at 0.75 s; the second starts at 2.5 s (the 60 bpm part doubles beat length).
  const firstSilent = Math.round(0.75 * sr);
  const secondStart = Math.round(2.5 * sr);
  for (let i = firstSilent; i < secondStart; i++) assertEquals(x[i], 0, `sample ${i} should be silent`);
  let nonzeroAfter = -1;
  for (let i = secondStart; i < x.length; i++) {
    if (x[i] !== 0) {
      nonzeroAfter = i;
      break;
    }
  }
  assert(
    nonzeroAfter >= secondStart && nonzeroAfter < secondStart + 10,
    `second note starts at ${nonzeroAfter}`,
  );
  let peak = 0;
  for (const v of x) peak = Math.max(peak, Math.abs(v));
  assert(peak <= 1, `peak ${peak} above 0 dBFS`);
  assert(Math.abs(20 * Math.log10(peak) - -1) < 0.01, `peak ${20 * Math.log10(peak)} dBFS, expected −1`);
  // Velocity → loudness: the 100-velocity note is louder than the 60-velocity one.
  const rms = (a: number, b: number) => {
    let s = 0;
    for (let i = a; i < b; i++) s += x[i] * x[i];
    return Math.sqrt(s / (b - a));
  };
  assert(rms(0, Math.round(0.1 * sr)) > 2 * rms(secondStart, secondStart + Math.round(0.1 * sr)));
});

Deno.test("renderPcm: an A4 note sounds at 440 Hz (autocorrelation) and the encoded samples never clip", () => {
  const s = emptyScore(480);
  s.notes.push({ pitch: 69, velocity: 127, start: 0, duration: 960 });
  // Many loud simultaneous notes: the normaliser must keep the sum inside [−1, 1].
  for (let p = 40; p < 90; p++) s.notes.push({ pitch: p, velocity: 127, start: 960, duration: 480 });
  const pcm = renderPcm(s, { peakDb: 0 });
  const x = pcm.channels[0];
  // Period by autocorrelation over lags 40–400 (110–1100 Hz): A4 is 44100 / 440 = 100.2 samples.
  let best = 0, bestLag = 0;
  for (let lag = 40; lag <= 400; lag++) {
    let c = 0;
    for (let i = 4410; i < 4410 + 8192; i++) c += x[i] * x[i + lag];
    if (c > best) [best, bestLag] = [c, lag];
  }
  assert(Math.abs(bestLag - 100) <= 1, `period ${bestLag} samples`);
  const wav = encodeWav(pcm);
  const samples = new Int16Array(wav.buffer, 44, (wav.length - 44) / 2);
  let maxAbs = 0;
  for (const v of samples) maxAbs = Math.max(maxAbs, Math.abs(v));
  assert(maxAbs <= 32767 && maxAbs > 32000, `max sample ${maxAbs}`);
});

Deno.test("renderPcm: an empty score is release-long silence; bad options are RangeErrors", () => {
  const pcm = renderPcm(emptyScore(480));
  assertEquals(pcm.channels[0].length, Math.round(0.25 * 44100));
  assert(pcm.channels[0].every((v) => v === 0));
  assertThrows(() => renderPcm(emptyScore(), { sampleRate: 10 }), RangeError);
  assertThrows(() => renderPcm(emptyScore(), { channels: 3 as 1 }), RangeError);
});

Deno.test("renderPcm: stereo pans low notes left and high notes right", () => {
  const s = emptyScore(480);
  s.notes.push({ pitch: 30, velocity: 100, start: 0, duration: 480 });
  s.notes.push({ pitch: 100, velocity: 100, start: 960, duration: 480 });
  const { channels: [l, r] } = renderPcm(s, { channels: 2 });
  const energy = (x: Float32Array, a: number, b: number) => {
    let e = 0;
    for (let i = a; i < b; i++) e += x[i] * x[i];
    return e;
  };
  assert(energy(l, 0, 22050) > energy(r, 0, 22050));
  assert(energy(r, 44100, 66150) > energy(l, 44100, 66150));
});
