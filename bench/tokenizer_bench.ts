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

/**
 * The MAESTRO subset of `../shared/midi-corpus` (or `$ETUDE_MIDI_CORPUS2`), when present: its root and the hours of
 * its performances and of the full MAESTRO v3 (from the official CSV in `../shared/midi`), for projecting.
 *
 * @example
 * ```ts
 * import { findMaestroSubset } from "./tokenizer_bench.ts";
 * console.log(findMaestroSubset()?.root ?? "absent");
 * ```
 */
export function findMaestroSubset():
  | { root: string; hours: number; fileHours: Map<string, number>; fullHours?: number; fullFiles?: number }
  | undefined {
  const shared = join(fileURLToPath(new URL("../..", import.meta.url)), "shared");
  const base = Deno.env.get("ETUDE_MIDI_CORPUS2") ?? join(shared, "midi-corpus");
  const root = join(base, "maestro-asap", "maestro-v3.0.0");
  const hoursOf = (
    csv: string,
  ): { hours: number; files: number; fileHours: Map<string, number> } | undefined => {
    try {
      const lines = Deno.readTextFileSync(csv).trim().split("\n").slice(1);
      // midi_filename and duration are the last-but-one and last columns (titles may hold commas, inside quotes)
      const fileHours = new Map<string, number>();
      for (const l of lines) {
        const m = /,([^,]+\.midi?),[^,]*,([\d.]+)\s*$/.exec(l);
        if (m) fileHours.set(m[1], Number(m[2]) / 3600);
      }
      const hours = [...fileHours.values()].reduce((a, b) => a + b, 0);
      return { hours, files: lines.length, fileHours };
    } catch {
      return undefined;
    }
  };
  const sub = hoursOf(join(root, "maestro-v3.0.0.csv"));
  if (!sub) return undefined;
  const full = hoursOf(
    join(
      Deno.env.get("ETUDE_MIDI_CORPUS") ?? join(shared, "midi"),
      "maestro-v3-metadata",
      "maestro-v3.0.0.csv",
    ),
  );
  return { root, hours: sub.hours, fileHours: sub.fileHours, fullHours: full?.hours, fullFiles: full?.files };
}

/** CPU seconds (user + system, all threads) this process has used, from `/proc/self/stat`; undefined elsewhere. */
function cpuSeconds(): number | undefined {
  try {
    const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return undefined;
  }
}

/** What {@link maestroPrepare} measured. */
export interface MaestroPrepareResult {
  files: number;
  /** The source files used (MAESTRO's `midi_filename`s). */
  sources: string[];
  notes: number;
  tokens: number;
  /** Wall-clock seconds of the whole `prepareDataset` call and of each stage. */
  seconds: number;
  stages: Record<"list" | "parse" | "screen" | "bpe" | "encode" | "shards" | "copyIndex" | "write", number>;
  /** CPU seconds of the process over the call (all threads), when /proc is readable. */
  cpuSeconds?: number;
  /** CPU seconds used up to each progress line. */
  cpuMarks: { cpu?: number; line: string }[];
  workers: number;
  /** What BPE learned on: base tokens used, the training split's, and the sample cap (meta.json's record). */
  bpe?: { baseTokens: number; trainBaseTokens?: number; sampleCap?: number };
}

/**
 * Prepares `root` end to end exactly as `deno task tokenize --dataset root` does (list and split, parse, screen,
 * augment, BPE to 1,024, encode, shards, copy index, write) into a temporary folder, timing each stage from the
 * progress lines `prepareDataset` logs.
 *
 * @example
 * ```ts ignore
 * import { findMaestroSubset, maestroPrepare } from "./tokenizer_bench.ts";
 * const r = await maestroPrepare(findMaestroSubset()!.root, 2);
 * console.log(r.seconds, r.stages);
 * ```
 */
export async function maestroPrepare(
  root: string,
  workers = 2,
  limit?: number,
): Promise<MaestroPrepareResult> {
  const { prepareDataset } = await import("../lib/data/dataset.ts");
  const out = await Deno.makeTempDir({ prefix: "etude_bench_prep_" });
  const marks: { at: number; cpu?: number; line: string }[] = [];
  const c0 = cpuSeconds();
  const t0 = performance.now();
  try {
    const { meta } = await prepareDataset({
      dataset: root,
      out,
      workers,
      limit,
      log: (line) => marks.push({ at: performance.now(), cpu: cpuSeconds(), line }),
    });
    const end = performance.now(), c1 = cpuSeconds();
    const at = (re: RegExp) => (marks.find((m) => re.test(m.line))?.at ?? NaN) - t0;
    const listed = at(/ files \(\d+ skipped before parsing\)/) / 1000;
    const parse = meta.stats.parseSeconds;
    const bpeStart = at(/^learning BPE/) / 1000, bpe = meta.stats.bpeSeconds;
    const encode = meta.stats.encodeSeconds;
    const ciStart = at(/^building the copy index/) / 1000, ciEnd = at(/^copy index:/) / 1000;
    const seconds = (end - t0) / 1000;
    return {
      files: meta.dataset.filesUsed,
      sources: [...new Set(Object.values(meta.splits).flatMap((sp) => sp.items.map((it) => it.source)))],
      notes: SPLITS_OF(meta).notes,
      tokens: SPLITS_OF(meta).tokens,
      seconds,
      stages: {
        list: listed,
        parse: parse - listed,
        screen: bpeStart - parse,
        bpe,
        encode,
        shards: ciStart - (bpeStart + bpe + encode),
        copyIndex: ciEnd - ciStart,
        write: seconds - ciEnd,
      },
      cpuSeconds: c0 === undefined || c1 === undefined ? undefined : c1 - c0,
      cpuMarks: marks.map((m) => ({
        cpu: m.cpu === undefined || c0 === undefined ? undefined : m.cpu - c0,
        line: m.line,
      })),
      workers,
      bpe: meta.tokenizer.bpe,
    };
  } finally {
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
}

function SPLITS_OF(
  meta: { splits: Record<string, { notes: number; tokens: number }> },
): { notes: number; tokens: number } {
  let notes = 0, tokens = 0;
  for (const s of Object.values(meta.splits)) notes += s.notes, tokens += s.tokens;
  return { notes, tokens };
}

/**
 * The numbers `deno task bench`'s `tokenize-maestro` part reports: the MAESTRO subset prepared end to end with 2
 * workers (or `limit` files of it), the same without the copy index (read, split, augment, BPE, shards), and both
 * projected to the full MAESTRO v3 by its hours (the work of every stage grows with the notes, which grow with the
 * hours; the 1,276 files hold 6.9× the subset's hours, more than their 4.8× file count), except BPE learning, which
 * grows only up to its sample cap (`bpeSampleTokens`, 8M base tokens by default).
 *
 * @example
 * ```ts ignore
 * import { maestroPrepareNumbers } from "./tokenizer_bench.ts";
 * const n = await maestroPrepareNumbers(40);
 * console.log(n?.projectedSeconds);
 * ```
 */
export async function maestroPrepareNumbers(limit?: number): Promise<
  | {
    r: MaestroPrepareResult;
    hours: number;
    scale: number;
    /** The BPE stage's own scale: the hours' past the sample cap (`bpeSampleTokens`) no longer count. */
    bpeScale: number;
    shardsSeconds: number;
    projectedSeconds: number;
    projectedShardsSeconds: number;
    /**
     * From CPU time, for a loaded machine: the parallel stages' (parse and screen, encode) CPU seconds over 2 cores
     * plus the serial ones' (BPE training, copy index, writing) — the wall time with 2 idle cores — without and with
     * the copy index, projected like the others; undefined without /proc.
     */
    idleShardsSeconds?: number;
    projectedIdleShardsSeconds?: number;
    projectedIdleSeconds?: number;
    fullFiles: number;
  }
  | undefined
> {
  const m = findMaestroSubset();
  if (!m || m.fullHours === undefined) return undefined;
  const r = await maestroPrepare(m.root, 2, limit);
  const hours = r.sources.reduce((a, f) => a + (m.fileHours.get(f) ?? 0), 0);
  const scale = m.fullHours / hours;
  const shardsSeconds = r.seconds - r.stages.copyIndex;
  // Every stage grows with the hours, except BPE past its sample cap: it learns on min(scaled tokens, cap).
  const b = r.bpe, all = b?.trainBaseTokens ?? b?.baseTokens ?? 0, cap = b?.sampleCap ?? 0;
  const bpeScale = b && b.baseTokens > 0
    ? (cap > 0 ? Math.min(all * scale, cap) : all * scale) / b.baseTokens
    : scale;
  const project = (secs: number, bpeSecs: number) => (secs - bpeSecs) * scale + bpeSecs * bpeScale;
  const cpuAt = (re: RegExp) => r.cpuMarks.find((x) => re.test(x.line))?.cpu;
  const a = cpuAt(/^learning BPE/), bl = cpuAt(/^BPE learned/), c = cpuAt(/^building the copy index/);
  const d = cpuAt(/^copy index:/);
  let idleShardsSeconds: number | undefined, idleSeconds: number | undefined, bpeCpu: number | undefined;
  if (
    a !== undefined && bl !== undefined && c !== undefined && d !== undefined && r.cpuSeconds !== undefined
  ) {
    bpeCpu = bl - a;
    idleShardsSeconds = a / 2 + (bl - a) + (c - bl) / 2;
    idleSeconds = idleShardsSeconds + (d - c) + (r.cpuSeconds - d);
  }
  return {
    r,
    hours,
    scale,
    shardsSeconds,
    bpeScale,
    projectedSeconds: project(r.seconds, r.stages.bpe),
    projectedShardsSeconds: project(shardsSeconds, r.stages.bpe),
    idleShardsSeconds,
    projectedIdleShardsSeconds: idleShardsSeconds === undefined
      ? undefined
      : project(idleShardsSeconds, b !== undefined && bpeCpu !== undefined ? bpeCpu : 0),
    projectedIdleSeconds: idleSeconds === undefined
      ? undefined
      : project(idleSeconds, b !== undefined && bpeCpu !== undefined ? bpeCpu : 0),
    fullFiles: m.fullFiles ?? 1276,
  };
}
