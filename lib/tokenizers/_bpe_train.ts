/**
 * Private: the BPE merge learner. Words (one per bar) are deduplicated with a multiplicity; pair counts are kept
 * incrementally (each merge only touches the words that hold the pair, and only the pairs next to each occurrence);
 * the best pair comes from a lazy max-heap (stale entries are re-pushed with their current count when popped).
 *
 * @module
 */

/** Pair key: ids are below 65,536. */
export const pairKey = (a: number, b: number): number => a * 65536 + b;

/** A max-heap of (count, key), ties to the smaller key (so training is deterministic). */
class PairHeap {
  #counts: number[] = [];
  #keys: number[] = [];
  get size(): number {
    return this.#keys.length;
  }
  #above(i: number, j: number): boolean {
    const ci = this.#counts[i], cj = this.#counts[j];
    return ci > cj || (ci === cj && this.#keys[i] < this.#keys[j]);
  }
  #swap(i: number, j: number): void {
    const c = this.#counts[i], k = this.#keys[i];
    this.#counts[i] = this.#counts[j];
    this.#keys[i] = this.#keys[j];
    this.#counts[j] = c;
    this.#keys[j] = k;
  }
  push(count: number, key: number): void {
    this.#counts.push(count);
    this.#keys.push(key);
    let i = this.#keys.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#above(i, p)) break;
      this.#swap(i, p);
      i = p;
    }
  }
  pop(): [number, number] {
    const top: [number, number] = [this.#counts[0], this.#keys[0]];
    const last = this.#keys.length - 1;
    this.#swap(0, last);
    this.#counts.pop();
    this.#keys.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < last && this.#above(l, m)) m = l;
      if (r < last && this.#above(r, m)) m = r;
      if (m === i) break;
      this.#swap(i, m);
      i = m;
    }
    return top;
  }
}

/** Options of `learnMerges`. */
export interface LearnOptions {
  /** Number of merges wanted. */
  numMerges: number;
  /** Id of the first new token. */
  firstId: number;
  /** Stop when the best pair occurs fewer times than this (default 2). */
  minFrequency?: number;
  /** Called after each merge with (merges done, merges wanted). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Learns up to `numMerges` merges from words given as (symbols, multiplicity). Returns the merges in order; merge i
 * creates id `firstId + i`.
 */
export function learnMerges(words: Int32Array[], freqs: number[], opts: LearnOptions): [number, number][] {
  const { numMerges, firstId, minFrequency = 2, onProgress } = opts;
  const lens = words.map((w) => w.length);
  const counts = new Map<number, number>();
  const where = new Map<number, number[]>();
  for (let w = 0; w < words.length; w++) {
    const s = words[w], f = freqs[w];
    for (let i = 0; i + 1 < s.length; i++) {
      const k = pairKey(s[i], s[i + 1]);
      counts.set(k, (counts.get(k) ?? 0) + f);
      const list = where.get(k);
      if (!list) where.set(k, [w]);
      else if (list[list.length - 1] !== w) list.push(w);
    }
  }
  const heap = new PairHeap();
  for (const [k, c] of counts) heap.push(c, k);
  const stamp = new Int32Array(words.length).fill(-1);
  const merges: [number, number][] = [];
  const changed = new Set<number>();
  const add = (k: number, d: number, w: number) => {
    counts.set(k, (counts.get(k) ?? 0) + d);
    changed.add(k);
    if (d > 0) {
      const list = where.get(k);
      if (!list) where.set(k, [w]);
      else if (list[list.length - 1] !== w) list.push(w);
    }
  };
  while (merges.length < numMerges && heap.size > 0) {
    const [c, k] = heap.pop();
    const cur = counts.get(k) ?? 0;
    if (cur !== c) {
      if (cur > 0) heap.push(cur, k);
      continue;
    }
    if (cur < minFrequency) break;
    const a = Math.floor(k / 65536), b = k % 65536, id = firstId + merges.length;
    merges.push([a, b]);
    changed.clear();
    for (const w of where.get(k) ?? []) {
      if (stamp[w] === merges.length) continue;
      stamp[w] = merges.length;
      const s = words[w], f = freqs[w], len = lens[w];
      let r = 0, o = 0;
      while (r < len) {
        if (r + 1 < len && s[r] === a && s[r + 1] === b) {
          if (o > 0) {
            add(pairKey(s[o - 1], a), -f, w);
            add(pairKey(s[o - 1], id), f, w);
          }
          if (r + 2 < len) {
            add(pairKey(b, s[r + 2]), -f, w);
            add(pairKey(id, s[r + 2]), f, w);
          }
          add(k, -f, w);
          s[o++] = id;
          r += 2;
        } else s[o++] = s[r++];
      }
      lens[w] = o;
    }
    counts.delete(k);
    where.delete(k);
    changed.delete(k);
    for (const ck of changed) {
      const n = counts.get(ck) ?? 0;
      if (n > 0) heap.push(n, ck);
      else {
        counts.delete(ck);
        where.delete(ck);
      }
    }
    onProgress?.(merges.length, numMerges);
  }
  return merges;
}
