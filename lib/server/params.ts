/**
 * Validation of generation parameters arriving over HTTP (JSON body, form fields or a query string). Every field is
 * checked against its allowed range; the first bad one becomes a {@linkcode ParamError} naming the field and what
 * is allowed, which the app turns into a 400 `{error, field, allowed}`.
 *
 * @module
 */

/** A rejected parameter: `field` and a human-readable `allowed` range or set. */
export class ParamError extends Error {
  /** The error's name. */
  override name = "ParamError";
  /** `field`: the parameter; `allowed`: its range or set, for the 400 answer. */
  constructor(readonly field: string, readonly allowed: string, message: string) {
    super(message);
  }
}

/** Validated generation parameters (exactly one length unit is set). */
export interface GenerateParams {
  /** Model directory name under the models dir. */
  model: string;
  /** 0.1–2.0 (default 0.8). */
  temperature: number;
  /** 0–500, 0 = off (default 50). */
  topK: number;
  /** 0.01–1.0 (default 0.95). */
  topP: number;
  /** 0–2^32−1 (default: random). */
  seed: number;
  /** Grammar-constrained decoding (default true). */
  grammar: boolean;
  /** Length in tokens, 1–4096 (default 512). */
  maxTokens?: number;
  /** Length in bars, 1–128. */
  bars?: number;
  /** Length in seconds, 1–600. */
  seconds?: number;
  /** Base64 MIDI prompt (JSON / query) — decoded by the app. */
  promptBase64?: string;
}

/** Ranges and defaults, shared with the page (served at `/api/params`). */
export const PARAM_LIMITS = {
  temperature: { min: 0.1, max: 2, default: 0.8, step: 0.05 },
  topK: { min: 0, max: 500, default: 50, step: 1 },
  topP: { min: 0.01, max: 1, default: 0.95, step: 0.01 },
  tokens: { min: 1, max: 4096, default: 512, step: 1 },
  bars: { min: 1, max: 128, default: 8, step: 1 },
  seconds: { min: 1, max: 600, default: 30, step: 1 },
  seed: { min: 0, max: 4294967295 },
} as const;

const KNOWN = new Set([
  "model",
  "temperature",
  "topK",
  "top_k",
  "topP",
  "top_p",
  "seed",
  "grammar",
  "tokens",
  "maxTokens",
  "bars",
  "seconds",
  "prompt",
  "format",
]);

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function num(
  raw: unknown,
  field: string,
  lim: { min: number; max: number },
  integer: boolean,
): number {
  const allowed = `${integer ? "integer" : "number"} in [${lim.min}, ${lim.max}]`;
  let v: number;
  if (typeof raw === "number") v = raw;
  else if (typeof raw === "string" && raw.trim() !== "") v = Number(raw);
  else v = NaN;
  if (!Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < lim.min || v > lim.max) {
    throw new ParamError(field, allowed, `${field}: expected ${allowed}, got ${JSON.stringify(raw)}`);
  }
  return v;
}

function bool(raw: unknown, field: string): boolean {
  if (typeof raw === "boolean") return raw;
  if (raw === "true" || raw === "1" || raw === "on") return true;
  if (raw === "false" || raw === "0" || raw === "off") return false;
  throw new ParamError(
    field,
    "true or false",
    `${field}: expected true or false, got ${JSON.stringify(raw)}`,
  );
}

/**
 * Validates raw parameters. Unknown fields are rejected too (a typo must not silently fall back to a default).
 * `randomSeed` supplies the seed when none is given.
 *
 * @example
 * ```ts
 * import { parseGenerateParams } from "./params.ts";
 * const p = parseGenerateParams({ temperature: "1.1", bars: 4 });
 * p.temperature; // 1.1
 * p.topK; // 50
 * ```
 */
export function parseGenerateParams(
  raw: Record<string, unknown>,
  randomSeed: () => number = () => crypto.getRandomValues(new Uint32Array(1))[0],
): GenerateParams {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new ParamError("body", "a JSON object", "body: expected a JSON object of parameters");
  }
  for (const k of Object.keys(raw)) {
    if (!KNOWN.has(k)) {
      throw new ParamError(k, [...KNOWN].join(", "), `${k}: unknown parameter`);
    }
  }
  const pick = (...names: string[]) => {
    for (const n of names) if (raw[n] !== undefined && raw[n] !== "") return [n, raw[n]] as const;
    return undefined;
  };
  const model = raw.model ?? "default";
  if (typeof model !== "string" || !MODEL_NAME.test(model)) {
    throw new ParamError(
      "model",
      "a model name ([A-Za-z0-9._-], ≤ 64 chars)",
      `model: expected a model name, got ${JSON.stringify(model)}`,
    );
  }
  const L = PARAM_LIMITS;
  const t = pick("temperature");
  const k = pick("topK", "top_k");
  const p = pick("topP", "top_p");
  const s = pick("seed");
  const g = pick("grammar");
  const out: GenerateParams = {
    model,
    temperature: t ? num(t[1], "temperature", L.temperature, false) : L.temperature.default,
    topK: k ? num(k[1], k[0], L.topK, true) : L.topK.default,
    topP: p ? num(p[1], p[0], L.topP, false) : L.topP.default,
    seed: s ? num(s[1], "seed", L.seed, true) : randomSeed(),
    grammar: g ? bool(g[1], "grammar") : true,
  };
  const lengths = [pick("tokens", "maxTokens"), pick("bars"), pick("seconds")].filter((x) => x !== undefined);
  if (lengths.length > 1) {
    throw new ParamError(
      lengths[1]![0],
      "one of tokens, bars, seconds",
      `${lengths[1]![0]}: give only one of tokens, bars, seconds`,
    );
  }
  const len = lengths[0];
  if (!len) out.maxTokens = L.tokens.default;
  else if (len[0] === "bars") out.bars = num(len[1], "bars", L.bars, true);
  else if (len[0] === "seconds") out.seconds = num(len[1], "seconds", L.seconds, false);
  else out.maxTokens = num(len[1], len[0], L.tokens, true);
  const prompt = raw.prompt;
  if (prompt !== undefined && prompt !== "" && prompt !== null) {
    if (typeof prompt !== "string" || !/^[A-Za-z0-9+/=\s]+$/.test(prompt)) {
      throw new ParamError(
        "prompt",
        "a base64-encoded MIDI file",
        "prompt: expected a base64-encoded MIDI file",
      );
    }
    out.promptBase64 = prompt;
  }
  return out;
}

/**
 * Decodes base64 to bytes, or throws a {@linkcode ParamError} for `field`.
 *
 * @example
 * ```ts
 * import { decodeBase64 } from "./params.ts";
 * decodeBase64("TVRoZA==", "prompt"); // Uint8Array [77, 84, 104, 100]
 * ```
 */
export function decodeBase64(b64: string, field: string): Uint8Array {
  try {
    const bin = atob(b64.replace(/\s+/g, ""));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    throw new ParamError(field, "base64", `${field}: not valid base64`);
  }
}

/**
 * Encodes bytes as base64.
 *
 * @example
 * ```ts
 * import { encodeBase64 } from "./params.ts";
 * encodeBase64(new Uint8Array([77, 84, 104, 100])); // "TVRoZA=="
 * ```
 */
export function encodeBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}
