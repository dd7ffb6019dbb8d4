/**
 * A model's own sampling defaults: `generation_config.json` beside its weights, as transformers ships one
 * (`temperature`, `top_k`, `top_p`). A parameter the user leaves out takes the model's value, then the table's
 * (`GENERATE_PARAMS`); one the user gives always wins, and the provenance record holds what was used.
 *
 * Why per model: the right sampling depends on the model. A model that fits its data well sounds like it at
 * temperature 1 with no cut-off (samples of `models/corpus-6l` match the MAESTRO test split on 8 of 9 metrics within
 * 10% there, 0 of 9 at the table's 0.8 / 50 / 0.95, which sharpen it toward few pitches and thin chords); an
 * undertrained one needs the sharpening. Models without the file keep the table's defaults.
 *
 * @module
 */
import { join } from "node:path";
import { checkGenerateParams } from "./param_check.ts";
import { GenerateParamError } from "./param_error.ts";
import { GENERATE_PARAMS } from "./params.ts";

/** The file name, in a model directory. */
export const GENERATION_CONFIG_FILE = "generation_config.json";

const MAX_GENERATION_CONFIG_BYTES = 64 * 1024;

/**
 * Sampling defaults a model ships (each optional: absent → the table's default).
 *
 * @example
 * ```ts
 * import type { SamplingDefaults } from "./generation_config.ts";
 * const d: SamplingDefaults = { temperature: 1, topK: 0, topP: 1 };
 * ```
 */
export interface SamplingDefaults {
  /** Temperature (`GENERATE_PARAMS.temperature`'s range). */
  temperature?: number;
  /** Top-k, 0 = off. */
  topK?: number;
  /** Top-p in (0, 1]. */
  topP?: number;
  /** Classifier-free guidance over the learned conditions (1 = off; transformers' `guidance_scale`). */
  guidanceScale?: number;
  /** The key's guidance scale (1 = as `guidanceScale`; `key_guidance_scale`, etude's own field). */
  keyGuidanceScale?: number;
  /** The density's guidance scale (1 = as `guidanceScale`; `density_guidance_scale`). */
  densityGuidanceScale?: number;
}

/**
 * The sampling parameters a model's `generation_config.json` can default (their names in `GENERATE_PARAMS`): what
 * each face fills from the model when the option is left out.
 *
 * @example
 * ```ts
 * import { SAMPLING_NAMES } from "./generation_config.ts";
 * SAMPLING_NAMES.includes("keyGuidanceScale"); // true
 * ```
 */
export const SAMPLING_NAMES = [
  "temperature",
  "topK",
  "topP",
  "guidanceScale",
  "keyGuidanceScale",
  "densityGuidanceScale",
] as const;

/** One of {@linkcode SAMPLING_NAMES}. */
export type SamplingName = typeof SAMPLING_NAMES[number];

/** The file's key of each: the table's snake_case HTTP name (transformers' spelling), e.g. `top_k` for `topK`. */
const FIELDS = SAMPLING_NAMES.map((name) => [GENERATE_PARAMS[name].http.at(-1)!, name] as const);

/**
 * Parses a `generation_config.json` text: `temperature`, `top_k`, `top_p`, `guidance_scale` (transformers' names) and
 * `key_guidance_scale`, `density_guidance_scale` (etude's), each checked against
 * the parameter table's range; other keys (`do_sample`, `bos_token_id`, …) are ignored. Throws one line naming the
 * file and the field.
 *
 * @example
 * ```ts
 * import { parseGenerationConfig } from "./generation_config.ts";
 * parseGenerationConfig('{"temperature": 1.0, "top_k": 0, "top_p": 1.0}', "m/generation_config.json");
 * // { temperature: 1, topK: 0, topP: 1 }
 * ```
 */
export function parseGenerationConfig(text: string, file: string): SamplingDefaults {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not JSON (${(e as Error).message.split("\n")[0]})`);
  }
  if (typeof j !== "object" || j === null || Array.isArray(j)) {
    throw new Error(`${file}: expected a JSON object`);
  }
  const o = j as Record<string, unknown>;
  const out: SamplingDefaults = {};
  for (const [hf, name] of FIELDS) {
    if (o[hf] === undefined || o[hf] === null) continue;
    if (typeof o[hf] !== "number") {
      throw new Error(`${file}: ${hf}: expected a number, got ${JSON.stringify(o[hf])}`);
    }
    try {
      out[name] = checkGenerateParams({ [name]: o[hf] })[name];
    } catch (e) {
      if (!(e instanceof GenerateParamError)) throw e;
      throw new Error(`${file}: ${hf}: ${e.message.replace(/^[^:]*:\s*/, "")}`);
    }
  }
  return out;
}

/**
 * Reads `dir/generation_config.json`: its sampling defaults, or undefined when there is none.
 *
 * @example
 * ```ts ignore
 * import { readGenerationConfig } from "./generation_config.ts";
 * await readGenerationConfig("models/default"); // e.g. { temperature: 1, topK: 0, topP: 1 }
 * ```
 */
export async function readGenerationConfig(dir: string): Promise<SamplingDefaults | undefined> {
  const file = join(dir, GENERATION_CONFIG_FILE);
  let text: string;
  try {
    // a few keys: anything larger is not a generation config (and is not read whole)
    const size = (await Deno.stat(file)).size;
    if (size > MAX_GENERATION_CONFIG_BYTES) {
      throw new Error(`${file}: ${size} bytes, more than a generation config holds (at most 64 KiB)`);
    }
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    if ((e as Error).message.startsWith(`${file}: `)) throw e;
    throw new Error(`${file}: cannot read (${(e as Error).message.split("\n")[0]})`);
  }
  return parseGenerationConfig(text, file);
}

/**
 * `params` with each sampling parameter that is absent (undefined, or listed in `defaulted`: filled in by a face
 * from the table before the model was known) set from the model's defaults.
 *
 * @example
 * ```ts
 * import { withModelSampling } from "./generation_config.ts";
 * withModelSampling({ temperature: 0.7 }, { temperature: 1, topP: 1 }); // { temperature: 0.7, topP: 1 }
 * ```
 */
export function withModelSampling<T extends SamplingDefaults>(
  params: T,
  model: SamplingDefaults | undefined,
  defaulted: ReadonlySet<string> = new Set(),
): T {
  if (!model) return params;
  const out = { ...params };
  for (const [, name] of FIELDS) {
    if (model[name] !== undefined && (out[name] === undefined || defaulted.has(name))) {
      out[name] = model[name];
    }
  }
  return out;
}

/**
 * The sampling values a run uses: each as `given`, else the model's own default, else the table's
 * (`GENERATE_PARAMS`) — what every face does when an option is left out.
 *
 * @example
 * ```ts
 * import { resolveSampling } from "./generation_config.ts";
 * resolveSampling({ topK: 5 }, { temperature: 1 });
 * // { temperature: 1, topK: 5, topP: 0.95, guidanceScale: 1, keyGuidanceScale: 1, densityGuidanceScale: 1 }
 * ```
 */
export function resolveSampling(
  given: SamplingDefaults,
  model: SamplingDefaults | undefined,
): Required<SamplingDefaults> {
  const own = model ?? {};
  const out = {} as Record<SamplingName, number>;
  for (const k of SAMPLING_NAMES) out[k] = given[k] ?? own[k] ?? (GENERATE_PARAMS[k].default as number);
  return out;
}
