/**
 * A minimal REMI+BPE `Tokenizer` over `tokenizer.json` alone (merges applied in order within bars; decoding expands
 * merged tokens recursively). Used by `loadModel` until/unless lib/tokenizers provides its own BPE class.
 *
 * @module
 */
import type { Score } from "../score.ts";
import type { Tokenizer, TokenizerJson } from "../tokenizers/tokenizer.ts";
import { RemiTokenizer } from "../tokenizers/remi.ts";

/** REMI+BPE from its JSON form. */
export class BpeAdapter implements Tokenizer {
  readonly kind = "remi-bpe" as const;
  readonly vocab: readonly string[];
  readonly base: RemiTokenizer;
  readonly #json: TokenizerJson;
  readonly #expand: number[][];
  readonly #nBase: number;

  constructor(json: TokenizerJson) {
    const merges = json.merges ?? [];
    this.#json = json;
    this.vocab = json.vocab;
    this.#nBase = json.vocab.length - merges.length;
    const cfg = (json.config.base ?? json.config) as Record<string, unknown>;
    this.base = RemiTokenizer.fromJSON({
      kind: "remi",
      config: cfg,
      vocab: json.vocab.slice(0, this.#nBase),
    });
    this.#expand = Array.from({ length: this.#nBase }, (_, i) => [i]);
    for (const [a, b] of merges) this.#expand.push([...this.#expand[a], ...this.#expand[b]]);
  }

  /** Encodes with the base REMI tokenizer, then applies the merges in order (never across a Bar). */
  encode(score: Score): number[] {
    let ids = this.base.encode(score);
    const bar = this.vocab.indexOf("Bar_None");
    const merges = this.#json.merges ?? [];
    merges.forEach(([a, b], j) => {
      const id = this.#nBase + j;
      const out: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        if (i + 1 < ids.length && ids[i] === a && ids[i + 1] === b && ids[i + 1] !== bar) {
          out.push(id);
          i++;
        } else out.push(ids[i]);
      }
      ids = out;
    });
    return ids;
  }

  /** Expands merged tokens and decodes with the base tokenizer. */
  decode(ids: readonly number[]): Score {
    return this.base.decode(ids.flatMap((i) => this.#expand[i] ?? []));
  }

  toJSON(): TokenizerJson {
    return structuredClone(this.#json);
  }
}
