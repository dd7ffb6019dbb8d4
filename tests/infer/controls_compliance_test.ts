// Compliance of the hard controls (lib/infer/controls.ts, lib/infer/constraints.ts) on the real default model:
// 50 seeded generations per control on the CPU device (10 seeds × batch 5, 4 bars each), every one written with
// `writeMidi` and read back by an independent reader, @tonejs/midi; a few on the WebGPU engine (software adapter)
// through its per-step host masks. Every check must hold for every piece (100%).
//
// How this reader counts bars: the end-of-track tick (the latest over tracks) measured in bars of the file's time
// signatures (n/d: n × 4/d quarter notes each, 4/4 before the first). A tempo equals the one asked when its
// microseconds per quarter note are the asked tempo's, rounded (what a MIDI tempo event holds). @tonejs/midi's own `ticksToMeasures` is not
// used: its measure offsets of later time signatures are wrong for denominators other than 4 (2.0.28 divides by
// n × d/4 where n × 4/d is meant).
import { assert, assertEquals } from "../_assert.ts";
import midiPkg from "@tonejs/midi";
import { generate, type GenerateOptions } from "../../lib/infer/generate.ts";
import { loadModel } from "../../lib/infer/load.ts";
import { type Controls, keyPitchClasses } from "../../lib/infer/controls.ts";
import { writeMidi } from "../../lib/midi/mod.ts";

const { Midi } = midiPkg;
type Midi = InstanceType<typeof Midi>;
const BARS = 4;
const model = await loadModel("models/maestro-2m", { device: "cpu" });

/** 50 pieces: seeds 1…10, batch 5, `BARS` bars, read back from their .mid bytes. */
async function takes(controls: Controls | undefined, opts: Partial<GenerateOptions> = {}): Promise<Midi[]> {
  const out: Midi[] = [];
  for (let seed = 1; seed <= 10; seed++) {
    const r = await generate({ model, controls, seed, batch: 5, bars: BARS, ...opts });
    for (const s of r.scores) out.push(new Midi(writeMidi(s)));
  }
  return out;
}
const notes = (m: Midi) => m.tracks.flatMap((t) => t.notes);
const sameTempo = (bpm: number, asked: number) => Math.abs(60e6 / bpm - Math.round(60e6 / asked)) < 1e-3;
const endOf = (m: Midi) => Math.max(...m.tracks.map((t) => t.endOfTrackTicks ?? 0));

/** Bars up to the end-of-track, in the file's time signatures. */
function bars(m: Midi): number {
  const end = endOf(m), ppq = m.header.ppq;
  const sigs = m.header.timeSignatures.map((t) => ({
    ticks: t.ticks,
    n: t.timeSignature[0],
    d: t.timeSignature[1],
  }));
  if (!sigs.length || sigs[0].ticks > 0) sigs.unshift({ ticks: 0, n: 4, d: 4 });
  let count = 0;
  for (let i = 0; i < sigs.length && sigs[i].ticks < end; i++) {
    const to = Math.min(i + 1 < sigs.length ? sigs[i + 1].ticks : end, end);
    count += (to - sigs[i].ticks) / (ppq * 4 * sigs[i].n / sigs[i].d);
  }
  return count;
}

/** The most notes sounding at once (a note sounds over [start, end); an end before a start at one tick). */
function polyphony(m: Midi): number {
  const ev = notes(m).flatMap((n) => [[n.ticks, 1], [n.ticks + n.durationTicks, -1]]);
  ev.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let c = 0, most = 0;
  for (const [, d] of ev) most = Math.max(most, c += d);
  return most;
}

/** Exact bar count: `BARS` bars by the end-of-track, no note past it, and some notes. */
function assertExactBars(ms: Midi[]) {
  assertEquals(ms.length, 50);
  for (const [i, m] of ms.entries()) {
    assertEquals(bars(m), BARS, `piece ${i}: ${bars(m)} bars`);
    for (const n of notes(m)) {
      assert(n.ticks + n.durationTicks <= endOf(m), `piece ${i}: a note past the end`);
    }
  }
  assert(ms.filter((m) => notes(m).length > 0).length > 40, "most pieces have notes");
}

Deno.test("exact bar count: 50 pieces of 4 bars, no note past bar 4", async () => {
  assertExactBars(await takes(undefined));
});

Deno.test("key at full strength: every pitch of 50 pieces in E minor", async () => {
  const pcs = new Set(keyPitchClasses("E minor"));
  const ms = await takes({ key: "E minor" });
  assertExactBars(ms);
  for (const m of ms) for (const n of notes(m)) assert(pcs.has(n.midi % 12), `pitch ${n.midi}`);
});

Deno.test("maxPolyphony: never more notes at once than the cap (1, 2 and 3)", async () => {
  for (const cap of [1, 2, 3]) {
    const ms = await takes({ maxPolyphony: cap });
    assertExactBars(ms);
    for (const [i, m] of ms.entries()) assert(polyphony(m) <= cap, `cap ${cap}, piece ${i}: ${polyphony(m)}`);
    // The cap binds: without it these pieces go above it.
    if (cap === 1) assert((await takes(undefined)).some((m) => polyphony(m) > 1));
  }
});

Deno.test("stuck-note guard: no note longer than maxNoteBeats", async () => {
  for (const m of await takes({ maxNoteBeats: 1 })) {
    for (const n of notes(m)) assert(n.durationTicks <= m.header.ppq, `${n.durationTicks} ticks`);
  }
});

Deno.test("fixed tempo: the written tempo is the one asked, and the time signature", async () => {
  for (const [i, m] of (await takes({ tempo: 100, timeSignature: "3/4" })).entries()) {
    assert(m.header.tempos.length >= 1, `piece ${i}: no tempo`);
    for (const t of m.header.tempos) assert(sameTempo(t.bpm, 100), `piece ${i}: tempo ${t.bpm}`);
    for (const ts of m.header.timeSignatures) assertEquals(ts.timeSignature, [3, 4]);
    assertEquals(bars(m), BARS);
  }
});

Deno.test("density: low < medium < high in notes per bar", async () => {
  const perBar = async (density: Controls["density"]) => {
    const ms = await takes({ density });
    return ms.reduce((a, m) => a + notes(m).length, 0) / (ms.length * BARS);
  };
  const [lo, mid, hi] = [await perBar("low"), await perBar("medium"), await perBar("high")];
  assert(lo < mid && mid < hi, `${lo} ${mid} ${hi}`);
});

Deno.test("noRepeatNgram: no 8-gram of token ids twice in 50 pieces", async () => {
  const n = 8;
  let blocked = 0;
  for (let seed = 1; seed <= 10; seed++) {
    const opts = { model, seed, batch: 5, bars: BARS };
    const on = await generate({ ...opts, controls: { noRepeatNgram: n } });
    for (const ids of on.ids) {
      const seen = new Set<string>();
      for (let i = 0; i + n <= ids.length; i++) {
        const key = ids.slice(i, i + n).join(",");
        assert(!seen.has(key), `seed ${seed}: ${key} repeats`);
        seen.add(key);
      }
    }
    if (seed <= 2) {
      const off = await generate(opts);
      blocked += on.ids.filter((ids, b) => ids.join() !== off.ids[b].join()).length;
    }
  }
  assert(blocked > 0, "the block changed some piece");
});

Deno.test("no dynamic control: the same tokens as before (controls absent or empty)", async () => {
  const a = await generate({ model, seed: 3, batch: 2, maxTokens: 300 });
  const b = await generate({ model, seed: 3, batch: 2, maxTokens: 300, controls: {} });
  const c = await generate({
    model,
    seed: 3,
    batch: 2,
    maxTokens: 300,
    controls: { noRepeatNgram: undefined },
  });
  assertEquals(b.ids, a.ids);
  assertEquals(c.ids, a.ids);
});

Deno.test("WebGPU engine (per-step host masks): exact bars, polyphony and key", async () => {
  const gpu = await loadModel("models/maestro-2m", { device: "gpu" });
  try {
    const pcs = new Set(keyPitchClasses("C major"));
    for (let seed = 1; seed <= 2; seed++) {
      const r = await generate({
        model: gpu,
        seed,
        batch: 4,
        bars: BARS,
        controls: { maxPolyphony: 2, key: "C major", tempo: 90 },
      });
      for (const s of r.scores) {
        const m = new Midi(writeMidi(s));
        assertEquals(bars(m), BARS);
        assert(polyphony(m) <= 2, `polyphony ${polyphony(m)}`);
        for (const n of notes(m)) {
          assert(pcs.has(n.midi % 12), `pitch ${n.midi}`);
          assert(n.ticks + n.durationTicks <= endOf(m));
        }
        for (const t of m.header.tempos) assert(sameTempo(t.bpm, 90), `tempo ${t.bpm}`);
      }
    }
    // No controls: the engine's chunked path, unchanged (same ids as a plain run with empty controls).
    const a = await generate({ model: gpu, seed: 5, maxTokens: 128 });
    const b = await generate({ model: gpu, seed: 5, maxTokens: 128, controls: {} });
    assertEquals(b.ids, a.ids);
  } finally {
    gpu.dispose();
  }
});
