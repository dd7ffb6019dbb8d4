/**
 * `deno task generate` (lib/cli/generate.ts) with the real engine on a tiny random-weight REMI checkpoint: files,
 * batch naming, reproducibility, --stream, --wav, a MIDI prompt, the default model path, and one-line errors.
 */
import { assert, assertEquals } from "../_assert.ts";
import { join } from "node:path";
import { generateCli } from "../../lib/cli/generate.ts";
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
