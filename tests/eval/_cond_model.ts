/** A tiny random-weight Transformer whose REMI tokenizer has the conditioning and FIM tokens (`tokenize --conditioning`). */
import { join } from "node:path";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import { CONDITIONING_TOKENS } from "../../lib/data/conditioning.ts";
import { writeTinyCheckpoint } from "../infer/_fixtures.ts";

/** Writes the checkpoint into a new temp dir (`<tmp>/model`); returns the temp dir and the model dir. */
export async function conditionedTinyModel(seed = 1, maxPos = 256): Promise<{ tmp: string; dir: string }> {
  const tmp = await Deno.makeTempDir({ prefix: "etude_eval_cond_" });
  const dir = join(tmp, "model");
  await Deno.mkdir(dir);
  const tok = new RemiTokenizer({ extraTokens: [...CONDITIONING_TOKENS] }).toJSON();
  await writeTinyCheckpoint(
    { vocab: tok.vocab.length, d: 32, ffn: 64, layers: 2, heads: 2, maxPos },
    seed,
    tok,
    dir,
  );
  return { tmp, dir };
}
