// Hard controls (lib/infer/controls.ts): their checks and bias, the fixed tempo in the written file, and a row's
// static bias in the engine's continuous batching (`Engine.decodeRows`). The 50-piece compliance runs per control
// are in controls_compliance_test.ts.
import { assert, assertEquals, assertThrows } from "../_assert.ts";
import midiPkg from "@tonejs/midi";
import { generate } from "../../lib/infer/generate.ts";
import { loadModel } from "../../lib/infer/load.ts";
import {
  checkControls,
  controlBias,
  hasControls,
  KEY_TONIC_DEFAULT,
  keyPitchClasses,
} from "../../lib/infer/controls.ts";
import { writeMidi } from "../../lib/midi/mod.ts";
import { BOS_ID } from "../../lib/tokenizers/tokenizer.ts";
import { initialState, nextState } from "../../lib/infer/grammar.ts";
import type { DecodeRow, RowEnd } from "../../lib/infer/engine.ts";

const { Midi } = midiPkg;
const model = await loadModel("models/maestro-2m", { device: "cpu" });

Deno.test("checkControls: one-line RangeErrors naming the field", () => {
  checkControls(undefined);
  checkControls({
    key: "Bb major",
    keyStrength: 0.5,
    pitchRange: [40, 80],
    maxPolyphony: 16,
    noRepeatNgram: 2,
  });
  const cases: [Parameters<typeof checkControls>[0], string][] = [
    [{ maxPolyphony: 0 }, "maxPolyphony: expected an integer in 1–16, got 0"],
    [{ maxPolyphony: 2.5 }, "maxPolyphony: expected an integer in 1–16, got 2.5"],
    [{ noRepeatNgram: 1 }, "noRepeatNgram: expected an integer in 2–256, got 1"],
    [{ keyStrength: 2 }, "keyStrength: expected a number in 0–1, got 2"],
    [{ key: "C major", keyTonic: -0.5 }, "keyTonic: expected a number in 0–5, got -0.5"],
    [{ pitchRange: [70, 60] }, "pitchRange: expected lo <= hi, got 70-60"],
    [{ pitchRange: [-1, 60] }, "pitchRange: expected an integer in 0–127, got -1"],
    [{ tempo: 0 }, "tempo: expected a number in 1–1000, got 0"],
    [{ key: "H major" }, 'key: expected like "C major" or "E minor", got "H major"'],
    [{ timeSignature: "waltz" }, 'timeSignature: expected like "3/4", got "waltz"'],
    [{ density: "loud" as "low" }, "density: expected low, medium, high or a number, got loud"],
  ];
  for (const [c, msg] of cases) assertThrows(() => checkControls(c), RangeError, msg);
});

Deno.test("the dynamic controls alone carry no static bias", () => {
  assertEquals(hasControls({ maxPolyphony: 2, noRepeatNgram: 4 }), false);
  assertEquals(controlBias(model.tokenizer.vocab, { maxPolyphony: 2 }), undefined);
  assertEquals(hasControls({ key: "C major" }), true);
});

Deno.test("a control leaving no Pitch throws naming it", () => {
  assertThrows(
    () => controlBias(model.tokenizer.vocab, { key: "C major", pitchRange: [61, 61] }),
    RangeError,
    "pitchRange",
  );
});

Deno.test("keyTonic: the key's tonic gets the weight in every octave and inside BPE tokens; 0 leaves the scale mask alone", () => {
  const vocab = [
    "Pitch_57",
    "Pitch_69",
    "Pitch_60",
    "Pitch_58",
    "Pitch_69+Velocity_80",
    "Duration_1.0.8",
    "Velocity_80",
  ];
  const row = (c: Parameters<typeof controlBias>[1]) => Array.from(controlBias(vocab, c)!);
  assertEquals(row({ key: "A minor" }), [
    KEY_TONIC_DEFAULT,
    KEY_TONIC_DEFAULT,
    0,
    -Infinity,
    KEY_TONIC_DEFAULT,
    0,
    0,
  ]);
  assertEquals(row({ key: "A minor", keyTonic: 0 }), [0, 0, 0, -Infinity, 0, 0, 0]);
  // Not masking, tonic 2, and a density bias on every Pitch on top: the weights add.
  assertEquals(row({ key: "A minor", keyStrength: 0, keyTonic: 2, density: "high" }), [
    3.5,
    3.5,
    1.5,
    1.5,
    3.5,
    0,
    0,
  ]);
  // C major's relative (A minor) has the same scale: only the tonic tells them apart.
  assertEquals(row({ key: "C major", keyTonic: 1 }), [0, 0, 1, -Infinity, 0, 0, 0]);
});

Deno.test("keyTonic: samples asked for F# minor put more of their notes on F# with a heavier tonic weight, every note in the scale", async () => {
  const fsMinor = new Set(keyPitchClasses("F# minor"));
  const share = async (keyTonic: number) => {
    const r = await generate({
      model,
      controls: { key: "F# minor", keyTonic },
      seed: 5,
      batch: 4,
      maxTokens: 256,
    });
    const notes = r.scores.flatMap((s) => s.notes);
    assert(notes.length > 40, `${notes.length} notes`);
    for (const n of notes) assert(fsMinor.has(n.pitch % 12), `pitch ${n.pitch} is in F# minor`);
    return notes.filter((n) => n.pitch % 12 === 6).length / notes.length;
  };
  const [off, on] = [await share(0), await share(2)];
  assert(on > off + 0.1, `F# share ${off.toFixed(3)} at keyTonic 0, ${on.toFixed(3)} at 2`);
});

Deno.test("tempo and time signature: the written file's tempo is the one asked", async () => {
  for (let seed = 1; seed <= 3; seed++) {
    const r = await generate({
      model,
      controls: { tempo: 100, timeSignature: "3/4" },
      seed,
      batch: 4,
      bars: 4,
    });
    for (const s of r.scores) {
      const m = new Midi(writeMidi(s));
      assert(m.header.tempos.length > 0);
      for (const t of m.header.tempos) assertEquals(t.bpm, 100);
      for (const ts of m.header.timeSignatures) assertEquals(ts.timeSignature, [3, 4]);
    }
  }
});

Deno.test("Engine.decodeRows adds a row's bias: the same ids as decode with that bias, in key", async () => {
  const gpu = await loadModel("models/maestro-2m", { device: "gpu" });
  try {
    const g = gpu.grammar, bias = controlBias(gpu.tokenizer.vocab, { key: "D major" })!;
    const gs = nextState(g, initialState(g), BOS_ID);
    const sampling = { temperature: 1, topK: 0, topP: 1 };
    const engine = await gpu.engine(2);
    const alone = [];
    for (const seed of [4, 5]) {
      const { ids } = await engine.decode({
        prompt: [BOS_ID],
        grammarState: gs,
        grammar: g,
        batch: 1,
        maxTokens: 96,
        ...sampling,
        seed,
        bias,
        nextState: (s, id) => nextState(g, s, id),
      });
      alone.push(ids[0]);
    }
    const ends: RowEnd[] = [];
    const rows: DecodeRow[] = [4, 5].map((seed, i) => ({
      prompt: [BOS_ID],
      grammarState: gs,
      maxTokens: 96,
      ...sampling,
      grammar: true,
      seed,
      bias,
      onEnd: (e) => ends[i] = e,
    }));
    await engine.decodeRows({
      next: (free) => rows.splice(0, free),
      grammar: g,
      nextState: (s, id) => nextState(g, s, id),
    });
    assertEquals(ends.map((e) => e.ids), alone);
    const pcs = new Set(keyPitchClasses("D major"));
    const pitches = alone.flat().flatMap((id) => gpu.tokenizer.vocab[id].split("+")).filter((n) =>
      n.startsWith("Pitch_")
    );
    assert(pitches.length > 10);
    for (const p of pitches) assert(pcs.has(Number(p.slice(6)) % 12), p);
  } finally {
    gpu.dispose();
  }
});
