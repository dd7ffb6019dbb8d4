/**
 * The one rule every decoder slides its context by (`generate`'s CPU loop, the engine's decode and rows, the CPU
 * rows of the server's batcher).
 *
 * @module
 */

/**
 * A full context's next window: `lead` (a conditioning model's `BOS` and condition ids, as every training window
 * starts: lib/data/lead.ts; empty for other models) followed by `h` from `windowStart(h)` (default: its last half
 * context), clamped so the window holds at most `ctx − 1` ids and at least `h`'s newest one, and never `h`'s own
 * lead again (`h` starts with `lead` whenever `lead` is given).
 *
 * @example
 * ```ts
 * import { nextWindow } from "./_window.ts";
 * nextWindow([1, 9, 3, 4, 5, 6, 7], 8, (h) => 4, [1, 9]); // [1, 9, 5, 6, 7]
 * nextWindow([3, 4, 5, 6, 7, 8, 9, 10], 8, undefined); // [7, 8, 9, 10]: the last half context
 * ```
 */
export function nextWindow(
  h: readonly number[],
  ctx: number,
  windowStart: ((ids: number[]) => number) | undefined,
  lead: readonly number[] = [],
): number[] {
  let start = windowStart?.(h as number[]) ?? h.length - Math.floor(ctx / 2);
  start = Math.min(Math.max(start, h.length - ctx + 1 + lead.length, lead.length), h.length - 1);
  return [...lead, ...h.slice(start)];
}
