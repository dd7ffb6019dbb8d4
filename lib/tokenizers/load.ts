/**
 * `tokenizer.json` ⇄ tokenizer: load any kind (pitch strings, REMI, REMI+BPE) from its JSON form, save atomically.
 *
 * @module
 */
import { writeFileAtomic } from "../util/atomic.ts";
import type { Tokenizer, TokenizerJson } from "./tokenizer.ts";
import { PitchStringTokenizer } from "./pitch_strings.ts";
import { RemiTokenizer } from "./remi.ts";
import { BpeTokenizer } from "./bpe.ts";

/**
 * Rebuilds a tokenizer from its JSON form (an object or JSON text); throws naming the bad field.
 *
 * @example
 * ```ts
 * import { loadTokenizer } from "./load.ts";
 * import { RemiTokenizer } from "./remi.ts";
 * const tok = loadTokenizer(JSON.stringify(new RemiTokenizer().toJSON()));
 * console.log(tok.kind, tok.vocab.length); // remi 314
 * ```
 */
export function loadTokenizer(json: TokenizerJson | string): Tokenizer {
  let obj: unknown = json;
  if (typeof json === "string") {
    try {
      obj = JSON.parse(json);
    } catch (e) {
      throw new Error(`tokenizer.json: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  if (typeof obj !== "object" || obj === null) throw new Error("tokenizer.json: expected an object");
  const j = obj as TokenizerJson;
  if (typeof j.config !== "object" || j.config === null) {
    throw new Error("tokenizer.json: config: expected an object");
  }
  switch (j.kind) {
    case "pitch":
      return PitchStringTokenizer.fromJSON(j);
    case "remi":
      return RemiTokenizer.fromJSON(j);
    case "remi-bpe":
      return BpeTokenizer.fromJSON(j);
    default:
      throw new Error(
        `tokenizer.json: kind: expected "pitch", "remi" or "remi-bpe", got ${JSON.stringify(j.kind)}`,
      );
  }
}

/**
 * Reads and loads a `tokenizer.json` file; errors name the path.
 *
 * @example
 * ```ts
 * import { loadTokenizerFile } from "./load.ts";
 * const tok = await loadTokenizerFile("models/default/tokenizer.json");
 * ```
 */
export async function loadTokenizerFile(path: string): Promise<Tokenizer> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read (${e instanceof Error ? e.message : String(e)})`);
  }
  try {
    return loadTokenizer(text);
  } catch (e) {
    throw new Error(`${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * Writes a tokenizer's JSON form to `path` atomically (pretty-printed, one merge per line stays readable).
 *
 * @example
 * ```ts
 * import { saveTokenizer } from "./load.ts";
 * import { RemiTokenizer } from "./remi.ts";
 * await saveTokenizer(new RemiTokenizer(), "/tmp/tokenizer.json");
 * ```
 */
export async function saveTokenizer(tokenizer: Tokenizer, path: string): Promise<void> {
  await writeFileAtomic(path, tokenizerJsonText(tokenizer));
}

/**
 * The text `saveTokenizer` writes: JSON with two-space indentation, vocab and merges one entry per line.
 *
 * @example
 * ```ts
 * import { tokenizerJsonText } from "./load.ts";
 * import { RemiTokenizer } from "./remi.ts";
 * tokenizerJsonText(new RemiTokenizer()).startsWith("{"); // true
 * ```
 */
export function tokenizerJsonText(tokenizer: Tokenizer): string {
  const j = tokenizer.toJSON();
  const lines = [
    "{",
    `  "kind": ${JSON.stringify(j.kind)},`,
    `  "config": ${JSON.stringify(j.config)},`,
    `  "vocab": [\n${j.vocab.map((v) => `    ${JSON.stringify(v)}`).join(",\n")}\n  ]${j.merges ? "," : ""}`,
  ];
  if (j.merges) {
    lines.push(`  "merges": [\n${j.merges.map((m) => `    ${JSON.stringify(m)}`).join(",\n")}\n  ]`);
  }
  lines.push("}\n");
  return lines.join("\n");
}
