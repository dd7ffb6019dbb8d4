/**
 * Deterministic seeded randomness for data preparation and window shuffling: mulberry32 plus a string/number
 * seed mixer, so the same seed gives the same splits, shifts and window order on every machine.
 *
 * @module
 */

/**
 * mulberry32: a 32-bit state PRNG returning floats in [0, 1).
 *
 * @example
 * ```ts
 * import { mulberry32 } from "./_random.ts";
 * const rand = mulberry32(42);
 * rand(); // same value on every run
 * ```
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Mixes numbers and strings into one 32-bit seed (FNV-1a over the parts, then a murmur finaliser).
 *
 * @example
 * ```ts
 * import { mixSeed } from "./_random.ts";
 * mixSeed(7, "epoch", 3) !== mixSeed(7, "epoch", 4); // true
 * ```
 */
export function mixSeed(...parts: (number | string)[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    const s = typeof p === "number" ? `n${p}` : `s${p}`;
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    h ^= 0xff;
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Shuffles `arr` in place (Fisher–Yates) with `rand`.
 *
 * @example
 * ```ts
 * import { mulberry32, shuffleInPlace } from "./_random.ts";
 * shuffleInPlace([1, 2, 3, 4], mulberry32(1));
 * ```
 */
export function shuffleInPlace<A extends ArrayLike<unknown>>(arr: A, rand: () => number): A {
  const a = arr as unknown as unknown[];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return arr;
}
