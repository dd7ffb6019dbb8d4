/**
 * Audio rendering: a `Score` to PCM with a piano-like synthesiser, and to 16-bit WAV bytes; renders longer than
 * `maxSeconds` (default 20 minutes) or WAVs past 4 GiB are refused with a `RenderLimitError`.
 *
 * @example
 * ```ts
 * import { renderWav } from "./mod.ts";
 * import { emptyScore } from "../score.ts";
 * const wav = renderWav(emptyScore(480));
 * ```
 *
 * @module
 */
export {
  DEFAULT_MAX_RENDER_SECONDS,
  type Pcm,
  renderLength,
  RenderLimitError,
  renderPcm,
  type SynthOptions,
} from "./synth.ts";
export { encodeWav, MAX_WAV_DATA_BYTES, renderWav } from "./wav.ts";
