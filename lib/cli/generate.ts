/**
 * The `deno task generate` command (also the entry of the bundle and the compiled binary): options → one
 * `generate()` call → .mid (and .wav) files. All checks give one-line errors (`UsageError` for bad options).
 *
 * Outputs are all or nothing: every output's directory is checked (it must exist, except `out/` for the default
 * name, and be writable) before the model loads, and the files are written to temporary names beside their targets
 * and renamed only once all of them are written, so a failure (an unwritable `--wav`, a render too long) leaves no
 * stray `.mid`.
 *
 * Provenance (lib/infer/provenance.ts): every .mid carries its record (version, model sha256, prompt sha256, every
 * setting, its index in the batch) as an `etude:{…}` text event, and a JSON sidecar beside it (`take.mid` →
 * `take.json`) holds the same record; `--no-provenance` writes neither (the bytes of before provenance existed).
 * `--replay take.json` (or `take.mid`) generates again with the record's settings, model and prompt, each checked
 * against its sha256 first, and writes the same bytes.
 *
 * Infilling and learned conditions (a model trained with `tokenize --conditioning`): `--prompt take.mid --infill 5:8`
 * writes the whole piece with bars 5–8 regenerated (every other note as it was); `--style pop` (and, on such a model,
 * `--key`, `--tempo`, `--density`) sets the leading condition tokens. Both are in the provenance record, so
 * `--replay` reproduces an infilled take.
 *
 * The copy check (lib/data/copy_index.ts): with a `copy_index.json` beside the model, each piece's longest run of
 * generated ids (prompt excluded) found verbatim in the training data is printed and kept in the sidecar
 * (`longestCopy`); `--max-copy N` refuses (writes nothing for) a piece sharing more than N tokens, and the task exits
 * with code 3 (`GenerateCliResult.refused`); it does not resample.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { REPO_ROOT } from "../util/paths.ts";
import { SAMPLING_NAMES, withModelSampling } from "../infer/generation_config.ts";
import { conditionGuidance } from "../infer/guidance.ts";
import { GENERATE_PARAMS } from "../infer/params.ts";
import { cliParamMessage, paramOptions, paramsFromCli, paramUsage, parseCli, UsageError } from "./args.ts";
import { Progress } from "../util/progress.ts";
import { MAX_MIDI_BYTES, readMidiDetailed, writeMidi } from "../midi/mod.ts";
import { type Note, noteName, type Score, scoreEndTick, ticksToSeconds } from "../score.ts";
import { renderWav } from "../audio/wav.ts";
import { RenderLimitError } from "../audio/synth.ts";
import { TokenLimitError } from "../tokenizers/remi.ts";
import { generate } from "../infer/generate.ts";
import { loadModel } from "../infer/load.ts";
import { controlError, type GenerateParamValues } from "../infer/param_check.ts";
import { GenerateParamError } from "../infer/param_error.ts";
import {
  fileSha256,
  makeProvenance,
  type Provenance,
  ProvenanceError,
  type ProvenanceModel,
  type ProvenancePrompt,
  provenanceText,
  readProvenance,
  replayParams,
  type SidecarCopy,
  sidecarPath,
  sidecarText,
} from "../infer/provenance.ts";
import { MidiError } from "../midi/error.ts";
import { CHECKPOINT_FILES as MODEL_FILES } from "../model/checkpoint.ts";
import { existsSync, readFileCapped } from "../util/fs.ts";
import { sha256Hex } from "../util/hash.ts";
import { ETUDE_VERSION } from "../util/version.ts";
import { COPY_INDEX_JSON, type CopyIndex, type CopyMatch, readCopyIndex } from "../data/copy_index.ts";

/** Usage text printed by `--help` (the generation parameters' lines come from `GENERATE_PARAMS`). */
export const GENERATE_USAGE: string = `usage: deno task generate [options]
  --model DIR          model directory (default: models/default)
  --prompt FILE.mid    continue this MIDI file
${paramUsage()}
  --out FILE.mid       output, in an existing directory (default: out/etude-<seed>.mid, out/ created;
                       with --batch, -<i> is added); its provenance record goes beside it (FILE.json)
  --wav FILE.wav       also render audio (44.1 kHz 16-bit, at most 20 minutes)
  --stream             print notes as they are generated
  --replay FILE        generate a take again from its record (a .json sidecar or the .mid itself): same model
                       (sha256 checked), prompt (sha256 checked) and settings, same bytes (default output:
                       out/etude-<seed>-replay.mid); --model / --prompt use another file (warned if it differs)
  --no-provenance      write no provenance (no etude:{…} text event in the .mid, no .json sidecar)
  --max-copy N         refuse a piece whose generated tokens share a run of more than N tokens with the
                       training data (the model's copy_index.json): nothing is written for it, exit code 3
  --device D           auto | gpu | cpu (default auto: a real GPU → the WebGPU engine; else a BLAS found → the
                       CPU backend; else the engine on the software adapter); the same seed gives the same tokens
  --threads N          CPU device: BLAS threads (default: the library's, usually all cores)
  --weights W          CPU device: f32 (default) | bf16 | int8: reduced-precision weights, faster decode with a
                       small logit error (so other tokens than f32 for the same seed)`;

const OPTIONS = {
  model: { type: "string" },
  prompt: { type: "string" },
  ...paramOptions(),
  out: { type: "string" },
  wav: { type: "string" },
  stream: { type: "boolean" },
  replay: { type: "string" },
  "no-provenance": { type: "boolean" },
  "max-copy": { type: "string" },
  device: { type: "string" },
  threads: { type: "string" },
  weights: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * What the program hosting the CLI provides. The single-file bundle passes the model it carries (lib/bundle), so the
 * CLI itself knows nothing about bundles.
 *
 * @example
 * ```ts ignore
 * import { generateCli } from "./generate.ts";
 * // a host carrying its own model, unpacked on demand (as the compiled binary does)
 * const dir = "/tmp/etude-embedded";
 * await generateCli(["--bars", "4"], undefined, undefined, {
 *   embeddedModel: () => Promise.resolve({ dir, name: "default", cleanup: () => Deno.remove(dir, { recursive: true }) }),
 * });
 * ```
 */
export interface GenerateCliHost {
  /** Writes the embedded model to a temporary directory; used when `--model` is not given. */
  embeddedModel?: () => Promise<{ dir: string; name: string; cleanup: () => Promise<void> }>;
}

/**
 * What one run wrote.
 *
 * @example
 * ```ts ignore
 * import { generateCli } from "./generate.ts";
 * const lines: string[] = [];
 * const r = await generateCli(["--bars", "8", "--out", "out.mid", "--wav", "out.wav"], (l) => lines.push(l));
 * if (r) console.log(r.seed, r.midiFiles, r.wavFiles, `${r.tokensPerSecond.toFixed(0)} tokens/s on ${r.adapter}`);
 * ```
 */
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
  /** The generated pieces (a replay: all of the batch, of which `midiFiles` holds the take's). */
  scores: Score[];
  /** The JSON sidecars written, one per .mid (none with --no-provenance). */
  sidecarFiles: string[];
  /**
   * The provenance record of each .mid written, in `midiFiles` order (with --no-provenance too: what the record
   * would have said).
   */
  provenance: Provenance[];
  /**
   * The longest run of each piece's generated ids (prompt excluded) found in the training data, in batch order,
   * when the model has a copy index (lib/data/copy_index.ts).
   */
  longestCopy?: CopyMatch[];
  /** Batch indices refused by `--max-copy` (nothing written for them; the task exits with code 3). */
  refused: number[];
}

/** The default model directory: `./models/default`, else the repository's `models/default`. */
function defaultModelDir(): string {
  const local = join("models", "default");
  if (existsSync(local)) return local;
  if (REPO_ROOT) {
    const repo = join(REPO_ROOT, "models", "default");
    if (existsSync(repo)) return repo;
  }
  return local;
}

function numbered(path: string, i: number, n: number): string {
  if (n === 1) return path;
  const m = path.match(/^(.*?)(\.[^./\\]+)?$/)!;
  return `${m[1]}-${i + 1}${m[2] ?? ""}`;
}

/** An OS error's own words, without Deno's trailing operation and path: `Permission denied (os error 13)`. */
function osReason(e: unknown): string {
  return String((e as Error)?.message ?? e).split("\n")[0].split(": ")[0];
}

/**
 * Checks, before any work, that `path` can be written: its directory exists (only `create`, the default `out/`, is
 * made) and takes a new file, and `path` is not a directory. Throws a one-line `UsageError` naming `flag`.
 */
async function checkWritable(flag: string, path: string, create: boolean): Promise<void> {
  const dir = dirname(path);
  try {
    if (!(await Deno.stat(dir)).isDirectory) {
      throw new UsageError(`${flag} ${path}: ${dir} is not a directory`);
    }
  } catch (e) {
    if (e instanceof UsageError) throw e;
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new UsageError(`${flag} ${path}: cannot use directory ${dir} (${osReason(e)})`);
    }
    if (!create) throw new UsageError(`${flag} ${path}: directory ${dir} does not exist (create it first)`);
    try {
      await Deno.mkdir(dir, { recursive: true });
    } catch (e2) {
      throw new UsageError(`${flag} ${path}: cannot create directory ${dir} (${osReason(e2)})`);
    }
  }
  try {
    if ((await Deno.stat(path)).isDirectory) throw new UsageError(`${flag} ${path}: is a directory`);
  } catch (e) {
    if (e instanceof UsageError) throw e; // absent: fine
  }
  let probe: string;
  try {
    probe = await Deno.makeTempFile({ dir, prefix: ".etude-probe-", suffix: ".tmp" });
  } catch (e) {
    throw new UsageError(`${flag} ${path}: cannot write in ${dir} (${osReason(e)})`);
  }
  await Deno.remove(probe).catch(() => {});
}

/**
 * Writes every file or none: each to a temporary name beside its target, then, once all are written, each renamed
 * into place. On a failure the temporary files are removed.
 */
async function writeAll(files: { path: string; flag: string; data: Uint8Array }[]): Promise<void> {
  const temps: string[] = [];
  try {
    for (const f of files) {
      const tmp = `${f.path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
      temps.push(tmp);
      try {
        await Deno.writeFile(tmp, f.data);
      } catch (e) {
        throw new Error(`${f.flag} ${f.path}: cannot write (${osReason(e)})`);
      }
    }
    for (let i = 0; i < files.length; i++) {
      try {
        await Deno.rename(temps[i], files[i].path);
      } catch (e) {
        throw new Error(`${files[i].flag} ${files[i].path}: cannot write (${osReason(e)})`);
      }
    }
  } catch (e) {
    for (const t of temps) await Deno.remove(t).catch(() => {});
    throw e;
  }
}

/**
 * Runs the generate command with `args` (as `Deno.args`). `print` receives the human-readable lines (stdout by
 * default). Returns what was written.
 *
 * @example
 * ```ts
 * import { generateCli } from "./generate.ts";
 * const r = await generateCli(["--model", "models/default", "--bars", "4", "--seed", "1", "--out", "/tmp/a.mid"]);
 * console.log(r?.midiFiles); // ["/tmp/a.mid"] (r is undefined only for --help)
 * ```
 */
export async function generateCli(
  args: string[],
  print: (line: string) => void = (l) => console.log(l),
  warn: (line: string) => void = (l) => console.error(l),
  host: GenerateCliHost = {},
): Promise<GenerateCliResult | undefined> {
  const { values, positionals } = parseCli(args, OPTIONS);
  if (values.help) {
    print(GENERATE_USAGE);
    return undefined;
  }
  if (positionals.length) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])} (see --help)`);
  }
  const provenanceOn = !values["no-provenance"];
  const device = values.device ?? "auto";
  if (device !== "auto" && device !== "gpu" && device !== "cpu") {
    throw new UsageError(`--device: expected auto, gpu or cpu, got ${JSON.stringify(device)}`);
  }
  let threads: number | undefined;
  if (values.threads !== undefined) {
    threads = Number(values.threads);
    if (!Number.isInteger(threads) || threads < 1 || threads > 1024) {
      throw new UsageError(
        `--threads: expected an integer in [1, 1024], got ${JSON.stringify(values.threads)}`,
      );
    }
  }
  const w = values.weights ?? "f32";
  if (w !== "f32" && w !== "bf16" && w !== "int8") {
    throw new UsageError(`--weights: expected f32, bf16 or int8, got ${JSON.stringify(w)}`);
  }
  let weights: "f32" | "bf16" | "int8" = w;
  if (weights !== "f32" && device === "gpu") throw new UsageError(`--weights ${weights} needs --device cpu`);
  let maxCopy: number | undefined;
  if (values["max-copy"] !== undefined) {
    maxCopy = Number(values["max-copy"]);
    if (!/^\d+$/.test(String(values["max-copy"])) || !Number.isSafeInteger(maxCopy)) {
      throw new UsageError(
        `--max-copy: expected a token count (an integer ≥ 0), got ${JSON.stringify(values["max-copy"])}`,
      );
    }
  }
  // A replay's record, read and checked before anything else (its settings replace the parameter options).
  const replayFile = values.replay;
  if (replayFile !== undefined && (typeof replayFile !== "string" || replayFile === "")) {
    throw new UsageError("--replay: expected a .json sidecar or a .mid file");
  }
  let replay: Provenance | undefined;
  let params: GenerateParamValues;
  if (typeof replayFile === "string") {
    const given = Object.keys(paramOptions()).find((flag) => values[flag] !== undefined);
    if (given) {
      throw new UsageError(
        `--${given} cannot be combined with --replay (a replay takes every setting from its record)`,
      );
    }
    replay = await readReplay(replayFile);
    params = replayParams(replay);
    // the weights a take decoded with are part of its record (int8 and bf16 change the tokens)
    if (values.weights !== undefined) {
      throw new UsageError(
        "--weights cannot be combined with --replay (a replay takes every setting from its record)",
      );
    }
    if (replay.model.weights) {
      if (device === "gpu") {
        throw new UsageError(
          `--replay ${replayFile}: the take decoded with ${replay.model.weights} weights: needs --device cpu`,
        );
      }
      weights = replay.model.weights;
    }
    if (replay.version !== ETUDE_VERSION) {
      warn(
        `warning: --replay ${replayFile}: made by etude ${replay.version}, this is ${ETUDE_VERSION}: ` +
          `the replay may differ`,
      );
    }
  } else {
    // Every generation parameter, checked against GENERATE_PARAMS before the (slow) model load.
    params = paramsFromCli(values);
  }
  const { seed, batch, maxTokens, bars, seconds } = params;
  for (const [k, ext] of [["out", ".mid"], ["wav", ".wav"]] as const) {
    const v = values[k];
    if (v !== undefined && (typeof v !== "string" || v === "")) {
      throw new UsageError(`--${k}: expected a file path`);
    }
    if (typeof v === "string" && !v.toLowerCase().endsWith(ext) && !(k === "out" && /\.midi$/i.test(v))) {
      throw new UsageError(`--${k}: expected a ${ext} file, got ${JSON.stringify(v)}`);
    }
  }
  // The pieces written: all of the batch, or a replay's one take (its index in the batch).
  const takes = replay ? [replay.index] : Array.from({ length: batch }, (_, i) => i);
  const defaultName = replay
    ? `etude-${seed}${batch > 1 ? `-${replay.index + 1}` : ""}-replay.mid`
    : `etude-${seed}.mid`;
  const out = typeof values.out === "string" ? values.out : join("out", defaultName);
  const wav = typeof values.wav === "string" ? values.wav : undefined;
  const midiPath = (i: number) => numbered(out, replay ? 0 : i, takes.length);
  const wavPath = (i: number) => numbered(wav!, replay ? 0 : i, takes.length);
  // Every output writable before the (slow) model load; only the default's out/ is created.
  for (const i of takes) {
    await checkWritable("--out", midiPath(i), values.out === undefined);
    if (provenanceOn) await checkWritable("--out", sidecarPath(midiPath(i)), values.out === undefined);
    if (wav) await checkWritable("--wav", wavPath(i), false);
  }

  // The prompt, read and validated before the (slow) model load: --prompt, else a replay's recorded one.
  let prompt: Score | undefined;
  let promptRef: ProvenancePrompt | undefined;
  if (replay && !replay.prompt && values.prompt !== undefined) {
    throw new UsageError(`--prompt cannot be combined with --replay ${replayFile}: the take has no prompt`);
  }
  const promptPath = typeof values.prompt === "string" ? values.prompt : replay?.prompt?.path;
  if (params.infill && promptPath === undefined) {
    throw new UsageError("--infill: needs --prompt FILE.mid (the piece whose bars are regenerated)");
  }
  if (promptPath !== undefined) {
    // A replay's own prompt is named by the record; one given with --prompt by its option.
    const fromRecord = values.prompt === undefined;
    const flag = fromRecord ? `--replay ${replayFile}: the take's prompt` : "--prompt";
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = await readFileCapped(promptPath, MAX_MIDI_BYTES);
    } catch (e) {
      if (e instanceof RangeError) throw new UsageError(`${flag} ${e.message}`);
      throw new UsageError(`${flag} ${promptPath}: cannot read (${(e as Error).message.split("\n")[0]})`);
    }
    const sha = await sha256Hex(bytes);
    promptRef = { path: promptPath, sha256: sha };
    if (replay?.prompt) {
      const want = replay.prompt.sha256;
      if (sha === want) promptRef = replay.prompt;
      else if (fromRecord) {
        throw new UsageError(
          `${flag} ${promptPath} has changed since the take (sha256 ${short(sha)}, the take's ${
            short(want)
          }; ` +
            `pass --prompt FILE to replay with another prompt anyway)`,
        );
      } else {
        warn(
          `warning: --prompt ${promptPath}: sha256 ${short(sha)} is not the take's prompt (${
            short(want)
          }): ` +
            `the replay will differ`,
        );
      }
    }
    try {
      // Past a read limit (an hours-long silence) the prompt is clipped, and said so.
      const { score, report } = readMidiDetailed(bytes, { name: promptPath });
      prompt = score;
      if (report.shortenedGaps || report.notesPastLimit || report.notesCutAtLimit) {
        for (const w of report.warnings) warn(`warning: --prompt ${promptPath}: ${w}`);
      }
    } catch (e) {
      const msg = (e as Error).message.split("\n")[0];
      throw new UsageError(msg.includes(promptPath) ? msg : `--prompt ${promptPath}: ${msg}`);
    }
  }

  // The model: --model DIR, else a replay's recorded path, else the embedded one (bundle / binary), else
  // models/default.
  let modelDir = typeof values.model === "string" ? values.model : undefined;
  const recorded = replay && modelDir === undefined ? replay.model : undefined;
  if (recorded?.path !== undefined) modelDir = recorded.path;
  if (recorded?.embedded !== undefined && !host.embeddedModel) {
    throw new UsageError(
      `--replay ${replayFile}: the take was made with the embedded model "${recorded.embedded}": ` +
        `pass --model DIR (its sha256 is checked)`,
    );
  }
  let cleanup: (() => Promise<void>) | undefined;
  let modelLabel = modelDir ?? "";
  let modelRef: Omit<ProvenanceModel, "sha256"> = {};
  if (!modelDir && host.embeddedModel) {
    const m = await host.embeddedModel();
    modelDir = m.dir;
    cleanup = m.cleanup;
    modelLabel = `${m.name} (embedded)`;
    modelRef = { embedded: m.name };
  }
  try {
    modelDir ??= defaultModelDir();
    modelLabel ||= modelDir;
    if (!modelRef.embedded) modelRef = { path: modelDir };
    if (weights !== "f32") modelRef = { ...modelRef, weights };
    const missing = MODEL_FILES.filter((f) => !existsSync(join(modelDir!, f)));
    if (missing.length) {
      const what = existsSync(modelDir)
        ? `${modelDir} lacks ${missing.join(", ")}`
        : `no model directory at ${modelDir}`;
      if (recorded) {
        throw new UsageError(`--replay ${replayFile}: the take's model: ${what}: pass --model DIR`);
      }
      throw new UsageError(
        `${what}: train the default model with \`deno task train\` (see README, "The default model") ` +
          `or pass --model DIR (a directory with ${MODEL_FILES.join(", ")})`,
      );
    }
    // The model's sha256: once per load, before it (a replay refuses another model before the slow part).
    let modelSha: string;
    const modelFile = join(modelDir, "model.safetensors");
    try {
      modelSha = await fileSha256(modelFile);
    } catch (e) {
      throw new Error(`${modelFile}: cannot read (${osReason(e)})`);
    }
    if (replay) {
      const want = replay.model.sha256;
      if (modelSha === want) modelRef = replay.model;
      else if (recorded) {
        throw new UsageError(
          `--replay ${replayFile}: the model at ${modelLabel} has sha256 ${
            short(modelSha)
          }, but the take was made ` +
            `with ${short(want)} (pass --model DIR to replay with another model anyway)`,
        );
      } else {
        warn(
          `warning: --model ${modelLabel}: sha256 ${short(modelSha)} is not the take's model (${
            short(want)
          }): ` +
            `the replay will differ`,
        );
      }
    }
    // The copy index shipped beside the model (deno task train): a bad one is a warning, unless --max-copy needs it.
    let copyIndex: CopyIndex | undefined;
    try {
      copyIndex = await readCopyIndex(modelDir);
    } catch (e) {
      if (maxCopy !== undefined) throw new UsageError(`--max-copy: ${(e as Error).message.split("\n")[0]}`);
      warn(`warning: no copy check: ${(e as Error).message.split("\n")[0]}`);
    }
    if (maxCopy !== undefined && !copyIndex) {
      throw new UsageError(
        `--max-copy: ${join(modelDir, COPY_INDEX_JSON)} not found (the model has no copy index; ` +
          `\`deno task train\` ships it beside the model)`,
      );
    }
    const record = (index: number): Provenance =>
      makeProvenance({
        model: { ...modelRef, sha256: modelSha },
        prompt: promptRef,
        params,
        index,
      });

    const model = await loadModel(modelDir, { device: weights === "f32" ? device : "cpu", threads, weights });
    // Sampling flags left out take the model's own defaults (generation_config.json) before the table's; a replay
    // takes its record's.
    if (!replay) {
      const defaulted = new Set(
        SAMPLING_NAMES.filter((k) => values[GENERATE_PARAMS[k].cli!.flag] === undefined),
      );
      params = withModelSampling(params, model.sampling, defaulted);
    }
    const { temperature, topK, topP } = params;
    try {
      const blank = model.tokenizer.decode([]); // the tokenizer's resolution and default tempo
      const tpb = blank.ticksPerBeat || 480;
      const inf = params.infill;
      const length = inf
        ? `bars ${inf.from}–${inf.to} of the prompt (infilling${
          maxTokens !== undefined ? `, at most ${maxTokens} tokens` : ""
        })`
        : bars !== undefined
        ? `${bars} bars`
        : seconds !== undefined
        ? `${seconds} s`
        : `${maxTokens} tokens`;
      if (replay) {
        print(
          `replaying ${replayFile}${batch > 1 ? ` (piece ${replay.index + 1} of a batch of ${batch})` : ""}`,
        );
      }
      print(
        `generating ${length}${
          batch > 1 ? ` × ${batch}` : ""
        } with ${modelLabel} (seed ${seed}, temperature ${temperature}, ` +
          `top-k ${topK}, top-p ${topP}${guidanceText(params)}${params.grammar ? "" : ", no grammar"})${
            prompt ? ` after ${prompt.notes.length} prompt notes` : ""
          }`,
      );
      if (params.controls) {
        const list = Object.entries(params.controls).map(([k, v]) =>
          `${k} ${Array.isArray(v) ? v.join("-") : v}`
        );
        print(`controls: ${list.join(", ")}`);
      }
      if (params.conditions?.style) print(`conditions: style ${params.conditions.style}`);
      print(`device: ${model.adapter}${device === "auto" ? " (--device auto)" : ""}`);
      // The prompt's own notes come back first in the stream; only new ones are printed.
      const promptKeys = new Set(prompt?.notes.map((n) => `${n.start}:${n.pitch}`) ?? []);
      // A progress bar (on a terminal) for --bars / --seconds, driven by the streamed notes of the first piece.
      const bar = bars !== undefined
        ? new Progress("generating", bars, { unit: "bars" })
        : seconds !== undefined
        ? new Progress("generating", seconds, { unit: "s" })
        : undefined;
      const promptEnd = prompt?.notes.length ? scoreEndTick(prompt) : 0;
      const shown = takes[0];
      const onNotes = (notes: Note[], sequence: number) => {
        if (bar && sequence === shown && notes.length) {
          const last = Math.max(...notes.map((n) => n.start));
          if (bars !== undefined) bar.update(Math.min(bars, Math.floor((last - promptEnd) / (4 * tpb)) + 1));
          else bar.update(Math.min(seconds!, Math.max(0, ticksToSeconds(blank, last - promptEnd))));
        }
        if (!values.stream || !takes.includes(sequence)) return;
        for (const n of notes) {
          if (promptKeys.has(`${n.start}:${n.pitch}`)) continue;
          const tag = takes.length > 1 ? `[${sequence + 1}] ` : "";
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
        result = await generate({ model, prompt, ...params, onNotes });
        bar?.done();
      } catch (e) {
        if (e instanceof GenerateParamError) throw new UsageError(cliParamMessage(e));
        const ce = controlError(e, params.controls as Record<string, unknown> | undefined);
        if (ce) throw new UsageError(cliParamMessage(ce));
        if (e instanceof TokenLimitError && promptPath !== undefined) {
          throw new UsageError(`--prompt ${promptPath}: ${(e as Error).message.split("\n")[0]}`);
        }
        throw e;
      }
      // Every file's bytes first (a render may be refused), then all written or none.
      const files: { path: string; flag: string; data: Uint8Array }[] = [];
      const lines: string[] = [];
      const midiFiles: string[] = [];
      const wavFiles: string[] = [];
      const sidecarFiles: string[] = [];
      const provenance: Provenance[] = [];
      const longestCopy = copyIndex ? result.ids.map((ids) => copyIndex.longestCopy(ids)) : undefined;
      const refused: number[] = [];
      for (const i of takes) {
        const score = result.scores[i];
        const path = midiPath(i);
        const copy = longestCopy?.[i];
        if (copy) {
          const tag = takes.length > 1 ? `[${i + 1}] ` : "";
          print(`${tag}longest copy from the training data: ${copyText(copy)}`);
          if (maxCopy !== undefined && copy.length > maxCopy) {
            refused.push(i);
            print(
              `${tag}refused: ${copy.length} tokens copied from the training data exceed --max-copy ${maxCopy}; ` +
                `nothing written for ${path}`,
            );
            continue;
          }
        }
        const rec = record(i);
        provenance.push(rec);
        files.push({
          path,
          flag: "--out",
          data: writeMidi(score, provenanceOn ? { text: [provenanceText(rec)] } : {}),
        });
        midiFiles.push(path);
        const secs = score.notes.length ? ticksToSeconds(score, scoreEndTick(score)) : 0;
        let line = `wrote ${path} (${score.notes.length} notes, ${secs.toFixed(1)} s`;
        if (provenanceOn) {
          const side = sidecarPath(path);
          files.push({
            path: side,
            flag: "--out",
            data: new TextEncoder().encode(
              sidecarText(rec, `deno task generate --replay ${shellWord(side)}`, copy && sidecarCopy(copy)),
            ),
          });
          sidecarFiles.push(side);
          line += `; provenance in ${side}`;
        }
        lines.push(`${line})`);
        if (wav) {
          const wpath = wavPath(i);
          try {
            files.push({ path: wpath, flag: "--wav", data: renderWav(score) });
          } catch (e) {
            if (e instanceof RenderLimitError) {
              throw new Error(`--wav ${wpath}: ${e.message} (nothing written)`);
            }
            throw e;
          }
          wavFiles.push(wpath);
          lines.push(`wrote ${wpath}`);
        }
      }
      await writeAll(files);
      for (const l of lines) print(l);
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
        sidecarFiles,
        provenance,
        longestCopy,
        refused,
      };
    } finally {
      model.dispose();
    }
  } finally {
    await cleanup?.();
  }
}

/** Reads and checks a `--replay` record (a sidecar or a .mid); every problem is a one-line `UsageError`. */
async function readReplay(file: string): Promise<Provenance> {
  let bytes: Uint8Array;
  try {
    bytes = await readFileCapped(file, MAX_MIDI_BYTES);
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(`--replay ${e.message}`);
    throw new UsageError(`--replay ${file}: cannot read (${osReason(e)})`);
  }
  try {
    return readProvenance(bytes, file);
  } catch (e) {
    if (e instanceof ProvenanceError || e instanceof MidiError) {
      throw new UsageError(`--replay ${(e as Error).message.split("\n")[0]}`);
    }
    throw e;
  }
}

/** A copy match as printed: `12 tokens (piece chopin/op10-3.mid, shift +2, token 340; 1 occurrence)`. */
function copyText(m: CopyMatch): string {
  if (m.length === 0) return "0 tokens";
  const p = m.piece;
  const where = p
    ? `piece ${p.source}${
      p.shift ? `, shift ${p.shift > 0 ? "+" : ""}${p.shift}` : ""
    }, token ${p.offsetInPiece}; `
    : "";
  return `${m.length} tokens (${where}${m.occurrences} occurrence${m.occurrences === 1 ? "" : "s"})`;
}

function sidecarCopy(m: CopyMatch): SidecarCopy {
  const c: SidecarCopy = { tokens: m.length, occurrences: m.occurrences };
  if (m.piece) {
    Object.assign(c, { source: m.piece.source, shift: m.piece.shift, offsetInPiece: m.piece.offsetInPiece });
  }
  return c;
}

/** A sha256 as shown in messages: its first 12 hex digits. */
function short(sha: string): string {
  return `${sha.slice(0, 12)}…`;
}

/** `path` as one shell word (quoted when it holds anything but plain path characters), for the replay hint. */
function shellWord(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replaceAll("'", `'\\''`)}'`;
}

/** The banner's guidance part: the scale when it is not 1, the key's and the density's when they guide harder. */
function guidanceText(params: GenerateParamValues): string {
  const { keyGuidanceScale: k, densityGuidanceScale: d } = conditionGuidance(params);
  return [
    params.guidanceScale !== 1 ? `guidance ${params.guidanceScale}` : "",
    k !== undefined ? `key guidance ${k}` : "",
    d !== undefined ? `density guidance ${d}` : "",
  ].filter(Boolean).map((p) => `, ${p}`).join("");
}
