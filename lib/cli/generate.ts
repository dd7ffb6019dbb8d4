/**
 * The `deno task generate` command (also the entry of the bundle and the compiled binary): options → one
 * `generate()` call → .mid (and .wav) files. All checks give one-line errors (`UsageError` for bad options).
 *
 * @module
 */
import { join } from "node:path";
import { REPO_ROOT } from "../util/paths.ts";
import { numberOpt, parseCli, UsageError } from "./args.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { Progress } from "../util/progress.ts";
import { readMidi, writeMidi } from "../midi/mod.ts";
import { type Note, type Score, scoreEndTick, ticksToSeconds } from "../score.ts";
import { renderWav } from "../audio/wav.ts";
import { generate, loadModel } from "../infer/generate.ts";
import { embeddedAssets, materializeEmbeddedModel, MODEL_FILES } from "../bundle/embed.ts";

/** Usage text printed by `--help`. */
export const GENERATE_USAGE = `usage: deno task generate [options]
  --model DIR          model directory (default: models/default${""})
  --prompt FILE.mid    continue this MIDI file
  --tokens N | --bars N | --seconds N   length (default: 512 tokens)
  --temperature T      0.1–2.0 (default 0.8)
  --top-k K            0–500, 0 = off (default 50)
  --top-p P            0.01–1.0 (default 0.95)
  --seed N             0–4294967295 (default: random, printed)
  --batch N            N pieces at once, 1–64 (default 1)
  --no-grammar         sample without the token-grammar mask
  --out FILE.mid       output (default: out/etude-<seed>.mid; with --batch, -<i> is added)
  --wav FILE.wav       also render audio (44.1 kHz 16-bit)
  --stream             print notes as they are generated`;

const OPTIONS = {
  model: { type: "string" },
  prompt: { type: "string" },
  tokens: { type: "string" },
  bars: { type: "string" },
  seconds: { type: "string" },
  temperature: { type: "string" },
  "top-k": { type: "string" },
  "top-p": { type: "string" },
  seed: { type: "string" },
  batch: { type: "string" },
  "no-grammar": { type: "boolean" },
  out: { type: "string" },
  wav: { type: "string" },
  stream: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** What one run wrote. */
export interface GenerateCliResult {
  /** The seed used (given or drawn). */
  seed: number;
  /** The .mid files written. */
  midiFiles: string[];
  /** The .wav files written (with --wav). */
  wavFiles: string[];
  /** Tokens sampled, all pieces together. */
  tokens: number;
  /** Sampling speed. */
  tokensPerSecond: number;
  /** The GPU adapter that ran it. */
  adapter: string;
  /** The generated pieces. */
  scores: Score[];
}

const NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];

/** Note name like `C4` (MIDI 60). */
function noteName(pitch: number): string {
  return `${NAMES[pitch % 12]}${Math.floor(pitch / 12) - 1}`;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The default model directory: `./models/default`, else the repository's `models/default`. */
function defaultModelDir(): string {
  const local = join("models", "default");
  if (exists(local)) return local;
  if (REPO_ROOT) {
    const repo = join(REPO_ROOT, "models", "default");
    if (exists(repo)) return repo;
  }
  return local;
}

function numbered(path: string, i: number, n: number): string {
  if (n === 1) return path;
  const m = path.match(/^(.*?)(\.[^./\\]+)?$/)!;
  return `${m[1]}-${i + 1}${m[2] ?? ""}`;
}

/**
 * Runs the generate command with `args` (as `Deno.args`). `print` receives the human-readable lines (stdout by
 * default). Returns what was written.
 *
 * @example
 * ```ts
 * import { generateCli } from "./generate.ts";
 * const r = await generateCli(["--model", "models/default", "--bars", "4", "--seed", "1", "--out", "/tmp/a.mid"]);
 * console.log(r.midiFiles); // ["/tmp/a.mid"]
 * ```
 */
export async function generateCli(
  args: string[],
  print: (line: string) => void = (l) => console.log(l),
): Promise<GenerateCliResult | undefined> {
  const { values, positionals } = parseCli(args, OPTIONS);
  if (values.help) {
    print(GENERATE_USAGE);
    return undefined;
  }
  if (positionals.length) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])} (see --help)`);
  }
  const temperature = numberOpt(values, "temperature", 0.8, 0.1, 2);
  const topK = numberOpt(values, "top-k", 50, 0, 500, true);
  const topP = numberOpt(values, "top-p", 0.95, 0.01, 1);
  const seed = numberOpt(
    values,
    "seed",
    crypto.getRandomValues(new Uint32Array(1))[0],
    0,
    4294967295,
    true,
  );
  const batch = numberOpt(values, "batch", 1, 1, 64, true);
  const lengths = (["tokens", "bars", "seconds"] as const).filter((k) => values[k] !== undefined);
  if (lengths.length > 1) {
    throw new UsageError(`--${lengths[1]}: give only one of --tokens, --bars, --seconds`);
  }
  const maxTokens = values.tokens !== undefined
    ? numberOpt(values, "tokens", 512, 1, 65536, true)
    : undefined;
  const bars = values.bars !== undefined ? numberOpt(values, "bars", 8, 1, 1024, true) : undefined;
  const seconds = values.seconds !== undefined ? numberOpt(values, "seconds", 30, 1, 3600) : undefined;
  for (const [k, ext] of [["out", ".mid"], ["wav", ".wav"]] as const) {
    const v = values[k];
    if (v !== undefined && (typeof v !== "string" || v === "")) {
      throw new UsageError(`--${k}: expected a file path`);
    }
    if (typeof v === "string" && !v.toLowerCase().endsWith(ext) && !(k === "out" && /\.midi$/i.test(v))) {
      throw new UsageError(`--${k}: expected a ${ext} file, got ${JSON.stringify(v)}`);
    }
  }

  // The prompt, read and validated before the (slow) model load.
  let prompt: Score | undefined;
  if (typeof values.prompt === "string") {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(values.prompt);
    } catch (e) {
      throw new UsageError(`--prompt ${values.prompt}: cannot read (${(e as Error).message.split("\n")[0]})`);
    }
    try {
      prompt = readMidi(bytes, { name: values.prompt });
    } catch (e) {
      const msg = (e as Error).message.split("\n")[0];
      throw new UsageError(msg.includes(values.prompt) ? msg : `--prompt ${values.prompt}: ${msg}`);
    }
  }

  // The model: --model DIR, else the embedded one (bundle / binary), else models/default.
  let modelDir = typeof values.model === "string" ? values.model : undefined;
  let cleanup: (() => Promise<void>) | undefined;
  let modelLabel = modelDir ?? "";
  if (!modelDir && embeddedAssets()) {
    const m = await materializeEmbeddedModel();
    modelDir = m.dir;
    cleanup = m.cleanup;
    modelLabel = `${m.name} (embedded)`;
  }
  modelDir ??= defaultModelDir();
  modelLabel ||= modelDir;
  const missing = MODEL_FILES.filter((f) => !exists(join(modelDir!, f)));
  if (missing.length) {
    const what = exists(modelDir)
      ? `${modelDir} lacks ${missing.join(", ")}`
      : `no model directory at ${modelDir}`;
    throw new UsageError(
      `${what}: train the default model with \`deno task train\` (see README, "The default model") ` +
        `or pass --model DIR (a directory with ${MODEL_FILES.join(", ")})`,
    );
  }

  try {
    const model = await loadModel(modelDir);
    try {
      const out = typeof values.out === "string" ? values.out : join("out", `etude-${seed}.mid`);
      const wav = typeof values.wav === "string" ? values.wav : undefined;
      const blank = model.tokenizer.decode([]); // the tokenizer's resolution and default tempo
      const tpb = blank.ticksPerBeat || 480;
      const length = maxTokens !== undefined
        ? `${maxTokens} tokens`
        : bars !== undefined
        ? `${bars} bars`
        : seconds !== undefined
        ? `${seconds} s`
        : "512 tokens";
      print(
        `generating ${length}${
          batch > 1 ? ` × ${batch}` : ""
        } with ${modelLabel} (seed ${seed}, temperature ${temperature}, ` +
          `top-k ${topK}, top-p ${topP}${values["no-grammar"] ? ", no grammar" : ""})${
            prompt ? ` after ${prompt.notes.length} prompt notes` : ""
          }`,
      );
      // The prompt's own notes come back first in the stream; only new ones are printed.
      const promptKeys = new Set(prompt?.notes.map((n) => `${n.start}:${n.pitch}`) ?? []);
      // A progress bar (on a terminal) for --bars / --seconds, driven by the streamed notes of the first piece.
      const bar = bars !== undefined
        ? new Progress("generating", bars, { unit: "bars" })
        : seconds !== undefined
        ? new Progress("generating", seconds, { unit: "s" })
        : undefined;
      const promptEnd = prompt?.notes.length ? scoreEndTick(prompt) : 0;
      const onNotes = (notes: Note[], sequence: number) => {
        if (bar && sequence === 0 && notes.length) {
          const last = Math.max(...notes.map((n) => n.start));
          if (bars !== undefined) bar.update(Math.min(bars, Math.floor((last - promptEnd) / (4 * tpb)) + 1));
          else bar.update(Math.min(seconds!, Math.max(0, ticksToSeconds(blank, last - promptEnd))));
        }
        if (!values.stream) return;
        for (const n of notes) {
          if (promptKeys.has(`${n.start}:${n.pitch}`)) continue;
          const tag = batch > 1 ? `[${sequence + 1}] ` : "";
          print(
            `${tag}beat ${(n.start / tpb).toFixed(2).padStart(7)}  ${
              noteName(n.pitch).padEnd(3)
            } (${n.pitch})` +
              `  vel ${String(n.velocity).padStart(3)}  ${(n.duration / tpb).toFixed(2)} beats`,
          );
        }
      };
      let result;
      try {
        result = await generate({
          model,
          prompt,
          maxTokens: maxTokens ?? (bars === undefined && seconds === undefined ? 512 : undefined),
          bars,
          seconds,
          temperature,
          topK,
          topP,
          seed,
          grammar: !values["no-grammar"],
          batch,
          onNotes,
        });
        bar?.done();
      } catch (e) {
        const err = e as Error & { field?: string };
        if (err.name === "GenerateParamError") throw new UsageError(err.message.split("\n")[0]);
        throw e;
      }
      const midiFiles: string[] = [];
      const wavFiles: string[] = [];
      for (let i = 0; i < result.scores.length; i++) {
        const score = result.scores[i];
        const path = numbered(out, i, result.scores.length);
        await writeFileAtomic(path, writeMidi(score));
        midiFiles.push(path);
        const secs = score.notes.length ? ticksToSeconds(score, scoreEndTick(score)) : 0;
        print(`wrote ${path} (${score.notes.length} notes, ${secs.toFixed(1)} s)`);
        if (wav) {
          const wpath = numbered(wav, i, result.scores.length);
          await writeFileAtomic(wpath, renderWav(score));
          wavFiles.push(wpath);
          print(`wrote ${wpath}`);
        }
      }
      print(
        `${result.tokens} tokens at ${result.tokensPerSecond.toFixed(1)} tokens/s on ${result.adapter}`,
      );
      return {
        seed,
        midiFiles,
        wavFiles,
        tokens: result.tokens,
        tokensPerSecond: result.tokensPerSecond,
        adapter: result.adapter,
        scores: result.scores,
      };
    } finally {
      model.dispose();
    }
  } finally {
    await cleanup?.();
  }
}
