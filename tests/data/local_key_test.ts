/**
 * Window key labels (lib/data/local_key.ts): the pitch-class profile read from token ids equals the profile of the
 * notes the same ids decode to (REMI and BPE, written and real music), so the label is the Krumhansl estimate of the
 * window's own notes; the training transform relabels each window's key with that of its first bars (and leaves
 * `Key_none`, and everything with `keyBars: 0`, alone).
 */
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "../_assert.ts";
import { join } from "node:path";
import { CORPUS } from "../_corpus.ts";
import { emptyScore, type Score } from "../../lib/score.ts";
import { readMidiFile } from "../../lib/midi/mod.ts";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import { trainBpe } from "../../lib/tokenizers/bpe.ts";
import { BOS_ID, EOS_ID } from "../../lib/tokenizers/tokenizer.ts";
import { conditionIds, CONDITIONING_TOKENS, conditioningIds, keyToken } from "../../lib/data/conditioning.ts";
import { barStartTable, windowTransform } from "../../lib/data/fim.ts";
import { windowBatches } from "../../lib/data/windows.ts";
import { idsKey, idsPitchProfile, keyProfileTable, relabelKey } from "../../lib/data/local_key.ts";
import { estimateKey, keyName, parseKey, pitchClassProfile } from "../../lib/score/key.ts";

const remi = new RemiTokenizer({ extraTokens: [...CONDITIONING_TOKENS] });
const c = conditioningIds(remi.vocab)!;

const MAJOR = [0, 2, 4, 5, 7, 9, 11], MINOR = [0, 2, 3, 5, 7, 8, 11];

/** Eight bars in a key: scale runs over a held tonic–fifth bass every bar, varied durations. */
function inKey(tonic: number, mode: "major" | "minor", bars = 8, startBar = 0): Score {
  const s = emptyScore(480);
  const scale = mode === "major" ? MAJOR : MINOR;
  for (let b = startBar; b < startBar + bars; b++) {
    const t0 = b * 1920;
    s.notes.push({ pitch: 36 + tonic, velocity: 70, start: t0, duration: 1920 });
    s.notes.push({ pitch: 43 + tonic, velocity: 60, start: t0 + 960, duration: 960 });
    for (let i = 0; i < 8; i++) {
      const deg = (b * 3 + i * (b % 2 ? 2 : 1)) % 7;
      s.notes.push({
        pitch: 60 + tonic + scale[deg],
        velocity: 50 + 5 * i,
        start: t0 + i * 240,
        duration: 120 + (i % 3) * 120,
      });
    }
  }
  return s;
}

Deno.test("idsPitchProfile: the profile of the decoded notes, window by window (REMI and BPE)", async () => {
  const scores = [inKey(4, "minor", 16), inKey(10, "major", 12)];
  if (CORPUS) {
    scores.push(await readMidiFile(join(CORPUS, "piano-midi-de", "midis", "Chopin", "chpn-p7.mid")));
  }
  const bpe = trainBpe(remi, scores, { vocabSize: remi.vocab.length + 100 });
  for (const tok of [remi, bpe]) {
    const json = tok.toJSON();
    const t = keyProfileTable(json.vocab, json.merges);
    const isBar = barStartTable(json.vocab, json.merges);
    let windows = 0;
    for (const s of scores) {
      const ids = tok.encode(s);
      const bars = ids.flatMap((id, i) => isBar[id] ? [i] : []);
      for (let k = 0; k + 4 < bars.length; k += 3) {
        const from = bars[k], to = bars[k + 4];
        const notes = tok.decode(ids.slice(from, to));
        const want = pitchClassProfile(notes.notes, notes.ticksPerBeat);
        const got = idsPitchProfile(ids, t, from, to);
        for (let pc = 0; pc < 12; pc++) {
          assertAlmostEquals(got[pc], want[pc], 1e-9, `pc ${pc} of ids ${from}..${to}`);
        }
        assertEquals(
          keyName(idsKey(ids, t, from, to)!),
          keyName(estimateKey(notes.notes, notes.ticksPerBeat)),
        );
        windows++;
      }
    }
    assert(windows >= 6, `${windows} windows`);
  }
  assertEquals(idsKey([], keyProfileTable(remi.vocab)), undefined);
});

Deno.test("idsKey names the key music was written in", () => {
  const t = keyProfileTable(remi.vocab);
  for (const name of ["E minor", "Bb major", "C major", "F# minor", "Ab major"]) {
    const k = parseKey(name);
    assertEquals(keyName(idsKey(remi.encode(inKey(k.tonic, k.mode)), t)!), keyName(k), name);
  }
});

Deno.test("windowTransform: each window's key token becomes the key of its own notes", () => {
  // a piece labelled C major whose first 24 bars are in E minor and the next 24 in B-flat major
  const s = inKey(4, "minor", 24);
  s.notes.push(...inKey(10, "major", 24, 24).notes);
  const tok = trainBpe(remi, [s], { vocabSize: remi.vocab.length + 60 });
  const json = tok.toJSON();
  const ids = [BOS_ID, ...conditionIds(c, { style: "pop", key: "C major" }), ...tok.encode(s), EOS_ID];
  const keyAt = 2;
  assertEquals(tok.vocab[ids[keyAt]], "Key_C:maj");
  const noDrop = { seed: 3, fimRate: 0, conditionDropout: 0, conditionDropAll: 0 };
  const on = windowTransform(json, noDrop)!, off = windowTransform(json, { ...noDrop, keyBars: 0 })!;
  const seen = new Map<string, number>();
  for (const [i, b] of [...windowBatches([ids], { seqLen: 128, batchSize: 4, seed: 1 })].entries()) {
    const kept = b.tokens.slice();
    off(kept, b.rows, 0, i, { windows: b.windows, pieces: [ids] });
    on(b.tokens, b.rows, 0, i, { windows: b.windows, pieces: [ids] });
    const w = b.tokens.length / b.rows;
    for (let r = 0; r < b.rows; r++) {
      const row = b.tokens.subarray(r * w, (r + 1) * w), plain = kept.subarray(r * w, (r + 1) * w);
      assertEquals(tok.vocab[plain[keyAt]], "Key_C:maj");
      // only the key token differs
      for (let j = 0; j < w; j++) if (j !== keyAt) assertEquals(row[j], plain[j]);
      const name = tok.vocab[row[keyAt]];
      seen.set(name, (seen.get(name) ?? 0) + 1);
    }
  }
  // windows wholly in one half name that half's key; those across the change name one of the two
  assertEquals([...seen.keys()].sort(), ["Key_A#:maj", "Key_E:min"], JSON.stringify([...seen]));
  assertEquals(keyToken(parseKey("Bb major")), "Key_A#:maj");
});

Deno.test("relabelKey leaves Key_none, rows without BOS and rows without notes alone", () => {
  const t = keyProfileTable(remi.vocab);
  const music = remi.encode(inKey(7, "major", 2));
  const none = Int32Array.from([BOS_ID, ...conditionIds(c, {}), ...music]);
  assertEquals(relabelKey(none, none.length, c, t), false);
  const noBos = Int32Array.from([...conditionIds(c, { key: "C major" }), ...music]);
  assertEquals(relabelKey(noBos, noBos.length, c, t), false);
  const empty = Int32Array.from([
    BOS_ID,
    ...conditionIds(c, { key: "C major" }),
    remi.vocab.indexOf("Bar_None"),
  ]);
  assertEquals(relabelKey(empty, empty.length, c, t), false);
  const g = Int32Array.from([BOS_ID, ...conditionIds(c, { key: "C major" }), ...music]);
  assertEquals(relabelKey(g, g.length, c, t), true);
  assertEquals(remi.vocab[g[2]], "Key_G:maj");
  // a window cut short: only the ids before `len` count
  assertEquals(relabelKey(g, 6, c, t), false);
  // 8 bars of E minor, then 24 of B-flat major: the first 8 bars name the label, unless more are asked for
  const s = inKey(4, "minor", 8);
  s.notes.push(...inKey(10, "major", 24, 8).notes);
  const row = () => Int32Array.from([BOS_ID, ...conditionIds(c, { key: "C major" }), ...remi.encode(s)]);
  const r8 = row(), all = row(), r12 = row();
  relabelKey(r8, r8.length, c, t);
  relabelKey(all, all.length, c, t, Infinity);
  assertEquals([remi.vocab[r8[2]], remi.vocab[all[2]]], ["Key_E:min", "Key_A#:maj"]);
  // the profile stops at the 9th bar line: 8 bars read with bars = 8 are those of the first 8-bar excerpt alone
  const firstEight = remi.encode(inKey(4, "minor", 8));
  assertEquals(idsPitchProfile(r12, t, 5, r12.length, 8), idsPitchProfile(firstEight, t));
  assertThrows(() => windowTransform(remi.toJSON(), { seed: 1, keyBars: 1.5 }), RangeError, "keyBars");
});
