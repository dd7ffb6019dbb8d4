/**
 * `deno task generate` (lib/cli/generate.ts) with the real engine on a tiny random-weight REMI checkpoint: files,
 * batch naming, reproducibility, --stream, --wav, a MIDI prompt, the default model path, and one-line errors.
 */
import { assert, assertEquals } from "../_assert.ts";
import { join } from "node:path";
import { GENERATE_USAGE, generateCli } from "../../lib/cli/generate.ts";
import { GENERATE_PARAMS } from "../../lib/infer/params.ts";
import { UsageError } from "../../lib/cli/args.ts";
import { readMidi, writeMidi } from "../../lib/midi/mod.ts";
import { emptyScore } from "../../lib/score.ts";
import { tinyModelsDir } from "../server/_tiny_model.ts";

const models = await tinyModelsDir();
const model = join(models, "default");
const tmp = await Deno.makeTempDir({ prefix: "etude_cli_" });

async function run(args: string[]) {
  const lines: string[] = [];
  const r = await generateCli(args, (l) => lines.push(l));
  return { r: r!, lines };
}

const opts = { sanitizeResources: false, sanitizeOps: false };

Deno.test({
  name:
    "generate CLI: writes .mid and .wav, prints tokens/s and adapter, streams notes, same seed → same file",
  ...opts,
  async fn() {
    const out = join(tmp, "a.mid"), wav = join(tmp, "a.wav");
    const common = ["--model", model, "--tokens", "300", "--temperature", "1.2", "--seed", "9"];
    const { r, lines } = await run([...common, "--out", out, "--wav", wav, "--stream"]);
    assertEquals(r.midiFiles, [out]);
    assertEquals(r.wavFiles, [wav]);
    assertEquals(r.seed, 9);
    const score = readMidi(await Deno.readFile(out));
    assert(score.notes.length > 0, "notes generated");
    const wavBytes = await Deno.readFile(wav);
    assertEquals(new TextDecoder().decode(wavBytes.subarray(0, 4)), "RIFF");
    assert(lines[0].startsWith(`generating 300 tokens with ${model} (seed 9, temperature 1.2`), lines[0]);
    assert(lines.some((l) => l.startsWith(`wrote ${out} (${r.scores[0].notes.length} notes`)));
    assert(lines.at(-1)!.match(/^\d+ tokens at [\d.]+ tokens\/s on .+/), lines.at(-1));
    assert(lines.at(-1)!.endsWith(r.adapter));
    const streamed = lines.filter((l) => l.startsWith("beat "));
    assert(streamed.length > 0 && streamed.length <= r.scores[0].notes.length, `${streamed.length} streamed`);
    assert(
      /^beat +\d+\.\d\d {2}[A-G]#?-?\d+ +\(\d+\) {2}vel +\d+ {2}[\d.]+ beats$/.test(streamed[0]),
      streamed[0],
    );
    // Reproducible.
    const again = join(tmp, "again.mid");
    await run([...common, "--out", again]);
    assertEquals(await Deno.readFile(again), await Deno.readFile(out));
  },
});

Deno.test({
  name: "generate CLI: --batch N writes N numbered files; a MIDI prompt is continued",
  ...opts,
  async fn() {
    const { r } = await run([
      "--model",
      model,
      "--tokens",
      "100",
      "--batch",
      "3",
      "--seed",
      "4",
      "--out",
      join(tmp, "b.mid"),
    ]);
    assertEquals(r.midiFiles, [1, 2, 3].map((i) => join(tmp, `b-${i}.mid`)));
    for (const f of r.midiFiles) readMidi(await Deno.readFile(f));

    const prompt = emptyScore(480);
    for (let i = 0; i < 6; i++) {
      prompt.notes.push({ pitch: 64 + i, velocity: 90, start: i * 240, duration: 240 });
    }
    const p = join(tmp, "prompt.mid");
    await Deno.writeFile(p, writeMidi(prompt));
    const { r: c, lines } = await run([
      "--model",
      model,
      "--prompt",
      p,
      "--tokens",
      "80",
      "--out",
      join(tmp, "c.mid"),
    ]);
    assert(lines[0].endsWith("after 6 prompt notes"), lines[0]);
    const keys = new Set(c.scores[0].notes.map((n) => `${n.start}:${n.pitch}`));
    for (const n of prompt.notes) assert(keys.has(`${n.start}:${n.pitch}`), "prompt notes kept");
  },
});

Deno.test({
  name: "generate CLI: with no arguments it uses models/default and writes out/etude-<seed>.mid",
  ...opts,
  async fn() {
    const cwd = Deno.cwd();
    const work = await Deno.makeTempDir({ prefix: "etude_cwd_" });
    await Deno.symlink(models, join(work, "models"));
    Deno.chdir(work);
    try {
      const { r, lines } = await run(["--tokens", "40"]);
      assertEquals(r.midiFiles, [join("out", `etude-${r.seed}.mid`)]);
      assert(lines[0].includes(`with ${join("models", "default")} `), lines[0]);
      readMidi(await Deno.readFile(join(work, "out", `etude-${r.seed}.mid`)));
    } finally {
      Deno.chdir(cwd);
    }
  },
});

Deno.test({
  name: "generate CLI: bad options are one-line UsageErrors naming the option",
  ...opts,
  async fn() {
    const bad = join(tmp, "bad.mid");
    await Deno.writeTextFile(bad, "this is not MIDI");
    const cases: [string[], RegExp][] = [
      [["--top-p", "3"], /^--top-p: expected a number in \[0\.01, 1\], got "3"$/],
      [["--top-k", "2.5"], /^--top-k: expected an integer in \[0, 500\]/],
      [["--temperature", "0"], /^--temperature: expected a number in \[0\.1, 2\]/],
      [["--seed=-1"], /^--seed: /],
      [["--batch", "0"], /^--batch: /],
      [["--tokens", "5", "--bars", "2"], /^--bars: give only one of --tokens, --bars, --seconds$/],
      [["--tokens", "70000"], /^--tokens: expected an integer in \[1, 65536\], got "70000"$/],
      [["--seconds", "0.5"], /^--seconds: expected a number in \[1, 3600\], got "0\.5"$/],
      // Issue 11, F5: decimal only, and a negative value names the range (not Node's "argument is ambiguous").
      [
        ["--temperature", "0x1"],
        /^--temperature: expected a number in \[0\.1, 2\], got "0x1" \(decimal digits only/,
      ],
      [["--temperature", "-1"], /^--temperature: expected a number in \[0\.1, 2\], got "-1"$/],
      [["--seed", "-1"], /^--seed: expected an integer in \[0, 4294967295\], got "-1"$/],
      [["--tokens", "1e3"], /^--tokens: expected an integer in \[1, 65536\], got "1e3"/],
      [["--top-k", "Infinity"], /^--top-k: expected an integer in \[0, 500\], got "Infinity"$/],
      [["--seed", ""], /^--seed: expected an integer in \[0, 4294967295\], got ""$/],
      [["--seed", "4294967296"], /^--seed: expected an integer in \[0, 4294967295\]/],
      [["--out", "x.txt"], /^--out: expected a \.mid file/],
      [["--wav", "x.mid"], /^--wav: expected a \.wav file/],
      [["--colour", "red"], /colour/],
      [["extra"], /^unexpected argument "extra"/],
      [["--model", model, "--prompt", join(tmp, "none.mid")], /^--prompt .*none\.mid: cannot read/],
      [["--model", model, "--prompt", bad], /bad\.mid.*MThd|bad\.mid: /],
      [
        ["--model", join(tmp, "nomodel")],
        /^no model directory at .*nomodel: train the default model with `deno task train`/,
      ],
    ];
    for (const [args, re] of cases) {
      let err: unknown;
      try {
        await run(args);
      } catch (x) {
        err = x;
      }
      assert(err instanceof UsageError, `${args.join(" ")}: ${err}`);
      assert(re.test(err.message), `${args.join(" ")}: ${err.message}`);
      assert(!err.message.includes("\n"), "one line");
    }
  },
});

/** A directory this process cannot write in (a 0o555 one; as root, which ignores modes, /sys), or undefined. */
async function unwritableDir(): Promise<string | undefined> {
  const dir = await Deno.makeTempDir({ prefix: "etude_ro_" });
  await Deno.chmod(dir, 0o555);
  for (const d of [dir, "/sys"]) {
    try {
      await Deno.remove(await Deno.makeTempFile({ dir: d }));
    } catch {
      return d;
    }
  }
  return undefined;
}

async function usageError(args: string[]): Promise<UsageError> {
  try {
    await run(args);
  } catch (e) {
    assert(e instanceof UsageError, String(e));
    assert(!e.message.includes("\n"), "one line");
    return e;
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

Deno.test({
  name: "generate CLI: every output is checked before generating; a bad --wav or --out leaves no file behind",
  ...opts,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "etude_outs_" });
    const mid = join(dir, "a.mid");
    const common = ["--model", model, "--tokens", "8", "--seed", "1"];
    // --wav into a directory that cannot be written: refused up front, so no .mid either.
    const ro = await unwritableDir();
    if (ro) {
      const e = await usageError([...common, "--out", mid, "--wav", join(ro, "a.wav")]);
      assertEquals(
        e.message.startsWith(`--wav ${join(ro, "a.wav")}: cannot write in ${ro} (`),
        true,
        e.message,
      );
      assertEquals(await exists(mid), false, "no stray .mid");
    }
    // --out (or --wav) into a missing directory: refused, naming it, and not created.
    const missing = join(dir, "no", "such");
    const e2 = await usageError([...common, "--out", join(missing, "a.mid")]);
    assertEquals(
      e2.message,
      `--out ${join(missing, "a.mid")}: directory ${missing} does not exist (create it first)`,
    );
    const e3 = await usageError([...common, "--out", mid, "--wav", join(missing, "a.wav")]);
    assertEquals(
      e3.message,
      `--wav ${join(missing, "a.wav")}: directory ${missing} does not exist (create it first)`,
    );
    assertEquals(await exists(join(dir, "no")), false, "the directory was not created");
    assertEquals(await exists(mid), false);
    // A directory where a file should go; a file where a directory should be.
    await Deno.mkdir(join(dir, "x.wav"));
    const e4 = await usageError([...common, "--out", mid, "--wav", join(dir, "x.wav")]);
    assertEquals(e4.message, `--wav ${join(dir, "x.wav")}: is a directory`);
    await Deno.writeTextFile(join(dir, "file"), "");
    const e5 = await usageError([...common, "--out", join(dir, "file", "a.mid")]);
    assertEquals(e5.message, `--out ${join(dir, "file", "a.mid")}: ${join(dir, "file")} is not a directory`);
    // With --batch, every numbered output; nothing left but what succeeded, and no temporary files.
    const { r } = await run([...common, "--batch", "2", "--out", mid, "--wav", join(dir, "a.wav")]);
    assertEquals(r.midiFiles, [join(dir, "a-1.mid"), join(dir, "a-2.mid")]);
    const names = [];
    for await (const f of Deno.readDir(dir)) names.push(f.name);
    assertEquals(names.sort(), [
      "a-1.json",
      "a-1.mid",
      "a-1.wav",
      "a-2.json",
      "a-2.mid",
      "a-2.wav",
      "file",
      "x.wav",
    ]);
  },
});

Deno.test({
  name: "generate CLI: a prompt past the read limits (issue 11, F1) is clipped with a warning and continued",
  ...opts,
  async fn() {
    // F1: a 0x0FFFFFFF-tick delta at 1 tick per beat, 37,283 hours of silence in 45 bytes.
    const f1 = "4d546864000000060000000100014d54726b0000001700903c4001803c00ffffff7f903e4001803e0000ff2f00";
    const p = join(tmp, "f1.mid");
    await Deno.writeFile(p, Uint8Array.from(f1.match(/../g)!, (b) => parseInt(b, 16)));
    const lines: string[] = [], warnings: string[] = [];
    const r = await generateCli(
      ["--model", model, "--prompt", p, "--tokens", "8", "--seed", "1", "--out", join(tmp, "f1-out.mid")],
      (l) => lines.push(l),
      (l) => warnings.push(l),
    );
    assertEquals(warnings.length, 1, warnings.join("\n"));
    assert(
      warnings[0].startsWith(`warning: --prompt ${p}: 1 silence(s) longer than 600 s shortened to it`),
      warnings[0],
    );
    assert(lines[0].endsWith("after 2 prompt notes"), lines[0]);
    readMidi(await Deno.readFile(r!.midiFiles[0]));
  },
});

Deno.test({
  name: "generate CLI: a broken model.safetensors is named in the error",
  ...opts,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "etude_badmodel_" });
    for (const f of ["config.json", "tokenizer.json"]) await Deno.copyFile(join(model, f), join(dir, f));
    await Deno.writeFile(join(dir, "model.safetensors"), new Uint8Array([1, 2, 3]));
    let err: unknown;
    try {
      await run(["--model", dir, "--tokens", "8", "--out", join(tmp, "never.mid")]);
    } catch (e) {
      err = e;
    }
    assert(err instanceof Error);
    assert(err.message.startsWith(`${join(dir, "model.safetensors")}: `), err.message);
    assert(!err.message.includes("\n"));
    assertEquals(await exists(join(tmp, "never.mid")), false);
  },
});

Deno.test("generate CLI: --help prints the usage, its parameter lines from GENERATE_PARAMS", async () => {
  const lines: string[] = [];
  assertEquals(await generateCli(["--help"], (l) => lines.push(l)), undefined);
  assertEquals(lines, [GENERATE_USAGE]);
  const P = GENERATE_PARAMS;
  for (
    const line of [
      `--temperature T      ${P.temperature.doc}, ${P.temperature.min}–${P.temperature.max} (default ${P.temperature.default})`,
      `--top-p P            ${P.topP.doc}, ${P.topP.min}–${P.topP.max} (default ${P.topP.default})`,
      `--tokens N           ${P.maxTokens.doc}, ${P.maxTokens.min}–${P.maxTokens.max} (default ${P.maxTokens.default})`,
      "--no-grammar         sample without the token-grammar mask",
      "--out FILE.mid",
    ]
  ) assert(GENERATE_USAGE.includes(line), line);
});

Deno.test({
  name: "deno task generate: a bad option exits 2 with one line on stderr",
  ...opts,
  async fn() {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "tasks/generate.ts", "--top-k", "9999"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(out.code, 2);
    assertEquals(
      new TextDecoder().decode(out.stderr),
      'error: --top-k: expected an integer in [0, 500], got "9999"\n',
    );
    // A negative value: the range, not Node's "argument is ambiguous".
    const neg = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "tasks/generate.ts", "--temperature", "-1"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(neg.code, 2);
    assertEquals(
      new TextDecoder().decode(neg.stderr),
      'error: --temperature: expected a number in [0.1, 2], got "-1"\n',
    );
  },
});

const DEFAULT_MODEL = join(import.meta.dirname!, "..", "..", "models", "default");
const hasDefault = (() => {
  try {
    return Deno.statSync(join(DEFAULT_MODEL, "model.safetensors")).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "the shipped default model (models/default): a 4-bar sample decodes to valid piano notes",
  ignore: !hasDefault,
  ...opts,
  async fn() {
    const out = join(tmp, "default.mid");
    const { r } = await run(["--model", DEFAULT_MODEL, "--bars", "4", "--seed", "1", "--out", out]);
    const score = readMidi(await Deno.readFile(out));
    assert(score.notes.length > 0, "the default model writes notes");
    for (const n of score.notes) {
      assert(n.pitch >= 21 && n.pitch <= 108, `pitch ${n.pitch}`);
      assert(n.velocity >= 1 && n.velocity <= 127 && n.duration > 0 && n.start >= 0);
    }
    assert(r.tokensPerSecond > 0);
  },
});

Deno.test({
  name:
    "generate CLI: the control flags reach generate() and hold in the written file, read by @tonejs/midi; a control the model lacks is one line",
  ...opts,
  async fn() {
    const { Midi } = (await import("@tonejs/midi")).default;
    const out = join(tmp, "steered.mid");
    const { r, lines } = await run([
      "--model",
      model,
      "--bars",
      "3",
      "--seed",
      "5",
      "--key",
      "E minor",
      "--pitch-range",
      "48-84",
      "--max-note-beats",
      "2",
      "--time-signature",
      "3/4",
      "--out",
      out,
    ]);
    assertEquals(r.provenance[0].params.key, "E minor");
    assert(
      lines.includes(
        "controls: key E minor, keyStrength 1, keyTonic 0.25, pitchRange 48-84, maxNoteBeats 2, timeSignature 3/4",
      ),
    );
    const tone = new Midi(await Deno.readFile(out));
    const notes = tone.tracks.flatMap((t) => t.notes);
    assert(notes.length > 0, "notes generated");
    const eMinor = new Set([4, 6, 7, 9, 11, 0, 2]);
    for (const n of notes) {
      assert(eMinor.has(n.midi % 12), `pitch ${n.midi} in E minor`);
      assert(n.midi >= 48 && n.midi <= 84, `pitch ${n.midi} in 48-84`);
      assert(n.durationTicks <= 2 * tone.header.ppq, `${n.durationTicks} ticks ≤ 2 beats`);
    }
    // A time signature this tokenizer has no token for: a usage error naming the flag, nothing written.
    let message = "";
    try {
      await run([
        "--model",
        model,
        "--bars",
        "1",
        "--time-signature",
        "13/16",
        "--out",
        join(tmp, "never.mid"),
      ]);
    } catch (e) {
      assert(e instanceof UsageError, String(e));
      message = e.message;
    }
    assertEquals(
      message,
      '--time-signature: expected a time signature like 3/4 or 6/8, got "13/16" (13/16 is not in this tokenizer\'s vocabulary)',
    );
  },
});
