/**
 * The model directory registry the server offers: `<modelsDir>/<name>/` holding the checkpoint files
 * (`config.json`, `model.safetensors`, `tokenizer.json`) is a model called `<name>`. What it says about each comes
 * from the one checkpoint reader (lib/model/checkpoint.ts), without reading the weights.
 *
 * @module
 */
import { join } from "node:path";
import { CHECKPOINT_FILES, readCheckpointInfo } from "../model/checkpoint.ts";
import { conditioningIds } from "../data/conditioning.ts";
import { readGenerationConfig, type SamplingDefaults } from "../infer/generation_config.ts";

/**
 * What `GET /api/models` says about one model.
 *
 * @example
 * ```ts ignore
 * import { listModels } from "./models.ts";
 * for (const m of await listModels("models")) console.log(m.name, m.tokenizer, m.vocabSize, m.bytes);
 * ```
 */
export interface ModelInfo {
  /** Directory name; what requests pass as `model`. */
  name: string;
  /** Tokeniser kind from tokenizer.json (`remi`, `remi-bpe`, `pitch`). */
  tokenizer: string;
  /** `vocab_size` from config.json. */
  vocabSize: number | null;
  /** `num_hidden_layers` (an LSTM's layer count). */
  layers: number | null;
  /** `hidden_size` (an LSTM's first layer size). */
  hidden: number | null;
  /** `num_attention_heads` (null for an LSTM). */
  heads: number | null;
  /** model.safetensors size in bytes. */
  bytes: number;
  /**
   * Whether it was trained with learned conditions and infilling (its vocabulary has the condition tokens and FIM
   * sentinels of `tokenize --conditioning`): it takes `style` and `infill`.
   */
  conditioning: boolean;
  /**
   * The model's own sampling defaults (`generation_config.json`: what a request leaving them out gets), or null when
   * it ships none (or an unreadable one: generation then says why).
   */
  sampling: SamplingDefaults | null;
}

/**
 * Lists the complete model directories under `modelsDir`, sorted with `default` first. Directories missing a file
 * or whose `config.json` / `tokenizer.json` the checkpoint reader rejects are skipped. A missing `modelsDir` gives
 * an empty list.
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
    // Dot-names are hidden: a checkpoint being written is staged in `.<name>.tmp-*` and renamed into place.
    if ((!e.isDirectory && !e.isSymlink) || e.name.startsWith(".")) continue;
    const dir = join(modelsDir, e.name);
    try {
      const sizes = CHECKPOINT_FILES.map((f) => Deno.statSync(join(dir, f)).size);
      const { config: c, tokenizerJson } = await readCheckpointInfo(dir);
      const t = c.arch === "transformer";
      out.push({
        name: e.name,
        tokenizer: tokenizerJson?.kind ?? "unknown",
        vocabSize: c.vocabSize,
        layers: t ? c.layers : c.hidden.length,
        hidden: t ? c.dim : c.hidden[0],
        heads: t ? c.heads : null,
        bytes: sizes[CHECKPOINT_FILES.indexOf("model.safetensors")],
        conditioning: conditioningIds(tokenizerJson?.vocab ?? []) !== undefined,
        sampling: (await readGenerationConfig(dir).catch(() => undefined)) ?? null,
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
