/**
 * The "too close to the training data" check of `deno task generate` (issue 14, item 2): with a copy index beside
 * the model, every piece's longest run shared with the training data is reported (and kept in the sidecar);
 * `--max-copy N` refuses a piece sharing more than N tokens (nothing written); without an index it is a usage error.
 */
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { join } from "node:path";
import { generateCli } from "../../lib/cli/generate.ts";
import { UsageError } from "../../lib/cli/args.ts";
import { buildCopyIndex, writeCopyIndex } from "../../lib/data/copy_index.ts";
import { generate } from "../../lib/infer/generate.ts";
import { loadModel } from "../../lib/infer/load.ts";
import { sha256Hex } from "../../lib/util/hash.ts";
import { tinyModelsDir } from "../server/_tiny_model.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };
const tmp = await Deno.makeTempDir({ prefix: "etude_copy_cli_" });
const common = ["--tokens", "120", "--seed", "5"];

/** Plants an index of `pieces` (each `BOS … EOS`) beside the model in `dir`. */
async function plant(dir: string, pieces: number[][]): Promise<void> {
  const tok = JSON.parse(await Deno.readTextFile(join(dir, "tokenizer.json")));
  const ids: number[] = [], items = [];
  for (const [k, p] of pieces.entries()) {
    items.push({ source: `piece-${k}.mid`, shift: 0, offset: ids.length, length: p.length + 2 });
    ids.push(1, ...p, 2);
  }
  const index = buildCopyIndex(ids, {
    vocabSize: tok.vocab.length,
    pieces: items,
    tokenizerSha256: await sha256Hex(await Deno.readFile(join(dir, "tokenizer.json"))),
  });
  await writeCopyIndex(dir, index);
}

async function run(args: string[]) {
  const lines: string[] = [];
  const r = await generateCli(args, (l) => lines.push(l));
  return { r: r!, lines };
}

Deno.test({
  name: "copy check: reported per piece, kept in the sidecar; --max-copy refuses a copied piece",
  ...opts,
  async fn() {
    const model = join(await tinyModelsDir(), "default");
    // The ids this seed generates (the CLI's defaults are generate()'s).
    const m = await loadModel(model);
    let ids: number[];
    try {
      ids = (await generate({ model: m, seed: 5, maxTokens: 120 })).ids[0];
    } finally {
      m.dispose();
    }
    assert(ids.length > 20, `${ids.length} ids`);
    // A training set holding 10 of them verbatim (and an unrelated piece).
    await plant(model, [[5, 6, 7, 8], ids.slice(3, 13)]);
    const out = join(tmp, "a.mid");
    const { r, lines } = await run(["--model", model, ...common, "--out", out]);
    const report = lines.find((l) => l.startsWith("longest copy from the training data: "));
    assert(report, lines.join("\n"));
    assert(r.longestCopy![0].length >= 10, report);
    assert(report.includes(`${r.longestCopy![0].length} tokens (piece piece-`), report);
    assertEquals(r.refused, []);
    assertEquals(r.midiFiles, [out]);
    const side = JSON.parse(await Deno.readTextFile(join(tmp, "a.json")));
    assertEquals(side.longestCopy.tokens, r.longestCopy![0].length);
    // The sidecar still replays.
    const { r: again } = await run(["--replay", join(tmp, "a.json"), "--out", join(tmp, "a-replay.mid")]);
    assertEquals(again.midiFiles.length, 1);
    assertEquals(await Deno.readFile(join(tmp, "a-replay.mid")), await Deno.readFile(out));

    // The generated ids themselves in the training data: --max-copy 8 refuses, nothing written.
    await plant(model, [ids]);
    const refusedOut = join(tmp, "b.mid");
    const b = await run(["--model", model, ...common, "--out", refusedOut, "--max-copy", "8"]);
    assertEquals(b.r.refused, [0]);
    assertEquals(b.r.longestCopy![0].length, ids.length);
    assertEquals(b.r.midiFiles, []);
    assert(b.lines.some((l) => l.startsWith(`refused: ${ids.length} tokens copied`)), b.lines.join("\n"));
    for (const f of ["b.mid", "b.json"]) {
      await assertRejects(() => Deno.stat(join(tmp, f)), Deno.errors.NotFound);
    }
    // A limit above the copy lets it through.
    const c = await run([
      "--model",
      model,
      ...common,
      "--out",
      join(tmp, "c.mid"),
      "--max-copy",
      `${ids.length}`,
    ]);
    assertEquals(c.r.refused, []);
    assertEquals(c.r.midiFiles, [join(tmp, "c.mid")]);
  },
});

Deno.test({
  name: "copy check: --max-copy without an index (or with a bad value) is a one-line usage error",
  ...opts,
  async fn() {
    const model = join(await tinyModelsDir(), "default");
    const out = join(tmp, "none.mid");
    await assertRejects(
      () => run(["--model", model, ...common, "--out", out, "--max-copy", "8"]),
      UsageError,
      "copy_index.json not found",
    );
    await assertRejects(() => run(["--model", model, "--max-copy", "-1"]), UsageError, "--max-copy");
    // Without --max-copy and without an index: no report, files written.
    const { r, lines } = await run(["--model", model, ...common, "--out", out]);
    assertEquals(r.longestCopy, undefined);
    assert(!lines.some((l) => l.startsWith("longest copy")));
    assertEquals(r.midiFiles, [out]);
  },
});
