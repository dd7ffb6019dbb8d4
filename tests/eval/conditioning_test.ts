/**
 * The conditioning check (lib/eval/conditioning.ts): key agreement on pieces of known key (written scales with a
 * cadence, which the Krumhansl estimator names exactly: tests/eval/key_test.ts), density ordering and classes on pieces
 * of known notes per bar, and end to end on a tiny random model: each group is what `generate({ conditions })` gives,
 * and the key agreement is the share of those samples the estimator puts in the asked key.
 */
import { assert, assertAlmostEquals, assertEquals, assertNotEquals, assertRejects } from "../_assert.ts";
import {
  conditioningCheck,
  conditionPrompt,
  formatConditioningReport,
  scoreConditioning,
} from "../../lib/eval/conditioning.ts";
import { generate } from "../../lib/infer/generate.ts";
import { estimateKey, type Key, keyName, parseKey } from "../../lib/score/key.ts";
import { emptyScore, type Score } from "../../lib/score.ts";
import { loadExactCpuModel } from "../infer/_exact_cpu.ts";
import { tinyModelsDir } from "../server/_tiny_model.ts";
import { loadModel } from "../../lib/infer/load.ts";
import { join } from "node:path";
import { conditionedTinyModel } from "./_cond_model.ts";

const MAJOR = [0, 2, 4, 5, 7, 9, 11], HARMONIC_MINOR = [0, 2, 3, 5, 7, 8, 11];

/** Two octaves of the scale up and down, then I–IV–V–I (as tests/eval/key_test.ts). */
function scalePiece(k: Key, tpb = 480): Score {
  const steps = k.mode === "major" ? MAJOR : HARMONIC_MINOR, third = k.mode === "major" ? 4 : 3;
  const s = emptyScore(tpb);
  let t = 0;
  const base = 48 + k.tonic, up = [...steps, ...steps.map((x) => x + 12), 24];
  for (const x of [...up, ...up.slice(0, -1).reverse()]) {
    s.notes.push({ pitch: base + x, velocity: 80, start: t, duration: tpb / 2 });
    t += tpb / 2;
  }
  for (const [root, q] of [[0, third], [5, k.mode === "major" ? 4 : 3], [7, 4], [0, third]] as const) {
    for (const iv of [0, q, 7]) {
      s.notes.push({ pitch: base + root + iv, velocity: 80, start: t, duration: 2 * tpb });
    }
    t += 2 * tpb;
  }
  return s;
}

/** `perBar` notes in each of `bars` 4/4 bars. */
function dense(perBar: number, bars = 4): Score {
  const s = emptyScore(480);
  for (let b = 0; b < bars; b++) {
    for (let i = 0; i < perBar; i++) {
      s.notes.push({
        pitch: 60 + (i % 12),
        velocity: 80,
        start: b * 1920 + Math.floor(i * 1920 / perBar),
        duration: 120,
      });
    }
  }
  return s;
}

Deno.test("scoreConditioning: key agreement against pieces of known key; density ordering and classes", () => {
  const eMinor = parseKey("E minor"), gMajor = parseKey("G major"), bbMajor = parseKey("Bb major");
  const r = scoreConditioning([
    {
      condition: "key",
      value: "E minor",
      scores: [eMinor, eMinor, eMinor, gMajor].map((k) => scalePiece(k)),
    },
    { condition: "key", value: "Bb major", scores: [scalePiece(bbMajor), scalePiece(bbMajor, 96)] },
    { condition: "density", value: "low", scores: [dense(2), dense(3)], bars: 4 },
    { condition: "density", value: "medium", scores: [dense(8)], bars: 4 },
    { condition: "density", value: "high", scores: [dense(16), dense(3)], bars: 4 },
  ], [5, 12]);
  const [e, bb, low, medium, high] = r.groups;
  assertEquals(e.keyAgreement, 0.75);
  assertEquals(e.estimatedKeys, { "E minor": 3, "G major": 1 });
  // the E minor piece: E three times up, twice down, in the i and iv chords and the last i: 8 of its 41 notes;
  // the G major one: 5 of 41
  assertAlmostEquals(e.tonicShare!, (3 * 8 + 5) / (4 * 41), 1e-12);
  assertEquals([low.tonicShare, r.groups[1].tonicShare! > 0], [undefined, true]);
  assert(e.pitchClassEntropy > 2.5 && e.pitchClassEntropy < Math.log2(12), String(e.pitchClassEntropy));
  assertEquals(bb.keyAgreement, 1);
  assertEquals(r.keySamples, 6);
  assertAlmostEquals(r.keyAgreement, 5 / 6, 1e-12);
  assertEquals([low.notesPerBar, medium.notesPerBar, high.notesPerBar], [2.5, 8, 9.5]);
  assert(r.densityOrdered);
  assertEquals([low.inClass, medium.inClass, high.inClass], [1, 1, 0.5]);
  const swapped = scoreConditioning([
    { condition: "density", value: "low", scores: [dense(8)], bars: 4 },
    { condition: "density", value: "medium", scores: [dense(4)], bars: 4 },
    { condition: "density", value: "high", scores: [dense(16)], bars: 4 },
  ]);
  assert(!swapped.densityOrdered);
  assert(formatConditioningReport(swapped).includes("DOES NOT HOLD"));
  assert(formatConditioningReport(r).includes("83% of 6 samples"));
});

Deno.test("conditionPrompt: BOS and the four condition ids; a model without them is refused, naming the check", async () => {
  const { tmp, dir } = await conditionedTinyModel(2);
  const root = await tinyModelsDir();
  try {
    const model = await loadModel(dir, { device: "cpu" });
    const names = conditionPrompt(model.tokenizer, { key: "Eb major", density: "low" }).map((i) =>
      model.tokenizer.vocab[i]
    );
    assertEquals(names, ["BOS_None", "Style_none", "Key_D#:maj", "TempoClass_none", "Density_low"]);
    model.dispose();
    const plain = await loadModel(join(root, "default"), { device: "cpu" });
    await assertRejects(
      () => conditioningCheck(plain, { samples: 1 }),
      Error,
      "--conditioning: the model's tokenizer",
    );
    plain.dispose();
  } finally {
    await Deno.remove(tmp, { recursive: true });
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("conditioningCheck end to end on a tiny model: groups of generate({ conditions }), keys by the estimator", async () => {
  const { tmp, dir } = await conditionedTinyModel(5);
  const model = await loadExactCpuModel(dir);
  try {
    const sampling = { temperature: 1, topK: 0, topP: 1, seed: 4 };
    const r = await conditioningCheck(model, {
      samples: 3,
      bars: 2,
      styles: ["pop"],
      keys: ["C major", "A minor"],
      densities: ["low", "high"],
      ...sampling,
    });
    assertEquals(r.groups.map((g) => `${g.condition} ${g.value} ${g.samples}`), [
      "style pop 3",
      "key C major 3",
      "key A minor 3",
      "density low 3",
      "density high 3",
      "none none 3",
    ]);
    // the reference: the same generations, their keys estimated here
    let agree = 0;
    for (const key of ["C major", "A minor"]) {
      const { scores } = await generate({ model, conditions: { key }, bars: 2, batch: 3, ...sampling });
      const n = scores.filter((s) =>
        s.notes.length && keyName(estimateKey(s.notes, s.ticksPerBeat)) === key
      ).length;
      assertEquals(r.groups.find((g) => g.value === key)!.keyAgreement, n / 3);
      agree += n;
    }
    assertEquals(r.keySamples, 6);
    assertEquals(r.keyAgreement, agree / 6);
    const { scores: high } = await generate({
      model,
      conditions: { density: "high" },
      bars: 2,
      batch: 3,
      ...sampling,
    });
    assertAlmostEquals(r.density.high, high.reduce((a, s) => a + s.notes.length / 2, 0) / 3, 1e-9);
    assert(Number.isNaN(r.density.medium) && !r.densityOrdered);
  } finally {
    model.dispose();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("conditioningCheck hardControls: key and density groups are generate() with the CLI's hard control too", async () => {
  const { tmp, dir } = await conditionedTinyModel(6);
  const model = await loadExactCpuModel(dir);
  try {
    const sampling = { temperature: 1, topK: 0, topP: 1, seed: 9 };
    const ask = {
      samples: 3,
      bars: 2,
      styles: [],
      keys: ["Eb major"],
      densities: ["high"],
      baseline: false,
    } as const;
    const soft = await conditioningCheck(model, { ...ask, ...sampling });
    const hard = await conditioningCheck(model, { ...ask, ...sampling, hardControls: true });
    assertEquals(hard.settings.hardControls, true);
    // the reference: generate as `deno task generate --key "Eb major"` calls it, token and mask
    const { scores } = await generate({
      model,
      conditions: { key: "Eb major" },
      controls: { key: "Eb major" },
      bars: 2,
      batch: 3,
      ...sampling,
    });
    const scale = new Set([0, 2, 4, 5, 7, 9, 11].map((x) => (x + 3) % 12));
    const notes = scores.flatMap((s) => s.notes);
    assert(notes.length > 0 && notes.every((n) => scale.has(n.pitch % 12)), "every pitch in E♭ major");
    const eb = parseKey("Eb major");
    const agree = scores.filter((s) => {
      const k = estimateKey(s.notes, s.ticksPerBeat);
      return s.notes.length > 0 && k.tonic === eb.tonic && k.mode === eb.mode;
    });
    assertEquals(hard.groups[0].keyAgreement, agree.length / 3);
    const { scores: plain } = await generate({
      model,
      conditions: { key: "Eb major" },
      bars: 2,
      batch: 3,
      ...sampling,
    });
    assert(
      plain.flatMap((s) => s.notes).some((n) => !scale.has(n.pitch % 12)),
      "the token alone leaves a random model out of key (so the mask above did something)",
    );
    const { scores: high } = await generate({
      model,
      conditions: { density: "high" },
      controls: { density: "high" },
      bars: 2,
      batch: 3,
      ...sampling,
    });
    assertAlmostEquals(
      hard.groups[1].notesPerBar,
      high.reduce((a, s) => a + s.notes.length / 2, 0) / 3,
      1e-9,
    );
    assert(hard.groups[1].notesPerBar !== soft.groups[1].notesPerBar, "the density bias changed the samples");
    // the tonic weight reaches the key samples: as generate gives it, and more of their notes on E♭
    const heavy = await conditioningCheck(model, { ...ask, ...sampling, hardControls: true, keyTonic: 3 });
    assertEquals([hard.settings.keyTonic, heavy.settings.keyTonic], [0.25, 3]);
    const { scores: tonic3 } = await generate({
      model,
      conditions: { key: "Eb major" },
      controls: { key: "Eb major", keyTonic: 3 },
      bars: 2,
      batch: 3,
      ...sampling,
    });
    const on = tonic3.flatMap((s) => s.notes);
    assertAlmostEquals(
      heavy.groups[0].tonicShare!,
      on.filter((n) => n.pitch % 12 === 3).length / on.length,
      1e-12,
    );
    assert(heavy.groups[0].tonicShare! > hard.groups[0].tonicShare!, "weight 3 puts more notes on the tonic");
  } finally {
    model.dispose();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("conditioningCheck style: every key, density and baseline group also asks that style", async () => {
  const { tmp, dir } = await conditionedTinyModel(7);
  const model = await loadExactCpuModel(dir);
  try {
    const sampling = { temperature: 1, topK: 0, topP: 1, seed: 5 };
    const r = await conditioningCheck(model, {
      samples: 2,
      bars: 2,
      keys: ["A minor"],
      densities: ["low"],
      style: "pop",
      keyGuidanceScale: 3,
      ...sampling,
    });
    assertEquals(r.groups.map((g) => `${g.condition} ${g.value}`), [
      "key A minor",
      "density low",
      "none pop only",
    ]);
    assertEquals([r.settings.style, r.settings.keyGuidanceScale], ["pop", 3]);
    // the reference: generate() asked the style and the key (guided as asked)
    const key = await generate({
      model,
      conditions: { style: "pop", key: "A minor" },
      bars: 2,
      batch: 2,
      keyGuidanceScale: 3,
      ...sampling,
    });
    const mean = (scores: Score[]) => scores.reduce((a, s) => a + s.notes.length, 0) / scores.length;
    assertEquals(r.groups[0].notes, mean(key.scores));
    const alone = await generate({ model, conditions: { key: "A minor" }, bars: 2, batch: 2, ...sampling });
    assertNotEquals(
      key.ids,
      alone.ids,
      "the style beside the key (and the key's guidance) changed the samples",
    );
    const none = await generate({ model, conditions: { style: "pop" }, bars: 2, batch: 2, ...sampling });
    assertEquals(r.groups[2].notes, mean(none.scores));
  } finally {
    model.dispose();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("deno task eval --key-tonic: only with --conditioning --hard-controls, and within the table's range", async () => {
  const run = async (...args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../../tasks/eval.ts", import.meta.url).pathname, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, err: new TextDecoder().decode(out.stderr).trim().split("\n").at(-1) };
  };
  assertEquals(await run("--conditioning", "--key-tonic", "1"), {
    code: 2,
    err: "error: --key-tonic: only with --conditioning --hard-controls (the key samples' control)",
  });
  assertEquals(await run("--conditioning", "--hard-controls", "--key-tonic", "9"), {
    code: 2,
    err: 'error: --key-tonic: expected a number in [0, 5], got "9"',
  });
});
