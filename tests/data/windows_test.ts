import { assert, assertEquals, assertNotEquals, assertThrows } from "../_assert.ts";
import { BOS_ID, EOS_ID } from "../../lib/data/shards.ts";
import { batchesPerEpoch, inputsAndTargets, windowBatches, windowIndex } from "../../lib/data/windows.ts";

/** Pieces whose ids encode (piece, position) so any window can be traced back: id = 1000·piece + position + 4. */
function tracedPieces(lengths: number[]): Uint32Array[] {
  return lengths.map((L, p) => Uint32Array.from({ length: L }, (_, i) => 1000 * p + i + 4));
}

function collect(pieces: Uint32Array[], opts: Parameters<typeof windowBatches>[1]) {
  const rows: { tokens: number[]; mask: number[]; piece: number; start: number; length: number }[] = [];
  const w = opts.seqLen + 1;
  for (const b of windowBatches(pieces, opts)) {
    assertEquals(b.tokens.length, b.rows * w);
    for (let r = 0; r < b.rows; r++) {
      rows.push({
        tokens: Array.from(b.tokens.subarray(r * w, (r + 1) * w)),
        mask: Array.from(b.mask.subarray(r * w, (r + 1) * w)),
        ...b.windows[r],
      });
    }
  }
  return rows;
}

Deno.test("windows: every window is a contiguous slice of one piece, on the stride grid, padded tails masked", () => {
  const lengths = [1, 2, 7, 50, 129, 300];
  const pieces = tracedPieces(lengths);
  for (const [seqLen, stride] of [[16, 16], [16, 5], [8, 20], [100, 100]]) {
    const rows = collect(pieces, { seqLen, stride, batchSize: 7, seed: 3 });
    const covered = lengths.map((L) => new Uint8Array(L));
    for (const r of rows) {
      const real = r.tokens.slice(0, r.length);
      // Contiguous slice of one piece: ids decode to (piece, start + j).
      assertEquals(real, real.map((_, j) => 1000 * r.piece + r.start + j + 4));
      assertEquals(r.start % stride, 0, "starts lie on the stride grid");
      assertEquals(r.mask, r.tokens.map((_, j) => (j < r.length ? 1 : 0)));
      assert(r.tokens.slice(r.length).every((t) => t === 0), "padding is PAD (0)");
      assert(r.length <= seqLen + 1 && r.length >= 2);
      for (let j = 1; j < r.length; j++) covered[r.piece][r.start + j] = 1;
    }
    if (stride <= seqLen) {
      // Every id after the first of each piece is a target at least once (exactly once when stride == seqLen).
      lengths.forEach((L, p) => {
        for (let i = 1; i < L; i++) assertEquals(covered[p][i], 1, `piece ${p} id ${i} never a target`);
      });
    }
    if (stride === seqLen) {
      const targets = rows.reduce((a, r) => a + r.length - 1, 0);
      assertEquals(targets, lengths.reduce((a, L) => a + Math.max(0, L - 1), 0));
    }
    // Per piece, consecutive starts differ by exactly the stride.
    for (let p = 0; p < lengths.length; p++) {
      const starts = rows.filter((r) => r.piece === p).map((r) => r.start).sort((a, b) => a - b);
      for (let i = 1; i < starts.length; i++) assertEquals(starts[i] - starts[i - 1], stride);
    }
  }
});

Deno.test("windows: same seed and epoch → same order; another epoch or seed → another order; unshuffled is ordered", () => {
  const pieces = tracedPieces([300, 257, 90, 513]);
  const opts = { seqLen: 32, stride: 16, batchSize: 4 };
  const order = (seed: number, epoch: number, shuffle = true) =>
    collect(pieces, { ...opts, seed, epoch, shuffle }).map((r) => `${r.piece}:${r.start}`);
  const a = order(7, 0);
  assertEquals(order(7, 0), a);
  assertNotEquals(order(7, 1), a);
  assertNotEquals(order(8, 0), a);
  assertEquals([...order(7, 1)].sort(), [...a].sort(), "a permutation of the same windows");
  const plain = order(7, 0, false);
  assertEquals(
    plain,
    [...plain].sort((x, y) => {
      const [p1, s1] = x.split(":").map(Number), [p2, s2] = y.split(":").map(Number);
      return p1 - p2 || s1 - s2;
    }),
  );
  assertEquals(batchesPerEpoch(pieces, { ...opts }), Math.ceil(a.length / 4));
});

Deno.test("windows: drop partial windows and last batch; crossPieces runs over boundaries", () => {
  const pieces = tracedPieces([5, 30, 12]);
  const full = collect(pieces, { seqLen: 9, batchSize: 3, partial: "drop", dropLast: true });
  assert(full.every((r) => r.length === 10));
  assertEquals(full.length % 3, 0);
  const cross = windowIndex(pieces, { seqLen: 9, crossPieces: true, partial: "drop" });
  assertEquals(Array.from(cross.start), [0, 9, 18, 27, 36]);
  // The window at 0 holds all 5 ids of piece 0 and then piece 1's first 5.
  assertEquals(Array.from(cross.pieces[0] as Int32Array).slice(0, 10), [
    4,
    5,
    6,
    7,
    8,
    1004,
    1005,
    1006,
    1007,
    1008,
  ]);
  assertThrows(() => windowIndex(pieces, { seqLen: 0 }));
});

Deno.test("windows: inputsAndTargets shifts by one and zero-weights padded targets", () => {
  const [b] = windowBatches([Uint16Array.of(BOS_ID, 9, 10, EOS_ID)], { seqLen: 5, batchSize: 1 });
  const { inputs, targets, weights } = inputsAndTargets(b);
  assertEquals(Array.from(inputs), [BOS_ID, 9, 10, EOS_ID, 0]);
  assertEquals(Array.from(targets), [9, 10, EOS_ID, 0, 0]);
  assertEquals(Array.from(weights), [1, 1, 1, 0, 0]);
});
