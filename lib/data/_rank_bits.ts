/**
 * Bit-vectors with rank support, for the copy index's wavelet matrix (./copy_index.ts): per 256 bits, a Uint32 count
 * of the ones before them, then the 8 words of bits ({@link BLOCK} = 9 Uint32 a block, a 12.5% rank directory).
 *
 * @module
 */
/** Uint32 words a block of 256 bits takes: its rank count, then 8 words of bits. */
export const BLOCK = 9;

/** Ones in a 32-bit word. */
export function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** Words a bit-vector of `n` bits takes (with one spare block for rank(n)). */
export function bitWords(n: number): number {
  return (Math.floor(n / 256) + 1) * BLOCK;
}

/** Fills the rank counts of a bit-vector whose bits are already set. */
export function finishRank(v: Uint32Array): void {
  let ones = 0;
  for (let b = 0; b < v.length; b += BLOCK) {
    v[b] = ones;
    for (let w = 1; w < BLOCK; w++) ones += popcount(v[b + w]);
  }
}

/** Sets bit `i` of a bit-vector (before {@link finishRank}). */
export function setBit(v: Uint32Array, i: number): void {
  v[(i >>> 8) * BLOCK + 1 + ((i >>> 5) & 7)] |= 1 << (i & 31);
}

/** Bit `i` of the bit-vector starting at word `off` of `v`. */
export function getBit(v: Uint32Array, off: number, i: number): number {
  return (v[off + (i >>> 8) * BLOCK + 1 + ((i >>> 5) & 7)] >>> (i & 31)) & 1;
}

/** Ones in positions [0, i) of the bit-vector starting at word `off` of `v`. */
export function rank1(v: Uint32Array, off: number, i: number): number {
  const b = off + (i >>> 8) * BLOCK;
  let r = v[b];
  const w = (i >>> 5) & 7;
  for (let k = 1; k <= w; k++) r += popcount(v[b + k]);
  const bit = i & 31;
  if (bit) r += popcount(v[b + 1 + w] & ((1 << bit) - 1));
  return r;
}
