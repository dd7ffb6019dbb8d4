/**
 * The model directory registry the server offers: `<modelsDir>/<name>/` holding `config.json`, `model.safetensors`
 * and `tokenizer.json` is a model called `<name>`.
 *
 * @module
 */
import { join } from "node:path";

/** What `GET /api/models` says about one model. */
export interface ModelInfo {
  /** Directory name; what requests pass as `model`. */
  name: string;
  /** Tokeniser kind from tokenizer.json (`remi`, `remi-bpe`, `pitch`). */
  tokenizer: string;
  /** `vocab_size` from config.json. */
  vocabSize: number | null;
  /** `num_hidden_layers`. */
  layers: number | null;
  /** `hidden_size`. */
  hidden: number | null;
  /** `num_attention_heads`. */
  heads: number | null;
  /** model.safetensors size in bytes. */
  bytes: number;
}

const REQUIRED = ["config.json", "model.safetensors", "tokenizer.json"];

/**
 * Lists the complete model directories under `modelsDir`, sorted with `default` first. Directories missing a file
 * or with unreadable JSON are skipped. A missing `modelsDir` gives an empty list.
 *
 * @example
 * ```ts
 * import { listModels } from "./models.ts";
 * const models = await listModels("models");
 * console.log(models.map((m) => m.name));
 * ```
 */
export async function listModels(modelsDir: string): Promise<ModelInfo[]> {
  const out: ModelInfo[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(modelsDir)];
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!e.isDirectory && !e.isSymlink) continue;
    const dir = join(modelsDir, e.name);
    try {
      const sizes = REQUIRED.map((f) => Deno.statSync(join(dir, f)).size);
      const config = JSON.parse(await Deno.readTextFile(join(dir, "config.json")));
      const kind = await readTokenizerKind(join(dir, "tokenizer.json"));
      const n = (v: unknown) => (typeof v === "number" ? v : null);
      out.push({
        name: e.name,
        tokenizer: kind,
        vocabSize: n(config.vocab_size),
        layers: n(config.num_hidden_layers ?? config.num_layers),
        hidden: n(config.hidden_size),
        heads: n(config.num_attention_heads),
        bytes: sizes[1],
      });
    } catch {
      // incomplete or unreadable: not offered
    }
  }
  return out.sort((
    a,
    b,
  ) => (a.name === "default" ? -1 : b.name === "default" ? 1 : a.name.localeCompare(b.name)));
}

async function readTokenizerKind(path: string): Promise<string> {
  // tokenizer.json can be large (BPE merges); the kind is near the start, but parse fully to be safe.
  const t = JSON.parse(await Deno.readTextFile(path));
  return typeof t.kind === "string" ? t.kind : "unknown";
}
