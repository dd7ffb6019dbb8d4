/**
 * Several sources in one dataset (lib/data/sources.ts, `tokenize --dataset A --dataset B=pop`): each keeps its own
 * split (MAESTRO's CSV, a CSV's split column, a seeded split for a folder) and its style; duplicates across sources are
 * kept once; one plain folder lists exactly as before. On written files, and on ../shared/midi-corpus (its four
 * sources with their published split counts; ignored when absent).
 */
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { listDatasetSources } from "../../lib/data/sources.ts";
import { listSources } from "../../lib/data/_sources.ts";
import { prepareDataset } from "../../lib/data/dataset.ts";
import { openShards } from "../../lib/data/shards.ts";
import { loadTokenizer } from "../../lib/tokenizers/load.ts";
import { emptyScore } from "../../lib/score.ts";
import { writeMidi } from "../../lib/midi/mod.ts";

const MIDI_CORPUS = (() => {
  const dir = join(fileURLToPath(new URL("../../..", import.meta.url)), "shared", "midi-corpus");
  try {
    return Deno.statSync(join(dir, "maestro-asap", "maestro-v3.0.0", "maestro-v3.0.0.csv")).isFile
      ? dir
      : undefined;
  } catch {
    return undefined;
  }
})();

function song(seed: number): Uint8Array {
  const s = emptyScore(480);
  for (let i = 0; i < 24; i++) {
    s.notes.push({ pitch: 48 + (seed * 5 + i * 7) % 36, velocity: 80, start: i * 240, duration: 240 });
  }
  s.notes.push({ pitch: 60, velocity: 80, start: 24 * 240 + seed * 10, duration: 240 }); // distinct bytes per seed
  return writeMidi(s);
}

Deno.test("listDatasetSources: a CSV's splits, a folder's seeded split and style, duplicates kept once", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "etude_sources_" });
  try {
    await Deno.mkdir(join(tmp, "csvset", "x"), { recursive: true });
    await Deno.mkdir(join(tmp, "pop909"));
    await Deno.mkdir(join(tmp, "mine"));
    const rows = ["excerpt_file,other,split"];
    for (let i = 0; i < 6; i++) {
      await Deno.writeFile(join(tmp, "csvset", "x", `e${i}.mid`), song(i));
      rows.push(`x/e${i}.mid,"a, b",${["train", "train", "validation", "test", "train", "test"][i]}`);
    }
    rows.push("x/missing.mid,,train");
    await Deno.writeTextFile(join(tmp, "csvset", "list.csv"), rows.join("\n") + "\n");
    for (let i = 0; i < 20; i++) await Deno.writeFile(join(tmp, "pop909", `${i}.mid`), song(100 + i));
    await Deno.writeFile(join(tmp, "mine", "a.mid"), song(200));
    await Deno.writeFile(join(tmp, "mine", "dup.mid"), song(0)); // the bytes of x/e0.mid
    const entries = [join(tmp, "csvset", "list.csv"), join(tmp, "pop909"), join(tmp, "mine") + "=classical"];
    const l = await listDatasetSources(entries, { seed: 3 });
    assertEquals(l.kind, "sources");
    assertEquals(l.sources.map((s) => [s.label, s.split, s.style, s.files]), [
      ["list", "csv", "classical", 6],
      ["pop909", "seeded-by-file", "pop", 20],
      ["mine", "seeded-by-file", "classical", 2],
    ]);
    const byFile = new Map(l.files.map((f) => [f.file, f]));
    assertEquals(byFile.get("list/x/e2.mid")?.split, "validation");
    assertEquals(byFile.get("list/x/e5.mid")?.split, "test");
    assertEquals(byFile.get("pop909/3.mid")?.style, "pop");
    assertEquals(l.skipped.map((s) => s.file).sort(), ["list/x/missing.mid", "mine/dup.mid"]);
    // the folder's split is the single-folder split (same seed): reproducible
    const alone = await listSources(join(tmp, "pop909"), { seed: 3 });
    for (const f of alone.files) assertEquals(byFile.get(`pop909/${f.file}`)?.split, f.split);
    assertEquals(await listDatasetSources(entries, { seed: 3 }), l);
    // one plain folder: exactly the old listing, with the --style
    const one = await listDatasetSources([join(tmp, "mine")], { seed: 3, style: "pop" });
    const old = await listSources(join(tmp, "mine"), { seed: 3 });
    assertEquals(one.files.map(({ style: _, ...f }) => f), old.files);
    assert(one.files.every((f) => f.style === "pop"));
    await assertRejects(
      () => listDatasetSources([join(tmp, "mine") + "=jazz"], { seed: 0 }),
      Error,
      "style: expected",
    );

    // prepared into one dataset, with per-source style tokens
    const { dir, meta } = await prepareDataset({
      dataset: entries,
      out: join(tmp, "prepared"),
      tokenizer: "remi",
      conditioning: true,
      shifts: 0,
      seed: 3,
      workers: 0,
    });
    assert(dir.endsWith("mixed-remi-cond"));
    assertEquals(meta.dataset.kind, "sources");
    assertEquals(meta.split.method, "per-source");
    const ds = await openShards(dir);
    const tok = loadTokenizer(ds.tokenizer);
    for (const split of ["train", "validation", "test"] as const) {
      ds.meta.splits[split].items.forEach((it, i) => {
        assertEquals(byFile.get(it.source)?.split, split);
        const want = it.source.startsWith("pop909/") ? "Style_pop" : "Style_classical";
        assertEquals(tok.vocab[ds.splits[split][i][1]], want, it.source);
      });
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test({
  name:
    "listDatasetSources on ../shared/midi-corpus: four sources, their published splits, no test file in train",
  ignore: !MIDI_CORPUS,
  fn: async () => {
    const l = await listDatasetSources([MIDI_CORPUS!], { seed: 0 });
    const count = (label: string, split: string) =>
      l.files.filter((f) => f.file.startsWith(`${label}/`) && f.split === split).length;
    assertEquals(l.sources.map((s) => [s.label, s.style, s.files]), [
      ["maestro-v3.0.0", "classical", 264],
      ["asap-excerpts", "classical", 236],
      ["asap-unmapped", "classical", 358],
      ["pop909", "pop", 909],
    ]);
    // the README's counts: MAESTRO 209/24/31, excerpts (their CSV) 190/22/24, unmapped 330/28/0
    assertEquals(["train", "validation", "test"].map((s) => count("maestro-v3.0.0", s)), [209, 24, 31]);
    assertEquals(["train", "validation", "test"].map((s) => count("asap-excerpts", s)), [190, 22, 24]);
    assertEquals(["train", "validation", "test"].map((s) => count("asap-unmapped", s)), [330, 28, 0]);
    assertEquals(count("pop909", "train") + count("pop909", "validation") + count("pop909", "test"), 909);
    assertEquals(l.files.length, 1767);
    // MAESTRO's test performances are test here too (from its own CSV)
    const csv = await Deno.readTextFile(
      join(MIDI_CORPUS!, "maestro-asap", "maestro-v3.0.0", "maestro-v3.0.0.csv"),
    );
    const tests = csv.split("\n").filter((r) => r.includes(",test,")).map((r) =>
      /\d{4}\/[^,]+\.midi/.exec(r)![0]
    );
    assertEquals(tests.length, 31);
    for (const t of tests) assertEquals(l.files.find((f) => f.file === `maestro-v3.0.0/${t}`)?.split, "test");
  },
});
