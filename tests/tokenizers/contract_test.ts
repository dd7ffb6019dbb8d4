/**
 * The tokenizer contract (_contract.ts) run against every tokenizer: pitch strings, REMI (etude's default, all
 * options on, and the BPE paper's preset) and REMI+BPE. Each comes with its documented resolution: what encode →
 * decode keeps of a real piece.
 */
import type { Score } from "../../lib/score.ts";
import {
  BpeTokenizer,
  FRADET_REMI_CONFIG,
  noteName,
  PitchStringTokenizer,
  RemiTokenizer,
  trainBpe,
} from "../../lib/tokenizers/mod.ts";
import { type ExpectedNote, runTokenizerContract } from "./_contract.ts";

/** The values of `xs` nearest to `x` (two where `x` lies halfway between them). */
function nearestValues(xs: readonly number[], x: number): number[] {
  let d = Infinity;
  for (const v of xs) d = Math.min(d, Math.abs(v - x));
  return xs.filter((v) => Math.abs(v - x) <= d + 1e-9);
}

/**
 * REMI (remi.ts): notes outside the pitch range are dropped; onsets snap to the grid (`tables.grid` steps per beat);
 * durations go to the nearest duration bin and velocities to the nearest velocity bin; of the notes of one pitch on
 * one grid step one is kept. Decoded at `decodeTicksPerBeat`. Tempo and meter change no note.
 */
function remiResolution(tok: RemiTokenizer, score: Score): ExpectedNote[] {
  const t = tok.tables, c = tok.config, [lo, hi] = c.pitchRange;
  const scale = t.grid / score.ticksPerBeat, k = c.decodeTicksPerBeat / t.grid;
  const bins = t.durations.map((d) => d.positions);
  const velocities = Array.from({ length: 128 }, (_, v) => nearestValues(t.velocities, v));
  const durations = new Map<number, number[]>();
  const out = new Map<number, ExpectedNote>();
  for (const n of score.notes) {
    if (n.pitch < lo || n.pitch > hi) continue;
    const pos = Math.max(0, Math.round(n.start * scale));
    const x = Math.max(0, n.duration) * scale;
    let ds = durations.get(x);
    if (!ds) durations.set(x, ds = nearestValues(bins, x).map((b) => Math.round(b * k)));
    const vs = velocities[Math.min(127, Math.max(0, Math.round(n.velocity)))];
    const key = pos * 128 + n.pitch, e = out.get(key);
    // Which of several notes on one step is kept is not documented: any of theirs is right.
    if (!e) out.set(key, { pitch: n.pitch, start: Math.round(pos * k), durations: ds, velocities: vs });
    else {
      out.set(key, {
        ...e,
        durations: [...new Set([...e.durations, ...ds])],
        velocities: [...new Set([...e.velocities, ...vs])],
      });
    }
  }
  return [...out.values()];
}

/**
 * Pitch strings (pitch_strings.ts): onsets group on a grid of `grid` steps per beat; the i-th group decodes at
 * i × `step` beats, each note `step` long at the fixed velocity: one pitch as itself, several as their pitch classes
 * in octave 4. A group whose token is not in the vocabulary (`UNK_None`) takes its step and sounds nothing.
 */
function pitchResolution(tok: PitchStringTokenizer, score: Score): ExpectedNote[] {
  const c = tok.config, tpb = c.decodeTicksPerBeat;
  const groups = new Map<number, Set<number>>();
  for (const n of score.notes) {
    const q = Math.round(n.start * c.grid / score.ticksPerBeat);
    if (!groups.has(q)) groups.set(q, new Set());
    groups.get(q)!.add(n.pitch);
  }
  const out: ExpectedNote[] = [];
  [...groups.keys()].sort((a, b) => a - b).forEach((q, i) => {
    const pitches = [...groups.get(q)!];
    const classes = [...new Set(pitches.map((p) => p % 12))].sort((a, b) => a - b);
    const name = pitches.length === 1 ? noteName(pitches[0]) : classes.join(".");
    if (tok.tokenId(name) === undefined) return; // UNK_None
    const start = Math.round(i * c.step * tpb), duration = Math.max(1, Math.round(c.step * tpb));
    for (const p of pitches.length === 1 ? pitches : classes.map((pc) => 60 + pc)) {
      out.push({ pitch: p, start, durations: [duration], velocities: [c.velocity] });
    }
  });
  return out;
}

// Onsets seen once become UNK_None, so the round trip crosses unknown tokens too.
runTokenizerContract("pitch strings", (corpus) => PitchStringTokenizer.fromScores(corpus, { minCount: 2 }), {
  resolution: pitchResolution,
});

runTokenizerContract("REMI", () => new RemiTokenizer(), { resolution: remiResolution });

runTokenizerContract(
  "REMI with chords and rests",
  () => new RemiTokenizer({ useChords: true, useRests: true }),
  {
    resolution: remiResolution,
  },
);

runTokenizerContract("REMI, Fradet et al.'s preset", () => new RemiTokenizer(FRADET_REMI_CONFIG), {
  resolution: remiResolution,
});

runTokenizerContract(
  "REMI+BPE",
  (corpus) => {
    const base = new RemiTokenizer();
    // Learned on every other file, so that the round trip also crosses pieces it has not seen.
    return trainBpe(base, corpus.filter((_, i) => i % 2 === 0), { vocabSize: base.vocab.length + 400 });
  },
  { resolution: (tok: BpeTokenizer, score) => remiResolution(tok.baseTokenizer, score) },
);
