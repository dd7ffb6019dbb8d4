/**
 * lib/audio against hostile scores (issue 11, F2): a maximum render length refused before anything is allocated, a
 * WAV whose RIFF sizes cannot wrap, and long-held notes that cost only their audible part.
 */
import {
  DEFAULT_MAX_RENDER_SECONDS,
  encodeWav,
  MAX_WAV_DATA_BYTES,
  type Pcm,
  renderLength,
  RenderLimitError,
  renderPcm,
  renderWav,
} from "../../lib/audio/mod.ts";
import { readMidi } from "../../lib/midi/mod.ts";
import { emptyScore } from "../../lib/score.ts";
import { assert, assertAlmostEquals, assertEquals } from "../_assert.ts";

/** Runs `fn`, which must throw a `cls` whose message contains `part`; returns that error. */
// deno-lint-ignore no-explicit-any
function caught<E extends Error>(fn: () => unknown, cls: new (...args: any[]) => E, part = ""): E {
  try {
    fn();
  } catch (e) {
    assert(e instanceof cls, `expected a ${cls.name}, got ${e}`);
    assert(e.message.includes(part), `${JSON.stringify(e.message)} does not contain ${JSON.stringify(part)}`);
    return e;
  }
  throw new Error(`expected a ${cls.name}, nothing was thrown`);
}

const hex = (h: string) => new Uint8Array(h.match(/../g)!.map((x) => parseInt(x, 16)));
/** F2 of issue 11: a 16.7 s beat and a note at beat 3,001 (50 bytes; a ~4.4 GB WAV with a wrapped RIFF size before). */
const F2 = hex(
  "4d546864000000060000000100014d54726b0000001c00ff5103ffffff00903c4001803c009738903e4001803e0000ff2f00",
);

Deno.test("render F2: 14 hours of score is refused with one line before any audio is computed", () => {
  const far = readMidi(F2, { maxSeconds: Infinity, maxBars: Infinity, maxGapSeconds: Infinity });
  for (const render of [renderWav, renderPcm]) {
    const e = caught(() => render(far), RenderLimitError);
    assertEquals(
      e.message,
      "render: the piece lasts 50365.45 s with its release, longer than the maximum of 1200 s (SynthOptions.maxSeconds)",
    );
    assert(e instanceof RangeError && !e.message.includes("\n"));
    assertAlmostEquals(e.seconds, 3002 * 0xffffff / 1e6 + 0.25, 1e-6);
    assertEquals(e.maxSeconds, DEFAULT_MAX_RENDER_SECONDS);
  }
  // Read with the default limits the silence is shortened: about 9.5 minutes, under the 20-minute default.
  const read = readMidi(F2);
  const { seconds, frames } = renderLength(read);
  assert(seconds > 500 && seconds < 600, `${seconds}`);
  assertEquals(frames, Math.ceil(34 * 0xffffff / 1e6 * 44100) + Math.round(0.25 * 44100));
  // And a lower limit (a server's) refuses it too.
  caught(
    () => renderWav(read, { maxSeconds: 60 }),
    RenderLimitError,
    "longer than the maximum of 60 s",
  );
});

Deno.test("render: maxSeconds counts the release; bad values are RangeErrors", () => {
  const s = emptyScore(480);
  s.notes.push({ pitch: 60, velocity: 100, start: 0, duration: 1920 }); // 2 s
  assertEquals(renderPcm(s, { maxSeconds: 2.25 }).channels[0].length, 2 * 44100 + Math.round(0.25 * 44100));
  caught(() => renderPcm(s, { maxSeconds: 2.2 }), RenderLimitError, "lasts 2.25 s");
  assertEquals(renderPcm(s, { maxSeconds: 2.2, release: 0 }).channels[0].length, 2 * 44100);
  caught(() => renderPcm(s, { maxSeconds: 0 }), RangeError, "maxSeconds: expected a positive number");
  caught(() => renderPcm(s, { maxSeconds: NaN }), RangeError, "maxSeconds");
  // A score whose ticks make no sense (NaN) is refused the same way rather than rendered.
  const bad = emptyScore(480);
  bad.notes.push({ pitch: 60, velocity: 100, start: NaN, duration: 10 });
  caught(() => renderWav(bad), RenderLimitError, "lasts NaN");
});

Deno.test("wav: the RIFF size can never wrap: more than 4 GiB of samples is refused, before allocating", () => {
  // A stand-in for 2³¹ stereo frames (8 GiB of samples): only its length is read before the refusal.
  const huge = { length: 2 ** 31 } as unknown as Float32Array;
  const pcm: Pcm = { sampleRate: 44100, channels: [huge, huge] };
  const e = caught(() => encodeWav(pcm), RenderLimitError, "do not fit a WAV file");
  assertEquals(
    e.message,
    `WAV: ${2 ** 33} bytes of samples do not fit a WAV file (at most 4294967259: its sizes are 32-bit)`,
  );
  // renderWav checks the WAV size before rendering: 14 hours at 96 kHz stereo with the length limit lifted.
  const far = readMidi(F2, { maxSeconds: Infinity, maxBars: Infinity, maxGapSeconds: Infinity });
  caught(
    () => renderWav(far, { maxSeconds: Infinity, sampleRate: 96000, channels: 2 }),
    RenderLimitError,
    "do not fit a WAV file",
  );
  assertEquals(MAX_WAV_DATA_BYTES + 36, 0xffffffff);
  // Right at the edge a header still holds its true sizes.
  const small = encodeWav({ sampleRate: 8000, channels: [new Float32Array(3)] });
  assertEquals(new DataView(small.buffer).getUint32(4, true), small.length - 8);
});

Deno.test("render: a note held for 15 minutes sounds as it decays, then is exact silence to the end", () => {
  const s = emptyScore(480);
  s.notes.push({ pitch: 72, velocity: 100, start: 0, duration: 480 * 2 * 900 }); // C5, 900 s at 120 bpm
  const pcm = renderPcm(s, { sampleRate: 8000 });
  const x = pcm.channels[0];
  assertEquals(x.length, 900 * 8000 + 2000);
  // C5's fundamental decays with τ ≈ 1.26 s: well below −100 dB after a minute.
  let lastSound = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== 0) lastSound = i;
  assert(lastSound > 8000 && lastSound < 60 * 8000, `last non-zero sample at ${lastSound / 8000} s`);
  let peak = 0;
  for (const v of x) peak = Math.max(peak, Math.abs(v));
  assertAlmostEquals(peak, 10 ** (-1 / 20), 1e-6);
});
