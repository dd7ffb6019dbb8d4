/**
 * Streaming for `generate`: one {@linkcode NoteStream} per sequence turns each readback's new ids into the notes they
 * complete and tells when the piece has reached the `seconds` stop, in time linear in the piece's length (the
 * tokenizer's incremental decoder keeps bar, position, tempo and the half-read note between readbacks).
 *
 * @module
 */
import { type Note, type Score, sortNotes, ticksToSeconds } from "../score.ts";
import type { StreamDecoder, Tokenizer } from "../tokenizers/tokenizer.ts";

/** What one `NoteStream.push` found. */
export interface NotePush {
  /** The notes the pushed ids completed that start before the `seconds` stop, sorted (fresh objects). */
  notes: Note[];
  /** Whether some note of the piece so far (prompt included) starts at or after the stop. */
  reachedStop: boolean;
}

/**
 * A sequence's note stream: the prompt's ids decoded first (their notes are not streamed), then each push decodes
 * only its own ids. The notes pushes return, concatenated, are the notes the generated ids add to
 * `tokenizer.decode([...promptIds, ...generatedIds])` before the stop.
 *
 * `reachedStop` equals checking every note of that full decode against the stop (what `generate` stops on): only
 * the new notes are timed, unless the tempo map changed before an earlier onset, and then every note is timed
 * again. That happens only when positions go back in a bar (no grammar mask) and a Tempo follows; then a note already
 * streamed may end up past the stop, so the stream can hold notes the final score cuts (never the reverse).
 *
 * @example
 * ```ts
 * import { NoteStream } from "./_note_stream.ts";
 * import { RemiTokenizer } from "../tokenizers/remi.ts";
 * const tok = new RemiTokenizer();
 * const id = (n: string) => tok.tokenId(n)!;
 * const s = new NoteStream(tok, [id("Bar_None"), id("Position_0")], 1.5); // stop at 1.5 s
 * s.push([id("Pitch_60"), id("Velocity_95"), id("Duration_1.0.8")]); // one note at 0 s, reachedStop false
 * s.push([id("Position_24"), id("Pitch_62"), id("Velocity_95"), id("Duration_1.0.8")]); // none, reachedStop true
 * ```
 */
export class NoteStream {
  readonly #dec: StreamDecoder;
  readonly #stop: number | undefined;
  /** Every note so far (prompt included), for a re-timing when the tempo map moves under them. */
  readonly #all: Note[] = [];
  #latest = -Infinity;
  #tempoCount = 0;
  #reached = false;

  /** A stream after `promptIds`; `stopSeconds` is where notes stop counting (none: every note streams). */
  constructor(tokenizer: Tokenizer, promptIds: readonly number[], stopSeconds?: number) {
    this.#dec = tokenizer.streamDecoder();
    this.#stop = stopSeconds;
    this.#time(this.#dec.push(promptIds));
  }

  /** Decodes the next generated ids of this sequence. */
  push(ids: readonly number[]): NotePush {
    const fresh = this.#time(this.#dec.push(ids));
    return { notes: sortNotes(fresh.map((n) => ({ ...n }))), reachedStop: this.#reached };
  }

  /** Times new notes (and old ones again if the tempo map moved under them); returns the new ones before the stop. */
  #time(fresh: Note[]): Note[] {
    const stop = this.#stop;
    if (stop === undefined) return fresh;
    const d = this.#dec, tempos = d.tempos;
    const view: Score = {
      ticksPerBeat: d.ticksPerBeat,
      notes: [],
      tempos: tempos as Score["tempos"],
      timeSignatures: [],
    };
    const from = d.tempoChangedFrom();
    let moved = from < this.#tempoCount;
    for (let i = from; i < tempos.length && !moved; i++) moved = tempos[i].tick < this.#latest;
    this.#tempoCount = tempos.length;
    if (moved) this.#reached = this.#all.some((n) => ticksToSeconds(view, n.start) >= stop);
    const kept: Note[] = [];
    for (const n of fresh) {
      this.#all.push(n);
      this.#latest = Math.max(this.#latest, n.start);
      if (ticksToSeconds(view, n.start) >= stop) this.#reached = true;
      else kept.push(n);
    }
    return kept;
  }
}
