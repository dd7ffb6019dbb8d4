/**
 * Provenance and replay (issue 14, item 3) through `deno task generate` (lib/cli/generate.ts) on a tiny
 * random-weight REMI checkpoint: 20 seeded random settings (temperature, top-k, top-p, seed, a length in tokens, bars
 * or seconds, batch, grammar, a prompt for some, hard controls for most) are generated, then replayed from the .json sidecar and from the
 * .mid, and the replays are byte-identical. The record in the .mid is read independently by @tonejs/midi; taking it
 * out gives the bytes `--no-provenance` writes. A replay refuses a changed model or prompt with one line.
 */
import midiPkg from "@tonejs/midi";
import { assert, assertEquals } from "../_assert.ts";
import { join } from "node:path";
import { generateCli } from "../../lib/cli/generate.ts";
import { UsageError } from "../../lib/cli/args.ts";
import { type Provenance, provenanceText, readProvenance } from "../../lib/infer/provenance.ts";
import { readMidi, writeMidi } from "../../lib/midi/mod.ts";
import { emptyScore } from "../../lib/score.ts";
import { sha256Hex } from "../../lib/util/hash.ts";
import { Rng } from "../../lib/util/rng.ts";
import { ETUDE_VERSION } from "../../lib/util/version.ts";
import { loadBlas } from "../../lib/cpu/blas.ts";
import { tinyModelsDir } from "../server/_tiny_model.ts";
import { stripLeadingText } from "../midi/_strip.ts";
import { KEY_TONIC_DEFAULT } from "../../lib/infer/controls.ts";

const { Midi } = midiPkg;
const models = await tinyModelsDir();
const model = join(models, "default");
const tmp = await Deno.makeTempDir({ prefix: "etude_replay_" });
const opts = { sanitizeResources: false, sanitizeOps: false };
const modelSha = await sha256Hex(await Deno.readFile(join(model, "model.safetensors")));

async function run(args: string[]) {
  const lines: string[] = [], warnings: string[] = [];
  const r = await generateCli(args, (l) => lines.push(l), (l) => warnings.push(l));
  return { r: r!, lines, warnings };
}

async function usageError(args: string[]): Promise<string> {
  try {
    await run(args);
  } catch (e) {
    assert(e instanceof UsageError, String(e));
    assert(!e.message.includes("\n"), "one line");
    return e.message;
  }
  throw new Error(`accepted ${args.join(" ")}`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The record of a sidecar, without its replay hint (which names the sidecar itself). */
async function sidecar(path: string): Promise<Provenance> {
  const { replay, ...record } = JSON.parse(await Deno.readTextFile(path));
  assertEquals(replay, `deno task generate --replay ${path}`);
  return record;
}

/** Two small prompts, one in 3/4. */
async function writePrompts(): Promise<string[]> {
  const a = emptyScore(480);
  for (let i = 0; i < 6; i++) a.notes.push({ pitch: 60 + i, velocity: 80, start: i * 240, duration: 240 });
  const b = emptyScore(480);
  b.timeSignatures = [{ tick: 0, numerator: 3, denominator: 4 }];
  b.tempos = [{ tick: 0, bpm: 90 }];
  for (let i = 0; i < 5; i++) {
    b.notes.push({ pitch: 48 + 3 * i, velocity: 60, start: i * 480, duration: 400 });
  }
  const paths = [join(tmp, "prompt-a.mid"), join(tmp, "prompt-b.mid")];
  await Deno.writeFile(paths[0], writeMidi(a));
  await Deno.writeFile(paths[1], writeMidi(b));
  return paths;
}

/**
 * One random setting: its CLI arguments and the parameters the record must hold. Bars and seconds go with the grammar
 * on only: a random-weight model without the mask rarely samples a bar or a time shift, so such a piece runs to the
 * 65,536-token cap.
 */
function randomSetting(rng: Rng, prompts: string[]) {
  const seed = Math.floor(rng.next() * 2 ** 32);
  const temperature = 0.5 + rng.next();
  const topK = Math.floor(rng.next() * 80);
  const topP = 0.5 + rng.next() / 2;
  const batch = 1 + Math.floor(rng.next() * 3);
  const u = rng.next();
  const length: Record<string, number> = u < 0.4
    ? { maxTokens: 16 + Math.floor(rng.next() * 80) }
    : u < 0.7
    ? { bars: 1 + Math.floor(rng.next() * 3) }
    : { seconds: 1 + rng.next() * 3 };
  const grammar = length.maxTokens === undefined || rng.next() < 0.6;
  const prompt = rng.next() < 0.3 ? prompts[Math.floor(rng.next() * prompts.length)] : undefined;
  const controls = randomControls(rng);
  const flag = { maxTokens: "--tokens", bars: "--bars", seconds: "--seconds" };
  const [unit, value] = Object.entries(length)[0] as [keyof typeof flag, number];
  const args = [
    "--seed",
    String(seed),
    "--temperature",
    String(temperature),
    "--top-k",
    String(topK),
    "--top-p",
    String(topP),
    flag[unit],
    String(value),
    "--batch",
    String(batch),
    ...(grammar ? [] : ["--no-grammar"]),
    ...(prompt ? ["--prompt", prompt] : []),
    ...controls.args,
  ];
  return {
    args,
    params: { seed, temperature, topK, topP, ...length, batch, grammar, ...controls.params },
    prompt,
  };
}

/**
 * Random hard controls for two settings in three (each control drawn on its own): CLI arguments, and the record's
 * fields in table order. Ranges keep a key's pitches in reach (at least an octave).
 */
function randomControls(rng: Rng): { args: string[]; params: Record<string, unknown> } {
  const args: string[] = [], params: Record<string, unknown> = {};
  if (rng.next() < 1 / 3) return { args, params };
  const pick = <T>(xs: T[]) => xs[Math.floor(rng.next() * xs.length)];
  const add = (flag: string, name: string, text: string, value: unknown) => {
    args.push(flag, text);
    params[name] = value;
  };
  if (rng.next() < 0.5) {
    const key = `${pick(["C", "D", "Eb", "E", "F#", "G", "A", "Bb"])} ${pick(["major", "minor"])}`;
    add("--key", "key", key, key);
    if (rng.next() < 0.5) {
      const s = Math.round(rng.next() * 100) / 100;
      add("--key-strength", "keyStrength", String(s), s);
    } else params.keyStrength = 1;
    if (rng.next() < 0.5) {
      const w = Math.round(rng.next() * 300) / 100;
      add("--key-tonic", "keyTonic", String(w), w);
    } else params.keyTonic = KEY_TONIC_DEFAULT;
  }
  if (rng.next() < 0.5) {
    const lo = 36 + Math.floor(rng.next() * 25), hi = lo + 12 + Math.floor(rng.next() * 30);
    add("--pitch-range", "pitchRange", `${lo}-${hi}`, [lo, hi]);
  }
  if (rng.next() < 0.4) {
    const b = pick([0.5, 1, 2.5, 4, 8]);
    add("--max-note-beats", "maxNoteBeats", String(b), b);
  }
  if (rng.next() < 0.4) {
    const t = 40 + Math.floor(rng.next() * 160);
    add("--tempo", "tempo", String(t), t);
  }
  if (rng.next() < 0.4) {
    const ts = pick(["2/4", "3/4", "4/4", "6/8"]);
    add("--time-signature", "timeSignature", ts, ts);
  }
  if (rng.next() < 0.4) {
    const d = pick(["low", "medium", "high"]);
    add("--density", "density", d, d);
  }
  if (rng.next() < 0.3) {
    const n = 1 + Math.floor(rng.next() * 6);
    add("--max-polyphony", "maxPolyphony", String(n), n);
  }
  if (rng.next() < 0.3) {
    const n = 4 + Math.floor(rng.next() * 8);
    add("--no-repeat-ngram", "noRepeatNgram", String(n), n);
  }
  return { args, params };
}

Deno.test({
  name: "replay: 20 random settings → byte-identical .mid files from their .json sidecars and from the .mid",
  ...opts,
  async fn() {
    const prompts = await writePrompts();
    const promptShas = new Map<string, string>();
    for (const p of prompts) promptShas.set(p, await sha256Hex(await Deno.readFile(p)));
    const rng = new Rng(14);
    const seen = { prompt: 0, batch: 0, bars: 0, seconds: 0, noGrammar: 0, controls: 0, noControls: 0 };
    for (let k = 0; k < 20; k++) {
      const s = randomSetting(rng, prompts);
      const dir = join(tmp, `setting-${k}`);
      await Deno.mkdir(dir);
      const take = join(dir, "take.mid");
      const { r } = await run(["--model", model, ...s.args, "--out", take]);
      const what = `setting ${k}: ${s.args.join(" ")}`;
      assertEquals(r.midiFiles.length, s.params.batch, what);
      assertEquals(r.sidecarFiles, r.midiFiles.map((f) => f.replace(/\.mid$/, ".json")), what);
      // Every file carries its record: in the .mid (read by lib/midi and by @tonejs/midi) and in the sidecar.
      for (const [i, file] of r.midiFiles.entries()) {
        const bytes = await Deno.readFile(file);
        const record = await sidecar(r.sidecarFiles[i]);
        assertEquals(record, {
          v: 1,
          version: ETUDE_VERSION,
          model: { path: model, sha256: modelSha },
          ...(s.prompt ? { prompt: { path: s.prompt, sha256: promptShas.get(s.prompt)! } } : {}),
          params: s.params,
          index: i,
        }, what);
        assertEquals(readProvenance(bytes, file), record, what);
        assertEquals(r.provenance[i], record, what);
        const tone = new Midi(bytes);
        assertEquals(tone.header.meta.map((m) => [m.type, m.ticks, m.text]), [
          ["text", 0, provenanceText(record)],
        ], what);
        // The same onsets (a random-weight model may sound one key twice at a tick: @tonejs/midi keeps both notes,
        // lib/midi one, so onsets are compared as a set).
        const onsets = new Set(tone.tracks.flatMap((t) => t.notes).map((n) => `${n.ticks}:${n.midi}`));
        assertEquals(
          [...onsets].sort(),
          readMidi(bytes).notes.map((n) => `${n.start}:${n.pitch}`).sort(),
          what,
        );
      }
      // Replay one piece of the batch from its sidecar and from the .mid itself.
      const j = Math.floor(rng.next() * s.params.batch);
      const original = await Deno.readFile(r.midiFiles[j]);
      const fromJson = join(dir, "from-json.mid"), fromMid = join(dir, "from-mid.mid");
      const a = await run(["--replay", r.sidecarFiles[j], "--out", fromJson]);
      await run(["--replay", r.midiFiles[j], "--out", fromMid]);
      assertEquals(a.r.midiFiles, [fromJson]);
      assertEquals(a.warnings, [], what);
      assertEquals(await Deno.readFile(fromJson), original, `${what}: replayed from the sidecar`);
      assertEquals(await Deno.readFile(fromMid), original, `${what}: replayed from the .mid`);
      assertEquals(await sidecar(join(dir, "from-json.json")), await sidecar(r.sidecarFiles[j]), what);
      assertEquals(await sidecar(join(dir, "from-mid.json")), await sidecar(r.sidecarFiles[j]), what);
      // Every fifth: the record taken out, the bytes --no-provenance writes (and no sidecar).
      if (k % 5 === 0) {
        const off = join(dir, "off.mid");
        const { r: o } = await run(["--model", model, ...s.args, "--out", off, "--no-provenance"]);
        assertEquals(o.sidecarFiles, []);
        for (const [i, file] of o.midiFiles.entries()) {
          const { bytes, text } = stripLeadingText(await Deno.readFile(r.midiFiles[i]));
          assertEquals(text, provenanceText(r.provenance[i]));
          assertEquals(bytes, await Deno.readFile(file), what);
          assertEquals(await exists(file.replace(/\.mid$/, ".json")), false);
        }
      }
      if (s.prompt) seen.prompt++;
      if (s.params.batch > 1) seen.batch++;
      if ("bars" in s.params) seen.bars++;
      if ("seconds" in s.params) seen.seconds++;
      if (!s.params.grammar) seen.noGrammar++;
      if (Object.keys(s.params).some((k) => k === "key" || k === "pitchRange" || k === "tempo")) {
        seen.controls++;
      }
      if (
        !Object.keys(s.params).some((k) =>
          !["seed", "temperature", "topK", "topP", "maxTokens", "bars", "seconds", "batch", "grammar"]
            .includes(k)
        )
      ) seen.noControls++;
    }
    // The draw covers every kind of setting.
    for (const [kind, n] of Object.entries(seen)) assert(n > 0, `no setting with ${kind}`);
  },
});

/** A copy of the tiny model in its own directory. */
async function copyModel(name: string): Promise<string> {
  const dir = join(tmp, name);
  await Deno.mkdir(dir);
  for (const f of ["config.json", "model.safetensors", "tokenizer.json"]) {
    await Deno.copyFile(join(model, f), join(dir, f));
  }
  return dir;
}

Deno.test({
  name: "replay: a changed model is refused with one line; --model replays with another anyway, and warns",
  ...opts,
  async fn() {
    const m2 = await copyModel("model-copy");
    const dir = join(tmp, "changed-model");
    await Deno.mkdir(dir);
    const take = join(dir, "take.mid"), json = join(dir, "take.json");
    await run(["--model", m2, "--tokens", "40", "--seed", "5", "--out", take]);
    // The same weights elsewhere: --model is taken without a word, and the record (and bytes) stay the take's.
    const same = join(dir, "same.mid");
    const s = await run(["--replay", json, "--model", model, "--out", same]);
    assertEquals(s.warnings, []);
    assertEquals(await Deno.readFile(same), await Deno.readFile(take));
    // One weight changed (the lowest byte of the last float): refused before loading, nothing written.
    const file = join(m2, "model.safetensors");
    const bytes = await Deno.readFile(file);
    bytes[bytes.length - 4] ^= 1;
    await Deno.writeFile(file, bytes);
    const changedSha = await sha256Hex(bytes);
    const never = join(dir, "never.mid");
    assertEquals(
      await usageError(["--replay", json, "--out", never]),
      `--replay ${json}: the model at ${m2} has sha256 ${
        changedSha.slice(0, 12)
      }…, but the take was made with ` +
        `${modelSha.slice(0, 12)}… (pass --model DIR to replay with another model anyway)`,
    );
    assertEquals(await exists(never), false);
    // From the .mid, the same refusal; through the task, exit 2 and that one line.
    const task = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "tasks/generate.ts", "--replay", take, "--out", never],
      cwd: join(import.meta.dirname!, "..", ".."),
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(task.code, 2);
    const stderr = new TextDecoder().decode(task.stderr);
    assert(
      /^error: --replay .*take\.mid: the model at .* has sha256 [0-9a-f]{12}…, but/.test(stderr),
      stderr,
    );
    assertEquals(stderr.split("\n").length, 2, stderr);
    // --model with the changed weights: a warning, and the new record says which model made it.
    const other = join(dir, "other.mid");
    const o = await run(["--replay", json, "--model", m2, "--out", other]);
    assertEquals(o.warnings, [
      `warning: --model ${m2}: sha256 ${changedSha.slice(0, 12)}… is not the take's model ` +
      `(${modelSha.slice(0, 12)}…): the replay will differ`,
    ]);
    assertEquals(o.r.provenance[0].model, { path: m2, sha256: changedSha });
    // The recorded model gone: refused, naming it.
    await Deno.remove(m2, { recursive: true });
    const gone = await usageError(["--replay", json, "--out", never]);
    assertEquals(gone, `--replay ${json}: the take's model: no model directory at ${m2}: pass --model DIR`);
  },
});

Deno.test({
  name:
    "replay: a changed or missing prompt is refused with one line; --prompt replays with another, and warns",
  ...opts,
  async fn() {
    const dir = join(tmp, "changed-prompt");
    await Deno.mkdir(dir);
    const prompt = join(dir, "prompt.mid");
    const p = emptyScore(480);
    for (let i = 0; i < 4; i++) p.notes.push({ pitch: 67 - i, velocity: 90, start: i * 480, duration: 480 });
    await Deno.writeFile(prompt, writeMidi(p));
    const take = join(dir, "take.mid"), json = join(dir, "take.json");
    await run(["--model", model, "--prompt", prompt, "--bars", "2", "--seed", "8", "--out", take]);
    const sha = await sha256Hex(await Deno.readFile(prompt));
    // A copy of the same prompt elsewhere: taken, same bytes.
    const copy = join(dir, "copy.mid");
    await Deno.copyFile(prompt, copy);
    const same = join(dir, "same.mid");
    assertEquals((await run(["--replay", json, "--prompt", copy, "--out", same])).warnings, []);
    assertEquals(await Deno.readFile(same), await Deno.readFile(take));
    // Changed: refused (from the sidecar and from the .mid).
    p.notes[0].velocity = 91;
    await Deno.writeFile(prompt, writeMidi(p));
    const changed = await sha256Hex(await Deno.readFile(prompt));
    for (const from of [json, take]) {
      assertEquals(
        await usageError(["--replay", from, "--out", join(dir, "never.mid")]),
        `--replay ${from}: the take's prompt ${prompt} has changed since the take (sha256 ` +
          `${changed.slice(0, 12)}…, the take's ${
            sha.slice(0, 12)
          }…; pass --prompt FILE to replay with another ` +
          `prompt anyway)`,
      );
    }
    assertEquals(await exists(join(dir, "never.mid")), false);
    // --prompt with the changed file: a warning, and the record names it.
    const o = await run(["--replay", json, "--prompt", prompt, "--out", join(dir, "other.mid")]);
    assertEquals(o.warnings.length, 1);
    assert(o.warnings[0].startsWith(`warning: --prompt ${prompt}: sha256 ${changed.slice(0, 12)}… is not`));
    assertEquals(o.r.provenance[0].prompt, { path: prompt, sha256: changed });
    // Missing: refused.
    await Deno.remove(prompt);
    const missing = await usageError(["--replay", json, "--out", join(dir, "never.mid")]);
    assert(missing.startsWith(`--replay ${json}: the take's prompt ${prompt}: cannot read (`), missing);
  },
});

Deno.test({
  name: "replay: bad records and option mixes are one-line errors; another version replays with a warning",
  ...opts,
  async fn() {
    const dir = join(tmp, "bad");
    await Deno.mkdir(dir);
    const take = join(dir, "take.mid"), json = join(dir, "take.json");
    await run(["--model", model, "--tokens", "24", "--seed", "2", "--out", take]);
    const record = JSON.parse(await Deno.readTextFile(json));
    const write = async (name: string, value: unknown) => {
      const f = join(dir, name);
      await Deno.writeTextFile(f, typeof value === "string" ? value : JSON.stringify(value));
      return f;
    };
    const bare = join(dir, "bare.mid");
    await run(["--model", model, "--tokens", "8", "--out", bare, "--no-provenance"]);
    assertEquals(await exists(join(dir, "bare.json")), false, "--no-provenance: no sidecar");
    const topK = await write("topk.json", { ...record, params: { ...record.params, topK: 9999 } });
    const badKey = await write("badkey.json", { ...record, params: { ...record.params, key: "H minor" } });
    const garbage = await write("garbage.json", "{not json");
    const embedded = await write("embedded.json", {
      ...record,
      model: { embedded: "default", sha256: "0".repeat(64) },
    });
    const cases: [string[], string | RegExp][] = [
      [
        ["--replay", json, "--seed", "3"],
        "--seed cannot be combined with --replay (a replay takes every setting from its record)",
      ],
      [["--replay", json, "--no-grammar"], /^--no-grammar cannot be combined with --replay/],
      [["--replay", json, "--key", "E minor"], /^--key cannot be combined with --replay/],
      [["--replay", json, "--no-repeat-ngram", "8"], /^--no-repeat-ngram cannot be combined with --replay/],
      [["--replay", ""], "--replay: expected a .json sidecar or a .mid file"],
      [
        ["--replay", join(dir, "none.json")],
        new RegExp(`^--replay ${join(dir, "none.json")}: cannot read \\(`),
      ],
      [
        ["--replay", bare],
        `--replay ${bare}: no etude provenance record in this MIDI file (written with --no-provenance, or not by etude)`,
      ],
      [["--replay", topK], `--replay ${topK}: params.topK: expected an integer in [0, 500], got 9999`],
      [
        ["--replay", badKey],
        `--replay ${badKey}: params.key: expected a key like "C major" or "F# minor" (natural minor), got "H minor"`,
      ],
      [["--replay", garbage], new RegExp(`^--replay ${garbage}: neither a MIDI file nor valid JSON \\(`)],
      [
        ["--replay", embedded],
        `--replay ${embedded}: the take was made with the embedded model "default": pass --model DIR (its sha256 is checked)`,
      ],
      [
        ["--replay", json, "--prompt", take],
        `--prompt cannot be combined with --replay ${json}: the take has no prompt`,
      ],
    ];
    for (const [args, want] of cases) {
      const got = await usageError([...args, "--out", join(dir, "never.mid")]);
      if (typeof want === "string") assertEquals(got, want);
      else assert(want.test(got), got);
    }
    assertEquals(await exists(join(dir, "never.mid")), false);
    // Made by another etude version: replayed, with a warning; the new record says this version.
    const old = await write("old.json", { ...record, version: "0.0.1" });
    const o = await run(["--replay", old, "--out", join(dir, "old.mid")]);
    assertEquals(o.warnings, [
      `warning: --replay ${old}: made by etude 0.0.1, this is ${ETUDE_VERSION}: the replay may differ`,
    ]);
    assertEquals(o.r.provenance[0].version, ETUDE_VERSION);
    assertEquals(readMidi(await Deno.readFile(join(dir, "old.mid"))), readMidi(await Deno.readFile(take)));
  },
});

Deno.test({
  name: "replay: with no --out, out/etude-<seed>-replay.mid (-<i> for a batch piece) and its sidecar",
  ...opts,
  async fn() {
    const cwd = Deno.cwd();
    const work = await Deno.makeTempDir({ prefix: "etude_replay_cwd_" });
    Deno.chdir(work);
    try {
      const { r } = await run(["--model", model, "--tokens", "20", "--seed", "77", "--batch", "2"]);
      assertEquals(r.midiFiles, [join("out", "etude-77-1.mid"), join("out", "etude-77-2.mid")]);
      assertEquals(r.sidecarFiles, [join("out", "etude-77-1.json"), join("out", "etude-77-2.json")]);
      const { r: a, lines } = await run(["--replay", join("out", "etude-77-2.json")]);
      assertEquals(lines[0], `replaying ${join("out", "etude-77-2.json")} (piece 2 of a batch of 2)`);
      assertEquals(a.midiFiles, [join("out", "etude-77-2-replay.mid")]);
      assertEquals(a.sidecarFiles, [join("out", "etude-77-2-replay.json")]);
      assertEquals(await Deno.readFile(a.midiFiles[0]), await Deno.readFile(r.midiFiles[1]));
    } finally {
      Deno.chdir(cwd);
    }
  },
});

Deno.test({
  name:
    "replay: --weights int8 is part of the record; the replay decodes with it again (same bytes); --weights with --replay is refused",
  ignore: !loadBlas().blas,
  ...opts,
  async fn() {
    const dir = join(tmp, "weights");
    await Deno.mkdir(dir);
    const take = join(dir, "take.mid"), json = join(dir, "take.json");
    const { r } = await run([
      "--model",
      model,
      "--device",
      "cpu",
      "--weights",
      "int8",
      "--tokens",
      "60",
      "--seed",
      "9",
      "--out",
      take,
    ]);
    assertEquals(r.provenance[0].model, { path: model, sha256: modelSha, weights: "int8" });
    assertEquals((await sidecar(json)).model.weights, "int8");
    const again = join(dir, "again.mid");
    await run(["--replay", json, "--out", again]);
    assertEquals(await Deno.readFile(again), await Deno.readFile(take));
    const fromMid = join(dir, "from-mid.mid");
    await run(["--replay", take, "--out", fromMid]);
    assertEquals(await Deno.readFile(fromMid), await Deno.readFile(take));
    assertEquals(
      await usageError(["--replay", json, "--weights", "f32", "--out", join(dir, "never.mid")]),
      "--weights cannot be combined with --replay (a replay takes every setting from its record)",
    );
    assertEquals(
      await usageError(["--replay", json, "--device", "gpu", "--out", join(dir, "never.mid")]),
      `--replay ${json}: the take decoded with int8 weights: needs --device cpu`,
    );
  },
});
