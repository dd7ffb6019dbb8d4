/**
 * `deno task eval --midi DIR --split test`: the files of one split of a MAESTRO-layout folder (the dataset root with
 * its `maestro-v*.csv`: `midi_filename` relative to the root, `split` one of train / validation / test), read as a
 * {@link MidiFolder}, so every part of the evaluation sees exactly that split's files. And `--crop S`: each piece cut
 * to its first S seconds ({@link cropSeconds}), which bounds the cost (files × tokens) while every file still counts
 * and two models with different tokenizers score the same music.
 *
 * @module
 */
import { join } from "node:path";
import { readMidi } from "../midi/mod.ts";
import { type Score, sortNotes, ticksToSeconds } from "../score.ts";
import { parseMaestroCsv, type Split, SPLITS } from "../data/maestro.ts";
import type { MidiFolder, SkippedFile } from "./midi_folder.ts";

function why(e: unknown): string {
  return String((e as Error)?.message ?? e).split("\n")[0];
}

/**
 * The MAESTRO metadata CSV in `dir` (`maestro-v3.0.0.csv`, or any `maestro-v*.csv`), or undefined when there is none.
 *
 * @example
 * ```ts ignore
 * import { maestroCsv } from "./split.ts";
 * maestroCsv("../shared/midi-corpus/maestro-asap/maestro-v3.0.0"); // ".../maestro-v3.0.0.csv"
 * ```
 */
export function maestroCsv(dir: string): string | undefined {
  let names: string[];
  try {
    names = [...Deno.readDirSync(dir)].filter((e) => e.isFile).map((e) => e.name);
  } catch {
    return undefined;
  }
  const csv = names.filter((n) => /^maestro-v[\d.]+\.csv$/i.test(n)).sort().reverse()[0];
  return csv ? join(dir, csv) : undefined;
}

/**
 * The files of split `split` listed by `dir`'s MAESTRO CSV (paths relative to `dir`, in CSV order). Throws a one-line
 * error naming `--split` when `dir` has no MAESTRO CSV or the split is not train / validation / test.
 *
 * @example
 * ```ts ignore
 * import { splitFiles } from "./split.ts";
 * const files = await splitFiles("../shared/midi-corpus/maestro-asap/maestro-v3.0.0", "test"); // 31 paths
 * ```
 */
export async function splitFiles(dir: string, split: string): Promise<string[]> {
  if (!(SPLITS as readonly string[]).includes(split)) {
    throw new Error(`--split: expected ${SPLITS.join(", ")}, got ${JSON.stringify(split)}`);
  }
  const csv = maestroCsv(dir);
  if (!csv) {
    throw new Error(
      `--split: ${dir} has no maestro-v*.csv (--split needs a MAESTRO root with its metadata CSV; drop --split to use every file)`,
    );
  }
  const rows = parseMaestroCsv(await Deno.readTextFile(csv), csv);
  return rows.filter((r) => r.split === (split as Split)).map((r) => r.midiFilename);
}

/**
 * Reads the files of one split of a MAESTRO-layout folder (see the module doc) as a {@link MidiFolder}: `found` is the
 * split's row count; a listed file that is missing, unreadable or without notes is in `skipped` with the reason.
 *
 * @example
 * ```ts ignore
 * import { readMidiSplit } from "./split.ts";
 * const f = await readMidiSplit("../shared/midi-corpus/maestro-asap/maestro-v3.0.0", "test");
 * console.log(`${f.pieces.length} of ${f.found} test files read`);
 * ```
 */
export async function readMidiSplit(dir: string, split: string): Promise<MidiFolder> {
  const files = await splitFiles(dir, split);
  const pieces: MidiFolder["pieces"] = [];
  const skipped: SkippedFile[] = [];
  for (const file of [...files].sort()) {
    try {
      const score = readMidi(await Deno.readFile(join(dir, file)));
      if (score.notes.length) pieces.push({ file, score });
      else skipped.push({ file, reason: "no notes" });
    } catch (e) {
      skipped.push({
        file,
        reason: e instanceof Deno.errors.NotFound ? "listed in the CSV, missing" : why(e),
      });
    }
  }
  return { dir: `${dir} (${split} split)`, found: files.length, pieces, skipped };
}

/** The tick at `seconds` in a score's tempo map (the first tick at or after it). */
function tickAt(score: Score, seconds: number): number {
  const tempos = [...score.tempos].sort((a, b) => a.tick - b.tick);
  let tick = 0, t = 0, bpm = tempos.length && tempos[0].tick === 0 ? tempos[0].bpm : 120;
  for (const tc of tempos) {
    if (tc.tick <= tick) {
      bpm = tc.bpm;
      continue;
    }
    const dt = (tc.tick - tick) * 60 / (bpm * score.ticksPerBeat);
    if (t + dt >= seconds) break;
    t += dt;
    tick = tc.tick;
    bpm = tc.bpm;
  }
  return Math.ceil(tick + (seconds - t) * bpm * score.ticksPerBeat / 60);
}

/**
 * The first `seconds` of a score: the notes that start before it, cut to end there, and the tempo and meter changes
 * before it (a copy; the score itself is unchanged).
 *
 * @example
 * ```ts
 * import { cropSeconds } from "./split.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480); // 120 bpm: 1 s = 960 ticks
 * for (let i = 0; i < 8; i++) s.notes.push({ pitch: 60 + i, velocity: 80, start: i * 480, duration: 960 });
 * cropSeconds(s, 1.5).notes.map((n) => [n.start, n.duration]); // [[0, 960], [480, 960], [960, 480]]
 * ```
 */
export function cropSeconds(score: Score, seconds: number): Score {
  if (!(seconds > 0)) throw new RangeError(`--crop: expected seconds > 0, got ${seconds}`);
  const end = tickAt(score, seconds);
  const notes = score.notes
    .filter((n) => n.start < end && ticksToSeconds(score, n.start) < seconds)
    .map((n) => ({ ...n, duration: Math.max(1, Math.min(n.duration, end - n.start)) }));
  return {
    ticksPerBeat: score.ticksPerBeat,
    notes: sortNotes(notes),
    tempos: score.tempos.filter((t) => t.tick < end).map((t) => ({ ...t })),
    timeSignatures: score.timeSignatures.filter((t) => t.tick < end).map((t) => ({ ...t })),
  };
}

/**
 * A folder with every piece cropped to its first `seconds` ({@link cropSeconds}); a piece left without notes moves
 * to `skipped`.
 *
 * @example
 * ```ts ignore
 * import { readMidiSplit, cropFolder } from "./split.ts";
 * const f = cropFolder(await readMidiSplit("maestro-v3.0.0", "test"), 60); // the first minute of each
 * ```
 */
export function cropFolder(folder: MidiFolder, seconds: number): MidiFolder {
  const pieces: MidiFolder["pieces"] = [], skipped = [...folder.skipped];
  for (const p of folder.pieces) {
    const score = cropSeconds(p.score, seconds);
    if (score.notes.length) pieces.push({ file: p.file, score });
    else skipped.push({ file: p.file, reason: `no notes in the first ${seconds} s` });
  }
  return { dir: `${folder.dir}, first ${seconds} s of each`, found: folder.found, pieces, skipped };
}
