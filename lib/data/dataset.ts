/**
 * `tokenize`: a dataset (MAESTRO by its metadata, or any folder of MIDI files) → split → pitch-shift augmentation of
 * the training split → tokenise (both cores, in workers) → `data/prepared/<name>/{train,validation,test}.bin`,
 * `tokenizer.json`, `meta.json`, written into a temporary directory that is renamed into place.
 *
 * Order matters: the split is made first (by file, after de-duplication), augmentation touches only the training
 * split, a pitch-string vocabulary is what the (augmented) training split contains (other onsets encode as
 * `UNK_None`), and BPE merges are learned only on the training split's *unaugmented* pieces (as MidiTok trains its
 * BPE on the raw files before augmenting): transposed copies add little new structure to the merges and would
 * triple the BPE training time.
 *
 * @module
 */
import { join } from "node:path";
import { Progress } from "../util/progress.ts";
import type { Tokenizer, TokenizerKind } from "../tokenizers/tokenizer.ts";
import { PitchStringTokenizer, RemiTokenizer, tokenizerJsonText, trainBpe } from "../tokenizers/mod.ts";
import { REMI_PRESETS } from "../tokenizers/remi.ts";
import { type PackedScore, type ParseResult, unpackScore } from "./_jobs.ts";
import { WorkerPool } from "./_pool.ts";
import { mixSeed, mulberry32, shuffleInPlace } from "./_random.ts";
import { listSources, type SourceFile } from "./_sources.ts";
import { type Split, SPLITS } from "./maestro.ts";
import { removeStale } from "./_fs.ts";
import { dtypeFor, encodeShard, type ShardItem, type ShardMeta, type SplitMeta } from "./shards.ts";

/** Options for {@link prepareDataset}. */
export interface PrepareOptions {
  /** MAESTRO root (with its CSV/JSON) or any folder of .mid/.midi files (searched recursively). */
  dataset: string;
  /** Parent of the prepared directory (default `data/prepared`). */
  out?: string;
  /** Name of the prepared directory (default `<dataset folder>-<tokenizer>[-<vocab>]`). */
  name?: string;
  /** Tokenizer (default `remi-bpe`). */
  tokenizer?: TokenizerKind;
  /** BPE vocabulary size (default 1024). */
  vocab?: number;
  /**
   * REMI configuration by name, for `remi` and `remi-bpe` (default `default`, `DEFAULT_REMI_CONFIG`; `fradet` is
   * `FRADET_REMI_CONFIG`, the BPE paper's setting, and adds `-fradet` to the default name).
   */
  remiPreset?: keyof typeof REMI_PRESETS;
  /** Random shifts per training piece, or `all` for the 12 non-zero shifts in [−6, +6] (default 2; 0 = none). */
  shifts?: number | "all";
  /** Largest shift in semitones (default 6). */
  shiftRange?: number;
  /** Seed for the folder split, the shifts and `--limit` (default 0). */
  seed?: number;
  /** Worker threads (default 2; 0 runs everything on the main thread). */
  workers?: number;
  /** Use only this many files (a proportional sample of each split). */
  limit?: number;
  /** Train/validation/test shares for a plain folder (default 0.9/0.05/0.05). */
  fractions?: [number, number, number];
  /** Force progress bars even when stderr is not a terminal. */
  progress?: boolean;
  /** Status lines. */
  log?: (line: string) => void;
}

/** What {@link prepareDataset} wrote. */
export interface PrepareResult {
  dir: string;
  meta: ShardMeta;
  tokenizer: Tokenizer;
}

interface Piece {
  src: SourceFile;
  score: PackedScore;
  notes: number;
  shifts: number[];
}

/** The pitch range a tokenizer can encode: from its `Pitch_<n>` tokens, else 0–127. */
export function tokenizerPitchRange(tok: { vocab: readonly string[] }): [number, number] {
  let lo = 128, hi = -1;
  for (const name of tok.vocab) {
    const m = /^Pitch_(\d+)$/.exec(name);
    if (m) {
      lo = Math.min(lo, Number(m[1]));
      hi = Math.max(hi, Number(m[1]));
    }
  }
  return hi < 0 ? [0, 127] : [lo, hi];
}

/**
 * The shifts (ascending, without 0) kept for one training piece: `count` distinct random shifts in [−range, range]
 * (or all of them), seeded by (seed, file), minus those that push any in-range note out of `[lo, hi]`.
 *
 * @example
 * ```ts
 * import { chooseShifts } from "./dataset.ts";
 * const hist = new Uint32Array(128);
 * hist[60] = 5;
 * chooseShifts(hist, "a.mid", { count: "all", range: 6, seed: 0, pitchRange: [21, 108] }).kept.length; // 12
 * ```
 */
export function chooseShifts(
  hist: Uint32Array,
  file: string,
  o: { count: number | "all"; range: number; seed: number; pitchRange: [number, number] },
): { kept: number[]; dropped: number } {
  const cands: number[] = [];
  for (let s = -o.range; s <= o.range; s++) if (s !== 0) cands.push(s);
  const picked = o.count === "all"
    ? cands
    : shuffleInPlace([...cands], mulberry32(mixSeed(o.seed, "shift", file))).slice(0, o.count);
  const [lo, hi] = o.pitchRange;
  const inRange = (shift: number) => {
    let n = 0;
    for (let p = 0; p < 128; p++) if (hist[p] && p + shift >= lo && p + shift <= hi) n += hist[p];
    return n;
  };
  const base = inRange(0);
  const kept = picked.filter((s) => inRange(s) === base).sort((a, b) => a - b);
  return { kept, dropped: picked.length - kept.length };
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Prepares a dataset (see the module doc) and returns where it went.
 *
 * @example
 * ```ts ignore
 * import { prepareDataset } from "./dataset.ts";
 * const { dir, meta } = await prepareDataset({ dataset: "data/maestro-v3.0.0", tokenizer: "remi-bpe", vocab: 1024 });
 * meta.splits.train.tokens;
 * ```
 */
export async function prepareDataset(opts: PrepareOptions): Promise<PrepareResult> {
  const t0 = performance.now();
  const kind = opts.tokenizer ?? "remi-bpe";
  if (!["pitch", "remi", "remi-bpe"].includes(kind)) {
    throw new Error(`--tokenizer: expected pitch, remi or remi-bpe, got ${JSON.stringify(kind)}`);
  }
  const seed = opts.seed ?? 0;
  const vocab = opts.vocab ?? 1024;
  const shiftCount = opts.shifts ?? 2;
  const range = opts.shiftRange ?? 6;
  const workers = opts.workers ?? 2;
  const log = opts.log ?? (() => {});
  const root = opts.dataset.replace(/\/+$/, "");
  const preset = opts.remiPreset ?? "default";
  if (!Object.hasOwn(REMI_PRESETS, preset)) {
    throw new Error(
      `--remi-config: expected ${Object.keys(REMI_PRESETS).join(" or ")}, got ${JSON.stringify(preset)}`,
    );
  }
  if (kind === "pitch" && preset !== "default") {
    throw new Error("--remi-config applies to remi and remi-bpe only");
  }
  const name = opts.name ??
    `${root.split("/").pop() || "dataset"}-${kind}${kind === "remi-bpe" ? `-${vocab}` : ""}` +
      (preset === "default" ? "" : `-${preset}`);
  if (!/^[\w.+-]+$/.test(name)) {
    throw new Error(`--name: expected letters, digits, . _ + -, got ${JSON.stringify(name)}`);
  }
  const outRoot = opts.out ?? join("data", "prepared");

  const listing = await listSources(root, { seed, fractions: opts.fractions, limit: opts.limit });
  const skipped = [...listing.skipped];
  log(
    `${root}: ${listing.kind}, ${listing.files.length} files (${listing.skipped.length} skipped before parsing)`,
  );

  const pool = new WorkerPool(workers);
  try {
    // 1. Parse every file (in the workers).
    const bar = new Progress("parse", listing.files.length, { unit: "files", force: opts.progress });
    const parsed = await Promise.all(listing.files.map(async (f) => {
      const r = await pool.run<ParseResult>({ op: "parse", path: f.path });
      bar.tick();
      return r;
    }));
    bar.done();
    const parseSeconds = (performance.now() - t0) / 1000;
    const pieces: Piece[] = [];
    const hists: Uint32Array[] = [];
    parsed.forEach((r, i) => {
      const src = listing.files[i];
      if (!r.ok) skipped.push({ file: src.file, reason: r.reason });
      else {
        pieces.push({ src, score: r.score, notes: r.score.notes.length / 4, shifts: [] });
        hists.push(r.pitchHistogram);
      }
    });
    for (const s of SPLITS) {
      if (!pieces.some((p) => p.src.split === s)) log(`warning: the ${s} split has no pieces`);
    }

    // 2. Augmentation plan: shifts for training pieces only, within the tokenizer's pitch range.
    const remi = kind === "pitch" ? undefined : new RemiTokenizer(REMI_PRESETS[preset]);
    const pitchRange: [number, number] = remi ? tokenizerPitchRange(remi) : [0, 127];
    let dropped = 0;
    pieces.forEach((p, i) => {
      if (p.src.split !== "train" || shiftCount === 0) return;
      const c = chooseShifts(hists[i], p.src.file, { count: shiftCount, range, seed, pitchRange });
      p.shifts = c.kept;
      dropped += c.dropped;
    });

    // 3. The tokenizer.
    let tokenizer: Tokenizer;
    let bpeInfo: ShardMeta["tokenizer"]["bpe"];
    let bpeSeconds = 0;
    if (kind === "remi") tokenizer = remi!;
    else if (kind === "pitch") {
      // The vocabulary is what the training split (augmented) contains; unseen onsets elsewhere encode as UNK.
      const train = pieces.filter((p) => p.src.split === "train");
      tokenizer = PitchStringTokenizer.fromScores(
        (function* () {
          for (const p of train) for (const s of [0, ...p.shifts]) yield unpackScore(p.score, s);
        })(),
      );
    } else {
      const train = pieces.filter((p) => p.src.split === "train");
      const baseJson = tokenizerJsonText(remi!);
      const bbar = new Progress("bpe corpus", train.length, { unit: "pieces", force: opts.progress });
      const corpus = await Promise.all(train.map(async (p) => {
        const ids = await pool.run<Uint16Array>({
          op: "encode",
          tokenizer: baseJson,
          score: p.score,
          shift: 0,
          dtype: "uint16",
        });
        bbar.tick();
        return Array.from(ids);
      }));
      bbar.done();
      const baseTokens = corpus.reduce((a, c) => a + c.length, 0);
      log(`learning BPE to ${vocab} tokens on ${train.length} training pieces (${baseTokens} base tokens)…`);
      const tb = performance.now();
      tokenizer = trainBpe(remi!, corpus, { vocabSize: vocab });
      bpeSeconds = (performance.now() - tb) / 1000;
      log(`BPE learned in ${bpeSeconds.toFixed(1)} s: vocab ${tokenizer.vocab.length}`);
      bpeInfo = {
        trainedOn: "train split, unaugmented",
        pieces: train.length,
        baseTokens,
        vocabSize: tokenizer.vocab.length,
      };
    }
    const tokText = tokenizerJsonText(tokenizer);
    const dtype = dtypeFor(tokenizer.vocab.length);

    // 4. Encode every (piece, shift) in the workers.
    const jobs = pieces.flatMap((p) => [0, ...p.shifts].map((shift) => ({ p, shift })));
    const ebar = new Progress("encode", jobs.length, { unit: "pieces", force: opts.progress });
    const te = performance.now();
    const encoded = await Promise.all(jobs.map(async ({ p, shift }) => {
      const ids = await pool.run<Uint16Array | Uint32Array>({
        op: "encode",
        tokenizer: tokText,
        score: p.score,
        shift,
        dtype,
      });
      ebar.tick();
      return ids;
    }));
    ebar.done();
    const encodeSeconds = (performance.now() - te) / 1000;

    // 5. Shards and metadata.
    const splits = {} as Record<Split, SplitMeta>;
    const bins = {} as Record<Split, Uint8Array>;
    for (const split of SPLITS) {
      const items: ShardItem[] = [];
      const seqs: ArrayLike<number>[] = [];
      let offset = 0, notes = 0;
      const sources = new Set<string>();
      jobs.forEach((j, k) => {
        if (j.p.src.split !== split) return;
        const ids = encoded[k];
        items.push({
          source: j.p.src.file,
          shift: j.shift,
          offset,
          length: ids.length + 2,
          notes: j.p.notes,
        });
        seqs.push(ids);
        offset += ids.length + 2;
        notes += j.p.notes;
        sources.add(j.p.src.file);
      });
      bins[split] = encodeShard(seqs, dtype);
      splits[split] = {
        file: `${split}.bin`,
        pieces: items.length,
        sources: sources.size,
        tokens: offset,
        notes,
        items,
      };
    }
    const seconds = (performance.now() - t0) / 1000;
    const tokens = SPLITS.reduce((a, s) => a + splits[s].tokens, 0);
    const meta: ShardMeta = {
      format: "etude-shards",
      version: 1,
      name,
      createdAt: new Date().toISOString(),
      dtype,
      vocabSize: tokenizer.vocab.length,
      specialTokens: { pad: 0, bos: 1, eos: 2, mask: 3 },
      tokenizer: {
        kind,
        file: "tokenizer.json",
        sha256: await sha256Hex(new TextEncoder().encode(tokText)),
        bpe: bpeInfo,
      },
      dataset: {
        root,
        kind: listing.kind,
        metadata: listing.metadata,
        filesFound: listing.found,
        filesUsed: pieces.length,
        limit: opts.limit,
      },
      split: listing.kind === "maestro"
        ? { method: "maestro-metadata", seed }
        : { method: "seeded-by-file", seed, fractions: opts.fractions ?? [0.9, 0.05, 0.05] },
      augmentation: {
        kind: "pitch-shift",
        splits: ["train"],
        mode: shiftCount === 0 ? "none" : shiftCount === "all" ? "all" : "random",
        perPiece: shiftCount === "all" ? 2 * range : shiftCount,
        range,
        seed,
        pitchRange,
        applied: jobs.filter((j) => j.shift !== 0).length,
        skippedOutOfRange: dropped,
      },
      splits,
      skipped,
      stats: {
        seconds: round2(seconds),
        parseSeconds: round2(parseSeconds),
        bpeSeconds: round2(bpeSeconds),
        encodeSeconds: round2(encodeSeconds),
        workers,
        filesPerSecond: Math.round(listing.files.length / seconds * 10) / 10,
        tokensPerSecond: Math.round(tokens / encodeSeconds),
      },
    };
    const dir = await writePrepared(outRoot, name, {
      "train.bin": bins.train,
      "validation.bin": bins.validation,
      "test.bin": bins.test,
      "tokenizer.json": tokText,
      "meta.json": JSON.stringify(meta, null, 1) + "\n",
    });
    return { dir, meta, tokenizer };
  } finally {
    pool.close();
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** Writes all files into a temporary sibling directory, then swaps it in for `outRoot/name`. */
async function writePrepared(
  outRoot: string,
  name: string,
  files: Record<string, Uint8Array | string>,
): Promise<string> {
  await Deno.mkdir(outRoot, { recursive: true });
  const esc = name.replace(/[.+]/g, "\\$&");
  await removeStale(outRoot, new RegExp(`^\\.${esc}\\.(tmp|old)-[0-9a-f]{8}$`));
  const tag = crypto.randomUUID().slice(0, 8);
  const tmp = join(outRoot, `.${name}.tmp-${tag}`);
  const dir = join(outRoot, name);
  try {
    await Deno.mkdir(tmp);
    for (const [f, data] of Object.entries(files)) {
      if (typeof data === "string") await Deno.writeTextFile(join(tmp, f), data);
      else await Deno.writeFile(join(tmp, f), data);
    }
    let old: string | undefined;
    try {
      await Deno.lstat(dir);
      old = join(outRoot, `.${name}.old-${tag}`);
      await Deno.rename(dir, old);
    } catch { /* no previous version */ }
    await Deno.rename(tmp, dir);
    if (old) await Deno.remove(old, { recursive: true });
    return dir;
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
}
