/**
 * Infilling helpers (lib/infer/infill.ts) on real MIDI (../shared/midi: Für Elise with its 923 tempo changes, a MAESTRO
 * performance; ignored when absent) and on a written piece with meter changes: the FIM prompt is the PSM layout of
 * training and reorders back to the piece; a fake "model" output spliced into bars i..j leaves every other bar's ids
 * byte-identical, every note outside the bars, the tempo map and the meters unchanged after decoding, and the middle
 * has exactly j − i + 1 bars, whatever the output (extra bars, an early EOS, its own TimeSig and Tempo tokens).
 */
import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { join } from "node:path";
import { CORPUS } from "../_corpus.ts";
import { readMidiFile } from "../../lib/midi/mod.ts";
import { emptyScore, type Score } from "../../lib/score.ts";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import { trainBpe } from "../../lib/tokenizers/bpe.ts";
import type { Tokenizer } from "../../lib/tokenizers/tokenizer.ts";
import { BOS_ID, EOS_ID } from "../../lib/tokenizers/tokenizer.ts";
import { conditionIds, CONDITIONING_TOKENS, conditioningIds } from "../../lib/data/conditioning.ts";
import { fromPsm } from "../../lib/data/fim.ts";
import {
  barStarts,
  buildInfillPrompt,
  infillPositions,
  middleComplete,
  parseInfillRange,
  spliceInfill,
  spliceScore,
  splitAtBars,
} from "../../lib/infer/infill.ts";

const remi = new RemiTokenizer({ extraTokens: [...CONDITIONING_TOKENS] });

/** A written piece: 12 bars, 4/4 then 3/4 from bar 5 then 6/8 from bar 9, tempo changes inside bars. */
function writtenPiece(): Score {
  const s = emptyScore(480);
  s.timeSignatures = [
    { tick: 0, numerator: 4, denominator: 4 },
    { tick: 4 * 1920, numerator: 3, denominator: 4 },
    { tick: 4 * 1920 + 4 * 1440, numerator: 6, denominator: 8 },
  ];
  s.tempos = [{ tick: 0, bpm: 100 }, { tick: 1920 * 2 + 480, bpm: 140 }, {
    tick: 4 * 1920 + 1440 * 2 + 240,
    bpm: 70,
  }];
  let t = 0, bar = 0;
  const barLen = (b: number) => (b < 4 ? 1920 : b < 8 ? 1440 : 1440);
  for (; bar < 12; t += barLen(bar), bar++) {
    for (let k = 0; k < barLen(bar) / 240; k++) {
      s.notes.push({
        pitch: 48 + ((bar * 5 + k * 7) % 36),
        velocity: 40 + ((bar + k) * 9) % 80,
        start: t + k * 240,
        duration: 240,
      });
    }
    s.notes.push({ pitch: 36 + bar, velocity: 70, start: t, duration: barLen(bar) });
  }
  return s;
}

/** Decodes at one tick per grid position (8 per beat). */
function decodeGrid(tok: Tokenizer, ids: number[]): Score {
  return (tok as RemiTokenizer).decode(ids, { ticksPerBeat: 8 });
}

/** Decoded notes outside [a, b) (grid positions at tpb = grid), the tempo map and meters. */
function outside(tok: Tokenizer, ids: number[], a: number, b: number) {
  const s = decodeGrid(tok, ids);
  return {
    notes: s.notes.filter((n) => n.start < a || n.start >= b),
    inside: s.notes.filter((n) => n.start >= a && n.start < b),
    tempos: s.tempos,
    timeSignatures: s.timeSignatures,
  };
}

function checkSplice(
  tok: Tokenizer,
  ids: number[],
  from: number,
  to: number,
  generated: number[],
  donor?: number[],
) {
  const r = { from, to };
  const { prefix, middle, suffix } = splitAtBars(tok, ids, r);
  assertEquals([...prefix, ...middle, ...suffix], ids);
  const out = spliceInfill(tok, ids, r, generated);
  assertEquals(out.ids.slice(0, prefix.length), prefix, "the bars before are byte-identical");
  assertEquals(out.ids.slice(out.ids.length - suffix.length), suffix, "the bars after are byte-identical");
  assertEquals(out.ids.slice(prefix.length, out.ids.length - suffix.length), out.middle);
  assertEquals(barStarts(tok, out.middle).length, to - from + 1, "exactly the bars asked for");
  const [a, b] = infillPositions(tok, ids, r);
  assertEquals(infillPositions(tok, out.ids, r), [a, b], "the later bars start on the same position");
  const before = outside(tok, ids, a, b), after = outside(tok, out.ids, a, b);
  assertEquals(after.notes, before.notes, "every note outside the bars");
  assertEquals(after.tempos, before.tempos, "the tempo map");
  assertEquals(after.timeSignatures, before.timeSignatures, "the meters");
  if (donor) {
    // the middle's notes are the donor bars' notes (same meter), moved to bar `from`
    const d = decodeGrid(tok, donor).notes;
    const rel = (ns: typeof d, at: number) =>
      ns.map((n) => [n.start - at, n.pitch, n.velocity, n.duration].join()).sort();
    const d0 = Math.min(...d.map((n) => n.start));
    assertEquals(after.inside.length, d.length);
    assert(after.inside.length > 0);
    const inside0 = Math.min(...after.inside.map((n) => n.start));
    assertEquals(rel(after.inside, inside0), rel(d, d0));
  }
  return out;
}

Deno.test("parseInfillRange: FROM:TO or one bar; one-line errors", () => {
  assertEquals(parseInfillRange("5:8"), { from: 5, to: 8 });
  assertEquals(parseInfillRange("3"), { from: 3, to: 3 });
  assertThrows(() => parseInfillRange("8:5"), Error, "--infill: expected FROM:TO");
  assertThrows(() => parseInfillRange("0:2"), Error, "--infill");
  assertThrows(() => parseInfillRange("a"), Error, "--infill");
});

Deno.test("infill on a written piece with meter and tempo changes: REMI and BPE", () => {
  const s = writtenPiece();
  for (const tok of [remi, trainBpe(remi, [s], { vocabSize: remi.vocab.length + 60 }) as Tokenizer]) {
    const ids = tok.encode(s);
    assertEquals(barStarts(tok, ids).length, 12);
    // a fake model output: bars 6–7 (3/4, a tempo change inside) pasted into bars 5–7, then more bars and EOS
    const donor = splitAtBars(tok, ids, { from: 6, to: 7 }).middle;
    checkSplice(tok, ids, 5, 7, [...donor, ...donor, EOS_ID]);
    // across the meter change, and with the model's own TimeSig/Tempo tokens (bar 1 has TimeSig_4/4 Tempo_…)
    const bar1 = splitAtBars(tok, ids, { from: 1, to: 1 }).middle;
    checkSplice(tok, ids, 4, 9, [...bar1, ...bar1, ...bar1, ...bar1, ...bar1, ...bar1, ...bar1]);
    // an early EOS: one bar, then empty bars up to the count
    const out = checkSplice(tok, ids, 2, 4, [...donor.slice(0, barStarts(tok, donor)[1]), EOS_ID, ...donor]);
    assertEquals(barStarts(tok, out.middle).length, 3);
    // nothing at all, and the first and the last bars
    checkSplice(tok, ids, 1, 2, []);
    checkSplice(tok, ids, 12, 12, [BOS_ID]);
    assertThrows(() => spliceInfill(tok, ids, { from: 11, to: 13 }, []), Error, "the piece has 12 bars");
  }
});

Deno.test("buildInfillPrompt: BOS, conditions, FIM_PRE prefix FIM_SUF suffix FIM_MID; reorders back; trims to fit", () => {
  const s = writtenPiece();
  const ids = remi.encode(s);
  const c = conditioningIds(remi.vocab)!;
  const cond = conditionIds(c, { style: "pop", key: "E minor" });
  const r = { from: 3, to: 5 };
  const { prompt, bars, prefix, suffix } = buildInfillPrompt(remi, ids, r, { conditions: cond });
  assertEquals(bars, 3);
  const parts = splitAtBars(remi, ids, r);
  assertEquals(prompt, [BOS_ID, ...cond, c.fim.pre, ...parts.prefix, c.fim.suf, ...parts.suffix, c.fim.mid]);
  assertEquals([prefix, suffix], [parts.prefix, parts.suffix]);
  // the model's middle after the prompt: PSM reordered back is the piece
  assertEquals(fromPsm([...prompt, ...parts.middle], c.fim), [BOS_ID, ...cond, ...ids]);
  // a budget: the prefix loses its start and the suffix its end, the ids next to the middle stay
  const small = buildInfillPrompt(remi, ids, r, { conditions: cond, maxTokens: 60 });
  assertEquals(small.prompt.length, 60);
  assertEquals(small.prefix, parts.prefix.slice(parts.prefix.length - small.prefix.length));
  assertEquals(small.suffix, parts.suffix.slice(0, small.suffix.length));
  assert(Math.abs(small.prefix.length - small.suffix.length) <= 1);
  assertEquals(buildInfillPrompt(remi, ids, r).prompt.slice(0, 6), [BOS_ID, ...c.none, c.fim.pre]);
  assertThrows(() => buildInfillPrompt(new RemiTokenizer(), ids, r), Error, "no FIM_PRE");
});

Deno.test("spliceScore: the user's own notes outside the bars are kept exactly (unquantised), the new bars replaced", () => {
  const s = writtenPiece();
  s.notes = s.notes.map((n, i) => ({
    ...n,
    start: n.start + (i % 5) - 2 < 0 ? n.start : n.start + (i % 5) - 2,
  })); // off the grid
  const ids = remi.encode(s);
  const r = { from: 2, to: 3 };
  const donor = splitAtBars(remi, ids, { from: 9, to: 10 }).middle;
  const { ids: infilled } = spliceInfill(remi, ids, r, donor);
  const out = spliceScore(remi, s, ids, r, infilled);
  const [a, b] = infillPositions(remi, ids, r);
  const pos = (t: number) => Math.round(t * 8 / 480);
  const keep = (n: { start: number }) => pos(n.start) < a || pos(n.start) >= b;
  assertEquals(
    out.notes.filter(keep),
    s.notes.filter(keep).sort((x, y) => x.start - y.start || x.pitch - y.pitch),
  );
  assertEquals([out.tempos, out.timeSignatures, out.ticksPerBeat], [s.tempos, s.timeSignatures, 480]);
  const inside = out.notes.filter((n) => !keep(n));
  assert(inside.length > 0);
  assert(
    inside.every((n) =>
      !s.notes.some((m) => m.start === n.start && m.pitch === n.pitch && m.velocity === n.velocity)
    ),
  );
});

for (
  const file of ["piano-midi-de/midis/Beethoven/elise.mid", "miditok/tests/MIDIs_one_track/Maestro_1.mid"]
) {
  Deno.test({
    name: `infill on real MIDI: ${file.split("/").pop()} (REMI and BPE)`,
    ignore: !CORPUS,
    fn: async () => {
      const s = await readMidiFile(join(CORPUS!, file));
      const bpe = trainBpe(remi, [s], { vocabSize: remi.vocab.length + 200 });
      for (const tok of [remi, bpe] as Tokenizer[]) {
        const ids = tok.encode(s);
        const n = barStarts(tok, ids).length;
        assert(n > 20, `${n} bars`);
        const donor = splitAtBars(tok, ids, { from: n - 8, to: n - 5 }).middle;
        checkSplice(tok, ids, 5, 8, [...donor, EOS_ID]);
        // a sampler stops once the fourth bar is done: at the next bar line, or at EOS
        const starts = barStarts(tok, donor);
        assertEquals(middleComplete(tok, donor, 4), false);
        assertEquals(middleComplete(tok, [...donor, ...donor.slice(0, 1)], 4), true);
        assertEquals(middleComplete(tok, donor.slice(0, starts[3]), 3), false);
        assertEquals(middleComplete(tok, donor.slice(0, starts[3] + 1), 3), true);
        assertEquals(middleComplete(tok, [...donor.slice(0, 3), EOS_ID], 4), true);
        checkSplice(tok, ids, 1, 3, donor);
        checkSplice(tok, ids, n - 2, n, donor);
        const out = spliceScore(
          tok,
          s,
          ids,
          { from: 5, to: 8 },
          spliceInfill(tok, ids, { from: 5, to: 8 }, donor).ids,
        );
        assertEquals(out.tempos, s.tempos);
      }
    },
  });
}
