/** A tiny random checkpoint whose vocabulary has the conditioning and FIM tokens (`tokenize --conditioning`). */
import { join } from "node:path";
import { randomTensors, tinyConfig } from "./_fixtures.ts";
import { encodeSafetensors } from "../../lib/util/safetensors.ts";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import type { TokenizerJson } from "../../lib/tokenizers/tokenizer.ts";
import { CONDITIONING_TOKENS } from "../../lib/data/conditioning.ts";

/** The REMI tokenizer of a conditioning model (the condition tokens and FIM sentinels appended). */
export const condRemi: RemiTokenizer = new RemiTokenizer({ extraTokens: [...CONDITIONING_TOKENS] });

/**
 * Writes a tiny random model (1 layer, d 32, 512 positions) writing `tok`'s ids (default: `condRemi`) into `dir`
 * (default: a new temp dir) and returns the directory. Its layer outputs are scaled up 4×: with tied embeddings a
 * random layer barely moves the residual stream, and the model would repeat its last token (empty bars).
 */
export async function writeCondModel(
  tok: TokenizerJson = condRemi.toJSON(),
  seed = 3,
  dir?: string,
): Promise<string> {
  const shape = { vocab: tok.vocab.length, d: 32, ffn: 64, layers: 1, heads: 2, maxPos: 512 };
  const t = randomTensors(shape, seed);
  for (const [name, v] of Object.entries(t)) {
    if (name.endsWith("down_proj.weight") || name.endsWith("o_proj.weight")) {
      v.data = v.data.map((x) => x * 4);
    }
  }
  dir ??= await Deno.makeTempDir({ prefix: "etude_cond_model_" });
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeFile(join(dir, "model.safetensors"), encodeSafetensors(t));
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(tinyConfig(shape)));
  await Deno.writeTextFile(join(dir, "tokenizer.json"), JSON.stringify(tok));
  return dir;
}
