/**
 * `--split` (lib/eval/split.ts): exactly the CSV's rows of that split, on a written MAESTRO-layout folder and on the
 * real MAESTRO subset of ../shared/midi-corpus (ignored when absent), its rows found by a regular expression over the
 * CSV's lines, independent of the CSV parser; a folder without a CSV is an error naming the flag. `--crop`: the
 * first seconds of a score with a tempo change, against seconds worked out by hand.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import { cropFolder, cropSeconds, readMidiSplit, splitFiles } from "../../lib/eval/split.ts";
import { writeMidi } from "../../lib/midi/mod.ts";
import { emptyScore, ticksToSeconds } from "../../lib/score.ts";

const MAESTRO = join(
  fileURLToPath(new URL("../../..", import.meta.url)),
  "shared",
  "midi-corpus",
  "maestro-asap",
  "maestro-v3.0.0",
);
const hasMaestro = (() => {
  try {
    return Deno.statSync(join(MAESTRO, "maestro-v3.0.0.csv")).isFile;
  } catch {
    return false;
  }
})();

function piece(pitch: number) {
  const s = emptyScore(480);
  for (let i = 0; i < 8; i++) {
    s.notes.push({ pitch: pitch + (i % 3), velocity: 80, start: i * 480, duration: 480 });
  }
  return writeMidi(s);
}

const HEADER = "canonical_composer,canonical_title,split,year,midi_filename,audio_filename,duration";

Deno.test("readMidiSplit: only the CSV's rows of the split; a listed file that is missing is left out, with why", async () => {
  const dir = await Deno.makeTempDir({ prefix: "etude_split_" });
  try {
    await Deno.mkdir(join(dir, "2018"));
    const rows: [string, string][] = [
      ["train", "2018/a.midi"],
      ["test", "2018/b.midi"],
      ["validation", "2018/c.midi"],
      ["test", "2018/d.midi"],
      ["test", "2018/missing.midi"],
      ["train", "2018/e.midi"],
    ];
    const lines = [HEADER];
    rows.forEach(([split, file], i) => {
      // a quoted title with a comma, as the real CSV has
      lines.push(
        `Composer ${i},"Sonata No. ${i}, Op. 1",${split},2018,${file},${file.replace(".midi", ".wav")},60.5`,
      );
    });
    await Deno.writeTextFile(join(dir, "maestro-v3.0.0.csv"), lines.join("\n") + "\n");
    for (const [i, [, file]] of rows.entries()) {
      if (!file.includes("missing")) await Deno.writeFile(join(dir, file), piece(60 + i));
    }
    await Deno.writeFile(join(dir, "2018", "not-listed.midi"), piece(70));

    const test = await readMidiSplit(dir, "test");
    assertEquals(test.found, 3);
    assertEquals(test.pieces.map((p) => p.file), ["2018/b.midi", "2018/d.midi"]);
    assertEquals(test.skipped, [{ file: "2018/missing.midi", reason: "listed in the CSV, missing" }]);
    assertEquals(test.pieces[0].score.notes.length, 8);
    assertEquals((await readMidiSplit(dir, "train")).pieces.map((p) => p.file), [
      "2018/a.midi",
      "2018/e.midi",
    ]);
    assertEquals(await splitFiles(dir, "validation"), ["2018/c.midi"]);
    await assertRejects(() => readMidiSplit(dir, "dev"), Error, "--split: expected train, validation, test");
    // cropped to the first second (120 bpm, 480 ticks per beat: 2 beats): the notes starting in it
    const cropped = cropFolder(test, 1);
    assertEquals(cropped.pieces.map((p) => p.score.notes.length), [2, 2]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readMidiSplit: a folder without a MAESTRO CSV is an error naming --split", async () => {
  const dir = await Deno.makeTempDir({ prefix: "etude_split_" });
  try {
    await Deno.writeFile(join(dir, "x.mid"), piece(60));
    await assertRejects(() => readMidiSplit(dir, "test"), Error, `--split: ${dir} has no maestro-v*.csv`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "readMidiSplit on the real MAESTRO subset: the test split is the CSV's 31 test rows, every one read",
  ignore: !hasMaestro,
  fn: async () => {
    const csv = await Deno.readTextFile(join(MAESTRO, "maestro-v3.0.0.csv"));
    // independent of the parser: a row's split, year and .midi path follow its (possibly quoted) title
    const expected = csv.split("\n").flatMap((line) => {
      const m = /,(train|validation|test),(\d{4}),(\d{4}\/[^,]+\.midi),/.exec(line);
      return m && m[1] === "test" ? [m[3]] : [];
    }).sort();
    assertEquals(expected.length, 31);
    const f = await readMidiSplit(MAESTRO, "test");
    assertEquals(f.found, 31);
    assertEquals(f.skipped, []);
    assertEquals(f.pieces.map((p) => p.file), expected);
    assert(f.pieces.every((p) => p.score.notes.length > 100));
  },
});

Deno.test("cropSeconds: the notes that start in the first seconds, through a tempo change, cut to end there", () => {
  const s = emptyScore(480);
  s.tempos = [{ tick: 0, bpm: 60 }, { tick: 960, bpm: 120 }]; // 2 s for the first 960 ticks, then 0.5 s per beat
  for (let i = 0; i < 8; i++) s.notes.push({ pitch: 60 + i, velocity: 80, start: i * 480, duration: 1000 });
  // onsets at 0, 1, 2, 2.5, 3, 3.5, 4, 4.5 s; 3.25 s is tick 960 + 1.25 s × 960 ticks/s = 2160
  const c = cropSeconds(s, 3.25);
  assertEquals(c.notes.map((n) => n.start), [0, 480, 960, 1440, 1920]);
  assertEquals(c.notes.map((n) => n.duration), [1000, 1000, 1000, 720, 240]);
  assert(c.notes.every((n) => ticksToSeconds(s, n.start) < 3.25));
  assertEquals(c.tempos, s.tempos);
  assertEquals(s.notes.length, 8); // the score itself unchanged
  assertThrows(() => cropSeconds(s, 0), RangeError, "--crop");
});
