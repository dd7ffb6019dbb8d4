/**
 * A piece's lead (`BOS` and its condition tokens) repeated at the start of every training window drawn from it.
 *
 * A conditioned piece carries `BOS Style_… Key_… TempoClass_… Density_…` once, at its start; a 256-id window drawn
 * from the middle of a 20,000-id piece would otherwise never see them, so the model learns what the conditions mean
 * only from piece starts (≈ 1 window in 70 on the corpus), and the key token barely steers (learned key 8% with
 * `models/corpus-6l`). With the lead repeated, every window teaches the condition → content link, and a window looks
 * like what generation sees: `BOS conditions Bar …`.
 *
 * The window is realigned to start at a bar line (the last one at or before its drawn start), then `lead + bars` fill
 * it to its capacity. A window's body is thus lead ids shorter than what was drawn and shifted back by part of a bar:
 * some ids fall between two bodies (≈ (lead − 1) ÷ window on average, ≈ 2% at 257 ids; other windows overlap).
 *
 * @module
 */
import type { ConditioningIds } from "./conditioning.ts";
import { BOS_ID, PAD_ID } from "../tokenizers/tokenizer.ts";

/**
 * The number of lead ids of a piece: `BOS` and the condition tokens right after it; 0 when it does not start with
 * `BOS`.
 *
 * @example
 * ```ts
 * import { leadLength } from "./lead.ts";
 * import { CONDITIONING_TOKENS, conditioningIds } from "./conditioning.ts";
 * const c = conditioningIds(["PAD_None", "BOS_None", ...CONDITIONING_TOKENS])!;
 * leadLength([1, c.byName.get("Style_pop")!, 40, 41], c); // 2
 * ```
 */
export function leadLength(piece: ArrayLike<number>, cond: ConditioningIds): number {
  if (piece.length === 0 || piece[0] !== BOS_ID) return 0;
  let n = 1;
  while (
    n < piece.length && piece[n] >= 0 && piece[n] < cond.category.length && cond.category[piece[n]] >= 0
  ) n++;
  return n;
}

/**
 * Rewrites one window (`row`, capacity `w` ids) drawn at `start` of `piece` as `lead · piece[bar …]`, where `bar` is
 * the last bar line at or before `start` (after the lead). Returns the new real length (ids after it become PAD), or
 * −1 with the row unchanged when the window already starts within the lead, the piece has no lead, or there is no
 * bar line to start from.
 *
 * @example
 * ```ts
 * import { withLead } from "./lead.ts";
 * import { CONDITIONING_TOKENS, conditioningIds } from "./conditioning.ts";
 * const c = conditioningIds(["PAD_None", "BOS_None", "Bar_None", ...CONDITIONING_TOKENS])!;
 * const pop = c.byName.get("Style_pop")!;
 * const isBar = new Uint8Array(64);
 * isBar[2] = 1;
 * const piece = [1, pop, 2, 30, 31, 2, 32, 33, 34];
 * const row = new Int32Array(6); // the window drawn at 6 (its ids are replaced)
 * withLead(row, 6, piece, 6, c, isBar); // 6: row is now [1, pop, 2, 32, 33, 34]
 * ```
 */
export function withLead(
  row: Int32Array,
  w: number,
  piece: ArrayLike<number>,
  start: number,
  cond: ConditioningIds,
  isBarStart: Uint8Array,
): number {
  const lead = leadLength(piece, cond);
  if (lead === 0 || start <= lead || lead >= w) return -1;
  let s = Math.min(start, piece.length - 1);
  while (s > lead && !(piece[s] < isBarStart.length && isBarStart[piece[s]])) s--;
  if (s <= lead) return -1;
  const n = Math.min(w - lead, piece.length - s);
  for (let i = 0; i < lead; i++) row[i] = piece[i];
  for (let i = 0; i < n; i++) row[lead + i] = piece[s + i];
  row.fill(PAD_ID, lead + n, w);
  return lead + n;
}
