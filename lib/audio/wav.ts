/**
 * WAV (RIFF, 16-bit PCM) encoding, and `renderWav`: a `Score` straight to `.wav` bytes.
 *
 * @module
 */
import type { Score } from "../score.ts";
import { type Pcm, renderLength, RenderLimitError, renderPcm, type SynthOptions } from "./synth.ts";

/**
 * The most sample bytes a WAV file holds: its RIFF size field (data + 36 header bytes) is 32-bit. About 13.5 hours
 * of mono 16-bit audio at 44.1 kHz.
 *
 * @example
 * ```ts
 * import { MAX_WAV_DATA_BYTES } from "./wav.ts";
 * MAX_WAV_DATA_BYTES; // 4294967259
 * ```
 */
export const MAX_WAV_DATA_BYTES = 0xffffffff - 36;

function checkWavSize(dataBytes: number, seconds: number): void {
  if (dataBytes > MAX_WAV_DATA_BYTES) {
    throw new RenderLimitError(
      `WAV: ${dataBytes} bytes of samples do not fit a WAV file (at most ${MAX_WAV_DATA_BYTES}: its sizes are 32-bit)`,
      seconds,
      seconds * MAX_WAV_DATA_BYTES / dataBytes,
    );
  }
}

/**
 * Encodes PCM (samples in [−1, 1], clamped) as a 16-bit little-endian PCM WAV file (44-byte header). Throws
 * `RenderLimitError` when the samples would not fit (more than `MAX_WAV_DATA_BYTES`), so the RIFF sizes never wrap.
 *
 * @example
 * ```ts
 * import { encodeWav } from "./wav.ts";
 * const bytes = encodeWav({ sampleRate: 44100, channels: [new Float32Array(441)] });
 * bytes.length; // 44 + 882
 * ```
 */
export function encodeWav(pcm: Pcm): Uint8Array {
  const nch = pcm.channels.length;
  if (nch < 1) throw new RangeError("encodeWav: at least one channel is needed");
  const frames = pcm.channels[0].length;
  for (const c of pcm.channels) {
    if (c.length !== frames) throw new RangeError("encodeWav: channels differ in length");
  }
  const dataBytes = frames * nch * 2;
  checkWavSize(dataBytes, frames / pcm.sampleRate);
  const out = new Uint8Array(44 + dataBytes);
  const dv = new DataView(out.buffer);
  const ascii = (off: number, s: string) => {
    for (let i = 0; i < s.length; i++) out[off + i] = s.charCodeAt(i);
  };
  ascii(0, "RIFF");
  dv.setUint32(4, 36 + dataBytes, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  dv.setUint32(16, 16, true); // fmt chunk size
  dv.setUint16(20, 1, true); // PCM
  dv.setUint16(22, nch, true);
  dv.setUint32(24, pcm.sampleRate, true);
  dv.setUint32(28, pcm.sampleRate * nch * 2, true); // byte rate
  dv.setUint16(32, nch * 2, true); // block align
  dv.setUint16(34, 16, true); // bits per sample
  ascii(36, "data");
  dv.setUint32(40, dataBytes, true);
  const samples = new Int16Array(out.buffer, 44, frames * nch);
  for (let c = 0; c < nch; c++) {
    const ch = pcm.channels[c];
    for (let i = 0; i < frames; i++) {
      const v = Math.max(-1, Math.min(1, ch[i]));
      samples[i * nch + c] = Math.round(v * 32767);
    }
  }
  return out;
}

/**
 * Renders a score with the piano-like synthesiser and encodes it as a 44.1 kHz 16-bit WAV (mono by default).
 * The mix is peak-normalised to −1 dBFS, so it never clips. Throws `RenderLimitError`, before rendering anything, when
 * the piece is longer than `opts.maxSeconds` (default 20 minutes) or its WAV would pass 4 GiB.
 *
 * @example
 * ```ts
 * import { renderWav } from "./wav.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 100, start: 0, duration: 480 });
 * const wav = renderWav(s, { channels: 2 });
 * await Deno.writeFile("/tmp/etude_c4.wav", wav);
 * ```
 */
export function renderWav(score: Score, opts: SynthOptions = {}): Uint8Array {
  const { frames, channels, seconds } = renderLength(score, opts);
  checkWavSize(frames * channels * 2, seconds);
  return encodeWav(renderPcm(score, opts));
}
