/**
 * The incremental decoders (`Tokenizer.streamDecoder`): pushing ids in random splits gives, after every push, the
 * tempo map `decode` gives for that prefix, notes that concatenate to `decode(all).notes`, and `score()` equal to
 * `decode(all)`. Run on real pieces (well-formed ids) and on random ids (every token type in any order: tempo changes
 * replacing each other, positions going back, half-read notes across pushes).
 */
import { assert, assertEquals } from "../_assert.ts";
import { CORPUS, pianoCorpusFiles } from "../_corpus.ts";
import { readMidiFile } from "../../lib/midi/mod.ts";
import { type Note, type Score, sortNotes } from "../../lib/score.ts";
import { FRADET_REMI_CONFIG, RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import { trainBpe } from "../../lib/tokenizers/bpe.ts";
import { PitchStringTokenizer } from "../../lib/tokenizers/pitch_strings.ts";
import type { Tokenizer } from "../../lib/tokenizers/tokenizer.ts";

function rng(seed: number) {
  return () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
}

/** Pushes `ids` in random pieces (sizes 0–40) and checks the stream against `decode` of every prefix pushed. */
function checkStream(tok: Tokenizer, ids: number[], r: () => number, label: string) {
  const d = tok.streamDecoder();
  const streamed: Note[] = [];
  let prevTempos = d.tempos.map((t) => ({ ...t }));
  assertEquals(d.tempoChangedFrom(), d.tempos.length, `${label}: nothing changed before the first push`);
  for (let i = 0; i < ids.length;) {
    const n = Math.min(ids.length - i, Math.floor(r() * 41));
    streamed.push(...d.push(ids.slice(i, i + n)).map((x) => ({ ...x })));
    i += n;
    const ref = tok.decode(ids.slice(0, i));
    assertEquals(d.tempos, ref.tempos, `${label}: tempo map after ${i} ids`);
    assertEquals(d.ticksPerBeat, ref.ticksPerBeat);
    // tempoChangedFrom: every entry before it is unchanged since the previous push.
    const from = d.tempoChangedFrom();
    assert(from >= 0 && from <= d.tempos.length, `${label}: tempoChangedFrom ${from} out of range`);
    assertEquals(d.tempos.slice(0, from), prevTempos.slice(0, from), `${label}: entries before ${from} kept`);
    if (JSON.stringify(d.tempos) !== JSON.stringify(prevTempos)) {
      assert(from < d.tempos.length || d.tempos.length < prevTempos.length, `${label}: change reported`);
    }
    prevTempos = d.tempos.map((t) => ({ ...t }));
  }
  const full: Score = tok.decode(ids);
  assertEquals(sortNotes(streamed), full.notes, `${label}: streamed notes = decoded notes`);
  assertEquals(d.score(), full, `${label}: score()`);
}

function randomIds(r: () => number, vocab: number, length: number): number[] {
  return Array.from({ length }, () => Math.floor(r() * (vocab + 4)) - 2); // a few ids outside the vocabulary too
}

Deno.test("stream decoders: random splits of random ids equal decode of every prefix (REMI configs, BPE, pitch strings)", () => {
  const r = rng(7);
  const remis = [
    new RemiTokenizer(),
    new RemiTokenizer({ useChords: true, useRests: true }),
    new RemiTokenizer(FRADET_REMI_CONFIG),
  ];
  for (const [k, tok] of remis.entries()) {
    for (let i = 0; i < 40; i++) checkStream(tok, randomIds(r, tok.vocab.length, 300), r, `remi ${k} #${i}`);
  }
  // BPE on random "pieces": merges of frequent pairs, then random merged ids.
  const base = remis[0];
  const corpus = Array.from({ length: 30 }, () => {
    const s: number[] = [];
    for (let b = 0; b < 8; b++) {
      s.push(base.tokenId("Bar_None")!, base.tokenId(`Position_${Math.floor(r() * 4) * 8}`)!);
      for (let j = 0; j < 3; j++) {
        s.push(
          base.tokenId(`Pitch_${60 + Math.floor(r() * 5)}`)!,
          base.tokenId("Velocity_95")!,
          base.tokenId("Duration_1.0.8")!,
        );
      }
    }
    return s;
  });
  const bpe = trainBpe(base, corpus, { vocabSize: base.vocab.length + 40 });
  assert(bpe.merges.length > 10);
  for (let i = 0; i < 40; i++) checkStream(bpe, randomIds(r, bpe.vocab.length, 200), r, `bpe #${i}`);
  const pitch = new PitchStringTokenizer(["C4", "D4", "0.4.7", "2.5.9"]);
  for (let i = 0; i < 20; i++) checkStream(pitch, randomIds(r, pitch.vocab.length, 100), r, `pitch #${i}`);
});

Deno.test({
  name: "stream decoders: real pieces, REMI and REMI+BPE, pushed in random splits equal decode",
  ignore: !CORPUS,
  async fn() {
    const files = pianoCorpusFiles().slice(0, 6);
    const scores = await Promise.all(files.map((f) => readMidiFile(f)));
    const remi = new RemiTokenizer();
    const bpe = trainBpe(remi, scores, { vocabSize: 600 });
    const pitch = PitchStringTokenizer.fromScores(scores);
    const r = rng(11);
    for (const [i, s] of scores.entries()) {
      for (const tok of [remi, bpe, pitch]) {
        const ids = tok.encode(s).slice(0, 3000);
        assert(tok.decode(ids).notes.length > 50, `${files[i]}: a real piece`);
        checkStream(tok, ids, r, `${tok.kind} ${files[i]}`);
      }
    }
  },
});
