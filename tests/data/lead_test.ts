/**
 * The lead repeated per window (lib/data/lead.ts): every window drawn after a conditioned piece's start begins with
 * its `BOS` and condition tokens and then a bar line; the ids after the lead are the piece's own, contiguous; no id
 * of the piece is left out of every window; pieces without a lead and windows at the start are unchanged; the
 * training transform applies it only when given the windows' positions.
 */
import { assert, assertEquals } from "../_assert.ts";
import { emptyScore } from "../../lib/score.ts";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import { trainBpe } from "../../lib/tokenizers/bpe.ts";
import { BOS_ID, EOS_ID, PAD_ID } from "../../lib/tokenizers/tokenizer.ts";
import { conditionIds, CONDITIONING_TOKENS, conditioningIds } from "../../lib/data/conditioning.ts";
import { barStartTable, windowTransform } from "../../lib/data/fim.ts";
import { leadLength, withLead } from "../../lib/data/lead.ts";
import { windowBatches } from "../../lib/data/windows.ts";

const remi = new RemiTokenizer({ extraTokens: [...CONDITIONING_TOKENS] });
const c = conditioningIds(remi.vocab)!;

function piece(): { tok: ReturnType<typeof trainBpe>; ids: number[] } {
  const s = emptyScore(480);
  for (let i = 0; i < 1200; i++) {
    s.notes.push({
      pitch: 48 + (i * 5) % 36,
      velocity: 50 + i % 50,
      start: i * 240,
      duration: 240 + (i % 4) * 120,
    });
  }
  const tok = trainBpe(remi, [s], { vocabSize: remi.vocab.length + 60 });
  const cond = conditionIds(c, { style: "pop", key: "A minor", tempo: "slow", density: "high" });
  return { tok, ids: [BOS_ID, ...cond, ...tok.encode(s), EOS_ID] };
}

Deno.test("withLead: every later window starts BOS, conditions, a bar line; its ids are the piece's, few lost", () => {
  const { tok, ids } = piece();
  const isBar = barStartTable(tok.vocab, tok.toJSON().merges);
  const lead = leadLength(ids, c);
  assertEquals(lead, 5);
  const w = 129;
  const covered = new Uint8Array(ids.length);
  covered.fill(1, 0, lead);
  let rewritten = 0;
  for (let start = 0; start + 1 < ids.length; start += w - 1) {
    const row = new Int32Array(w);
    const n0 = Math.min(w, ids.length - start);
    for (let j = 0; j < n0; j++) row[j] = ids[start + j];
    const n = withLead(row, w, ids, start, c, isBar);
    if (start === 0) {
      assertEquals(n, -1); // the piece's own start: unchanged
      covered.fill(1, 0, n0);
      continue;
    }
    assert(n > lead && n <= w, `${n}`);
    rewritten++;
    assertEquals(Array.from(row.subarray(0, lead)), ids.slice(0, lead));
    assertEquals(isBar[row[lead]], 1, `window at ${start} starts with ${tok.vocab[row[lead]]}`);
    // the rest is a contiguous run of the piece, starting at or before the drawn start
    const body = Array.from(row.subarray(lead, n));
    let at = -1;
    for (let s = start; s > lead && at < 0; s--) {
      if (body.every((id, j) => ids[s + j] === id)) at = s;
    }
    assert(at >= 0 && at <= start, `window at ${start}: body not found`);
    covered.fill(1, at, at + body.length);
    assert(Array.from(row.subarray(n)).every((id) => id === PAD_ID));
  }
  assert(rewritten > 10, `${rewritten}`);
  // a window's body is lead ids shorter than what was drawn, and moves back to a bar line: the ids between two
  // bodies (the lead's share, ≈ (lead − 1) ÷ w, and the bars' jitter) are a small part of the piece
  const missed = covered.length - covered.reduce((a, b) => a + b, 0);
  assert(missed / covered.length < 0.1, `${missed} of ${covered.length}`);
  // no lead → unchanged
  const bare = ids.slice(lead - 1);
  bare[0] = 999;
  assertEquals(withLead(new Int32Array(w), w, bare, 40, c, isBar), -1);
});

Deno.test("windowTransform repeats the lead when given the windows, not otherwise", () => {
  const { tok, ids } = piece();
  const json = tok.toJSON();
  const lead = leadLength(ids, c);
  const noDrop = { seed: 3, fimRate: 0, conditionDropout: 0, conditionDropAll: 0, keyBars: 0 };
  const t = windowTransform(json, noDrop)!;
  let later = 0;
  for (const [i, b] of [...windowBatches([ids], { seqLen: 40, batchSize: 4, seed: 1 })].entries()) {
    const plain = b.tokens.slice();
    t(plain, b.rows, 0, i); // no positions: the windows stay as drawn
    assertEquals(plain, b.tokens);
    t(b.tokens, b.rows, 0, i, { windows: b.windows, pieces: [ids] });
    for (let r = 0; r < b.rows; r++) {
      assertEquals(Array.from(b.tokens.subarray(r * 41, r * 41 + lead)), ids.slice(0, lead));
      if (b.windows[r].start > 0) later++;
    }
  }
  assert(later > 5);
  const off = windowTransform(json, { ...noDrop, repeatLead: false })!;
  const [b] = [...windowBatches([ids], { seqLen: 40, batchSize: 8, seed: 1 })];
  const before = b.tokens.slice();
  off(b.tokens, b.rows, 0, 0, { windows: b.windows, pieces: [ids] });
  assertEquals(b.tokens, before);
  assert(b.windows.some((x) => x.start > 0) && EOS_ID === 2);
});
