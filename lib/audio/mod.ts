/**
 * Audio rendering: a `Score` to PCM with a piano-like synthesiser, and to 16-bit WAV bytes.
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
export { type Pcm, renderPcm, type SynthOptions } from "./synth.ts";
export { encodeWav, renderWav } from "./wav.ts";
