/**
 * The work that `_worker.ts` does (and the main thread does itself with `workers: 0`): parse a MIDI file into a
 * compact packed score, and encode a (pitch-shifted) packed score with a tokenizer.
 *
 * @module
 */
import { readMidiFile } from "../midi/mod.ts";
import type { Score } from "../score.ts";
import type { Tokenizer } from "../tokenizers/tokenizer.ts";
import { loadTokenizer } from "../tokenizers/mod.ts";

/** A Score as flat typed arrays (cheap to post between workers). */
export interface PackedScore {
  ticksPerBeat: number;
  /** pitch, velocity, start, duration per note. */
  notes: Int32Array;
  /** tick, bpm per tempo change. */
  tempos: Float64Array;
  /** tick, numerator, denominator per time signature. */
  timeSignatures: Int32Array;
}

/**
 * Packs a score.
 *
 * @example
 * ```ts
 * import { packScore, unpackScore } from "./_jobs.ts";
 * import { emptyScore } from "../score.ts";
 * unpackScore(packScore(emptyScore(480))).ticksPerBeat; // 480
 * ```
 */
export function packScore(s: Score): PackedScore {
  const notes = new Int32Array(s.notes.length * 4);
  s.notes.forEach((n, i) => notes.set([n.pitch, n.velocity, n.start, n.duration], i * 4));
  const tempos = new Float64Array(s.tempos.length * 2);
  s.tempos.forEach((t, i) => tempos.set([t.tick, t.bpm], i * 2));
  const ts = new Int32Array(s.timeSignatures.length * 3);
  s.timeSignatures.forEach((t, i) => ts.set([t.tick, t.numerator, t.denominator], i * 3));
  return { ticksPerBeat: s.ticksPerBeat, notes, tempos, timeSignatures: ts };
}

/**
 * Unpacks a score, transposing every note by `shift` semitones.
 *
 * @example
 * ```ts
 * import { packScore, unpackScore } from "./_jobs.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 90, start: 0, duration: 480 });
 * unpackScore(packScore(s), 2).notes[0].pitch; // 62
 * ```
 */
export function unpackScore(p: PackedScore, shift = 0): Score {
  const notes = [];
  for (let i = 0; i < p.notes.length; i += 4) {
    notes.push({
      pitch: p.notes[i] + shift,
      velocity: p.notes[i + 1],
      start: p.notes[i + 2],
      duration: p.notes[i + 3],
    });
  }
  const tempos = [];
  for (let i = 0; i < p.tempos.length; i += 2) tempos.push({ tick: p.tempos[i], bpm: p.tempos[i + 1] });
  const timeSignatures = [];
  for (let i = 0; i < p.timeSignatures.length; i += 3) {
    timeSignatures.push({
      tick: p.timeSignatures[i],
      numerator: p.timeSignatures[i + 1],
      denominator: p.timeSignatures[i + 2],
    });
  }
  return { ticksPerBeat: p.ticksPerBeat, notes, tempos, timeSignatures };
}

/** A parse result: the packed score and its pitch histogram (128 bins), or why the file was rejected. */
export type ParseResult =
  | { ok: true; score: PackedScore; pitchHistogram: Uint32Array }
  | { ok: false; reason: string };

/**
 * Reads and packs one MIDI file; a bad file becomes `{ ok: false, reason }` (the reason without the path).
 *
 * @example
 * ```ts ignore
 * import { parseJob } from "./_jobs.ts";
 * const r = await parseJob("song.mid");
 * ```
 */
export async function parseJob(path: string): Promise<ParseResult> {
  let score: Score;
  try {
    score = await readMidiFile(path);
  } catch (e) {
    const msg = String((e as Error)?.message ?? e).split("\n")[0];
    return { ok: false, reason: msg.startsWith(`${path}: `) ? msg.slice(path.length + 2) : msg };
  }
  if (score.notes.length === 0) return { ok: false, reason: "no notes" };
  const pitchHistogram = new Uint32Array(128);
  for (const n of score.notes) pitchHistogram[Math.max(0, Math.min(127, n.pitch))]++;
  return { ok: true, score: packScore(score), pitchHistogram };
}

/** Tokenizers loaded in this thread, by their JSON text (a worker keeps the last few). */
const cache = new Map<string, Tokenizer>();

/**
 * Encodes a packed score shifted by `shift` with the tokenizer given as JSON text; returns ids (no BOS/EOS).
 *
 * @example
 * ```ts ignore
 * import { encodeJob, packScore } from "./_jobs.ts";
 * import { readMidiFile } from "../midi/mod.ts";
 * const tokJsonText = await Deno.readTextFile("data/prepared/piano/tokenizer.json");
 * const ids = encodeJob(tokJsonText, packScore(await readMidiFile("song.mid")), 2, "uint16");
 * ```
 */
export function encodeJob(
  tokenizerJson: string,
  score: PackedScore,
  shift: number,
  dtype: "uint16" | "uint32",
): Uint16Array | Uint32Array {
  let tok: Tokenizer | undefined = cache.get(tokenizerJson);
  if (tok === undefined) {
    if (cache.size >= 4) cache.clear();
    const loaded: Tokenizer = loadTokenizer(tokenizerJson);
    cache.set(tokenizerJson, loaded);
    tok = loaded;
  }
  const ids = tok.encode(unpackScore(score, shift));
  return dtype === "uint16" ? Uint16Array.from(ids) : Uint32Array.from(ids);
}
