/**
 * Seeded randomness, one generator for all of etude: mulberry32, whose whole state is one 32-bit integer (so training
 * can store and restore it), plus a string/number seed mixer and a Fisher–Yates shuffle, so the same seed gives the
 * same weights, splits, shifts and window order on every machine.
 *
 * Two ways to seed the one generator:
 * - `new Rng(seed)`: the seed is scrambled first (weight initialisation, tests), so nearby seeds start far apart;
 * - `mulberry32(seed)` / `Rng.fromState(seed)`: the seed *is* the state (data preparation and window order, whose
 *   seeds come from {@link mixSeed} already).
 *
 * @module
 */

/**
 * A seeded random number generator (mulberry32).
 *
 * @example
 * ```ts
 * import { Rng } from "./rng.ts";
 * const rng = new Rng(42);
 * rng.next(); // a float in [0, 1)
 * ```
 */
export class Rng {
  /** The full state; assign it to restore a saved generator. */
  state: number;
  #spare: number | null = null;

  /** A generator seeded with `seed` (any integer), scrambled into the state. */
  constructor(seed: number) {
    this.state = (Math.imul(seed | 0, 0x9e3779b1) ^ 0x85ebca6b) >>> 0;
  }

  /**
   * A generator whose state is `state` as given (unsigned 32-bit), the plain mulberry32 seeding.
   *
   * @example
   * ```ts
   * import { mulberry32, Rng } from "./rng.ts";
   * Rng.fromState(7).next() === mulberry32(7)(); // true
   * ```
   */
  static fromState(state: number): Rng {
    const r = new Rng(0);
    r.state = state >>> 0;
    return r;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A standard normal sample (Box–Muller). */
  normal(): number {
    if (this.#spare !== null) {
      const s = this.#spare;
      this.#spare = null;
      return s;
    }
    const u = 1 - this.next(), v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Shuffles `a` in place (Fisher–Yates) and returns it. */
  shuffle<T>(a: T[]): T[] {
    return shuffleInPlace(a, () => this.next());
  }
}

/**
 * mulberry32 as a function: floats in [0, 1), the state starting at `seed` itself (see {@link Rng.fromState}).
 *
 * @example
 * ```ts
 * import { mulberry32 } from "./rng.ts";
 * const rand = mulberry32(42);
 * rand(); // same value on every run
 * ```
 */
export function mulberry32(seed: number): () => number {
  const r = Rng.fromState(seed);
  return () => r.next();
}

/**
 * Mixes numbers and strings into one 32-bit seed (FNV-1a over the parts, then a murmur finaliser).
 *
 * @example
 * ```ts
 * import { mixSeed } from "./rng.ts";
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
 * Shuffles `arr` in place (Fisher–Yates, from the end) with `rand` and returns it.
 *
 * @example
 * ```ts
 * import { mulberry32, shuffleInPlace } from "./rng.ts";
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
