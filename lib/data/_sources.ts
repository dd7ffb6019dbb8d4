/**
 * Finding a dataset's MIDI files and assigning splits: MAESTRO by its metadata, a plain folder by a seeded shuffle
 * of its files; identical files (same sha1) are kept once; `--limit` keeps a proportional sample of each split.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join, relative } from "node:path";
import { findMaestroMetadata, readMaestroMetadata, type Split, SPLITS } from "./maestro.ts";
import { mixSeed, mulberry32, shuffleInPlace } from "../util/rng.ts";
import { listMidiFiles } from "../util/fs.ts";

/** One source file and the split it belongs to. */
export interface SourceFile {
  /** Path relative to the dataset root (with `/`). */
  file: string;
  path: string;
  split: Split;
}

/** The listing of a dataset. */
export interface SourceListing {
  kind: "maestro" | "folder";
  metadata?: string;
  /** Files found (folder) or listed in the metadata (MAESTRO). */
  found: number;
  files: SourceFile[];
  skipped: { file: string; reason: string }[];
}

/**
 * Lists `root`'s MIDI files with their splits (see the module doc). `fractions` are train/validation/test shares
 * for a plain folder; a folder of ≥ 3 files always gets at least one validation and one test file.
 *
 * @example
 * ```ts ignore
 * import { listSources } from "./_sources.ts";
 * const l = await listSources("../shared/midi/piano-midi-de", { seed: 0 });
 * ```
 */
export async function listSources(
  root: string,
  opts: { seed: number; fractions?: [number, number, number]; limit?: number },
): Promise<SourceListing> {
  const skipped: SourceListing["skipped"] = [];
  let files: SourceFile[] = [];
  let kind: SourceListing["kind"] = "folder";
  const metadata = await findMaestroMetadata(root);
  let found = 0;
  if (metadata) {
    kind = "maestro";
    const records = await readMaestroMetadata(root);
    found = records.length;
    for (const r of records) {
      const path = join(root, r.midiFilename);
      try {
        Deno.statSync(path);
        files.push({ file: r.midiFilename, path, split: r.split });
      } catch {
        skipped.push({ file: r.midiFilename, reason: "listed in the metadata but missing" });
      }
    }
  } else {
    let st: Deno.FileInfo;
    try {
      st = Deno.statSync(root);
    } catch {
      throw new Error(`--dataset ${root}: no such directory`);
    }
    if (!st.isDirectory) throw new Error(`--dataset ${root}: not a directory`);
    const paths = listMidiFiles(root);
    found = paths.length;
    if (paths.length === 0) throw new Error(`--dataset ${root}: no .mid or .midi files`);
    files = paths.map((path) => ({ file: relative(root, path).split("\\").join("/"), path, split: "train" }));
  }
  // Identical files are one piece: keep the first (CSV order or path order), so no piece lands in two splits.
  files = dropDuplicateFiles(files, skipped);
  if (kind === "folder") assignSplits(files, opts.seed, opts.fractions ?? [0.9, 0.05, 0.05]);
  if (opts.limit !== undefined && opts.limit < files.length) files = limitFiles(files, opts.limit, opts.seed);
  const order = (s: Split) => SPLITS.indexOf(s);
  files.sort((a, b) => order(a.split) - order(b.split) || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return { kind, metadata, found, files, skipped };
}

function assignSplits(files: SourceFile[], seed: number, fr: [number, number, number]): void {
  const n = files.length;
  const idx = shuffleInPlace([...files.keys()], mulberry32(mixSeed(seed, "split")));
  let nVal = Math.round(n * fr[1]), nTest = Math.round(n * fr[2]);
  if (n >= 3) {
    if (fr[1] > 0) nVal = Math.max(1, nVal);
    if (fr[2] > 0) nTest = Math.max(1, nTest);
  }
  idx.forEach((i, k) => files[i].split = k < nVal ? "validation" : k < nVal + nTest ? "test" : "train");
}

function limitFiles(files: SourceFile[], limit: number, seed: number): SourceFile[] {
  const groups = SPLITS.map((s) => files.filter((f) => f.split === s));
  // Largest-remainder quotas, at least one per non-empty split when the limit allows.
  const quotas = groups.map((g) => Math.floor(limit * g.length / files.length));
  const nonEmpty = groups.map((g) => g.length > 0);
  if (limit >= nonEmpty.filter(Boolean).length) {
    quotas.forEach((q, i) => quotas[i] = nonEmpty[i] ? Math.max(1, q) : 0);
  }
  let left = limit - quotas.reduce((a, b) => a + b, 0);
  const rem = groups.map((g, i) => ({ i, r: limit * g.length / files.length - quotas[i] })).sort((a, b) =>
    b.r - a.r
  );
  for (const { i } of rem) {
    if (left <= 0) break;
    if (quotas[i] < groups[i].length) {
      quotas[i]++;
      left--;
    }
  }
  while (quotas.reduce((a, b) => a + b, 0) > limit) quotas[quotas.indexOf(Math.max(...quotas))]--;
  return groups.flatMap((g, i) =>
    shuffleInPlace([...g], mulberry32(mixSeed(seed, "limit", i))).slice(0, quotas[i])
  );
}

/**
 * The files whose bytes were not seen before (the first of identical files is kept, in the given order); each
 * dropped one is added to `skipped` as a duplicate of the kept one's name.
 *
 * @example
 * ```ts ignore
 * import { dropDuplicateFiles } from "./_sources.ts";
 * const skipped: { file: string; reason: string }[] = [];
 * const kept = dropDuplicateFiles([{ file: "a.mid", path: "/x/a.mid" }, { file: "b.mid", path: "/x/b.mid" }], skipped);
 * ```
 */
export function dropDuplicateFiles<F extends { file: string; path: string }>(
  files: F[],
  skipped: { file: string; reason: string }[],
): F[] {
  const seen = new Map<string, string>();
  return files.filter((f) => {
    const h = createHash("sha1").update(Deno.readFileSync(f.path)).digest("hex");
    const first = seen.get(h);
    if (first !== undefined) {
      skipped.push({ file: f.file, reason: `duplicate of ${first}` });
      return false;
    }
    seen.set(h, f.file);
    return true;
  });
}
