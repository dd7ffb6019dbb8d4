/**
 * The page's bar grid (lib/server/page_roll.js, plain browser JavaScript): bars in the piece's meters, as the
 * tokenizer counts them. For pieces in 3/4, 6/8, 4/4 → 3/4 → 5/4 and with no meter at all, every note's bar on the
 * roll equals its REMI bar (the `Bar` tokens before its pitch token), so the bars a musician selects are the bars
 * `infill` regenerates.
 */
import { assert, assertEquals } from "../_assert.ts";
import { barAtTick, barAtX, barTicks, rollEnd } from "../../lib/server/page_roll.js";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import { emptyScore, type Score, type TimeSignature } from "../../lib/score.ts";

function piece(sigs: TimeSignature[], notes = 120): Score {
  const s = emptyScore(480);
  s.timeSignatures = sigs.length ? sigs : s.timeSignatures;
  for (let i = 0; i < notes; i++) {
    s.notes.push({ pitch: 55 + (i % 17), velocity: 70, start: i * 360 + (i % 3) * 60, duration: 240 });
  }
  return s;
}

/** For each note of the decoded piece (start, pitch), its bar: `Bar` tokens up to its pitch token. */
function remiBars(tok: RemiTokenizer, ids: number[]): Map<string, number> {
  const out = new Map<string, number>();
  const dec = tok.decode(ids);
  let bar = 0, k = 0;
  const sorted = [...dec.notes].sort((a, b) => a.start - b.start || a.pitch - b.pitch);
  for (const id of ids) {
    const name = tok.vocab[id];
    if (name === "Bar_None") bar++;
    else if (name.startsWith("Pitch_")) {
      const n = sorted[k++];
      out.set(`${n.start}:${n.pitch}`, bar);
    }
  }
  assertEquals(k, sorted.length);
  return out;
}

Deno.test("page bar grid = the tokenizer's bars, in every meter", () => {
  const tok = new RemiTokenizer();
  const cases: TimeSignature[][] = [
    [{ tick: 0, numerator: 3, denominator: 4 }],
    [{ tick: 0, numerator: 6, denominator: 8 }],
    [{ tick: 0, numerator: 4, denominator: 4 }, { tick: 2 * 1920, numerator: 3, denominator: 4 }, {
      tick: 2 * 1920 + 4 * 1440,
      numerator: 5,
      denominator: 4,
    }],
    [],
  ];
  for (const sigs of cases) {
    const ids = tok.encode(piece(sigs));
    const dec = tok.decode(ids);
    const want = remiBars(tok, ids);
    const end = rollEnd(dec.notes, dec.ticksPerBeat);
    const bars = barTicks(dec.timeSignatures, dec.ticksPerBeat, end);
    assert(bars[bars.length - 1] > end, "one bar past the end");
    for (const n of dec.notes) {
      assertEquals(
        barAtTick(n.start, bars),
        want.get(`${n.start}:${n.pitch}`),
        `${JSON.stringify(sigs)} @${n.start}`,
      );
    }
    // the position on the roll maps to the same bar
    const n = dec.notes[dec.notes.length >> 1];
    assertEquals(
      barAtX(n.start / end, dec.notes, dec.ticksPerBeat, dec.timeSignatures),
      want.get(`${n.start}:${n.pitch}`),
    );
  }
});
