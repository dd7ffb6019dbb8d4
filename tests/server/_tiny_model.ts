/** A real (tiny, random-weight) REMI checkpoint in a models directory, for end-to-end tests of the faces. */
import { join } from "node:path";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import { writeTinyCheckpoint } from "../infer/_fixtures.ts";

/** Writes `<root>/default/` (and returns root): 2 layers, d 32, REMI vocabulary, 256 positions. */
export async function tinyModelsDir(): Promise<string> {
  Deno.env.get("XDG_RUNTIME_DIR") ?? Deno.env.set("XDG_RUNTIME_DIR", "/tmp/etude-xdg");
  await Deno.mkdir(Deno.env.get("XDG_RUNTIME_DIR")!, { recursive: true, mode: 0o700 });
  const root = await Deno.makeTempDir({ prefix: "etude_models_" });
  const dir = join(root, "default");
  await Deno.mkdir(dir);
  const tok = new RemiTokenizer().toJSON();
  await writeTinyCheckpoint(
    { vocab: tok.vocab.length, d: 32, ffn: 64, layers: 2, heads: 2, maxPos: 256 },
    1,
    tok,
    dir,
  );
  return root;
}
