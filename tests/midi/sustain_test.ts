/**
 * The sustain pedal (lib/midi/_sustain.ts) sorts its events packed into one number each when they fit, else by
 * comparing (tick, kind, index): both orders give the same note ends. Checked on random pieces: integer ticks take
 * the packed path; the same piece shifted by a quarter tick takes the other, and every end comes out shifted alike.
 * Known cases pin the semantics (note_seq's): release under the pedal rings to pedal-up, a re-strike cuts, a pedal
 * never released rings to the end.
 */
import { assertEquals } from "../_assert.ts";
import { applySustain, type PedalEvent } from "../../lib/midi/_sustain.ts";
import type { RawNote } from "../../lib/midi/_notes.ts";
import { mulberry32 } from "../../lib/util/rng.ts";

function piece(seed: number): { notes: RawNote[]; pedal: PedalEvent[]; end: number } {
  const r = mulberry32(seed);
  const notes: RawNote[] = [];
  for (let i = 0; i < 300; i++) {
    const start = Math.floor(r() * 5000);
    notes.push({
      channel: 0,
      pitch: 60 + Math.floor(r() * 6),
      velocity: 80,
      start,
      end: start + 1 + Math.floor(r() * 300),
    });
  }
  const pedal: PedalEvent[] = [];
  let t = 0;
  for (let i = 0; i < 40; i++) {
    t += Math.floor(r() * 250);
    pedal.push({ tick: t, value: r() < 0.5 ? 127 : 0 });
  }
  return { notes, pedal, end: 6000 };
}

Deno.test("applySustain: the packed sort and the compared sort give the same ends", () => {
  for (let seed = 1; seed <= 30; seed++) {
    const a = piece(seed), b = piece(seed);
    const q = 0.25;
    for (const n of b.notes) n.start += q, n.end += q;
    for (const p of b.pedal) p.tick += q;
    const na = applySustain(a.notes, a.pedal, a.end);
    const nb = applySustain(b.notes, b.pedal, b.end + q);
    assertEquals(nb, na, `seed ${seed}: notes extended`);
    assertEquals(b.notes.map((n) => n.end - q), a.notes.map((n) => n.end), `seed ${seed}`);
  }
});

Deno.test("applySustain: release under the pedal, re-strike, a pedal never released", () => {
  const n = (pitch: number, start: number, end: number): RawNote => ({
    channel: 0,
    pitch,
    velocity: 80,
    start,
    end,
  });
  const notes = [n(60, 0, 100), n(62, 0, 100), n(60, 200, 250), n(64, 600, 650)];
  const extended = applySustain(notes, [{ tick: 50, value: 127 }, { tick: 400, value: 0 }, {
    tick: 620,
    value: 100,
  }], 900);
  // 60 rings until its re-strike at 200; 62 until pedal-up at 400; the re-struck 60 (released at 250) until 400;
  // 64 is released at 650 under a pedal never lifted: it rings to the end
  assertEquals(notes.map((x) => x.end), [200, 400, 400, 900]);
  assertEquals(extended, 4);
});
