/**
 * The tempo of a performance from its onsets (lib/score/tempo.ts). Written performances at known tempi, with timing
 * jitter, accents on the beat and subdivisions, come out at their beat; on real pieces of known tempo (POP909's
 * songs, when ../shared/midi-corpus is beside the repository: each song's notes retimed to seconds at a placeholder
 * 120 bpm, so only the onsets are left) the estimate sits at the tempo map's beat for most songs and at a
 * neighbouring metrical level for nearly all. Fewer than 16 onsets: no estimate.
 */
import { assert, assertEquals } from "../_assert.ts";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { estimateTempo } from "../../lib/score/tempo.ts";
import { emptyScore, type Score, ticksToSeconds } from "../../lib/score.ts";
import { readMidiFile } from "../../lib/midi/mod.ts";
import { pieceFeatures } from "../../lib/data/conditioning.ts";
import { mulberry32 } from "../../lib/util/rng.ts";

/** A performance at `bpm` written at a placeholder 120 bpm: beats accented, eighths between, ±`jitter` s. */
function performance(bpm: number, seed: number, jitter = 0.012): Score {
  const s = emptyScore(480); // 120 bpm map: 960 ticks a second
  const r = mulberry32(seed), beat = 60 / bpm;
  for (let b = 0; b < 48; b++) {
    for (const [off, vel] of [[0, b % 4 ? 84 : 104], [0.5, 58]] as const) {
      if (off && r() < 0.35) continue;
      const t = (b + off) * beat + (r() - 0.5) * 2 * jitter;
      s.notes.push({
        pitch: 48 + Math.floor(r() * 30),
        velocity: vel,
        start: Math.max(0, Math.round(t * 960)),
        duration: 200,
      });
    }
  }
  return s;
}

Deno.test("estimateTempo: written performances come out at their beat (an octave from the prior: at a metrical level)", () => {
  for (const [i, bpm] of [76, 84, 92, 100, 108].entries()) {
    const est = estimateTempo(performance(bpm, i + 1))!;
    assert(Math.abs(est / bpm - 1) < 0.04, `${bpm} bpm estimated ${est.toFixed(1)}`);
  }
  // an octave from the prior's centre, the beat and a neighbouring level (×2, ×½, ×3⁄2, ×2⁄3) correlate alike
  for (const [i, bpm] of [56, 64, 132, 150].entries()) {
    const est = estimateTempo(performance(bpm, i + 11))!;
    assert(
      [1, 2, 0.5, 1.5, 2 / 3].some((m) => Math.abs(est / (bpm * m) - 1) < 0.04),
      `${bpm} bpm estimated ${est.toFixed(1)}`,
    );
  }
  const few = performance(100, 9);
  few.notes = few.notes.slice(0, 10);
  assertEquals(estimateTempo(few), undefined);
});

const POP909 = join(fileURLToPath(new URL("../../..", import.meta.url)), "shared", "midi-corpus", "pop909");
const hasPop = (() => {
  try {
    return Deno.statSync(POP909).isDirectory;
  } catch {
    return false;
  }
})();

Deno.test({
  name:
    "estimateTempo on POP909 songs with their tempo maps removed: the map's beat, or a neighbouring level",
  ignore: !hasPop,
  async fn() {
    const files = [...Deno.readDirSync(POP909)].map((e) => e.name).filter((n) => n.endsWith(".mid")).sort()
      .slice(0, 150);
    let n = 0, exact = 0, level = 0;
    for (const f of files) {
      const song = await readMidiFile(join(POP909, f));
      if (song.tempos.length !== 1) continue;
      const truth = pieceFeatures(song).bpm!;
      // only the onsets left: every note retimed to seconds, the map a placeholder 120 bpm
      const perf = emptyScore(480);
      perf.notes = song.notes.map((x) => {
        const a = ticksToSeconds(song, x.start), b = ticksToSeconds(song, x.start + x.duration);
        return { ...x, start: Math.round(a * 960), duration: Math.max(1, Math.round((b - a) * 960)) };
      });
      const est = estimateTempo(perf);
      if (est === undefined) continue;
      n++;
      const r = est / truth;
      if (Math.abs(r - 1) < 0.06) exact++;
      else if ([2, 0.5, 1.5, 2 / 3].some((m) => Math.abs(r / m - 1) < 0.06)) level++;
    }
    // measured: 51 of 83 at the map's beat, 80 of 83 at it or a neighbouring level
    assert(n >= 60, `${n} songs`);
    assert(exact / n >= 0.5, `${exact} of ${n} at the map's beat`);
    assert((exact + level) / n >= 0.9, `${exact + level} of ${n} at a metrical level`);
  },
});
