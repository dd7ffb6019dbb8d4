/**
 * Token shards on disk: `data/prepared/<name>/{train,validation,test}.bin` hold little-endian Uint16 ids (Uint32 when
 * the vocabulary has more than 65,536 entries), each piece written as `BOS ids… EOS`; `meta.json` says how (see
 * {@link ShardMeta}); `tokenizer.json` is the tokeniser that made them.
 *
 * @module
 */
import { join } from "node:path";
import { sha256Hex } from "../util/hash.ts";
import { BOS_ID, EOS_ID, type TokenizerJson, type TokenizerKind } from "../tokenizers/tokenizer.ts";
import type { Split } from "./maestro.ts";

// the special ids are the tokenizers' (re-exported: lib/data's users import them from here too)
export { BOS_ID, EOS_ID, MASK_ID, PAD_ID } from "../tokenizers/tokenizer.ts";

/**
 * Element type of a shard file.
 *
 * @example
 * ```ts
 * import { dtypeFor, type ShardDtype } from "./shards.ts";
 * const dtype: ShardDtype = dtypeFor(1024); // "uint16": 2 bytes per id
 * ```
 */
export type ShardDtype = "uint16" | "uint32";
/**
 * One piece's (or a whole shard's) ids.
 *
 * @example
 * ```ts
 * import { decodeShard, encodeShard, type TokenArray } from "./shards.ts";
 * const ids: TokenArray = decodeShard(encodeShard([[10, 11]], "uint16"), "uint16"); // Uint16Array [1, 10, 11, 2]
 * ```
 */
export type TokenArray = Uint16Array | Uint32Array;

/**
 * One piece in a shard: where it came from and where it lies in the file (in ids, BOS and EOS included).
 *
 * @example
 * ```ts ignore
 * import { openShards } from "./shards.ts";
 * const ds = await openShards("data/prepared/piano");
 * const [first] = ds.meta.splits.train.items;
 * console.log(first.source, first.shift, first.length); // the piece ds.splits.train[0]
 * ```
 */
export interface ShardItem {
  /** Source file, relative to the dataset root. */
  source: string;
  /** Pitch shift in semitones applied to the source (0 = original). */
  shift: number;
  /** Offset of the piece's BOS, in ids from the start of the file. */
  offset: number;
  /** Ids of the piece including BOS and EOS. */
  length: number;
  /** Notes in the (shifted) score that was encoded. */
  notes: number;
}

/**
 * Counts for one split.
 *
 * @example
 * ```ts ignore
 * import { openShards } from "./shards.ts";
 * const { meta } = await openShards("data/prepared/piano");
 * const v = meta.splits.validation;
 * console.log(`${v.file}: ${v.pieces} pieces from ${v.sources} files, ${v.tokens} ids, ${v.notes} notes`);
 * ```
 */
export interface SplitMeta {
  /** File name inside the prepared directory, e.g. `train.bin`. */
  file: string;
  /** Pieces in the file (augmented copies included). */
  pieces: number;
  /** Distinct source files (unaugmented pieces). */
  sources: number;
  /** Ids in the file (BOS/EOS included): file size = tokens × bytes per id. */
  tokens: number;
  /** Notes over all pieces in the file. */
  notes: number;
  /** Every piece in file order. */
  items: ShardItem[];
}

/**
 * The `meta.json` of a prepared dataset.
 *
 * @example
 * ```ts ignore
 * import type { ShardMeta } from "./shards.ts";
 * const meta: ShardMeta = JSON.parse(await Deno.readTextFile("data/prepared/piano/meta.json"));
 * console.log(meta.tokenizer.kind, meta.vocabSize, meta.augmentation.mode, meta.stats.tokensPerSecond);
 * ```
 */
export interface ShardMeta {
  /** Always `etude-shards`: what `openShards` checks first. */
  format: "etude-shards";
  /** Format version (1). */
  version: 1;
  /** The dataset's name: its folder under `data/prepared/`. */
  name: string;
  /** When it was prepared (ISO 8601, UTC). */
  createdAt: string;
  /** Element type of the `.bin` files (`uint32` only when the vocabulary exceeds 65,536). */
  dtype: ShardDtype;
  /** Entries in the tokenizer's vocabulary (every id is below it). */
  vocabSize: number;
  /** The special ids (0–3: PAD, BOS, EOS, MASK). */
  specialTokens: { pad: number; bos: number; eos: number; mask: number };
  /** The tokenizer that made the shards: its kind and the hash of its `tokenizer.json`. */
  tokenizer: {
    kind: TokenizerKind;
    file: "tokenizer.json";
    /** sha256 of the tokenizer.json bytes. */
    sha256: string;
    /** BPE only: what the merges were learned on. */
    bpe?: {
      trainedOn: string;
      pieces: number;
      /** Base tokens the merges were learned on. */
      baseTokens: number;
      vocabSize: number;
      /** Base tokens of the whole training split (more than `baseTokens` when BPE learned on a sample). */
      trainBaseTokens?: number;
      /** The sample cap in force (`--bpe-sample`; 0 = none). */
      sampleCap?: number;
    };
    /** The `tokenizer.json` copied unchanged (`tokenize --tokenizer-from`), when the tokenizer was reused. */
    from?: string;
  };
  /** Where the MIDI files came from and how many were used. */
  dataset: {
    root: string;
    /** `sources`: several sources (or a CSV), each with its own split and style (`./sources.ts`). */
    kind: "maestro" | "folder" | "sources";
    /** The metadata file that gave the split (MAESTRO only). */
    metadata?: string;
    /** MIDI files found (folder) or listed (MAESTRO). */
    filesFound: number;
    /** Files that became pieces. */
    filesUsed: number;
    /** `--limit` when given. */
    limit?: number;
    /** Per source: label, path, split method, style and files (several sources, a style or `--conditioning`). */
    sources?: { label: string; path: string; split: string; style?: string; files: number }[];
  };
  /** How files were split: MAESTRO's own split, or seeded by file with train/validation/test `fractions`. */
  split: {
    /** `per-source`: each source's own (MAESTRO metadata, a CSV's split column, seeded by file for a folder). */
    method: "maestro-metadata" | "seeded-by-file" | "per-source";
    seed: number;
    fractions?: [number, number, number];
  };
  /** Pitch-shift augmentation: settings (range in semitones, seed) and counts. */
  augmentation: {
    /** Always `pitch-shift` (transposition of whole pieces). */
    kind: "pitch-shift";
    /** The splits augmented (only `train`). */
    splits: Split[];
    /** `random`: `perPiece` distinct random shifts in [−range, +range] per piece; `all`: every non-zero shift. */
    mode: "none" | "random" | "all";
    /** Shifted copies per piece asked for (`2 × range` with `all`). */
    perPiece: number;
    /** Largest shift, in semitones. */
    range: number;
    /** Seed of the random shifts. */
    seed: number;
    /** Tokeniser pitch range that shifted notes must stay inside. */
    pitchRange: [number, number];
    /** Augmented pieces written. */
    applied: number;
    /** Shifts dropped because they pushed notes out of the pitch range. */
    skippedOutOfRange: number;
  };
  /**
   * `tokenize --conditioning`: the tokens added, the class thresholds (tempo in bpm, density in notes per bar) and
   * how many pieces carry each token (`./conditioning.ts`).
   */
  conditioning?: {
    tokens: readonly string[];
    tempoBpm: [number, number];
    notesPerBar: [number, number];
    counts: Record<string, number>;
  };
  /** Per split: its file and counts, and every piece in file order. */
  splits: Record<Split, SplitMeta>;
  /** Files that did not become pieces, with why (bad MIDI, duplicate, no notes, missing). */
  skipped: { file: string; reason: string }[];
  /** Wall-clock seconds in total and per phase (parse MIDI, learn BPE, encode), and throughput. */
  stats: {
    seconds: number;
    parseSeconds: number;
    bpeSeconds: number;
    encodeSeconds: number;
    workers: number;
    /** Files parsed per second of the whole run. */
    filesPerSecond: number;
    /** Ids (all splits) per second of the encode phase. */
    tokensPerSecond: number;
  };
}

/**
 * The element type a vocabulary needs.
 *
 * @example
 * ```ts
 * import { dtypeFor } from "./shards.ts";
 * dtypeFor(1024); // "uint16"
 * dtypeFor(70000); // "uint32"
 * ```
 */
export function dtypeFor(vocabSize: number): ShardDtype {
  return vocabSize > 65536 ? "uint32" : "uint16";
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Packs pieces into shard bytes: each piece as `BOS ids… EOS`, little-endian.
 *
 * @example
 * ```ts
 * import { encodeShard } from "./shards.ts";
 * encodeShard([[10, 11], [12]], "uint16").length; // (4 + 3) * 2 = 14
 * ```
 */
export function encodeShard(pieces: readonly ArrayLike<number>[], dtype: ShardDtype): Uint8Array {
  let n = 0;
  for (const p of pieces) n += p.length + 2;
  const max = dtype === "uint16" ? 0xffff : 0xffffffff;
  const out = dtype === "uint16" ? new Uint16Array(n) : new Uint32Array(n);
  let o = 0;
  for (const p of pieces) {
    out[o++] = BOS_ID;
    for (let i = 0; i < p.length; i++) {
      const id = p[i];
      if (!(id >= 0 && id <= max && Number.isInteger(id))) {
        throw new RangeError(`id ${id} does not fit ${dtype}`);
      }
      out[o++] = id;
    }
    out[o++] = EOS_ID;
  }
  const bytes = new Uint8Array(out.buffer);
  if (!LITTLE_ENDIAN) swapBytes(bytes, dtype === "uint16" ? 2 : 4);
  return bytes;
}

/**
 * Reads shard bytes back into ids.
 *
 * @example
 * ```ts
 * import { decodeShard, encodeShard } from "./shards.ts";
 * Array.from(decodeShard(encodeShard([[10, 11]], "uint16"), "uint16")); // [1, 10, 11, 2]
 * ```
 */
export function decodeShard(bytes: Uint8Array, dtype: ShardDtype): TokenArray {
  const size = dtype === "uint16" ? 2 : 4;
  if (bytes.length % size !== 0) {
    throw new RangeError(`shard of ${bytes.length} bytes is not a whole number of ${dtype} ids`);
  }
  const copy = bytes.slice(); // aligned, owned
  if (!LITTLE_ENDIAN) swapBytes(copy, size);
  return size === 2 ? new Uint16Array(copy.buffer) : new Uint32Array(copy.buffer);
}

function swapBytes(b: Uint8Array, size: number): void {
  for (let i = 0; i < b.length; i += size) b.subarray(i, i + size).reverse();
}

/**
 * Splits a shard's ids into pieces (views, each `BOS … EOS` inclusive). With `items` (from meta.json) it checks
 * each piece lies where the metadata says; without, it scans for BOS/EOS.
 *
 * @example
 * ```ts
 * import { decodeShard, encodeShard, splitPieces } from "./shards.ts";
 * const ids = decodeShard(encodeShard([[10, 11], [12]], "uint16"), "uint16");
 * splitPieces(ids).map((p) => Array.from(p)); // [[1, 10, 11, 2], [1, 12, 2]]
 * ```
 */
export function splitPieces(ids: TokenArray, items?: readonly ShardItem[]): TokenArray[] {
  const out: TokenArray[] = [];
  if (items) {
    let expect = 0;
    for (const it of items) {
      const p = ids.subarray(it.offset, it.offset + it.length);
      if (
        it.offset !== expect || p.length !== it.length || p.length < 2 || p[0] !== BOS_ID ||
        p[p.length - 1] !== EOS_ID
      ) {
        throw new RangeError(`piece ${it.source} (shift ${it.shift}) at ${it.offset} is not a BOS…EOS run`);
      }
      out.push(p);
      expect = it.offset + it.length;
    }
    if (expect !== ids.length) {
      throw new RangeError(`shard holds ${ids.length - expect} ids after the last piece`);
    }
    return out;
  }
  let start = -1;
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] === BOS_ID && start < 0) start = i;
    else if (ids[i] === EOS_ID && start >= 0) {
      out.push(ids.subarray(start, i + 1));
      start = -1;
    }
  }
  return out;
}

/**
 * A prepared dataset opened for training.
 *
 * @example
 * ```ts ignore
 * import { openShards } from "./shards.ts";
 * const ds = await openShards("data/prepared/piano");
 * const longest = Math.max(...ds.splits.train.map((p) => p.length));
 * console.log(ds.meta.name, ds.tokenizer.kind, ds.splits.train.length, "pieces, longest", longest, "ids");
 * ```
 */
export interface PreparedDataset {
  /** The folder it was opened from. */
  dir: string;
  /** Its `meta.json`. */
  meta: ShardMeta;
  /** Its `tokenizer.json` (the hash in `meta.tokenizer.sha256` checked). */
  tokenizer: TokenizerJson;
  /** Per split, the pieces in file order (each `BOS … EOS`, views into one array per split). */
  splits: Record<Split, TokenArray[]>;
}

/**
 * Opens `data/prepared/<name>`: reads meta.json, tokenizer.json and the three shards, checks the tokenizer hash
 * and every piece's position, and returns the pieces per split.
 *
 * @example
 * ```ts ignore
 * import { openShards } from "./shards.ts";
 * const ds = await openShards("data/prepared/maestro-remi-bpe-1024");
 * ds.splits.train.length; // pieces, augmented copies included
 * ```
 */
export async function openShards(dir: string): Promise<PreparedDataset> {
  const metaPath = join(dir, "meta.json");
  let meta: ShardMeta;
  try {
    meta = JSON.parse(await Deno.readTextFile(metaPath));
  } catch (e) {
    throw new Error(`${metaPath}: ${(e as Error).message.split("\n")[0]}`);
  }
  if (meta.format !== "etude-shards" || meta.version !== 1) {
    throw new Error(`${metaPath}: expected format etude-shards version 1`);
  }
  const tokBytes = await Deno.readFile(join(dir, "tokenizer.json"));
  const sha = await sha256Hex(tokBytes);
  if (sha !== meta.tokenizer.sha256) {
    throw new Error(
      `${join(dir, "tokenizer.json")}: sha256 ${sha} differs from meta.json's ${meta.tokenizer.sha256}`,
    );
  }
  const tokenizer = JSON.parse(new TextDecoder().decode(tokBytes)) as TokenizerJson;
  const splits = {} as Record<Split, TokenArray[]>;
  for (const split of ["train", "validation", "test"] as Split[]) {
    const sm = meta.splits[split];
    const path = join(dir, sm.file);
    const ids = decodeShard(await Deno.readFile(path), meta.dtype);
    if (ids.length !== sm.tokens) throw new Error(`${path}: ${ids.length} ids, meta.json says ${sm.tokens}`);
    try {
      splits[split] = splitPieces(ids, sm.items);
    } catch (e) {
      throw new Error(`${path}: ${(e as Error).message}`);
    }
  }
  return { dir, meta, tokenizer, splits };
}
