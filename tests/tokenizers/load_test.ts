import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import { join } from "node:path";
import { emptyScore, type Score } from "../../lib/score.ts";
import {
  loadTokenizer,
  loadTokenizerFile,
  PitchStringTokenizer,
  RemiTokenizer,
  saveTokenizer,
  type Tokenizer,
  tokenizerJsonText,
  trainBpe,
} from "../../lib/tokenizers/mod.ts";

function piece(): Score {
  const s = emptyScore(480);
  s.tempos = [{ tick: 0, bpm: 96 }, { tick: 3840, bpm: 70 }];
  s.timeSignatures = [{ tick: 0, numerator: 3, denominator: 4 }];
  const pitches = [60, 64, 67, 72, 62, 65, 69, 74, 59, 62, 67, 71];
  for (let i = 0; i < 96; i++) {
    s.notes.push({
      pitch: pitches[i % 12],
      velocity: 40 + (i * 7) % 80,
      start: i * 240,
      duration: 240 + (i % 3) * 120,
    });
    if (i % 6 === 0) s.notes.push({ pitch: 48, velocity: 70, start: i * 240, duration: 1440 });
  }
  s.notes.sort((a, b) => a.start - b.start || a.pitch - b.pitch);
  return s;
}

function all(): Tokenizer[] {
  const remi = new RemiTokenizer({ useChords: true, useRests: true });
  return [
    PitchStringTokenizer.fromScores([piece()]),
    remi,
    trainBpe(remi, [piece()], { vocabSize: remi.vocab.length + 40 }),
  ];
}

Deno.test("load: every kind round-trips through tokenizer.json and encodes/decodes identically", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const tok of all()) {
      const s = piece();
      const fromText = loadTokenizer(tokenizerJsonText(tok));
      const fromObj = loadTokenizer(JSON.parse(JSON.stringify(tok.toJSON())));
      const path = join(dir, `${tok.kind}.json`);
      await saveTokenizer(tok, path);
      const fromFile = await loadTokenizerFile(path);
      for (const t of [fromText, fromObj, fromFile]) {
        assertEquals(t.kind, tok.kind);
        assertEquals(t.vocab, tok.vocab);
        assertEquals(t.encode(s), tok.encode(s));
        assertEquals(t.decode(tok.encode(s)), tok.decode(tok.encode(s)));
        assertEquals(t.toJSON(), tok.toJSON());
      }
      assert(tok.encode(s).length > 0);
    }
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      "pitch.json",
      "remi-bpe.json",
      "remi.json",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("load: bad tokenizer.json gives one-line errors naming the field", async () => {
  const remi = new RemiTokenizer().toJSON();
  assertThrows(() => loadTokenizer("{not json"), /not valid JSON/);
  assertThrows(() => loadTokenizer({ ...remi, kind: "gpt" as never }), /kind: expected/);
  assertThrows(() => loadTokenizer({ ...remi, vocab: remi.vocab.slice(1) }), /vocab: 313 tokens/);
  assertThrows(
    () => loadTokenizer({ ...remi, config: { ...remi.config, beatRes: [[0, 4, 3]] } }),
    /vocab|beatRes/,
  );
  assertThrows(() => loadTokenizer({ kind: "remi-bpe", config: {}, vocab: [] }), /config\.base/);
  assertThrows(
    () => loadTokenizer({ kind: "pitch", config: {}, vocab: [...remi.vocab.slice(0, 4), "UNK_None", "X9"] }),
    /vocab\[5\]/,
  );
  await assertRejects(
    () => loadTokenizerFile("/nonexistent/tokenizer.json"),
    /nonexistent\/tokenizer\.json: cannot read/,
  );
});
