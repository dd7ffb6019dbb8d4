/**
 * The key check's reference: how often the Krumhansl estimate of a *real* piece's first bars agrees with the key label
 * the data gave the whole piece. A piece's label is the estimate over all its notes (lib/data/conditioning.ts); its
 * opening bars can sit in another key (an introduction on the dominant, a relative minor), so even a model that
 * imitated its data perfectly would agree this often, not always: the number to read the samples' agreement against.
 *
 * A model trained with window key labels (`keyBars`, lib/data/local_key.ts: the default since models/default's last
 * run) was told the key of each training window's first bars instead; given `labelBars`, the excerpt is also
 * compared with the key of the piece's first `labelBars` bars, the label such a model learned from
 * (`windowAgreement`: 1 by construction when `labelBars` equals `bars`, lower for a longer excerpt).
 *
 * It also says how tonic-centred real openings are (`tonicShare`: the share of the excerpts' notes on the tonic of
 * their own estimated key), to read a key sample's share of notes on its asked tonic against (the `keyTonic` hard
 * control raises it).
 *
 * @module
 */
import type { Tokenizer } from "../tokenizers/tokenizer.ts";
import { CATEGORIES, conditioningIds, keyToken } from "../data/conditioning.ts";
import { leadLength } from "../data/lead.ts";
import { idsKey, keyProfileTable } from "../data/local_key.ts";
import { barStarts } from "../infer/infill.ts";
import { estimateKey, keyFromIndex } from "../score/key.ts";

/**
 * Key agreement on real pieces.
 *
 * @example
 * ```ts
 * import type { KeyReference } from "./key_reference.ts";
 * const r: KeyReference = {
 *   pieces: 100, agree: 61, agreement: 0.61, skipped: 3, bars: 16, tonicShare: 0.21, labelBars: 8, windowAgreement: 0.8,
 * };
 * ```
 */
export interface KeyReference {
  /** Pieces with a key label that were scored. */
  pieces: number;
  /** Of those, how many opening excerpts' estimate equals the label. */
  agree: number;
  /** `agree ÷ pieces`. */
  agreement: number;
  /** Pieces without a key label (its `_none` token) or without notes in the excerpt. */
  skipped: number;
  /** Bars of each excerpt. */
  bars: number;
  /** Of all the scored excerpts' notes, the share whose pitch class is the tonic of their excerpt's estimated key. */
  tonicShare: number;
  /** Bars each window label was taken over (when asked). */
  labelBars?: number;
  /** Of the scored pieces, the share whose excerpt's estimate equals the key of their first `labelBars` bars. */
  windowAgreement?: number;
}

/**
 * Scores `pieces` (token ids as prepared with `tokenize --conditioning`: `BOS Style Key TempoClass Density …`): the
 * first `bars` bars of each, decoded, estimated, compared with its `Key` token (and, given `labelBars`, with the key of
 * its first `labelBars` bars).
 *
 * @example
 * ```ts ignore
 * import { openShards } from "../data/shards.ts";
 * import { loadTokenizer } from "../tokenizers/mod.ts";
 * import { referenceKeyAgreement } from "./key_reference.ts";
 * const ds = await openShards("data/prepared/corpus-cond");
 * const r = referenceKeyAgreement(ds.splits.test, loadTokenizer(ds.tokenizer), 8);
 * console.log(r.agreement);
 * ```
 */
export function referenceKeyAgreement(
  pieces: readonly ArrayLike<number>[],
  tok: Tokenizer,
  bars = 8,
  labelBars?: number,
): KeyReference {
  const json = tok.toJSON() as { vocab: string[]; merges?: [number, number][] };
  const table = labelBars ? keyProfileTable(json.vocab, json.merges ?? []) : undefined;
  let windowAgree = 0;
  const c = conditioningIds(tok.vocab);
  if (!c) throw new Error("referenceKeyAgreement: the tokenizer has no condition tokens");
  const keyCat = CATEGORIES.indexOf("Key");
  const byId = new Map<number, string>();
  for (let i = 0; i < 24; i++) {
    const name = keyToken(keyFromIndex(i));
    byId.set(c.byName.get(name)!, name);
  }
  let n = 0, agree = 0, skipped = 0, notes = 0, onTonic = 0;
  for (const p of pieces) {
    const lead = leadLength(p, c);
    let label: string | undefined;
    for (let i = 1; i < lead; i++) if (c.category[p[i]] === keyCat) label = byId.get(p[i]);
    const body = Array.from(p).slice(lead);
    const starts = barStarts(tok, body);
    const excerpt = body.slice(0, starts.length > bars ? starts[bars] : body.length);
    const score = tok.decode(excerpt);
    if (!label || !score.notes.length) {
      skipped++;
      continue;
    }
    n++;
    const key = estimateKey(score.notes, score.ticksPerBeat), est = keyToken(key);
    if (est === label) agree++;
    notes += score.notes.length;
    onTonic += score.notes.filter((x) => x.pitch % 12 === key.tonic).length;
    if (table) {
      const w = idsKey(body, table, 0, body.length, labelBars);
      if (w && keyToken(w) === est) windowAgree++;
    }
  }
  const r: KeyReference = {
    pieces: n,
    agree,
    agreement: n ? agree / n : NaN,
    skipped,
    bars,
    tonicShare: notes ? onTonic / notes : NaN,
  };
  return table ? { ...r, labelBars, windowAgreement: n ? windowAgree / n : NaN } : r;
}
