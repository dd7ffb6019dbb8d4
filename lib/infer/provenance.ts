/**
 * Provenance: what made a take, carried by the take. Every .mid `deno task generate` writes holds one record — the
 * etude version, the model's sha256 (of `model.safetensors`) and where it was, the prompt's sha256 and path (when
 * there was one), every generation setting (the normalised parameters of {@linkcode checkGenerateParams}) and the
 * piece's index in its batch — as a text meta event `etude:{…}` (`FF 01`, ASCII JSON) at tick 0 of track 1, and the
 * same record, pretty, in a JSON sidecar beside it (`take.json`, with a `replay` hint). Replaying a record (the CLI's
 * `--replay`, the page's "regenerate") with the same model, prompt and version gives the same bytes; "vary" is the
 * same record with {@linkcode nextSeed}.
 *
 * A record:
 *
 * ```json
 * {"v":1,"version":"0.1.0","model":{"path":"models/default","sha256":"…"},"prompt":{"path":"a.mid","sha256":"…"},
 *  "params":{"seed":7,"temperature":0.8,"topK":50,"topP":0.95,"bars":8,"batch":1,"grammar":true,
 *  "key":"E minor","keyStrength":1,"keyTonic":0.25,"pitchRange":[48,84]},"index":0}
 * ```
 *
 * - `v`: the record format (1). A reader refuses a newer one.
 * - `model`: `path` (as it was given to the generator; relative paths are relative to where it ran) or, for a
 *   model carried inside the bundle or binary, `embedded` (its name); `sha256` of its `model.safetensors`;
 *   `weights` (`bf16` | `int8`) when the CPU decoder ran on reduced-precision copies (absent: f32).
 * - `prompt` (only with a prompt): its path (as given) and the sha256 of its bytes.
 * - `params`: seed, temperature, topK, topP, exactly one length unit (`maxTokens`, `bars` or `seconds`), batch and
 *   grammar, then the controls given (`key`, `keyStrength`, `keyTonic`, `pitchRange` as `[lo, hi]`,
 *   `maxNoteBeats`, `tempo`, `timeSignature`, `density`, `maxPolyphony`, `noRepeatNgram`; normalised, in
 *   `GENERATE_PARAMS` order; none: no field, so a take without controls has the record it had before controls
 *   existed; a record with a `key` but no `keyTonic` was written before the tonic weight existed and replays with
 *   0, as it was made), then `style` (the learned
 *   condition) and `infill` (`"5:8"`: bars 5–8 of the prompt regenerated; then the length unit is `maxTokens` only
 *   when it was given), each only when given. `chunk` is not recorded: it changes speed only, never the result.
 * - `index`: which piece of the batch (0-based); a replay generates the whole batch and keeps this one.
 *
 * @module
 */
import { readMidiDetailed } from "../midi/read.ts";
import { sha256Hex } from "../util/hash.ts";
import { ETUDE_VERSION } from "../util/version.ts";
import { allowedText } from "./param_parse.ts";
import { checkGenerateParams, type GenerateParamInput, type GenerateParamValues } from "./param_check.ts";
import { CONTROL_PARAMS, LENGTH_PARAMS } from "./param_spec.ts";
import { GENERATE_PARAMS } from "./params.ts";
import { SAMPLING_NAMES } from "./generation_config.ts";
import { conditionGuidance } from "./guidance.ts";
import { GenerateParamError, showValue } from "./param_error.ts";

/**
 * The prefix of the text meta event that holds a record: `etude:` then the record as JSON.
 *
 * @example
 * ```ts
 * import { PROVENANCE_PREFIX } from "./provenance.ts";
 * "etude:{\"v\":1}".startsWith(PROVENANCE_PREFIX); // true
 * ```
 */
export const PROVENANCE_PREFIX = "etude:";

/**
 * The record format this etude writes and reads (`v`).
 *
 * @example
 * ```ts
 * import { PROVENANCE_FORMAT } from "./provenance.ts";
 * PROVENANCE_FORMAT; // 1
 * ```
 */
export const PROVENANCE_FORMAT = 1;

/**
 * The model of a take: where it was (`path`, or `embedded` for the bundle's own) and the sha256 of its
 * `model.safetensors`.
 *
 * @example
 * ```ts
 * import type { ProvenanceModel } from "./provenance.ts";
 * const m: ProvenanceModel = { path: "models/default", sha256: "ab".repeat(32) };
 * ```
 */
export interface ProvenanceModel {
  /** The checkpoint directory as given to the generator (set unless `embedded` is). */
  path?: string;
  /** The name of the model carried inside the bundle or binary (set instead of `path`). */
  embedded?: string;
  /** SHA-256 of the checkpoint's `model.safetensors`, 64 lowercase hex digits. */
  sha256: string;
  /** Reduced-precision weights the CPU decoder ran on (`--weights`; absent: f32). They change the tokens. */
  weights?: "bf16" | "int8";
}

/**
 * The prompt of a take: its path (as given) and the sha256 of its bytes.
 *
 * @example
 * ```ts
 * import type { ProvenancePrompt } from "./provenance.ts";
 * const p: ProvenancePrompt = { path: "opening.mid", sha256: "cd".repeat(32) };
 * ```
 */
export interface ProvenancePrompt {
  /** The MIDI file as given to the generator. */
  path: string;
  /** SHA-256 of its bytes, 64 lowercase hex digits. */
  sha256: string;
}

/**
 * The generation settings of a take: `GenerateParamValues` without `chunk` (speed only), with exactly one length unit.
 *
 * @example
 * ```ts
 * import type { ProvenanceParams } from "./provenance.ts";
 * const p: ProvenanceParams = { seed: 7, temperature: 0.8, topK: 50, topP: 0.95, bars: 8, batch: 1, grammar: true };
 * ```
 */
export interface ProvenanceParams {
  /** Sampling seed. */
  seed: number;
  /** Sampling temperature. */
  temperature: number;
  /** Top-k (0 = off). */
  topK: number;
  /** Top-p. */
  topP: number;
  /** Classifier-free guidance scale (set when it is not 1). */
  guidanceScale?: number;
  /** The key's guidance scale (set when it guides a key harder than `guidanceScale`). */
  keyGuidanceScale?: number;
  /** The density's guidance scale (set when it guides a density harder than `guidanceScale`). */
  densityGuidanceScale?: number;
  /** Length in tokens (set when it is the length unit). */
  maxTokens?: number;
  /** Length in bars (set when it is the length unit). */
  bars?: number;
  /** Length in seconds (set when it is the length unit). */
  seconds?: number;
  /** Pieces generated at once. */
  batch: number;
  /** Grammar mask on. */
  grammar: boolean;
  /** Control: the key (with `keyStrength`). */
  key?: string;
  /** Control: the key's strength. */
  keyStrength?: number;
  /** Control: the key's tonic weight (a record with a key but without it predates it: 0). */
  keyTonic?: number;
  /** Control: lowest and highest pitch. */
  pitchRange?: [number, number];
  /** Control: the longest note, in beats. */
  maxNoteBeats?: number;
  /** Control: the tempo, BPM. */
  tempo?: number;
  /** Control: the time signature. */
  timeSignature?: string;
  /** Control: note density. */
  density?: string;
  /** Control: most notes at once. */
  maxPolyphony?: number;
  /** Control: the n-gram repetition guard. */
  noRepeatNgram?: number;
  /** Learned condition: the style. */
  style?: string;
  /** Infilling: the bars of the prompt regenerated, `"FROM:TO"`. */
  infill?: string;
}

/**
 * One take's provenance record (see the module doc for the format).
 *
 * @example
 * ```ts
 * import { makeProvenance, type Provenance } from "./provenance.ts";
 * const p: Provenance = makeProvenance({ model: { path: "models/default", sha256: "ab".repeat(32) }, params: { seed: 7 } });
 * p.params.maxTokens; // 512 (the default length)
 * ```
 */
export interface Provenance {
  /** Record format, {@linkcode PROVENANCE_FORMAT}. */
  v: number;
  /** The etude version that made the take. */
  version: string;
  /** The model. */
  model: ProvenanceModel;
  /** The prompt, when the take continues one. */
  prompt?: ProvenancePrompt;
  /** Every generation setting. */
  params: ProvenanceParams;
  /** The take's index in its batch (0-based). */
  index: number;
}

/**
 * A record that cannot be read or made: the message (one line) names the file and the field.
 *
 * @example
 * ```ts
 * import { parseProvenance, ProvenanceError } from "./provenance.ts";
 * try {
 *   parseProvenance({ v: 1 }, "take.json");
 * } catch (e) {
 *   if (e instanceof ProvenanceError) console.log(e.message); // "take.json: version: expected …"
 * }
 * ```
 */
export class ProvenanceError extends Error {
  /** Always `ProvenanceError`. */
  override name = "ProvenanceError";
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

const SHA256_RE = /^[0-9a-f]{64}$/;
const NUMERIC = [
  "seed",
  ...SAMPLING_NAMES,
  "maxTokens",
  "bars",
  "seconds",
  "batch",
] as const;

/** The parameters in record order, normalised by `checkGenerateParams` (`chunk` dropped). */
function recordParams(v: GenerateParamValues): ProvenanceParams {
  const out: Record<string, unknown> = {
    seed: v.seed,
    temperature: v.temperature,
    topK: v.topK,
    topP: v.topP,
  };
  if (v.guidanceScale !== undefined && v.guidanceScale !== 1) out.guidanceScale = v.guidanceScale;
  Object.assign(out, conditionGuidance(v));
  for (const k of LENGTH_PARAMS) if (v[k] !== undefined) out[k] = v[k]!;
  out.batch = v.batch;
  out.grammar = v.grammar;
  const controls = (v.controls ?? {}) as Record<string, unknown>;
  for (const k of CONTROL_PARAMS) if (controls[k] !== undefined) out[k] = controls[k];
  if (v.conditions?.style !== undefined) out.style = v.conditions.style;
  if (v.infill) out.infill = `${v.infill.from}:${v.infill.to}`;
  return out as unknown as ProvenanceParams;
}

/**
 * Builds a record in its canonical form (fixed key order, parameters normalised and checked with
 * {@linkcode checkGenerateParams}, `chunk` dropped). `params` may be what `generate` was given or what
 * `checkGenerateParams` returned; `index` defaults to 0, `version` to {@linkcode ETUDE_VERSION}. Throws a
 * {@linkcode ProvenanceError} for a bad sha256 or index, a `GenerateParamError` for a bad parameter.
 *
 * @example
 * ```ts
 * import { makeProvenance } from "./provenance.ts";
 * const p = makeProvenance({
 *   model: { path: "models/default", sha256: "ab".repeat(32) },
 *   params: { seed: 3, bars: 4, batch: 2 },
 *   index: 1,
 * });
 * Object.keys(p.params); // ["seed", "temperature", "topK", "topP", "bars", "batch", "grammar"]
 * ```
 */
export function makeProvenance(input: {
  model: ProvenanceModel;
  params: GenerateParamInput;
  prompt?: ProvenancePrompt;
  index?: number;
  version?: string;
}): Provenance {
  // `checkGenerateParams`' own output nests the controls in `controls` (and `style` in `conditions`): read them
  // flat, as a record holds them.
  const given = input.params as Record<string, unknown>;
  const params = recordParams(
    checkGenerateParams({
      ...given,
      ...(isObj(given.controls) ? given.controls : {}),
      ...(isObj(given.conditions) && given.conditions.style !== undefined
        ? { style: given.conditions.style }
        : {}),
    }),
  );
  const index = input.index ?? 0;
  if (!Number.isInteger(index) || index < 0 || index >= params.batch) {
    throw new ProvenanceError(
      `index: expected an integer in [0, ${params.batch - 1}], got ${showValue(index)}`,
    );
  }
  const m = input.model;
  if ((m.path === undefined) === (m.embedded === undefined)) {
    throw new ProvenanceError("model: give exactly one of path, embedded");
  }
  for (const [field, sha] of [["model.sha256", m.sha256], ["prompt.sha256", input.prompt?.sha256]] as const) {
    if (sha !== undefined && !SHA256_RE.test(sha)) {
      throw new ProvenanceError(`${field}: expected 64 lowercase hex digits, got ${showValue(sha)}`);
    }
  }
  return {
    v: PROVENANCE_FORMAT,
    version: input.version ?? ETUDE_VERSION,
    model: {
      ...(m.path !== undefined ? { path: m.path } : { embedded: m.embedded }),
      sha256: m.sha256,
      ...(m.weights ? { weights: m.weights } : {}),
    },
    ...(input.prompt ? { prompt: { path: input.prompt.path, sha256: input.prompt.sha256 } } : {}),
    params,
    index,
  };
}

/** JSON with every character past ASCII escaped (`\u00e9`): the same text read as UTF-8 or as Latin-1. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * The text meta event's text for `p`: `etude:` and the record as one line of ASCII JSON. Pass it to
 * `writeMidi(score, { text: [provenanceText(p)] })`.
 *
 * @example
 * ```ts
 * import { makeProvenance, provenanceText } from "./provenance.ts";
 * import { writeMidi } from "../midi/write.ts";
 * import { emptyScore } from "../score.ts";
 * const p = makeProvenance({ model: { path: "models/default", sha256: "ab".repeat(32) }, params: { seed: 1 } });
 * provenanceText(p); // 'etude:{"v":1,"version":"0.1.0","model":{"path":"models/default",…'
 * const bytes = writeMidi(emptyScore(480), { text: [provenanceText(p)] });
 * ```
 */
export function provenanceText(p: Provenance): string {
  return PROVENANCE_PREFIX + asciiJson(p);
}

/**
 * The JSON sidecar's text for `p`: the record, pretty, with a `replay` hint (the command that replays it) when
 * given, and a final newline.
 *
 * @example
 * ```ts
 * import { makeProvenance, sidecarText } from "./provenance.ts";
 * const p = makeProvenance({ model: { path: "models/default", sha256: "ab".repeat(32) }, params: { seed: 1 } });
 * await Deno.writeTextFile("take.json", sidecarText(p, "deno task generate --replay take.json"));
 * ```
 */
export function sidecarText(p: Provenance, replay?: string, longestCopy?: SidecarCopy): string {
  const extra = { ...(replay === undefined ? {} : { replay }), ...(longestCopy ? { longestCopy } : {}) };
  return JSON.stringify({ ...p, ...extra }, null, 2) + "\n";
}

/**
 * A sidecar's `longestCopy` (informational, not part of the record, ignored by a replay): the longest run of the
 * take's generated ids found verbatim in the training data, by the model's copy index (lib/data/copy_index.ts).
 *
 * @example
 * ```ts
 * import type { SidecarCopy } from "./provenance.ts";
 * const c: SidecarCopy = { tokens: 12, occurrences: 1, source: "a.mid", shift: 0, offsetInPiece: 40 };
 * ```
 */
export interface SidecarCopy {
  /** Tokens in the longest shared run. */
  tokens: number;
  /** How many times that run occurs in the training ids. */
  occurrences: number;
  /** The training piece holding one occurrence, when the index knows it. */
  source?: string;
  /** That piece's pitch shift. */
  shift?: number;
  /** Where the run starts in that piece (ids, BOS included). */
  offsetInPiece?: number;
}

/**
 * The sidecar beside a .mid: its path with `.mid` / `.midi` (any case) replaced by `.json` (`.json` added to any
 * other name).
 *
 * @example
 * ```ts
 * import { sidecarPath } from "./provenance.ts";
 * sidecarPath("out/take-2.mid"); // "out/take-2.json"
 * ```
 */
export function sidecarPath(midiPath: string): string {
  return midiPath.replace(/\.midi?$/i, "") + ".json";
}

/**
 * Checks a parsed record (a sidecar's JSON, or the JSON of a .mid's `etude:` text) and returns it in canonical
 * form. `name` (the file) starts every error message: `take.json: params.topK: expected an integer in [0, 500], got
 * 9999`. Every field is required (a length unit: exactly one); unknown fields are refused, except a sidecar's
 * `replay` hint and `longestCopy` ({@linkcode SidecarCopy}). A record of a newer format than {@linkcode PROVENANCE_FORMAT} is refused.
 *
 * @example
 * ```ts
 * import { parseProvenance } from "./provenance.ts";
 * const p = parseProvenance(JSON.parse(await Deno.readTextFile("take.json")), "take.json");
 * console.log(p.params.seed, p.model.sha256);
 * ```
 */
export function parseProvenance(value: unknown, name: string): Provenance {
  const fail = (field: string, what: string, ...got: unknown[]): never => {
    throw new ProvenanceError(`${name}: ${field}: ${what}${got.length ? `, got ${showValue(got[0])}` : ""}`);
  };
  const known = (o: Obj, prefix: string, keys: readonly string[]) => {
    for (const k of Object.keys(o)) if (!keys.includes(k)) fail(`${prefix}${k}`, "not a field of a record");
  };
  if (!isObj(value)) {
    throw new ProvenanceError(
      `${name}: expected a provenance record (a JSON object), got ${showValue(value)}`,
    );
  }
  const v = value.v;
  if (typeof v === "number" && Number.isInteger(v) && v > PROVENANCE_FORMAT) {
    fail("v", `record format ${v} is newer than this etude reads (${PROVENANCE_FORMAT}): update etude`);
  }
  if (v !== PROVENANCE_FORMAT) fail("v", `expected ${PROVENANCE_FORMAT}`, v);
  known(value, "", ["v", "version", "model", "prompt", "params", "index", "replay", "longestCopy"]);
  if (typeof value.version !== "string" || value.version === "") {
    fail("version", "expected a version", value.version);
  }
  const str = (o: Obj, field: string, key: string) => {
    const s = o[key];
    if (typeof s !== "string" || s === "") fail(field, "expected a non-empty string", s);
    return s as string;
  };
  const sha = (o: Obj, field: string) => {
    const s = o.sha256;
    if (typeof s !== "string" || !SHA256_RE.test(s)) fail(field, "expected 64 lowercase hex digits", s);
    return s as string;
  };
  const m = value.model;
  if (!isObj(m)) fail("model", "expected an object with path (or embedded) and sha256", m);
  const mo = m as Obj;
  known(mo, "model.", ["path", "embedded", "sha256", "weights"]);
  if (("path" in mo) === ("embedded" in mo)) fail("model", "expected exactly one of path, embedded");
  if ("weights" in mo && mo.weights !== "bf16" && mo.weights !== "int8") {
    fail("model.weights", "expected bf16 or int8 (absent: f32)", mo.weights);
  }
  const model: ProvenanceModel = {
    ...("path" in mo
      ? { path: str(mo, "model.path", "path") }
      : { embedded: str(mo, "model.embedded", "embedded") }),
    sha256: sha(mo, "model.sha256"),
    ...("weights" in mo ? { weights: mo.weights as "bf16" | "int8" } : {}),
  };
  let prompt: ProvenancePrompt | undefined;
  if (value.prompt !== undefined) {
    const po = value.prompt;
    if (!isObj(po)) fail("prompt", "expected an object with path and sha256", po);
    known(po as Obj, "prompt.", ["path", "sha256"]);
    prompt = { path: str(po as Obj, "prompt.path", "path"), sha256: sha(po as Obj, "prompt.sha256") };
  }
  const pr = value.params;
  if (!isObj(pr)) fail("params", "expected an object of generation settings", pr);
  const po = pr as Obj;
  known(po, "params.", [...NUMERIC, "grammar", ...CONTROL_PARAMS, "style", "infill"]);
  for (const k of ["seed", "temperature", "topK", "topP", "batch", "grammar"] as const) {
    if (!(k in po)) fail(`params.${k}`, "missing");
  }
  if (!LENGTH_PARAMS.some((k) => k in po) && !("infill" in po)) {
    fail("params", `missing a length (one of ${LENGTH_PARAMS.join(", ")})`);
  }
  for (const k of NUMERIC) {
    if (k in po && typeof po[k] !== "number") {
      fail(`params.${k}`, `expected ${kindText(k)}`, po[k]);
    }
  }
  if (typeof po.grammar !== "boolean") fail("params.grammar", "expected true or false", po.grammar);
  // Controls as a record writes them: numbers as numbers, words as strings, the pitch range as [lo, hi].
  for (const k of [...CONTROL_PARAMS, "style", "infill"] as const) {
    if (!(k in po)) continue;
    const spec = GENERATE_PARAMS[k];
    const type = spec.kind === "text" ? "string" : spec.kind === "range" ? "array" : "number";
    if ((type === "array" ? Array.isArray(po[k]) ? "array" : "" : typeof po[k]) !== type) {
      fail(`params.${k}`, `expected ${spec.kind === "range" ? "[lo, hi], " : ""}${allowedText(spec)}`, po[k]);
    }
  }
  const index = value.index;
  if (typeof index !== "number") fail("index", "expected the take's index in its batch", index);
  // written before the tonic weight existed: the key was asked without one (a replay must not add today's default)
  const params = "key" in po && !("keyTonic" in po) ? { ...po, keyTonic: 0 } : po;
  try {
    return makeProvenance({
      model,
      prompt,
      params,
      index: index as number,
      version: value.version as string,
    });
  } catch (e) {
    if (e instanceof GenerateParamError) {
      throw new ProvenanceError(`${name}: ${e.describe((f) => `params.${f}`).message.split("\n")[0]}`);
    }
    if (e instanceof ProvenanceError) throw new ProvenanceError(`${name}: ${e.message}`);
    throw e;
  }
}

function kindText(k: (typeof NUMERIC)[number]): string {
  const s = GENERATE_PARAMS[k];
  return `${s.kind === "int" ? "an integer" : "a number"} in [${s.min}, ${s.max}]`;
}

/** The largest file {@linkcode readProvenance} reads as JSON: a record is well under a kilobyte. */
const MAX_SIDECAR_BYTES = 1 << 20;

/**
 * The record of a take: from a .mid's `etude:` text meta event (the file starts with `MThd`) or from a JSON sidecar
 * (anything else). `name` (the file) starts every error: not a MIDI file or not JSON, no record in a .mid (written
 * with `--no-provenance`, or not by etude), a bad field ({@linkcode parseProvenance}). Errors are
 * {@linkcode ProvenanceError}s (a malformed MIDI file: `MidiError`).
 *
 * @example
 * ```ts
 * import { readProvenance } from "./provenance.ts";
 * const p = readProvenance(await Deno.readFile("out/take.mid"), "out/take.mid");
 * console.log(`seed ${p.params.seed}, model ${p.model.sha256.slice(0, 12)}`);
 * ```
 */
export function readProvenance(bytes: Uint8Array, name: string): Provenance {
  const isMidi = bytes.length >= 4 && String.fromCharCode(...bytes.subarray(0, 4)) === "MThd";
  let text: string;
  if (isMidi) {
    const { report } = readMidiDetailed(bytes, { name });
    const found = report.texts.find((t) => t.text.startsWith(PROVENANCE_PREFIX));
    if (!found) {
      throw new ProvenanceError(
        `${name}: no etude provenance record in this MIDI file (written with --no-provenance, or not by etude)`,
      );
    }
    text = found.text.slice(PROVENANCE_PREFIX.length);
  } else {
    if (bytes.length > MAX_SIDECAR_BYTES) {
      throw new ProvenanceError(`${name}: ${bytes.length} bytes is too large for a provenance record (JSON)`);
    }
    text = new TextDecoder().decode(bytes);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const what = isMidi
      ? "its etude provenance text is not valid JSON"
      : "neither a MIDI file nor valid JSON";
    throw new ProvenanceError(`${name}: ${what} (${(e as Error).message.split("\n")[0]})`);
  }
  return parseProvenance(json, name);
}

/**
 * The `generate` options that replay `p`: its parameters, checked, with the defaults of what it does not record
 * (`chunk`). Generate the whole batch and keep piece `p.index`.
 *
 * @example
 * ```ts ignore
 * import { generate } from "./generate.ts";
 * import { loadModel } from "./load.ts";
 * import { readProvenance, replayParams } from "./provenance.ts";
 * const p = readProvenance(await Deno.readFile("take.json"), "take.json");
 * const model = await loadModel(p.model.path!);
 * const { scores } = await generate({ model, ...replayParams(p) });
 * const take = scores[p.index];
 * ```
 */
export function replayParams(p: Provenance): GenerateParamValues {
  return checkGenerateParams(p.params);
}

/**
 * The seed after `seed`, wrapping from the largest (2³² − 1) to 0: what "vary" (same settings, next seed) uses.
 *
 * @example
 * ```ts
 * import { nextSeed } from "./provenance.ts";
 * [nextSeed(7), nextSeed(4294967295)]; // [8, 0]
 * ```
 */
export function nextSeed(seed: number): number {
  const { min, max } = GENERATE_PARAMS.seed;
  return seed >= max ? min : seed + 1;
}

/**
 * The SHA-256 of a file's bytes (64 lowercase hex digits). File-system errors are thrown as they come.
 *
 * @example
 * ```ts
 * import { fileSha256 } from "./provenance.ts";
 * const sha = await fileSha256("models/default/model.safetensors");
 * ```
 */
export async function fileSha256(path: string): Promise<string> {
  return await sha256Hex(await Deno.readFile(path));
}

const modelShas = new WeakMap<object, Promise<string>>();

/**
 * The SHA-256 of a loaded model's `model.safetensors` (in `model.dir`): computed on the first call for that model
 * and cached for as long as the model object lives, so a server that keeps models loaded hashes each load once.
 *
 * @example
 * ```ts ignore
 * import { loadModel } from "./load.ts";
 * import { modelSha256 } from "./provenance.ts";
 * const model = await loadModel("models/default");
 * const sha = await modelSha256(model); // read and hashed once; later calls answer from the cache
 * ```
 */
export function modelSha256(model: { readonly dir: string }): Promise<string> {
  let p = modelShas.get(model);
  if (!p) {
    p = fileSha256(`${model.dir}/model.safetensors`);
    p.catch(() => modelShas.delete(model));
    modelShas.set(model, p);
  }
  return p;
}
