/**
 * Several MIDI sources in one dataset, each with its own split and style: `tokenize --dataset A --dataset B=pop`.
 * An entry is `PATH[=STYLE]`, where PATH is
 *
 * - a MAESTRO root (with `maestro-v3.0.0.csv`): MAESTRO's own split, style `classical`;
 * - a CSV file listing MIDI files (paths relative to the CSV's folder) with their split: a `file`/`excerpt_file`/
 *   `midi_filename` column and a `split`/`inferred_split` column (`asap-excerpts.csv`, `asap-unmapped.csv` of
 *   `../shared/midi-corpus`), style `classical`;
 * - a folder of MIDI files: a split seeded by file (the `fractions`, default 0.9/0.05/0.05), style `pop` when the
 *   folder is named `pop909`, else the entry's `=STYLE` or `--style` or none;
 * - the `midi-corpus` root itself (a folder with `maestro-asap/maestro-v3.0.0/maestro-v3.0.0.csv`): its four sources,
 *   MAESTRO, the ASAP excerpts and unmapped performances, and POP909.
 *
 * With several sources each file's name is prefixed by its source's label (`maestro-v3.0.0/2004/….midi`), and a file
 * whose bytes equal an earlier one's (any source) is kept once. One plain entry lists exactly as before (`_sources.ts`).
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { dropDuplicateFiles, listSources, type SourceFile, type SourceListing } from "./_sources.ts";
import { parseCsv } from "./_csv.ts";
import { type Split, SPLITS } from "./maestro.ts";
import { type Style, STYLES } from "./conditioning.ts";
import { UsageError } from "../util/errors.ts";

/**
 * A source file with its style (undefined: unknown).
 *
 * @example
 * ```ts
 * import type { StyledSource } from "./sources.ts";
 * const f: StyledSource = { file: "pop909/001.mid", path: "../shared/midi-corpus/pop909/001.mid", split: "train", style: "pop" };
 * ```
 */
export interface StyledSource {
  /** Path relative to the dataset root (with `/`; with several sources, prefixed by the source's label). */
  file: string;
  /** Path to read it from. */
  path: string;
  /** The split it belongs to. */
  split: Split;
  /** The piece's style, from its source. */
  style?: Style;
}

/**
 * The listing of one or more sources.
 *
 * @example
 * ```ts ignore
 * import { listDatasetSources } from "./sources.ts";
 * const l = await listDatasetSources(["../shared/midi-corpus"], { seed: 0 });
 * console.log(l.sources.map((s) => `${s.label}: ${s.files} files (${s.style})`));
 * ```
 */
export interface DatasetListing {
  /** `maestro`/`folder` for one plain source (as before), `sources` for several or a CSV. */
  kind: "maestro" | "folder" | "sources";
  /** The MAESTRO metadata file (one MAESTRO source). */
  metadata?: string;
  /** Files found or listed, before de-duplication. */
  found: number;
  /** The files kept, training split first, by name within a split. */
  files: StyledSource[];
  /** Files not kept, and why (missing, duplicate). */
  skipped: { file: string; reason: string }[];
  /** Per source: its label, path, how it was split, its style and its files. */
  sources: { label: string; path: string; split: string; style?: Style; files: number }[];
}

const FILE_COLUMNS = ["file", "excerpt_file", "midi_filename"];
const SPLIT_COLUMNS = ["split", "inferred_split"];

function parseEntry(
  entry: string,
  defaultStyle: Style | undefined,
): { path: string; style?: Style; styled: boolean } {
  const eq = entry.lastIndexOf("=");
  if (eq < 0) return { path: entry.replace(/\/+$/, ""), style: defaultStyle, styled: false };
  const style = entry.slice(eq + 1);
  if (!(STYLES as readonly string[]).includes(style)) {
    throw new UsageError(
      `--dataset ${entry}: style: expected ${STYLES.join(" or ")}, got ${JSON.stringify(style)}`,
    );
  }
  return { path: entry.slice(0, eq).replace(/\/+$/, ""), style: style as Style, styled: true };
}

function isFile(p: string): boolean {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
}

/** Expands the `midi-corpus` root into its four sources; other entries unchanged. */
function expandCorpus(path: string): string[] | undefined {
  const m = join(path, "maestro-asap", "maestro-v3.0.0");
  if (!isFile(join(m, "maestro-v3.0.0.csv"))) return undefined;
  return [
    m,
    join(path, "maestro-asap", "asap-excerpts.csv"),
    join(path, "asap-unmapped", "asap-unmapped.csv"),
    join(path, "pop909"),
  ].filter((p) => isFile(p) || isFile(join(p, "maestro-v3.0.0.csv")) || dirExists(p));
}

function dirExists(p: string): boolean {
  try {
    return Deno.statSync(p).isDirectory;
  } catch {
    return false;
  }
}

async function listCsv(csv: string): Promise<{ files: SourceFile[]; skipped: SourceListing["skipped"] }> {
  const rows = parseCsv(await Deno.readTextFile(csv), csv);
  if (!rows.length) throw new Error(`${csv}: empty CSV`);
  const head = rows[0].fields;
  const fc = head.findIndex((h) => FILE_COLUMNS.includes(h)),
    sc = head.findIndex((h) => SPLIT_COLUMNS.includes(h));
  if (fc < 0 || sc < 0) {
    throw new Error(
      `${csv}: expected a ${FILE_COLUMNS.join("/")} column and a ${SPLIT_COLUMNS.join("/")} column`,
    );
  }
  const dir = dirname(csv);
  const files: SourceFile[] = [], skipped: SourceListing["skipped"] = [];
  for (const r of rows.slice(1)) {
    const file = r.fields[fc], split = r.fields[sc] as Split;
    if (!SPLITS.includes(split)) {
      throw new Error(`${csv}:${r.line}: split: expected ${SPLITS.join(", ")}, got ${JSON.stringify(split)}`);
    }
    const path = join(dir, file);
    if (isFile(path)) files.push({ file, path, split });
    else skipped.push({ file, reason: "listed in the CSV but missing" });
  }
  return { files, skipped };
}

/**
 * Lists the files of one or more dataset entries with their splits and styles (see the module doc). `style` is the
 * default style of a plain folder (`--style`).
 *
 * @example
 * ```ts ignore
 * import { listDatasetSources } from "./sources.ts";
 * const l = await listDatasetSources(["../shared/midi-corpus/maestro-asap/maestro-v3.0.0", "my-songs=pop"], { seed: 0 });
 * ```
 */
export async function listDatasetSources(
  entries: readonly string[],
  opts: { seed: number; fractions?: [number, number, number]; limit?: number; style?: Style },
): Promise<DatasetListing> {
  if (!entries.length) throw new UsageError("--dataset: expected at least one dataset");
  const parsed = entries.flatMap((e) => {
    const p = parseEntry(e, opts.style);
    const exp = isFile(p.path) ? undefined : expandCorpus(p.path);
    return exp ? exp.map((path) => ({ ...p, path, expanded: true })) : [{ ...p, expanded: false }];
  });
  // one plain folder or MAESTRO root: exactly the single-source listing
  if (parsed.length === 1 && !isFile(parsed[0].path) && !parsed[0].expanded) {
    const one = parsed[0];
    const l = await listSources(one.path, opts);
    const style = l.kind === "maestro" ? (one.styled ? one.style : "classical") : autoStyle(one);
    return {
      ...l,
      files: l.files.map((f) => ({ ...f, style })),
      sources: [{
        label: basename(one.path),
        path: one.path,
        split: splitMethod(l.kind),
        style,
        files: l.files.length,
      }],
    };
  }
  const labels = new Set<string>();
  const files: StyledSource[] = [];
  const skipped: SourceListing["skipped"] = [];
  const sources: DatasetListing["sources"] = [];
  let found = 0;
  for (const e of parsed) {
    let label = basename(e.path).replace(/\.csv$/, "");
    for (let k = 2; labels.has(label); k++) label = `${basename(e.path)}-${k}`;
    labels.add(label);
    let list: SourceFile[], method: string, style: Style | undefined;
    if (isFile(e.path)) {
      const r = await listCsv(e.path);
      list = r.files;
      skipped.push(...r.skipped.map((s) => ({ ...s, file: `${label}/${s.file}` })));
      method = "csv";
      style = e.styled ? e.style : "classical";
      found += r.files.length + r.skipped.length;
    } else {
      const l = await listSources(e.path, { seed: opts.seed, fractions: opts.fractions });
      list = l.files;
      skipped.push(...l.skipped.map((s) => ({ ...s, file: `${label}/${s.file}` })));
      method = splitMethod(l.kind);
      style = l.kind === "maestro" ? (e.styled ? e.style : "classical") : autoStyle(e);
      found += l.found;
    }
    for (const f of list) files.push({ ...f, file: `${label}/${f.file}`, style });
    sources.push({ label, path: e.path, split: method, style, files: list.length });
  }
  // the same bytes in two sources (or twice in a CSV) are one piece: keep the first
  let kept = dropDuplicateFiles(files, skipped);
  if (opts.limit !== undefined && opts.limit < kept.length) {
    // a proportional sample per split, as one source does (listSources' limit on the already-split files)
    kept = limitPerSplit(kept, opts.limit);
  }
  const order = (s: Split) => SPLITS.indexOf(s);
  kept.sort((a, b) => order(a.split) - order(b.split) || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return { kind: "sources", found, files: kept, skipped, sources };
}

function autoStyle(e: { path: string; style?: Style; styled: boolean }): Style | undefined {
  if (e.styled) return e.style;
  if (basename(e.path).toLowerCase() === "pop909") return "pop";
  return e.style;
}

function splitMethod(kind: SourceListing["kind"]): string {
  return kind === "maestro" ? "maestro-metadata" : "seeded-by-file";
}

/** Every k-th file of each split (deterministic, spread over the sources), about `limit` in all. */
function limitPerSplit(files: StyledSource[], limit: number): StyledSource[] {
  const out: StyledSource[] = [];
  for (const s of SPLITS) {
    const g = files.filter((f) => f.split === s).sort((a, b) => (a.file < b.file ? -1 : 1));
    const q = Math.max(g.length ? 1 : 0, Math.round(limit * g.length / files.length));
    for (let i = 0; i < q && i < g.length; i++) out.push(g[Math.floor(i * g.length / q)]);
  }
  return out;
}
