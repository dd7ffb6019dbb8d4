import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { CORPUS } from "../_corpus.ts";
import { prepareDataset } from "../../lib/data/dataset.ts";
import { openShards } from "../../lib/data/shards.ts";
import { readMidiFile } from "../../lib/midi/mod.ts";
import { BpeTokenizer, loadTokenizer } from "../../lib/tokenizers/mod.ts";
import { FRADET_REMI_CONFIG } from "../../lib/tokenizers/remi.ts";

Deno.test({
  name:
    "tokenize: remiPreset fradet builds REMI+BPE on the BPE paper's REMI setting; bad presets are refused",
  ignore: !CORPUS,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "etude_tok_preset_" });
    try {
      const src = join(tmp, "midi");
      await Deno.mkdir(src);
      for (const p of ["haydn_7_1", "haydn_7_3", "haydn_8_4"]) {
        await Deno.copyFile(join(CORPUS!, "piano-midi-de/midis/Haydn", `${p}.mid`), join(src, `${p}.mid`));
      }
      const { dir, meta } = await prepareDataset({
        dataset: src,
        out: join(tmp, "prepared"),
        tokenizer: "remi-bpe",
        vocab: 200,
        remiPreset: "fradet",
        shifts: 0,
        workers: 0,
        fractions: [0.34, 0.33, 0.33],
      });
      assertEquals(dir, join(tmp, "prepared", "midi-remi-bpe-200-fradet"));
      assertEquals(meta.vocabSize, 200);
      const ds = await openShards(dir);
      const tok = loadTokenizer(ds.tokenizer);
      assert(tok instanceof BpeTokenizer);
      assertEquals(tok.baseTokenizer.config, FRADET_REMI_CONFIG);
      assertEquals(tok.baseTokenizer.vocab.length, 161);
      assertEquals(meta.dataset.filesUsed, 3);
      let checked = 0;
      for (const s of ["train", "validation", "test"] as const) {
        for (const [i, it] of meta.splits[s].items.entries()) {
          const ids = Array.from(ds.splits[s][i].subarray(1, -1));
          assertEquals(ids, tok.encode(await readMidiFile(join(src, it.source))), `${s} ${it.source}`);
          const names = ids.flatMap((id) => tok.tokenBaseIds(id)).map((b) => tok.baseTokenizer.vocab[b]);
          assert(!names.some((n) => /^(Tempo|TimeSig)_/.test(n)), "no Tempo or TimeSig tokens");
          checked++;
        }
      }
      assertEquals(checked, 3);
      await assertRejects(
        () => prepareDataset({ dataset: src, out: join(tmp, "x"), remiPreset: "bogus" as "fradet" }),
        Error,
        '--remi-config: expected default or fradet, got "bogus"',
      );
      await assertRejects(
        () => prepareDataset({ dataset: src, out: join(tmp, "x"), tokenizer: "pitch", remiPreset: "fradet" }),
        Error,
        "--remi-config applies to remi and remi-bpe only",
      );
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("tokenize CLI: --remi-config is documented and checked", async () => {
  const task = new URL("../../tasks/tokenize.ts", import.meta.url).pathname;
  const run = async (...args: string[]) => {
    const o = await new Deno.Command(Deno.execPath(), { args: ["run", "-A", task, ...args] }).output();
    return { code: o.code, out: new TextDecoder().decode(o.stdout), err: new TextDecoder().decode(o.stderr) };
  };
  const help = await run("--help");
  assertEquals(help.code, 0);
  assert(help.out.includes("--remi-config C    default | fradet"), help.out);
  const bad = await run("--remi-config", "midi-tok");
  assert(bad.code !== 0);
  assert(bad.err.includes('--remi-config: expected default or fradet, got "midi-tok"'), bad.err);
  assertEquals(bad.err.trim().split("\n").length, 1, bad.err);
});
