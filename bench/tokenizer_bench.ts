/**
 * Tokeniser throughput on the real piano corpus (`$ETUDE_MIDI_CORPUS` or `../shared/midi`: piano-midi.de plus the
 * MAESTRO performances): REMI encode notes/s, BPE training time to a target vocabulary, BPE encode tokens/s.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readMidi } from "../lib/midi/mod.ts";
import type { Score } from "../lib/score.ts";
import { RemiTokenizer } from "../lib/tokenizers/remi.ts";
import { trainBpe } from "../lib/tokenizers/bpe.ts";
import { listMidiFiles } from "../lib/util/fs.ts";

/**
 * The corpus folder, or undefined when absent.
 *
 * @example
 * ```ts
 * import { findMidiCorpus } from "./tokenizer_bench.ts";
 * console.log(findMidiCorpus() ?? "no corpus");
 * ```
 */
export function findMidiCorpus(): string | undefined {
  const dir = Deno.env.get("ETUDE_MIDI_CORPUS") ??
    join(fileURLToPath(new URL("../..", import.meta.url)), "shared", "midi");
  try {
    return Deno.statSync(dir).isDirectory ? dir : undefined;
  } catch {
    return undefined;
  }
}

function walk(dir: string): string[] {
  try {
    return listMidiFiles(dir);
  } catch {
    return []; // absent
  }
}

/**
 * The solo-piano files of the corpus (piano-midi.de, MidiTok's `Maestro_*`, the mirdata MAESTRO sample).
 *
 * @example
 * ```ts
 * import { findMidiCorpus, pianoFiles } from "./tokenizer_bench.ts";
 * const dir = findMidiCorpus();
 * if (dir) console.log(pianoFiles(dir).length);
 * ```
 */
export function pianoFiles(corpus: string): string[] {
  return [
    ...walk(join(corpus, "piano-midi-de")),
    ...walk(join(corpus, "miditok", "tests", "MIDIs_one_track")).filter((f) => /Maestro_/.test(f)),
    ...walk(join(corpus, "mirdata-maestro-sample")),
  ];
}

/** Result of {@link tokenizerThroughput}. */
export interface TokenizerBenchResult {
  files: number;
  skipped: number;
  notes: number;
  baseTokens: number;
  readSeconds: number;
  remiEncodeSeconds: number;
  remiNotesPerSecond: number;
  bpeVocab: number;
  bpeTrainSeconds: number;
  bpeTokens: number;
  bpeEncodeSeconds: number;
  bpeTokensPerSecond: number;
  bpeNotesPerSecond: number;
  /** 1 − BPE tokens ÷ base tokens. */
  bpeReduction: number;
}

/**
 * Reads `files`, then times REMI encoding, BPE training (on all files' base ids) and BPE encoding.
 *
 * @example
 * ```ts ignore
 * import { findMidiCorpus, pianoFiles, tokenizerThroughput } from "./tokenizer_bench.ts";
 * const r = tokenizerThroughput(pianoFiles(findMidiCorpus()!).slice(0, 20), 1024);
 * ```
 */
export function tokenizerThroughput(files: readonly string[], vocabSize = 1024): TokenizerBenchResult {
  let t = performance.now();
  const scores: Score[] = [];
  let skipped = 0;
  for (const f of files) {
    try {
      scores.push(readMidi(Deno.readFileSync(f)));
    } catch {
      skipped++;
    }
  }
  const readSeconds = (performance.now() - t) / 1000;
  const remi = new RemiTokenizer();
  t = performance.now();
  const base = scores.map((s) => remi.encode(s));
  const remiEncodeSeconds = (performance.now() - t) / 1000;
  const notes = scores.reduce((a, s) => a + s.notes.length, 0);
  const baseTokens = base.reduce((a, b) => a + b.length, 0);
  t = performance.now();
  const bpe = trainBpe(remi, base, { vocabSize });
  const bpeTrainSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  let bpeTokens = 0;
  for (const ids of base) bpeTokens += bpe.encodeBase(ids).length;
  const bpeEncodeSeconds = (performance.now() - t) / 1000;
  return {
    files: scores.length,
    skipped,
    notes,
    baseTokens,
    readSeconds,
    remiEncodeSeconds,
    remiNotesPerSecond: notes / remiEncodeSeconds,
    bpeVocab: bpe.vocab.length,
    bpeTrainSeconds,
    bpeTokens,
    bpeEncodeSeconds,
    bpeTokensPerSecond: bpeTokens / bpeEncodeSeconds,
    bpeNotesPerSecond: notes / bpeEncodeSeconds,
    bpeReduction: 1 - bpeTokens / baseTokens,
  };
}
