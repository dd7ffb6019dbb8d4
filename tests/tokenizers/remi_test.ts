import { assert, assertEquals } from "../_assert.ts";
import { emptyScore, type Note, type Score } from "../../lib/score.ts";
import {
  DEFAULT_REMI_CONFIG,
  DEFAULT_TOKEN_CAP,
  RemiTokenizer,
  tokenCapFor,
  TokenLimitError,
} from "../../lib/tokenizers/remi.ts";
import { BpeTokenizer } from "../../lib/tokenizers/bpe.ts";
import { PitchStringTokenizer } from "../../lib/tokenizers/pitch_strings.ts";

const names = (tok: RemiTokenizer, ids: number[]) => ids.map((i) => tok.vocab[i]);
const note = (pitch: number, start: number, duration: number, velocity = 95): Note => ({
  pitch,
  velocity,
  start,
  duration,
});
function score(notes: Note[], extra: Partial<Score> = {}): Score {
  return { ...emptyScore(480), notes, ...extra };
}

Deno.test("remi: default vocabulary follows MidiTok's names and order", () => {
  const tok = new RemiTokenizer();
  assertEquals(tok.vocab.slice(0, 6), [
    "PAD_None",
    "BOS_None",
    "EOS_None",
    "MASK_None",
    "Bar_None",
    "Pitch_21",
  ]);
  assertEquals(tok.vocab.length, 314);
  const v = tok.vocab.filter((n) => n.startsWith("Velocity_")).map((n) => Number(n.slice(9)));
  assertEquals(v.slice(0, 4), [3, 7, 11, 15]);
  assertEquals(v.length, 32);
  assertEquals(v[31], 127);
  const d = tok.vocab.filter((n) => n.startsWith("Duration_"));
  assertEquals(d.length, 64);
  assertEquals([d[0], d[7], d[30], d[31], d[63]], [
    "Duration_0.1.8",
    "Duration_1.0.8",
    "Duration_3.7.8",
    "Duration_4.0.4",
    "Duration_12.0.4",
  ]);
  const t = tok.vocab.filter((n) => n.startsWith("Tempo_"));
  assertEquals([t.length, t[0], t[12], t[31]], [32, "Tempo_40.0", "Tempo_121.29", "Tempo_250.0"]);
  const full = new RemiTokenizer({ useChords: true, useRests: true });
  assert(full.vocab.includes("Chord_C:maj") && full.vocab.includes("Chord_B:9min"));
  assertEquals(full.vocab.filter((n) => n.startsWith("Chord_")).length, 168);
  assertEquals(full.vocab.filter((n) => n.startsWith("Rest_")).length, 32);
  assertEquals(full.vocab.length, 314 + 168 + 32);
});

Deno.test("remi: bars, positions, empty bars and durations", () => {
  const tok = new RemiTokenizer();
  const s = score([note(60, 0, 480), note(62, 720, 240), note(64, 8 * 480, 960)]);
  const ids = tok.encode(s);
  assertEquals(names(tok, ids), [
    "Bar_None",
    "Position_0",
    "TimeSig_4/4",
    "Tempo_121.29",
    "Pitch_60",
    "Velocity_95",
    "Duration_1.0.8",
    "Position_12",
    "Pitch_62",
    "Velocity_95",
    "Duration_0.4.8",
    "Bar_None",
    "Bar_None",
    "Position_0",
    "Pitch_64",
    "Velocity_95",
    "Duration_2.0.8",
  ]);
  const d = tok.decode(ids);
  assertEquals(d.notes, s.notes);
  assertEquals(d.tempos, [{ tick: 0, bpm: 121.29 }]);
  assertEquals(d.timeSignatures, [{ tick: 0, numerator: 4, denominator: 4 }]);
});

Deno.test("remi: snapping, binning, out-of-range pitches and duplicates", () => {
  const tok = new RemiTokenizer({ useTempos: false, useTimeSignatures: false });
  // 250 ticks = 4.17 positions → Position_4; velocity 50 → 51; 130 ticks ≈ 2.17 positions → Duration_0.2.8.
  const s = score([note(60, 250, 130, 50), note(60, 255, 400), note(10, 0, 480), note(120, 0, 480)], {
    ticksPerBeat: 480,
  });
  assertEquals(names(tok, tok.encode(s)), [
    "Bar_None",
    "Position_4",
    "Pitch_60",
    "Velocity_51",
    "Duration_0.2.8",
  ]);
  // 384 ticks per beat: 48 ticks per position; a 30-beat note is clamped to the longest bin.
  const s2 = score([note(70, 48 * 3, 384 * 30)], { ticksPerBeat: 384 });
  assertEquals(names(tok, tok.encode(s2)), [
    "Bar_None",
    "Position_3",
    "Pitch_70",
    "Velocity_95",
    "Duration_12.0.4",
  ]);
  assertEquals(tok.encode(score([])), []);
});

Deno.test("remi: chords (MidiTok detection: onsets within a position, intervals above the lowest note)", () => {
  const tok = new RemiTokenizer({ useChords: true, useTempos: false, useTimeSignatures: false });
  const triad = score([note(60, 0, 480), note(64, 0, 480), note(67, 0, 480)]);
  assertEquals(names(tok, tok.encode(triad)).slice(0, 4), [
    "Bar_None",
    "Position_0",
    "Chord_C:maj",
    "Pitch_60",
  ]);
  // A rolled D minor chord (one position apart) is still one chord, at the first onset.
  const rolled = score([note(62, 0, 480), note(65, 60, 420), note(69, 60, 420)]);
  const r = names(tok, tok.encode(rolled));
  assertEquals(r.filter((n) => n.startsWith("Chord_")), ["Chord_D:min"]);
  assertEquals(r.indexOf("Chord_D:min"), 2);
  // Second inversion (G3 C4 E4 = 0, 5, 9): not in the map, no chord; nor a dominant seventh with a long bass.
  const inv = score([note(55, 0, 480), note(60, 0, 480), note(64, 0, 480)]);
  assert(!names(tok, tok.encode(inv)).some((n) => n.startsWith("Chord_")));
  const ambiguous = score([note(55, 0, 1920), note(59, 0, 480), note(62, 0, 480), note(65, 0, 480)]);
  assert(!names(tok, tok.encode(ambiguous)).some((n) => n.startsWith("Chord_")));
  const seventh = score([note(55, 0, 480), note(59, 0, 480), note(62, 0, 480), note(65, 0, 480)]);
  assert(names(tok, tok.encode(seventh)).includes("Chord_G:7dom"));
  const noRoot = new RemiTokenizer({ useChords: true, chordRoots: false });
  assert(names(noRoot, noRoot.encode(triad)).includes("Chord_maj"));
  // Chord tokens carry no notes: decoding ignores them.
  assertEquals(tok.decode(tok.encode(triad)).notes, triad.notes);
});

Deno.test("remi: rests replace the time they span and decode to the same onsets", () => {
  const tok = new RemiTokenizer({ useRests: true, useTempos: false, useTimeSignatures: false });
  const s = score([note(60, 0, 480), note(62, 480 * 3.5, 480), note(64, 480 * 13, 480)]);
  const ids = tok.encode(s);
  assertEquals(names(tok, ids), [
    "Bar_None",
    "Position_0",
    "Pitch_60",
    "Velocity_95",
    "Duration_1.0.8",
    "Rest_2.1.2",
    "Position_28",
    "Pitch_62",
    "Velocity_95",
    "Duration_1.0.8",
    "Rest_8.1.2",
    "Position_8",
    "Pitch_64",
    "Velocity_95",
    "Duration_1.0.8",
  ]);
  assertEquals(tok.decode(ids).notes, s.notes);
});

Deno.test("remi: tempo tokens at the start and where the binned tempo changes", () => {
  const tok = new RemiTokenizer({ useTimeSignatures: false });
  const s = score([note(60, 0, 480), note(62, 480, 480), note(64, 1920, 480)], {
    tempos: [{ tick: 0, bpm: 120 }, { tick: 480, bpm: 121 }, { tick: 1920, bpm: 100 }, {
      tick: 1920,
      bpm: 60,
    }],
  });
  const n = names(tok, tok.encode(s));
  assertEquals(n.filter((x) => x.startsWith("Tempo_")), ["Tempo_121.29", "Tempo_60.32"]);
  assertEquals(n.slice(n.indexOf("Tempo_60.32") - 3, n.indexOf("Tempo_60.32") + 2), [
    "Duration_1.0.8",
    "Bar_None",
    "Position_0",
    "Tempo_60.32",
    "Pitch_64",
  ]);
  assertEquals(tok.decode(tok.encode(s)).tempos, [{ tick: 0, bpm: 121.29 }, { tick: 1920, bpm: 60.32 }]);
  // A tempo change with no note on it still gets its own time step.
  const t = score([note(60, 0, 480), note(62, 1920, 480)], {
    tempos: [{ tick: 0, bpm: 60 }, { tick: 960, bpm: 250 }],
  });
  assertEquals(names(tok, tok.encode(t)).slice(5, 10), [
    "Duration_1.0.8",
    "Position_16",
    "Tempo_250.0",
    "Bar_None",
    "Position_0",
  ]);
});

Deno.test("remi: time signatures 3/4 and a change to 6/8 set the bar length", () => {
  const tok = new RemiTokenizer({ useTempos: false });
  const s = score([note(60, 0, 480), note(62, 3 * 480, 480), note(64, 5 * 480, 480)], {
    timeSignatures: [{ tick: 0, numerator: 3, denominator: 4 }],
  });
  const ids = tok.encode(s);
  assertEquals(names(tok, ids).filter((x) => /^(Bar|Position|TimeSig)/.test(x)), [
    "Bar_None",
    "Position_0",
    "TimeSig_3/4",
    "Bar_None",
    "Position_0",
    "Position_16",
  ]);
  assertEquals(tok.decode(ids).notes, s.notes);
  assertEquals(tok.decode(ids).timeSignatures, [{ tick: 0, numerator: 3, denominator: 4 }]);

  const c = score([note(60, 0, 480), note(62, 1920 + 480, 480), note(64, 1920 + 1440, 480)], {
    timeSignatures: [{ tick: 0, numerator: 4, denominator: 4 }, { tick: 1920, numerator: 6, denominator: 8 }],
  });
  const cn = names(tok, tok.encode(c));
  assertEquals(cn.filter((x) => /^(Bar|Position|TimeSig)/.test(x)), [
    "Bar_None",
    "Position_0",
    "TimeSig_4/4",
    "Bar_None",
    "Position_0",
    "TimeSig_6/8",
    "Position_8",
    "Bar_None",
    "Position_0",
  ]);
  const d = tok.decode(tok.encode(c));
  assertEquals(d.notes, c.notes);
  assertEquals(d.timeSignatures, c.timeSignatures);
  // An unsupported meter counts as 4/4.
  const odd = score([note(60, 0, 480), note(62, 1920, 480)], {
    timeSignatures: [{ tick: 0, numerator: 17, denominator: 16 }],
  });
  assertEquals(names(tok, tok.encode(odd)).slice(0, 3), ["Bar_None", "Position_0", "TimeSig_4/4"]);
  assertEquals(tok.decode(tok.encode(odd)).notes, odd.notes);
});

/** Counts type transitions outside the graph, Positions that do not rise within a bar, and a start other than Bar. */
function grammarErrors(tok: RemiTokenizer, graph: Record<string, string[]>, ids: number[]): number {
  let errors = ids.length && tok.tokenType(ids[0]) !== "Bar" ? 1 : 0;
  let lastPos = -1;
  for (let i = 0; i < ids.length; i++) {
    const type = tok.tokenType(ids[i]);
    if (i > 0 && !graph[tok.tokenType(ids[i - 1])].includes(type)) errors++;
    if (type === "Bar") lastPos = -1;
    if (type === "Position") {
      const p = Number(tok.vocab[ids[i]].slice(9));
      if (p <= lastPos) errors++;
      lastPos = p;
    }
    if (type === "Rest") lastPos = -1; // rests may move to a later bar without a Bar token
  }
  return errors;
}

Deno.test("remi: every encoding follows the type graph (all options on)", () => {
  const tok = new RemiTokenizer({ useChords: true, useRests: true });
  const graph = tok.typeGraph();
  let seed = 5;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let k = 0; k < 20; k++) {
    const s = score([], {
      tempos: [{ tick: 0, bpm: 100 }, { tick: 5000, bpm: 150 }, { tick: 9000, bpm: 70 }],
      timeSignatures: [{ tick: 0, numerator: 3, denominator: 4 }, {
        tick: 1440 * 3,
        numerator: 6,
        denominator: 8,
      }],
    });
    let t = 0;
    for (let i = 0; i < 80; i++) {
      t += Math.floor(rand() * 4) * Math.floor(rand() * 3) * 240 + (rand() < 0.1 ? 4000 : 0);
      for (const p of [48, 60, 64, 67].filter(() => rand() < 0.6)) {
        s.notes.push(note(p, t, 120 + Math.floor(rand() * 900)));
      }
    }
    s.notes.sort((a, b) => a.start - b.start || a.pitch - b.pitch);
    const ids = tok.encode(s);
    assertEquals(grammarErrors(tok, graph, ids), 0, names(tok, ids).join(" "));
    const back = tok.decode(ids);
    assertEquals(back.notes.length, new Set(s.notes.map((n) => `${n.pitch}@${n.start}`)).size);
  }
});

Deno.test("remi: decode never throws on random ids and only yields valid notes", () => {
  const configs = [{}, { useChords: true, useRests: true }, { useTimeSignatures: false, useTempos: false }];
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (const cfg of configs) {
    const tok = new RemiTokenizer(cfg);
    let notes = 0;
    for (let k = 0; k < 30; k++) {
      const ids = Array.from({ length: 400 }, () => Math.floor(rand() * (tok.vocab.length + 10)) - 5);
      if (k === 0) ids.push(NaN, 1.5, Infinity);
      const s = tok.decode(ids, { ticksPerBeat: 96 });
      assertEquals(s.ticksPerBeat, 96);
      for (const n of s.notes) {
        assert(n.pitch >= 21 && n.pitch <= 108 && n.velocity >= 1 && n.velocity <= 127);
        assert(n.duration > 0 && n.start >= 0 && Number.isInteger(n.start) && Number.isInteger(n.duration));
      }
      notes += s.notes.length;
      assert(s.tempos.length >= 1 && s.timeSignatures.length >= 1);
    }
    assert(notes > 0, "random sequences should still produce some notes");
  }
});

Deno.test("remi: fromJSON rebuilds the same tokenizer and rejects a mismatched vocab", () => {
  const tok = new RemiTokenizer({ useChords: true, numVelocities: 16, pitchRange: [30, 90] });
  const json = JSON.parse(JSON.stringify(tok.toJSON()));
  const back = RemiTokenizer.fromJSON(json);
  assertEquals(back.vocab, tok.vocab);
  assertEquals(back.config, tok.config);
  json.vocab[10] = "Pitch_999";
  let msg = "";
  try {
    RemiTokenizer.fromJSON(json);
  } catch (e) {
    msg = (e as Error).message;
  }
  assert(msg.includes("vocab[10]"), msg);
  let msg2 = "";
  try {
    new RemiTokenizer({ numVelocities: 0 });
  } catch (e) {
    msg2 = (e as Error).message;
  }
  assert(msg2.includes("numVelocities"), msg2);
  assertEquals(DEFAULT_REMI_CONFIG.pitchRange, [21, 108]);
});

// ---- the token cap (issue 11) ----

Deno.test("remi: the token cap stops a long silence at 16 per note + 4,096 with a TokenLimitError naming it", () => {
  const tok = new RemiTokenizer();
  // Two notes 100,000 bars apart: one Bar per empty bar would be 100,000 tokens.
  const s = score([note(60, 0, 480), note(62, 480 * 4 * 100_000, 480)]);
  let err: unknown;
  try {
    tok.encode(s);
  } catch (e) {
    err = e;
  }
  assert(err instanceof TokenLimitError, String(err));
  assertEquals([err.cap, err.notes], [4128, 2]);
  assertEquals(
    err.message,
    "REMI: the piece needs more than 4128 tokens (the cap for 2 note(s): 16 per note + 4096, RemiTokenizer.tokenCap); " +
      "reached at bar 4123, 4122 empty bar(s) after the last note (a long silence or a very fast tempo)",
  );
  assertEquals(tokenCapFor(2), 4128);
  assertEquals(DEFAULT_TOKEN_CAP, { perNote: 16, base: 4096 });
  // The cap can be raised per tokenizer (it is not part of tokenizer.json) or per call; the encoding is then exact.
  const roomy = new RemiTokenizer();
  roomy.tokenCap = { perNote: 16, base: 200_000 };
  const ids = roomy.encode(s);
  assertEquals(ids.length, 100_001 + 6 + 4); // bars, Position TimeSig Tempo Pitch Velocity Duration, Position Pitch Velocity Duration
  assertEquals(tok.encode(s, { maxTokens: 200_000 }), ids);
  assertEquals(roomy.decode(ids).notes, s.notes);
  assertEquals(JSON.stringify(roomy.toJSON()), JSON.stringify(tok.toJSON()));
  // BPE encodes through the same cap, and only shortens.
  const bpe = new BpeTokenizer(tok, [[tok.tokenId("Pitch_60")!, tok.tokenId("Velocity_95")!]]);
  let bpeErr: unknown;
  try {
    bpe.encode(s);
  } catch (e) {
    bpeErr = e;
  }
  assert(bpeErr instanceof TokenLimitError);
  const merged = bpe.encode(s, { maxTokens: 200_000 });
  assertEquals(merged.length, ids.length - 1);
  assertEquals(bpe.decode(merged).notes, s.notes);
  // Pitch strings spend nothing on silence: one token per onset, never more than the notes.
  assertEquals(new PitchStringTokenizer(["C4", "D4"]).encode(s), [5, 6]);
});

Deno.test("remi: the cap also bounds rests, and a maxTokens below a piece's size refuses it", () => {
  const tok = new RemiTokenizer({ useRests: true });
  const s = score([note(60, 0, 480), note(62, 480 * 4 * 50_000, 480)]);
  let err: unknown;
  try {
    tok.encode(s);
  } catch (e) {
    err = e;
  }
  assert(err instanceof TokenLimitError && err.message.includes("more than 4128 tokens"), String(err));
  // An ordinary phrase: 8 notes over 2 bars, 36 tokens; refused at 20 with maxTokens, unchanged at 36.
  const phrase = score([60, 62, 64, 65, 67, 69, 71, 72].map((p, i) => note(p, i * 480, 480)));
  const plain = new RemiTokenizer().encode(phrase);
  assertEquals(plain.length, 36);
  assertEquals(new RemiTokenizer().encode(phrase, { maxTokens: 36 }), plain);
  let small: unknown;
  try {
    new RemiTokenizer().encode(phrase, { maxTokens: 20 });
  } catch (e) {
    small = e;
  }
  assert(small instanceof TokenLimitError && small.message.includes("more than 20 tokens (maxTokens)"));
});
