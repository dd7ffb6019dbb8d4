/**
 * Test assertions seam: `node:assert/strict` here (JSR is unreachable on these machines); swap for `jsr:@std/assert`
 * where it is reachable without touching the tests.
 */
export {
  deepEqual as assertEquals,
  equal as assertStrictEquals,
  notDeepEqual as assertNotEquals,
  ok as assert,
  rejects as assertRejects,
  throws as assertThrows,
} from "node:assert/strict";

/** Asserts `|actual - expected| <= tol`. */
export function assertAlmostEquals(actual: number, expected: number, tol = 1e-6, msg?: string): void {
  if (!(Math.abs(actual - expected) <= tol)) {
    throw new Error(msg ?? `expected ${actual} to be within ${tol} of ${expected}`);
  }
}
