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
 * Pathological files are skipped and listed in `meta.json`'s `skipped` with the reason, next to the unreadable ones:
 * files the reader had to clip (a silence over its maximum gap, a piece past its maximum length: `ReadLimits`), and
 * for REMI ones over the token cap (`TokenLimitError`) or above `maxTokensPerNote` tokens per note.
 *
 * @module
 */
import { join } from "node:path";
import { Progress } from "../util/progress.ts";
import { UsageError } from "../util/errors.ts";
import {
  BOS_ID,
  EOS_ID,
  MASK_ID,
  PAD_ID,
  type Tokenizer,
  type TokenizerKind,
} from "../tokenizers/tokenizer.ts";
import {
  BpeTokenizer,
  loadTokenizer,
  PitchStringTokenizer,
  RemiTokenizer,
  tokenizerJsonText,
  trainBpe,
} from "../tokenizers/mod.ts";
import { REMI_PRESETS } from "../tokenizers/remi.ts";
import { type PackedScore, type ParseResult, unpackScore } from "./_jobs.ts";
import { DEFAULT_READ_LIMITS, MAX_SCORE_TICK, measureScore, readMidiDetailed } from "../midi/mod.ts";
import type { Score } from "../score.ts";
import { WorkerPool } from "./_pool.ts";
import { mixSeed, mulberry32, shuffleInPlace } from "../util/rng.ts";
import { sha256Hex } from "../util/hash.ts";
import { listDatasetSources, type StyledSource } from "./sources.ts";
import {
  CONDITIONING_TOKENS,
  conditioningIds,
  type ConditioningMeta,
  conditionTokens,
  type PieceFeatures,
  planConditions,
  STYLES,
} from "./conditioning.ts";
import { type Split, SPLITS } from "./maestro.ts";
import { removeStale } from "./_fs.ts";
import {
  decodeShard,
  dtypeFor,
  encodeShard,
  type ShardItem,
  type ShardMeta,
  type SplitMeta,
} from "./shards.ts";
import { buildCopyIndex, COPY_INDEX_BIN, COPY_INDEX_JSON, copyIndexFiles } from "./copy_index.ts";

/**
 * The most base tokens BPE learns its merges on by default (`bpeSampleTokens`).
 *
 * @example
 * ```ts
 * import { DEFAULT_BPE_SAMPLE_TOKENS } from "./dataset.ts";
 * DEFAULT_BPE_SAMPLE_TOKENS; // 8000000
 * ```
 */
export const DEFAULT_BPE_SAMPLE_TOKENS = 8_000_000;

/**
 * Options for {@link prepareDataset}.
 *
 * @example
 * ```ts ignore
 * import { prepareDataset } from "./dataset.ts";
 * // a folder of MIDI files, split 80/10/10 by file, each training piece also shifted by all 12 non-zero semitones
 * await prepareDataset({ dataset: "midi/", tokenizer: "remi", fractions: [0.8, 0.1, 0.1], shifts: "all", seed: 3 });
 * ```
 */
export interface PrepareOptions {
  /**
   * MAESTRO root (with its CSV/JSON) or any folder of .mid/.midi files (searched recursively); or several sources,
   * each `PATH[=STYLE]` (a MAESTRO root, a folder, a CSV with file and split columns, the `midi-corpus` root:
   * `./sources.ts`), prepared into one dataset.
   */
  dataset: string | readonly string[];
  /**
   * Lead every piece with its condition tokens (style, key, tempo class, density: `./conditioning.ts`) and add them
   * and the fill-in-the-middle sentinels to the vocabulary (`remi`, `remi-bpe`; default false: vocabulary and shards
   * exactly as without it).
   */
  conditioning?: boolean;
  /** Style of a plain folder's pieces (`classical` or `pop`; default: from the source, else none). */
  style?: "classical" | "pop";
  /** Parent of the prepared directory (default `data/prepared`). */
  out?: string;
  /** Name of the prepared directory (default `<dataset folder>-<tokenizer>[-<vocab>]`). */
  name?: string;
  /** Tokenizer (default `remi-bpe`). */
  tokenizer?: TokenizerKind;
  /** BPE vocabulary size (default 1024); `remi-bpe` only (a usage error with another tokenizer). */
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
  /**
   * BPE learns its merges on at most this many base tokens of the training split: whole pieces in a seeded order
   * until the sum reaches it (default `DEFAULT_BPE_SAMPLE_TOKENS`, 8M; 0 = all), as sentencepiece samples its
   * `input_sentence_size`. 1,024 merges are settled long before 8M tokens, and the cost of learning them stays
   * bounded however large the corpus (the full MAESTRO holds ≈ 25M).
   */
  bpeSampleTokens?: number;
  /** Train/validation/test shares for a plain folder (default 0.9/0.05/0.05). */
  fractions?: [number, number, number];
  /** Force progress bars even when stderr is not a terminal. */
  progress?: boolean;
  /** Status lines. */
  log?: (line: string) => void;
  /**
   * REMI pieces taking more than this many tokens per note (plus 64, so a piece of a few notes is not judged by its
   * first bar) are skipped as pathological (default 12, `DEFAULT_MAX_TOKENS_PER_NOTE`); `remi` and `remi-bpe` only.
   */
  maxTokensPerNote?: number;
  /**
   * Reuse a tokenizer instead of making one: a model directory (`models/default`), a prepared dataset or a
   * `tokenizer.json`. No BPE is learned; its `tokenizer.json` is copied byte for byte (a fine-tune's data must hash
   * like the model's) and `meta.json` records where it came from (`tokenizer.from`). Not with `tokenizer`, `vocab`
   * or `remiPreset` set to something else.
   */
  tokenizerFrom?: string;
}

/**
 * The default `maxTokensPerNote`: 12. Real music takes 3.5–4.5 REMI tokens per note (7 for a one-note file, over the
 * 2,208 readable files of the shared corpora); a piece far above that is mostly empty bars, which teach nothing but
 * fill the shards (issue 11: two such files made an 808 MB `train.bin`).
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_TOKENS_PER_NOTE } from "./dataset.ts";
 * DEFAULT_MAX_TOKENS_PER_NOTE; // 12
 * ```
 */
export const DEFAULT_MAX_TOKENS_PER_NOTE = 12;

/**
 * What {@link prepareDataset} wrote.
 *
 * @example
 * ```ts ignore
 * import { prepareDataset } from "./dataset.ts";
 * const { dir, meta, tokenizer } = await prepareDataset({ dataset: "data/maestro-v3.0.0", tokenizer: "remi-bpe" });
 * console.log(dir, meta.splits.train.tokens, tokenizer.vocab.length);
 * ```
 */
export interface PrepareResult {
  /** The dataset folder written (`<out>/<name>`). */
  dir: string;
  /** The `meta.json` written there. */
  meta: ShardMeta;
  /** The tokenizer the shards were made with (BPE merges learned here when `remi-bpe`). */
  tokenizer: Tokenizer;
}

interface Piece {
  src: StyledSource;
  score: PackedScore;
  notes: number;
  shifts: number[];
  /** What its condition tokens are measured from (`conditioning` only). */
  features?: PieceFeatures;
}

/**
 * Why a parsed piece is pathological, or undefined: the reader had to clip it (a silence over `maxGapSeconds`, a piece
 * past `maxSeconds` / `maxBars` / the largest tick: the file is read again with `onLimit: "refuse"` when its score
 * comes near a limit, and that error is the reason), or its REMI ids (`remiIds`, or the `TokenLimitError` message as
 * `remiError`) take more than `maxTokensPerNote` per note (+ 64).
 *
 * @example
 * ```ts ignore
 * import { pathologyOf } from "./dataset.ts";
 * import { readMidiFile } from "../midi/mod.ts";
 * import { RemiTokenizer } from "../tokenizers/remi.ts";
 * const score = await readMidiFile("song.mid");
 * const remiIds = new RemiTokenizer().encode(score);
 * const why = await pathologyOf("song.mid", score, { remiIds, maxTokensPerNote: 12 });
 * ```
 */
export async function pathologyOf(
  path: string,
  score: Score,
  o: { remiIds?: ArrayLike<number>; remiError?: string; maxTokensPerNote: number },
): Promise<string | undefined> {
  const m = measureScore(score);
  const L = DEFAULT_READ_LIMITS;
  if (
    m.longestSilence > L.maxGapSeconds / 2 || m.seconds > L.maxSeconds / 2 || m.bars > L.maxBars / 2 ||
    m.endTick > MAX_SCORE_TICK / 2
  ) {
    try {
      readMidiDetailed(await Deno.readFile(path), { onLimit: "refuse" });
    } catch (e) {
      return `over a read limit: ${String((e as Error)?.message ?? e).split("\n")[0]}`;
    }
  }
  if (o.remiError !== undefined) return o.remiError;
  const notes = score.notes.length;
  if (o.remiIds && o.remiIds.length > o.maxTokensPerNote * notes + 64) {
    return `${o.remiIds.length} REMI tokens for ${notes} note(s): more than ${o.maxTokensPerNote} per note ` +
      `(+ 64; PrepareOptions.maxTokensPerNote), mostly empty bars`;
  }
  return undefined;
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
  const reused = opts.tokenizerFrom === undefined
    ? undefined
    : await reuseTokenizer(opts.tokenizerFrom, opts);
  const kind = reused?.tokenizer.kind ?? opts.tokenizer ?? "remi-bpe";
  if (!["pitch", "remi", "remi-bpe"].includes(kind)) {
    throw new UsageError(`--tokenizer: expected pitch, remi or remi-bpe, got ${JSON.stringify(kind)}`);
  }
  if (opts.vocab !== undefined && kind !== "remi-bpe") {
    throw new UsageError("--vocab applies to remi-bpe only");
  }
  const seed = opts.seed ?? 0;
  const vocab = opts.vocab ?? 1024;
  const shiftCount = opts.shifts ?? 2;
  const range = opts.shiftRange ?? 6;
  const workers = opts.workers ?? 2;
  const log = opts.log ?? (() => {});
  const entries = typeof opts.dataset === "string" ? [opts.dataset] : [...opts.dataset];
  const root = entries.map((e) => e.replace(/=[^=/]*$/, "").replace(/\/+$/, "")).join(" ");
  const conditioning = opts.conditioning ?? false;
  if (conditioning && kind === "pitch") {
    throw new UsageError("--conditioning applies to remi and remi-bpe only");
  }
  if (conditioning && reused && !conditioningIds(reused.tokenizer.vocab)) {
    throw new UsageError(
      `--conditioning: ${reused.file} has no conditioning tokens (made without --conditioning)`,
    );
  }
  if (opts.style !== undefined && !(STYLES as readonly string[]).includes(opts.style)) {
    throw new UsageError(`--style: expected ${STYLES.join(" or ")}, got ${JSON.stringify(opts.style)}`);
  }
  const preset = opts.remiPreset ?? "default";
  if (!Object.hasOwn(REMI_PRESETS, preset)) {
    throw new UsageError(
      `--remi-config: expected ${Object.keys(REMI_PRESETS).join(" or ")}, got ${JSON.stringify(preset)}`,
    );
  }
  if (kind === "pitch" && preset !== "default") {
    throw new UsageError("--remi-config applies to remi and remi-bpe only");
  }
  // the REMI every piece is screened with (and, for BPE, the base its merges apply to)
  const remiBase = reused ? reused.remi : kind === "pitch" ? undefined : new RemiTokenizer(
    conditioning ? { ...REMI_PRESETS[preset], extraTokens: [...CONDITIONING_TOKENS] } : REMI_PRESETS[preset],
  );
  const base = entries.length === 1 ? root.split("/").pop() || "dataset" : "mixed";
  const name = opts.name ??
    (reused ? `${base}-from-${reused.label}` : `${base}-${kind}${kind === "remi-bpe" ? `-${vocab}` : ""}` +
      (preset === "default" ? "" : `-${preset}`) + (conditioning ? "-cond" : ""));
  if (!/^[\w.+-]+$/.test(name)) {
    throw new Error(`--name: expected letters, digits, . _ + -, got ${JSON.stringify(name)}`);
  }
  const outRoot = opts.out ?? join("data", "prepared");

  const listing = await listDatasetSources(entries, {
    seed,
    fractions: opts.fractions,
    limit: opts.limit,
    style: opts.style,
  });
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

    // 1b. Pathological files: ones the reader clipped, ones taking too many REMI tokens per note (each piece's REMI
    // ids, computed here in the workers, are kept for the BPE corpus and the `remi` shards).
    const baseIds = new Map<Piece, Uint16Array>();
    {
      const remiJson = remiBase ? tokenizerJsonText(remiBase) : undefined;
      const maxTokensPerNote = opts.maxTokensPerNote ?? DEFAULT_MAX_TOKENS_PER_NOTE;
      const sbar = new Progress("screen", pieces.length, { unit: "pieces", force: opts.progress });
      const reasons = await Promise.all(pieces.map(async (p) => {
        let remiError: string | undefined;
        if (remiJson) {
          try {
            const ids = await pool.run<Uint16Array>({
              op: "encode",
              tokenizer: remiJson,
              score: p.score,
              shift: 0,
              dtype: "uint16",
            });
            baseIds.set(p, ids);
          } catch (e) {
            remiError = String((e as Error)?.message ?? e).split("\n")[0];
          }
        }
        const why = await pathologyOf(p.src.path, unpackScore(p.score), {
          remiIds: baseIds.get(p),
          remiError,
          maxTokensPerNote,
        });
        sbar.tick();
        return why;
      }));
      sbar.done();
      const kept = reasons.map((why) => why === undefined);
      reasons.forEach((why, i) => {
        if (why !== undefined) {
          skipped.push({ file: pieces[i].src.file, reason: why });
          baseIds.delete(pieces[i]);
        }
      });
      const flagged = reasons.length - kept.filter(Boolean).length;
      if (flagged) log(`${flagged} pathological file(s) skipped (listed in meta.json "skipped")`);
      const keptHists = hists.filter((_, i) => kept[i]);
      const keptPieces = pieces.filter((_, i) => kept[i]);
      hists.splice(0, hists.length, ...keptHists);
      pieces.splice(0, pieces.length, ...keptPieces);
    }
    for (const s of SPLITS) {
      if (!pieces.some((p) => p.src.split === s)) log(`warning: the ${s} split has no pieces`);
    }

    // 2. Augmentation plan: shifts for training pieces only, within the tokenizer's pitch range.
    const remi = remiBase;
    const pitchRange: [number, number] = remi ? tokenizerPitchRange(remi) : [0, 127];
    let dropped = 0;
    pieces.forEach((p, i) => {
      if (p.src.split !== "train" || shiftCount === 0) return;
      const c = chooseShifts(hists[i], p.src.file, { count: shiftCount, range, seed, pitchRange });
      p.shifts = c.kept;
      dropped += c.dropped;
    });
    // 2b. Condition tokens (--conditioning): each piece measured, classes cut at the training split's tertiles.
    const plan = conditioning
      ? planConditions(pieces.map((p) => ({ score: unpackScore(p.score), train: p.src.split === "train" })))
      : undefined;
    if (plan) pieces.forEach((p, i) => p.features = plan.features[i]);

    // 3. The tokenizer.
    let tokenizer: Tokenizer;
    let bpeInfo: ShardMeta["tokenizer"]["bpe"];
    let bpeSeconds = 0;
    if (reused) {
      tokenizer = reused.tokenizer;
      log(`reusing ${reused.file} (${kind}, vocab ${tokenizer.vocab.length}): no new tokenizer`);
    } else if (kind === "remi") tokenizer = remi!;
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
      // The REMI ids of step 1b: all of them, or whole pieces in a seeded order up to the sample cap.
      const all = train.map((p) => baseIds.get(p)!);
      const baseTokens = all.reduce((a, c) => a + c.length, 0);
      const cap = opts.bpeSampleTokens ?? DEFAULT_BPE_SAMPLE_TOKENS;
      if (!(Number.isInteger(cap) && cap >= 0)) {
        throw new UsageError(`--bpe-sample: expected an integer >= 0 (0 = all), got ${cap}`);
      }
      let chosen = all;
      if (cap > 0 && baseTokens > cap) {
        const order = shuffleInPlace(all.map((_, i) => i), mulberry32(mixSeed(seed, "bpe-sample")));
        chosen = [];
        let n = 0;
        for (const i of order) {
          if (n >= cap) break;
          chosen.push(all[i]);
          n += all[i].length;
        }
      }
      const corpus = chosen.map((ids) => Array.from(ids));
      const sampled = corpus.reduce((a, c) => a + c.length, 0);
      log(
        `learning BPE to ${vocab} tokens on ${corpus.length} training pieces (${sampled} base tokens${
          sampled < baseTokens ? ` sampled of ${baseTokens}` : ""
        })…`,
      );
      const tb = performance.now();
      tokenizer = trainBpe(remi!, corpus, { vocabSize: vocab });
      bpeSeconds = (performance.now() - tb) / 1000;
      log(`BPE learned in ${bpeSeconds.toFixed(1)} s: vocab ${tokenizer.vocab.length}`);
      bpeInfo = {
        trainedOn: sampled < baseTokens
          ? `train split, unaugmented: ${corpus.length} of ${train.length} pieces in a seeded order, up to ${cap} base tokens`
          : "train split, unaugmented",
        pieces: corpus.length,
        baseTokens: sampled,
        vocabSize: tokenizer.vocab.length,
        trainBaseTokens: baseTokens,
        sampleCap: cap,
      };
    }
    // a reused tokenizer.json is copied byte for byte (its sha256 is the model's)
    const tokText = reused?.text ?? tokenizerJsonText(tokenizer);
    const dtype = dtypeFor(tokenizer.vocab.length);

    // 4. Encode every (piece, shift) in the workers.
    const jobs = pieces.flatMap((p) => [0, ...p.shifts].map((shift) => ({ p, shift })));
    const ebar = new Progress("encode", jobs.length, { unit: "pieces", force: opts.progress });
    const te = performance.now();
    const encoded = await Promise.all(jobs.map(async ({ p, shift }) => {
      if (kind === "remi" && shift === 0) {
        ebar.tick();
        return baseIds.get(p)!; // encoded in step 1b
      }
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

    // 5. Shards and metadata (with --conditioning, every piece is BOS, its four condition tokens, its music, EOS).
    const condIds = plan ? conditioningIds(tokenizer.vocab)! : undefined;
    const condCounts: Record<string, number> = {};
    const splits = {} as Record<Split, SplitMeta>;
    const bins = {} as Record<Split, Uint8Array>;
    for (const split of SPLITS) {
      const items: ShardItem[] = [];
      const seqs: ArrayLike<number>[] = [];
      let offset = 0, notes = 0;
      const sources = new Set<string>();
      jobs.forEach((j, k) => {
        if (j.p.src.split !== split) return;
        let ids: ArrayLike<number> = encoded[k];
        if (plan && condIds) {
          const names = conditionTokens(j.p.features!, { ...plan, style: j.p.src.style }, j.shift);
          for (const n of names) condCounts[n] = (condCounts[n] ?? 0) + 1;
          const withCond = new (encoded[k].constructor as Uint16ArrayConstructor)(ids.length + names.length);
          withCond.set(names.map((n) => condIds.byName.get(n)!));
          withCond.set(encoded[k], names.length);
          ids = withCond;
        }
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
      specialTokens: { pad: PAD_ID, bos: BOS_ID, eos: EOS_ID, mask: MASK_ID },
      tokenizer: {
        kind,
        file: "tokenizer.json",
        sha256: await sha256Hex(new TextEncoder().encode(tokText)),
        bpe: bpeInfo,
        ...(reused ? { from: reused.file } : {}),
      },
      dataset: {
        root,
        kind: listing.kind,
        metadata: listing.metadata,
        filesFound: listing.found,
        filesUsed: pieces.length,
        limit: opts.limit,
        ...(listing.kind === "sources" || entries.length > 1 || opts.style !== undefined || conditioning
          ? { sources: listing.sources }
          : {}),
      },
      split: listing.kind === "maestro"
        ? { method: "maestro-metadata", seed }
        : listing.kind === "sources"
        ? { method: "per-source", seed, fractions: opts.fractions ?? [0.9, 0.05, 0.05] }
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
      ...(plan
        ? {
          conditioning: {
            tokens: CONDITIONING_TOKENS,
            tempoBpm: plan.tempoBpm,
            notesPerBar: plan.notesPerBar,
            counts: condCounts,
          } satisfies ConditioningMeta,
        }
        : {}),
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
    // 6. The copy index of the training split (lib/data/copy_index.ts), shipped beside a model trained on it.
    const tc = performance.now();
    log(`building the copy index of ${splits.train.tokens.toLocaleString("en-US")} training tokens…`);
    const copy = copyIndexFiles(buildCopyIndex(decodeShard(bins.train, dtype), {
      vocabSize: tokenizer.vocab.length,
      pieces: splits.train.items,
      tokenizerSha256: meta.tokenizer.sha256,
      source: { dataset: name, file: splits.train.file },
    }));
    log(
      `copy index: ${(copy.bin.length / 1e6).toFixed(1)} MB in ${
        ((performance.now() - tc) / 1000).toFixed(1)
      } s`,
    );
    const dir = await writePrepared(outRoot, name, {
      "train.bin": bins.train,
      "validation.bin": bins.validation,
      "test.bin": bins.test,
      "tokenizer.json": tokText,
      "meta.json": JSON.stringify(meta, null, 1) + "\n",
      [COPY_INDEX_BIN]: copy.bin,
      [COPY_INDEX_JSON]: copy.json,
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

/**
 * Loads the tokenizer `--tokenizer-from` names (a directory with a `tokenizer.json`, or the file), keeping its exact
 * text; refuses options that would ask for another tokenizer.
 */
async function reuseTokenizer(
  from: string,
  opts: PrepareOptions,
): Promise<
  { tokenizer: Tokenizer; text: string; file: string; label: string; remi: RemiTokenizer | undefined }
> {
  let file = from.replace(/\/+$/, "");
  try {
    if ((await Deno.stat(file)).isDirectory) file = join(file, "tokenizer.json");
  } catch {
    throw new UsageError(`--tokenizer-from: ${from}: not found (a model directory such as models/default)`);
  }
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new UsageError(`--tokenizer-from: ${file}: cannot read (${(e as Error).message.split("\n")[0]})`);
  }
  let tokenizer: Tokenizer;
  try {
    tokenizer = loadTokenizer(text);
  } catch (e) {
    throw new UsageError(
      `--tokenizer-from: ${file}: ${(e as Error).message.replace(/^tokenizer\.json: /, "")}`,
    );
  }
  if (opts.tokenizer !== undefined && opts.tokenizer !== tokenizer.kind) {
    throw new UsageError(`--tokenizer ${opts.tokenizer}: ${file} is a ${tokenizer.kind} tokenizer`);
  }
  if (opts.vocab !== undefined) throw new UsageError(`--vocab: the vocabulary comes from ${file}`);
  if (opts.remiPreset !== undefined && opts.remiPreset !== "default") {
    throw new UsageError(`--remi-config: the REMI configuration comes from ${file}`);
  }
  const remi = tokenizer instanceof BpeTokenizer
    ? tokenizer.baseTokenizer
    : tokenizer instanceof RemiTokenizer
    ? tokenizer
    : undefined;
  const dir = file.endsWith("/tokenizer.json") ? file.slice(0, -"/tokenizer.json".length) : file;
  const label = (dir.split("/").pop() || "tokenizer").replace(/\.json$/, "").replace(/[^\w.+-]/g, "_");
  return { tokenizer, text, file, label, remi };
}
