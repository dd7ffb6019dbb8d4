/**
 * The contract every `Tokenizer` keeps, as one suite run against each implementation (contract_test.ts calls
 * {@linkcode runTokenizerContract} once per tokenizer, like Hono's `router/common.case.test.ts` for its routers):
 *
 * - the vocabulary: ids dense from 0, names unique, `PAD_None BOS_None EOS_None MASK_None` at the ids the shards use;
 * - decoding an empty sequence gives a valid, empty score;
 * - encode → decode on real MIDI files (tests/testdata/midi, and a third of ../shared/midi when present) gives back exactly the
 *   notes the tokenizer's documented resolution says (the `resolution` it is given), with every id in the vocabulary,
 *   no special token, every encoding accepted by the generation grammar mask (lib/infer/grammar.ts), and BOS … EOS
 *   around it decoding the same;
 * - `toJSON` → `loadTokenizer` (object, text and file) gives the same tokenizer and the same encodings;
 * - decoding never throws on random (seeded) id sequences, in and out of the vocabulary, and returns a valid score
 *   (valid notes; tempo and meter maps in tick order, which ticksToSeconds and the MIDI writer rely on).
 *
 * @module
 */
import { assert, assertEquals } from "../_assert.ts";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CORPUS, walkFiles } from "../_corpus.ts";
import { readMidiFile } from "../../lib/midi/mod.ts";
import type { Score } from "../../lib/score.ts";
import type { Tokenizer } from "../../lib/tokenizers/tokenizer.ts";
import {
  loadTokenizer,
  loadTokenizerFile,
  saveTokenizer,
  tokenizerJsonText,
} from "../../lib/tokenizers/load.ts";
import { BOS_ID, EOS_ID, MASK_ID, PAD_ID } from "../../lib/data/shards.ts";
import { grammarErrors, grammarTables } from "../../lib/infer/grammar.ts";
import { Rng } from "../../lib/util/rng.ts";

/** A real MIDI file of the contract's corpus, read with `readMidiFile`'s defaults. */
export interface CorpusPiece {
  /** Path relative to the corpus folder it came from. */
  name: string;
  score: Score;
}

/**
 * A note that `decode(encode(score))` must hold: exactly this pitch and start (in the decoded score's ticks), one of
 * the allowed durations and velocities (more than one where the input lies halfway between two bins).
 */
export interface ExpectedNote {
  pitch: number;
  start: number;
  durations: readonly number[];
  velocities: readonly number[];
}

/** What a tokenizer promises beyond the common contract. */
export interface TokenizerContract<T extends Tokenizer> {
  /**
   * The notes `tok.decode(tok.encode(score))` gives back, from the tokenizer's documented resolution (grid, bins,
   * pitch range, what is merged or dropped). Compared with the decoded notes as a set keyed by start and pitch.
   */
  resolution(tok: T, score: Score): ExpectedNote[];
}

const TESTDATA = fileURLToPath(new URL("../testdata/midi", import.meta.url));

let corpus: Promise<CorpusPiece[]> | undefined;

/**
 * The real MIDI files of the contract: tests/testdata/midi, plus every third file of ../shared/midi when present;
 * files the reader rejects (the corrupt-file fixtures) are left out. Read once per process.
 *
 * @example
 * ```ts ignore
 * import { contractCorpus } from "./_contract.ts";
 * const pieces = await contractCorpus();
 * console.log(pieces.length, pieces[0].name);
 * ```
 */
export function contractCorpus(): Promise<CorpusPiece[]> {
  corpus ??= (async () => {
    const out: CorpusPiece[] = [];
    // All of tests/testdata/midi; every third file of the larger corpus (~160 files of every source and kind), which
    // keeps the five tokenizers' round trips to a few seconds.
    for (const [dir, every] of [[TESTDATA, 1], ...(CORPUS ? [[CORPUS, 3] as const] : [])] as const) {
      const files = walkFiles(dir).filter((f) => /\.midi?$/i.test(f)).filter((_, i) => i % every === 0);
      for (const f of files) {
        let score: Score;
        try {
          score = await readMidiFile(f);
        } catch {
          continue; // a broken file: tests/midi checks the errors
        }
        out.push({ name: f.slice(dir.length + 1), score });
      }
    }
    return out;
  })();
  return corpus;
}

/**
 * Throws unless `s` is a well-formed score: positive integer resolution; notes with integer MIDI pitch, velocity
 * 1–127, integer start ≥ 0 and duration ≥ 1, in canonical order; tempo and meter changes at integer ticks ≥ 0, in
 * tick order (unless `mapOrder: false`), with positive tempos and meters n/2^k.
 *
 * @example
 * ```ts ignore
 * import { assertValidScore } from "./_contract.ts";
 * import { emptyScore } from "../../lib/score.ts";
 * assertValidScore(emptyScore(480), "empty");
 * ```
 */
export function assertValidScore(s: Score, where: string, opts: { mapOrder?: boolean } = {}): void {
  const { mapOrder = true } = opts;
  const fail = (what: string) => {
    throw new Error(`${where}: ${what}`);
  };
  const int = (x: number) => Number.isInteger(x);
  if (!(int(s.ticksPerBeat) && s.ticksPerBeat > 0)) fail(`ticksPerBeat ${s.ticksPerBeat}`);
  let prev: Score["notes"][number] | undefined;
  for (const n of s.notes) {
    if (!(int(n.pitch) && n.pitch >= 0 && n.pitch <= 127)) fail(`pitch ${n.pitch}`);
    if (!(int(n.velocity) && n.velocity >= 1 && n.velocity <= 127)) fail(`velocity ${n.velocity}`);
    if (!(int(n.start) && n.start >= 0)) fail(`start ${n.start}`);
    if (!(int(n.duration) && n.duration >= 1)) fail(`duration ${n.duration}`);
    if (prev && (n.start < prev.start || (n.start === prev.start && n.pitch < prev.pitch))) {
      fail(`notes out of order at tick ${n.start}`);
    }
    prev = n;
  }
  let tick = 0;
  for (const t of s.tempos) {
    if (!(int(t.tick) && t.tick >= 0)) fail(`tempo change at tick ${t.tick}`);
    if (mapOrder && t.tick < tick) fail(`tempo change at tick ${t.tick} after one at tick ${tick}`);
    if (!(Number.isFinite(t.bpm) && t.bpm > 0)) fail(`tempo ${t.bpm} bpm`);
    tick = t.tick;
  }
  tick = 0;
  for (const t of s.timeSignatures) {
    if (!(int(t.tick) && t.tick >= 0)) fail(`time signature at tick ${t.tick}`);
    if (mapOrder && t.tick < tick) fail(`time signature at tick ${t.tick} after one at tick ${tick}`);
    const d = t.denominator;
    if (!(int(t.numerator) && t.numerator >= 1 && int(d) && d >= 1 && (d & (d - 1)) === 0)) {
      fail(`time signature ${t.numerator}/${d}`);
    }
    tick = t.tick;
  }
}

/** Differences between decoded notes and the expected ones. */
function compareNotes(expected: ExpectedNote[], decoded: Score["notes"]): string[] {
  const key = (n: { start: number; pitch: number }) => n.start * 128 + n.pitch;
  const want = new Map(expected.map((e) => [key(e), e]));
  const problems: string[] = [];
  if (want.size !== expected.length) problems.push("the resolution gave two notes with one start and pitch");
  const seen = new Set<number>();
  for (const n of decoded) {
    const k = key(n), e = want.get(k);
    if (seen.has(k)) problems.push(`pitch ${n.pitch} twice at tick ${n.start}`);
    seen.add(k);
    if (!e) problems.push(`unexpected ${JSON.stringify(n)}`);
    else if (!e.durations.includes(n.duration) || !e.velocities.includes(n.velocity)) {
      problems.push(`${JSON.stringify(n)}: expected duration ${e.durations} and velocity ${e.velocities}`);
    }
  }
  for (const e of expected) {
    if (!seen.has(key(e))) problems.push(`missing pitch ${e.pitch} at tick ${e.start}`);
  }
  return problems;
}

const SPECIALS: [string, number][] = [
  ["PAD_None", PAD_ID],
  ["BOS_None", BOS_ID],
  ["EOS_None", EOS_ID],
  ["MASK_None", MASK_ID],
];

/**
 * Registers the contract's tests for one tokenizer. `makeTokenizer` builds it from the corpus (tokenizers whose
 * vocabulary comes from data train on it); it is called once, on first use.
 *
 * @example
 * ```ts ignore
 * import { runTokenizerContract } from "./_contract.ts";
 * import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
 * runTokenizerContract("remi", () => new RemiTokenizer(), { resolution: (tok, score) => [] });
 * ```
 */
export function runTokenizerContract<T extends Tokenizer>(
  name: string,
  makeTokenizer: (corpus: readonly Score[]) => T,
  contract: TokenizerContract<T>,
): void {
  let made: Promise<T> | undefined;
  const tokenizer = () =>
    made ??= contractCorpus().then((pieces) => makeTokenizer(pieces.map((p) => p.score)));

  Deno.test(`tokenizer contract, ${name}: ids dense from 0, names unique, PAD/BOS/EOS/MASK at the shard ids`, async () => {
    const tok = await tokenizer();
    const n = tok.vocab.length;
    assert(n > SPECIALS.length, `vocabulary of ${n}`);
    assertEquals(Object.keys(tok.vocab).length, n, "no holes");
    for (let i = 0; i < n; i++) {
      assert(typeof tok.vocab[i] === "string" && tok.vocab[i].length > 0, `vocab[${i}] = ${tok.vocab[i]}`);
    }
    const dup = tok.vocab.filter((v, i) => tok.vocab.indexOf(v) !== i);
    assertEquals(dup, [], "duplicate names");
    for (const [special, id] of SPECIALS) assertEquals(tok.vocab[id], special, `id ${id}`);
    assertEquals(tok.toJSON().vocab, [...tok.vocab]);
  });

  Deno.test(`tokenizer contract, ${name}: decoding nothing, or only special tokens, gives a valid empty score`, async () => {
    const tok = await tokenizer();
    const empty = tok.decode([]);
    assertValidScore(empty, "decode([])");
    assertEquals(empty.notes, []);
    const specials = tok.decode(SPECIALS.map(([, id]) => id));
    assertValidScore(specials, "decode(specials)");
    assertEquals(specials.notes, []);
  });

  Deno.test(`tokenizer contract, ${name}: encode → decode on real MIDI files gives the notes of its resolution`, async () => {
    const tok = await tokenizer();
    const pieces = await contractCorpus();
    const grammar = grammarTables(tok.toJSON());
    const specialIds = new Set(SPECIALS.map(([, id]) => id));
    const failures: string[] = [];
    let notes = 0, tokens = 0;
    for (const [i, { name: file, score }] of pieces.entries()) {
      const ids = tok.encode(score);
      tokens += ids.length;
      const bad = ids.find((id) =>
        !(Number.isInteger(id) && id >= 0 && id < tok.vocab.length) || specialIds.has(id)
      );
      if (bad !== undefined) failures.push(`${file}: encode gave id ${bad}`);
      const g = grammarErrors(ids, grammar);
      if (g.type || g.time || g.dupn) failures.push(`${file}: grammar errors ${JSON.stringify(g)}`);
      const back = tok.decode(ids);
      assertValidScore(back, file);
      notes += back.notes.length;
      const problems = compareNotes(contract.resolution(tok, score), back.notes);
      if (problems.length) {
        failures.push(
          `${file}: ${problems.slice(0, 3).join("; ")}${
            problems.length > 3 ? ` (${problems.length} in all)` : ""
          }`,
        );
      }
      if (i % 8 === 0) {
        assertEquals(tok.decode([BOS_ID, ...ids, EOS_ID]), back, `${file}: BOS … EOS decodes the same`);
      }
    }
    assert(pieces.length >= 5 && notes > 0, `${pieces.length} files, ${notes} notes`);
    assertEquals(failures, [], `${failures.length} of ${pieces.length} files`);
    console.log(
      `${name}: ${pieces.length} files, ${tokens} tokens, ${notes} notes back as its resolution says`,
    );
  });

  Deno.test(`tokenizer contract, ${name}: toJSON → load (object, text, file) gives the same tokenizer and encodings`, async () => {
    const tok = await tokenizer();
    const dir = await Deno.makeTempDir({ prefix: "etude_contract_" });
    try {
      const path = join(dir, "tokenizer.json");
      await saveTokenizer(tok, path);
      const loaded = [
        loadTokenizer(JSON.parse(JSON.stringify(tok.toJSON()))),
        loadTokenizer(tokenizerJsonText(tok)),
        await loadTokenizerFile(path),
      ];
      for (const t of loaded) {
        assertEquals(t.kind, tok.kind);
        assertEquals(t.vocab, tok.vocab);
        assertEquals(t.toJSON(), tok.toJSON());
      }
      const fromFile = loaded[2];
      // Every 8th file (the round trip test encodes them all).
      for (const { name: file, score } of (await contractCorpus()).filter((_, i) => i % 8 === 0)) {
        const ids = tok.encode(score);
        assertEquals(fromFile.encode(score), ids, file);
        assertEquals(fromFile.decode(ids), tok.decode(ids), file);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  // Seeded random id sequences: uniform over the vocabulary, the last ten with ids outside it mixed in.
  const randomSequences = (n: number): number[][] => {
    const rng = new Rng(2024);
    return Array.from({ length: 40 }, (_, k) => {
      const ids = Array.from({ length: 400 }, () => rng.int(n));
      if (k >= 30) {
        // Negative, past the end, not integers.
        for (let i = 0; i < 20; i++) {
          ids[rng.int(ids.length)] = [-1, n, n + 7, 1.5, NaN, Infinity][rng.int(6)];
        }
      }
      return ids;
    });
  };

  Deno.test(`tokenizer contract, ${name}: decode never throws on random id sequences and gives valid notes`, async () => {
    const tok = await tokenizer();
    let notes = 0;
    for (const [k, ids] of randomSequences(tok.vocab.length).entries()) {
      const s = tok.decode(ids);
      assertValidScore(s, `random sequence ${k}`, { mapOrder: false });
      notes += s.notes.length;
    }
    assert(notes > 0, "random sequences still give some notes");
  });

  Deno.test(`tokenizer contract, ${name}: decoded tempo and meter maps are in tick order, even from random ids`, async () => {
    const tok = await tokenizer();
    for (const [k, ids] of randomSequences(tok.vocab.length).entries()) {
      assertValidScore(tok.decode(ids), `random sequence ${k}`);
    }
  });
}
