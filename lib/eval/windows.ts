/**
 * The window format a model's NLL is measured in ({@linkcode nllWindows}): what its training windows looked like.
 *
 * @module
 */
import type { TokenizerJson } from "../tokenizers/tokenizer.ts";
import { BOS_ID } from "../tokenizers/tokenizer.ts";
import { conditioningIds } from "../data/conditioning.ts";
import { type GrammarTables, grammarTables, TokenType } from "../infer/grammar.ts";
import type { NllWindows } from "./nll.ts";
import { leadLength } from "../data/lead.ts";

/**
 * A model's NLL windows, from its tokenizer: a conditioning model (`tokenize --conditioning`; its training windows
 * all start `BOS` + four condition ids at a bar line, lib/data/lead.ts) gets the unconditional lead `BOS` + four
 * `_none` (what condition dropout writes: it says nothing about the piece; a piece of conditioned data keeps its
 * own) and bar-line starts; any other model, undefined (plain windows, as it was trained). `grammar`: the
 * tokenizer's tables when already built (a loaded model's), else they are built here.
 *
 * @example
 * ```ts ignore
 * import { nllWindows } from "./windows.ts";
 * import { readCheckpoint } from "../model/checkpoint.ts";
 * const w = nllWindows((await readCheckpoint("models/default")).tokenizerJson!);
 * w?.lead; // [1, and the four _none ids]
 * ```
 */
export function nllWindows(tj: TokenizerJson, grammar?: GrammarTables): NllWindows | undefined {
  const c = conditioningIds(tj.vocab);
  if (!c) return undefined;
  const g = grammar ?? grammarTables(tj);
  const bar = new Uint8Array(g.base.length);
  g.base.forEach((seq, id) => bar[id] = seq.length > 0 && g.baseType[seq[0]] === TokenType.Bar ? 1 : 0);
  return { lead: [BOS_ID, ...c.none], isBar: (id) => bar[id] === 1, ownLead: (ids) => leadLength(ids, c) };
}
