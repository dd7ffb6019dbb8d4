import { Rng } from "../../lib/util/rng.ts";

/**
 * Structured token pieces (BOS, then an arithmetic walk over ids 4…vocab−1 with a per-piece step, then EOS): the
 * next token is predictable from context, while the unigram distribution is near uniform.
 */
export function syntheticPieces(count: number, vocab: number, seed: number): Uint16Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => {
    const step = 1 + rng.int(3);
    let x = rng.int(vocab - 4);
    const a = [1];
    const n = 30 + rng.int(40);
    for (let i = 0; i < n; i++) {
      a.push(4 + x);
      x = (x + step) % (vocab - 4);
    }
    a.push(2);
    return Uint16Array.from(a);
  });
}

/** Unigram entropy (nats) of the target tokens (everything after each BOS). */
export function unigramEntropy(pieces: ArrayLike<number>[]): number {
  const counts = new Map<number, number>();
  let n = 0;
  for (const p of pieces) {
    for (let i = 1; i < p.length; i++) {
      counts.set(p[i], (counts.get(p[i]) ?? 0) + 1);
      n++;
    }
  }
  let h = 0;
  for (const c of counts.values()) h -= (c / n) * Math.log(c / n);
  return h;
}
