/**
 * MAESTRO v3: download (resumable, with a progress bar), sha256 verification, extraction with npm:fflate into a
 * temporary directory renamed into place, and the metadata CSV/JSON as typed records.
 *
 * @module
 */
import { basename, join } from "node:path";
import { Progress } from "../util/progress.ts";
import { exists } from "../util/fs.ts";
import { UsageError } from "../util/errors.ts";
import { downloadWithResume, sha256File } from "./_download.ts";
import { extractZip } from "./_zip.ts";
import { FetchError, removeStale } from "./_fs.ts";

export { FetchError } from "./_fs.ts";
import { parseCsv } from "./_csv.ts";

export { DownloadError } from "./_download.ts";

/** The official MAESTRO v3 MIDI zip. */
export const MAESTRO_URL =
  "https://storage.googleapis.com/magentadata/datasets/maestro/v3.0.0/maestro-v3.0.0-midi.zip";
/** Its sha256 (the checksum MusPy's loader uses). */
export const MAESTRO_SHA256 = "70470ee253295c8d2c71e6d9d4a815189e35c89624b76d22fce5a019d5dde12c";
/** Its size in bytes. */
export const MAESTRO_SIZE = 58_416_533;
/** The folder inside the zip. */
export const MAESTRO_DIR = "maestro-v3.0.0";
/** The marker written into an extracted dataset once it is verified and complete. */
export const FETCH_MARKER = ".etude-fetch.json";

/**
 * A MAESTRO split.
 *
 * @example
 * ```ts ignore
 * import { openShards } from "./shards.ts";
 * import { SPLITS } from "./maestro.ts";
 * const ds = await openShards("data/prepared/piano");
 * for (const split of SPLITS) console.log(split, ds.splits[split].length, "pieces");
 * ```
 */
export type Split = "train" | "validation" | "test";
/** The three splits, in file order. */
export const SPLITS: readonly Split[] = ["train", "validation", "test"];

/**
 * One row of `maestro-v3.0.0.csv`.
 *
 * @example
 * ```ts ignore
 * import { readMaestroMetadata } from "./maestro.ts";
 * const records = await readMaestroMetadata("data/maestro-v3.0.0");
 * const chopin = records.filter((r) => r.canonicalComposer.includes("Chopin") && r.split === "test");
 * console.log(chopin.length, chopin.reduce((s, r) => s + r.duration, 0) / 3600, "hours");
 * ```
 */
export interface MaestroRecord {
  /** Composer as MAESTRO normalises it (`Frédéric Chopin`). */
  canonicalComposer: string;
  /** Title of the work as MAESTRO normalises it. */
  canonicalTitle: string;
  /** The split MAESTRO assigns the performance to. */
  split: Split;
  /** Year of the competition the performance was recorded at (2004–2018). */
  year: number;
  /** Relative to the dataset root, e.g. `2018/MIDI-Unprocessed_….midi`. */
  midiFilename: string;
  /** The matching audio file (`….wav`), relative to the dataset root (not downloaded by etude). */
  audioFilename: string;
  /** Seconds. */
  duration: number;
}

const COLUMNS = [
  "canonical_composer",
  "canonical_title",
  "split",
  "year",
  "midi_filename",
  "audio_filename",
  "duration",
] as const;

function toRecord(get: (col: (typeof COLUMNS)[number]) => unknown, where: string): MaestroRecord {
  const str = (c: (typeof COLUMNS)[number]) => {
    const v = get(c);
    if (typeof v !== "string" && typeof v !== "number") {
      throw new FetchError(`${where}: missing field ${c}`);
    }
    return String(v);
  };
  const split = str("split");
  if (split !== "train" && split !== "validation" && split !== "test") {
    throw new FetchError(`${where}: split: expected train, validation or test, got ${JSON.stringify(split)}`);
  }
  const year = Number(str("year"));
  if (!Number.isInteger(year)) {
    throw new FetchError(`${where}: year: expected an integer, got ${str("year")}`);
  }
  const duration = Number(str("duration"));
  if (!Number.isFinite(duration) || duration < 0) {
    throw new FetchError(`${where}: duration: expected seconds >= 0, got ${str("duration")}`);
  }
  const midiFilename = str("midi_filename");
  if (!/\.midi?$/i.test(midiFilename)) {
    throw new FetchError(
      `${where}: midi_filename: expected a .midi path, got ${JSON.stringify(midiFilename)}`,
    );
  }
  return {
    canonicalComposer: str("canonical_composer"),
    canonicalTitle: str("canonical_title"),
    split,
    year,
    midiFilename,
    audioFilename: str("audio_filename"),
    duration,
  };
}

/**
 * Parses `maestro-v3.0.0.csv` text into records (columns found by header name, quoted fields honoured).
 *
 * @example
 * ```ts
 * import { parseMaestroCsv } from "./maestro.ts";
 * const rows = parseMaestroCsv(
 *   "canonical_composer,canonical_title,split,year,midi_filename,audio_filename,duration\n" +
 *     'Chopin,"Ballade No. 1, Op. 23",train,2004,2004/a.midi,2004/a.wav,12.5\n',
 * );
 * rows[0].canonicalTitle; // "Ballade No. 1, Op. 23"
 * ```
 */
export function parseMaestroCsv(text: string, source = "maestro-v3.0.0.csv"): MaestroRecord[] {
  const rows = parseCsv(text, source);
  if (rows.length === 0) throw new FetchError(`${source}: empty file`);
  const header = rows[0].fields.map((h) => h.trim());
  const idx = new Map(header.map((h, i) => [h, i]));
  for (const c of COLUMNS) {
    if (!idx.has(c)) throw new FetchError(`${source}:1: missing column ${c}`);
  }
  return rows.slice(1).map((r) => toRecord((c) => r.fields[idx.get(c)!], `${source}:${r.line}`));
}

/**
 * Parses `maestro-v3.0.0.json` (column-oriented: `{ column: { "0": value, … } }`) into records.
 *
 * @example
 * ```ts
 * import { parseMaestroJson } from "./maestro.ts";
 * const json = JSON.stringify({
 *   canonical_composer: { "0": "Bach" }, canonical_title: { "0": "Prelude" }, split: { "0": "test" },
 *   year: { "0": 2006 }, midi_filename: { "0": "2006/x.midi" }, audio_filename: { "0": "2006/x.wav" },
 *   duration: { "0": 61.2 },
 * });
 * parseMaestroJson(json)[0].year; // 2006
 * ```
 */
export function parseMaestroJson(text: string, source = "maestro-v3.0.0.json"): MaestroRecord[] {
  let obj: Record<string, Record<string, unknown>>;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new FetchError(`${source}: invalid JSON: ${(e as Error).message.split("\n")[0]}`);
  }
  const col = obj?.midi_filename;
  if (!col || typeof col !== "object") throw new FetchError(`${source}: missing column midi_filename`);
  const keys = Object.keys(col).sort((a, b) => Number(a) - Number(b));
  return keys.map((k) => toRecord((c) => obj[c]?.[k], `${source}: row ${k}`));
}

/**
 * Reads a MAESTRO root's metadata: `maestro-v3.0.0.csv` if present, else `maestro-v3.0.0.json` (any
 * `maestro-*.csv` / `.json` in the root is accepted, so other versions work too).
 *
 * @example
 * ```ts ignore
 * import { readMaestroMetadata } from "./maestro.ts";
 * const records = await readMaestroMetadata("data/maestro-v3.0.0");
 * records.filter((r) => r.split === "test").length; // 177
 * ```
 */
export async function readMaestroMetadata(root: string): Promise<MaestroRecord[]> {
  const path = await findMaestroMetadata(root);
  if (!path) throw new FetchError(`${root}: no maestro-*.csv or maestro-*.json metadata file`);
  const text = await Deno.readTextFile(path);
  return path.endsWith(".csv") ? parseMaestroCsv(text, path) : parseMaestroJson(text, path);
}

/**
 * The metadata file of a MAESTRO root (CSV preferred), or undefined when `root` is not a MAESTRO root.
 *
 * @example
 * ```ts ignore
 * import { findMaestroMetadata } from "./maestro.ts";
 * await findMaestroMetadata("data/maestro-v3.0.0"); // "data/maestro-v3.0.0/maestro-v3.0.0.csv"
 * ```
 */
export async function findMaestroMetadata(root: string): Promise<string | undefined> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(root)) if (e.isFile) names.push(e.name);
  } catch {
    return undefined;
  }
  names.sort();
  const pick = (ext: string) =>
    names.find((n) => n === `${MAESTRO_DIR}${ext}`) ??
      names.find((n) => /^maestro-v[\d.]+/.test(n) && n.endsWith(ext));
  const name = pick(".csv") ?? pick(".json");
  return name ? join(root, name) : undefined;
}

/**
 * Options for {@link fetchMaestro}.
 *
 * @example
 * ```ts ignore
 * import { fetchMaestro } from "./maestro.ts";
 * // an already downloaded zip, verified against the published checksum
 * await fetchMaestro({ out: "data", zip: "/tmp/maestro-v3.0.0-midi.zip", log: console.error });
 * ```
 */
export interface FetchMaestroOptions {
  /** Where the zip and the extracted dataset go (default `data`). */
  out?: string;
  /** Download URL (a mirror); default {@link MAESTRO_URL}. Not with `zip`. */
  url?: string;
  /** Use this already-downloaded zip instead of downloading. Not with `url`. */
  zip?: string;
  /** Expected sha256 (64 hex digits); default {@link MAESTRO_SHA256}; `null` or `"none"` skips verification. */
  sha256?: string | null;
  /** Show progress bars on stderr (default: when stderr is a terminal). */
  progress?: boolean;
  /** The fetch to use (default `globalThis.fetch`). */
  fetch?: typeof fetch;
  /** Status lines ("downloading…", "verified…"); default: none. */
  log?: (line: string) => void;
}

/**
 * What {@link fetchMaestro} did.
 *
 * @example
 * ```ts ignore
 * import { fetchMaestro } from "./maestro.ts";
 * const r = await fetchMaestro();
 * console.log(r.status === "present" ? `already in ${r.root}` : `${r.files} files extracted to ${r.root}`);
 * ```
 */
export interface FetchMaestroResult {
  /** `present`: a verified dataset was already there and nothing was done. */
  status: "present" | "extracted";
  /** The extracted dataset root, e.g. `data/maestro-v3.0.0`. */
  root: string;
  /** The zip used. */
  zip: string;
  /** Whether anything was downloaded in this call. */
  downloaded: boolean;
  /** Bytes kept from an earlier interrupted download. */
  resumedFrom: number;
  /** Files extracted (this call) or recorded in the marker (`present`). */
  files: number;
  /** The metadata records, when this call extracted. */
  records?: MaestroRecord[];
  /** The zip's sha256. */
  sha256: string;
}

interface Marker {
  sha256: string;
  source: string;
  files: number;
  records: number;
  extractedAt: string;
}

async function readMarker(root: string): Promise<Marker | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(join(root, FETCH_MARKER)));
  } catch {
    return undefined;
  }
}

/**
 * Downloads (resuming), verifies and extracts MAESTRO into `out`; a second call finds the marker and does nothing.
 * On a checksum mismatch the downloaded zip is deleted; on any failure the temporary extraction directory is removed,
 * so `out` never holds a half-extracted dataset.
 *
 * @example
 * ```ts ignore
 * import { fetchMaestro } from "./maestro.ts";
 * const r = await fetchMaestro({ out: "data" });
 * r.root; // "data/maestro-v3.0.0"
 * ```
 */
export async function fetchMaestro(opts: FetchMaestroOptions = {}): Promise<FetchMaestroResult> {
  const out = opts.out ?? "data";
  const url = opts.url ?? MAESTRO_URL;
  if (opts.url && opts.zip) throw new UsageError("--url and --zip exclude each other");
  const given = opts.sha256 === "none" ? null : opts.sha256;
  const expected = given === undefined ? MAESTRO_SHA256 : given?.toLowerCase() ?? null;
  if (expected !== null && !/^[0-9a-f]{64}$/.test(expected)) {
    throw new UsageError(`--sha256: expected 64 hex digits or "none", got ${JSON.stringify(opts.sha256)}`);
  }
  const log = opts.log ?? (() => {});
  const zipName = opts.zip ? basename(opts.zip) : basename(new URL(url).pathname) || "dataset.zip";
  const stem = zipName.replace(/-midi\.zip$|\.zip$/i, "");
  // Done before? The marker is written inside the temp dir before the rename, so it only exists when complete.
  for (const cand of [join(out, stem), join(out, MAESTRO_DIR)]) {
    const m = await readMarker(cand);
    if (m && (expected === null || m.sha256 === expected)) {
      log(`${cand} is already extracted and verified (sha256 ${m.sha256.slice(0, 12)}…); nothing to do`);
      return {
        status: "present",
        root: cand,
        zip: opts.zip ?? join(out, zipName),
        downloaded: false,
        resumedFrom: 0,
        files: m.files,
        sha256: m.sha256,
      };
    }
  }
  await Deno.mkdir(out, { recursive: true });
  await removeStale(out, /^\.etude-extract-[0-9a-f]{8}$/);
  let zipPath = opts.zip ?? join(out, zipName);
  let downloaded = false;
  let resumedFrom = 0;
  if (!opts.zip && !(await exists(zipPath))) {
    log(`downloading ${url}`);
    const bar = new Progress("download", MAESTRO_SIZE, { unit: "B", force: opts.progress });
    const r = await downloadWithResume(url, zipPath, {
      fetch: opts.fetch,
      onProgress: (done, total) => {
        if (Number.isFinite(total)) bar.total = total;
        bar.update(done);
      },
    });
    if (opts.progress !== false) bar.done();
    downloaded = true;
    resumedFrom = r.resumedFrom;
    if (r.restarted) log("the server did not honour the Range request; the download restarted from byte 0");
    else if (r.resumedFrom > 0) log(`resumed from byte ${r.resumedFrom}`);
  } else if (opts.zip && !(await exists(zipPath))) {
    throw new FetchError(`--zip ${zipPath}: no such file`);
  }
  const sha = await sha256File(zipPath);
  if (expected !== null && sha !== expected) {
    if (!opts.zip) await Deno.remove(zipPath).catch(() => {});
    throw new FetchError(
      `${zipPath}: sha256 ${sha} does not match the expected ${expected}` +
        (opts.zip ? "" : " (the download was deleted; run again to download it afresh)"),
    );
  }
  log(expected === null ? `sha256 ${sha} (not checked)` : `sha256 verified (${sha.slice(0, 12)}…)`);
  zipPath = opts.zip ?? zipPath;
  const tmp = join(out, `.etude-extract-${crypto.randomUUID().slice(0, 8)}`);
  try {
    const { files, top } = await extractZip(zipPath, tmp, { progress: opts.progress });
    const inner = top ? join(tmp, top) : tmp;
    const rootName = top ?? stem;
    const metaPath = await findMaestroMetadata(inner);
    if (!metaPath) throw new FetchError(`${zipPath}: no maestro-*.csv or maestro-*.json inside ${rootName}/`);
    const records = await readMaestroMetadata(inner);
    const missing: string[] = [];
    for (const r of records) if (!(await exists(join(inner, r.midiFilename)))) missing.push(r.midiFilename);
    if (missing.length) {
      throw new FetchError(
        `${zipPath}: ${missing.length} MIDI files named in ${basename(metaPath)} are missing, e.g. ${
          missing[0]
        }`,
      );
    }
    const marker: Marker = {
      sha256: sha,
      source: opts.zip ? zipPath : url,
      files,
      records: records.length,
      extractedAt: new Date().toISOString(),
    };
    await Deno.writeTextFile(join(inner, FETCH_MARKER), JSON.stringify(marker, null, 2) + "\n");
    const root = join(out, rootName);
    if (await exists(root)) {
      throw new FetchError(
        `${root} already exists but holds no verified fetch of this zip; remove it or choose another --out`,
      );
    }
    await Deno.rename(inner, root);
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    log(`extracted ${files} files into ${root} (${records.length} pieces in the metadata)`);
    return { status: "extracted", root, zip: zipPath, downloaded, resumedFrom, files, records, sha256: sha };
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
}

export { downloadWithResume, sha256File } from "./_download.ts";
export { extractZip } from "./_zip.ts";
