import { assert, assertAlmostEquals, assertEquals } from "../_assert.ts";
import { bigramNll, modelNll, nllReport, tokenNll, trainBigram } from "../../lib/eval/nll.ts";

/** Deterministic LCG so the test data is fixed. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

Deno.test("bigram NLL of a deterministic cycle is near 0; of uniform random ids near log V", () => {
  const V = 64;
  // deterministic: 4 → 5 → … → 40 → 4 … ; many repetitions
  const cycle: number[] = [1];
  for (let r = 0; r < 400; r++) for (let t = 4; t <= 40; t++) cycle.push(t);
  cycle.push(2);
  for (const smoothing of ["kneser-ney", "add-k"] as const) {
    const m = trainBigram([cycle], V, { smoothing });
    const r = bigramNll(m, [cycle]);
    assertEquals(r.tokens, cycle.length - 1);
    // add-one spends 1 / (count + V) on each unseen follower: ≈ V / 400 of the mass here
    assert(r.nll / r.tokens < (smoothing === "add-k" ? 0.2 : 0.02), `${smoothing}: ${r.nll / r.tokens}`);
  }
  const rand = lcg(7);
  const train: number[] = [1], test: number[] = [1];
  for (let i = 0; i < 60_000; i++) train.push(4 + Math.floor(rand() * (V - 4)));
  for (let i = 0; i < 20_000; i++) test.push(4 + Math.floor(rand() * (V - 4)));
  train.push(2);
  test.push(2);
  for (const smoothing of ["kneser-ney", "add-k"] as const) {
    const m = trainBigram([train], V, { smoothing });
    const perTok = bigramNll(m, [test]).nll / (test.length - 1);
    // the 60 used ids are uniform: the best possible is log 60; smoothing overfits a little on 60k tokens
    assert(Math.abs(perTok - Math.log(60)) < 0.05, `${smoothing}: ${perTok} vs log 60 = ${Math.log(60)}`);
  }
});

Deno.test("bigram probabilities sum to 1 for seen and unseen contexts", () => {
  const V = 12;
  const m = trainBigram([[1, 4, 5, 4, 6, 4, 5, 2], [1, 7, 7, 2]], V);
  for (const prev of [1, 4, 5, 7, 9]) {
    let s = 0;
    for (let w = 0; w < V; w++) s += Math.exp(m.logProb(prev, w));
    assertAlmostEquals(s, 1, 1e-9);
  }
  assert(m.logProb(4, 5) > m.logProb(4, 6));
  assert(m.logProb(4, 6) > m.logProb(4, 9));
});

Deno.test("model NLL: uniform logits give log V per token; sliding windows score every token once", async () => {
  const V = 16;
  const piece = [1, ...Array.from({ length: 50 }, (_, i) => 4 + (i % 12)), 2];
  const uniform = (ids: readonly number[]) => new Float32Array(ids.length * V);
  const r = await modelNll(uniform, [piece, [1, 5, 2]], { vocab: V, context: 8 });
  assertEquals(r.tokens, piece.length - 1 + 2);
  assertAlmostEquals(r.nll / r.tokens, Math.log(V), 1e-9);
  // an oracle that knows the next token (from the window itself) scores ~0: checks the row/target alignment
  let calls = 0;
  const oracle = (ids: readonly number[]) => {
    calls++;
    const out = new Float32Array(ids.length * V);
    for (let t = 0; t < ids.length; t++) {
      const next = t + 1 < ids.length ? ids[t + 1] : 0;
      out[t * V + next] = 50;
    }
    return out;
  };
  const o = await modelNll(oracle, [piece], { vocab: V, context: 8, overlap: 4 });
  assertEquals(o.tokens, piece.length - 1);
  assert(o.nll < 1e-15 * o.tokens + 1e-12);
  assertEquals(calls, Math.ceil((piece.length - 8) / 4) + 1);
  // maxTokens stops between pieces
  const capped = await modelNll(uniform, [piece, piece, piece], { vocab: V, context: 64, maxTokens: 10 });
  assertEquals(capped.pieces, 1);
  assertEquals(capped.tokens, piece.length - 1);
});

Deno.test("tokenNll is a stable log-softmax; nllReport converts units", () => {
  const logits = new Float32Array([1000, 1000, 0, 0, 2, 1]);
  assertAlmostEquals(tokenNll(logits, 0, 3, 0), Math.log(2), 1e-6);
  const p = Math.exp(2) / (1 + Math.exp(2) + Math.exp(1));
  assertAlmostEquals(tokenNll(logits, 1, 3, 1), -Math.log(p), 1e-6);
  const rep = nllReport({ nll: 200, tokens: 100, pieces: 2 }, 40, 8);
  assertEquals(rep.perToken, 2);
  assertEquals(rep.perNote, 5);
  assertEquals(rep.perSecond, 25);
  assertAlmostEquals(rep.perplexity, Math.exp(2), 1e-12);
  assertAlmostEquals(rep.bitsPerToken, 2 / Math.LN2, 1e-12);
});

Deno.test("model NLL with a lead: every window starts lead + bar line; each piece id scored once, the lead never", async () => {
  const V = 16, BAR = 4, lead = [1, 9, 10];
  // bars of 1 to 6 ids: Bar, then notes 5..8
  const rand = lcg(3), piece = [1];
  while (piece.length < 120) {
    piece.push(BAR);
    for (let n = Math.floor(rand() * 6); n > 0; n--) piece.push(5 + Math.floor(rand() * 4));
  }
  piece.push(2);
  const windows: number[][] = [];
  const oracle = (ids: readonly number[]) => {
    windows.push([...ids]);
    const out = new Float32Array(ids.length * V);
    for (let t = 0; t + 1 < ids.length; t++) out[t * V + ids[t + 1]] = 50;
    return out;
  };
  const w = { lead, isBar: (id: number) => id === BAR };
  const r = await modelNll(oracle, [piece], { vocab: V, context: 24, windows: w });
  assertEquals(r.tokens, piece.length - 1, "every id after BOS once, no lead id");
  assert(r.nll < 1e-12, "targets aligned with the window's own next ids");
  assert(windows.length > 5);
  for (const [i, win] of windows.entries()) {
    assert(win.length <= 24);
    assertEquals(win.slice(0, 3), lead, `window ${i} starts with the lead`);
    if (i > 0) assertEquals(win[3], BAR, `window ${i} resumes at a bar line`);
  }
  // the windows' bodies, in order, cover the piece (BOS read as the lead)
  assert(piece.slice(1).join(",").startsWith(windows[0].slice(3).join(",")));
  // a piece that carries its own lead keeps it (conditioned data): no id added, its lead scored as before
  const own = [1, 11, 12, ...piece.slice(1)];
  windows.length = 0;
  const r2 = await modelNll(oracle, [own], { vocab: V, context: 24, windows: { ...w, ownLead: () => 3 } });
  assertEquals(r2.tokens, own.length - 1);
  for (const win of windows) assertEquals(win.slice(0, 3), [1, 11, 12]);
  // without windows: the plain cut, as before
  windows.length = 0;
  const plain = await modelNll(oracle, [piece], { vocab: V, context: 24 });
  assertEquals(plain.tokens, piece.length - 1);
  assertEquals(windows[1][0], piece[12], "the second plain window starts half a context on");
});
