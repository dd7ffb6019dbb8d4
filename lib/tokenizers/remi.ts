/**
 * REMI (Huang & Yang 2020) as MidiTok v3 names it: `Bar_None`, `Position_i`, `Pitch_p`, `Velocity_v`,
 * `Duration_b.p.r`, and optionally `Chord_<root>:<quality>`, `Rest_b.p.r`, `Tempo_<bpm>`, `TimeSig_n/d`.
 *
 * Within one time step the order is Bar (one per new bar, empty bars included), Position, [TimeSig], [Tempo],
 * [Chord], then Pitch, Velocity, Duration per note (pitch ascending). Onsets snap to the grid of the largest
 * `beatRes` resolution (8 per quarter note by default); durations go to the nearest of 64 bins, velocities to the
 * nearest of 32 bins, tempos to the nearest of 32 bins (`linspace(40, 250, 32)`), emitted at the start and where the
 * binned tempo changes (the last change on a tick wins). Positions always count in quarter-note grid steps, so a bar of
 * `n/d` has `n × 8 × 4 / d` positions (MidiTok v3 counts in denominator beats instead); a meter change takes effect at
 * the first bar line at or after it; time signatures outside the configured set are treated as 4/4. Duplicate notes
 * (same pitch on the same grid position) are kept once, as MidiTok does.
 *
 * etude's default (`DEFAULT_REMI_CONFIG`): pitch 21–108, beat_res {(0,4): 8, (4,12): 4}, 32 velocities, 64 durations,
 * Tempo (32 bins), TimeSig (21 meters from 1/4 to 9/4, so 72 positions), no Chord, no Rest: 314 tokens. Chords and
 * rests are off because they are derived from (chords) or redundant with (rests: Bar and Position already say where the
 * next note is) the notes, and under BPE every base token costs a merge slot: with chords (`useChords: true`, 168
 * tokens `Chord_C:maj` … or 14 `Chord_maj` with `chordRoots: false`) a 1,024-token BPE vocabulary shortens sequences
 * less. The seed's 362-token REMI had both; `useChords: true, useRests: true` brings them back.
 * `FRADET_REMI_CONFIG` is the setting of the BPE paper (Fradet et al., EMNLP 2023): 16 velocities, durations up to 8
 * beats, 4/4 bars, no Tempo or TimeSig: 161 tokens.
 *
 * Encoding is bounded: a piece may take at most `tokenCap.perNote` tokens per note plus `tokenCap.base` (default 16 per
 * note + 4,096; `DEFAULT_TOKEN_CAP`), else `encode` throws a `TokenLimitError` as soon as it gets there — one
 * `Bar_None` per bar, empty bars included, would otherwise let a long silence or a very fast tempo cost millions of
 * tokens.
 *
 * Decoding is total: any id sequence decodes without throwing; tokens that cannot be placed (a Velocity without a
 * Pitch, a Position past the end of the bar, a special token, an unknown id) are skipped.
 *
 * @module
 */
import { type Note, type Score, sortNotes, type TempoChange, type TimeSignature } from "../score.ts";
import type { StreamDecoder, Tokenizer, TokenizerJson } from "./tokenizer.ts";
import { buildTables, DEFAULT_REMI_CONFIG, type RemiConfig, type RemiTables } from "./_remi_vocab.ts";

export { DEFAULT_REMI_CONFIG, FRADET_REMI_CONFIG, REMI_PRESETS, type RemiConfig } from "./_remi_vocab.ts";

const T_NONE = 0,
  T_BAR = 1,
  T_POS = 2,
  T_PITCH = 3,
  T_VEL = 4,
  T_DUR = 5,
  T_CHORD = 6,
  T_REST = 7,
  T_TEMPO = 8,
  T_TS = 9;

/**
 * Options for `RemiTokenizer.decode`.
 *
 * @example
 * ```ts
 * import { RemiTokenizer } from "./remi.ts";
 * import { emptyScore } from "../score.ts";
 * const tok = new RemiTokenizer();
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 95, start: 0, duration: 480 });
 * tok.decode(tok.encode(s), { ticksPerBeat: 96 }).notes[0].duration; // 96: a quarter note at 96 ticks per beat
 * ```
 */
export interface RemiDecodeOptions {
  /** Ticks per beat of the decoded score (default: the config's `decodeTicksPerBeat`, 480). */
  ticksPerBeat?: number;
}

/**
 * A cap on the tokens of one piece: `perNote` × notes + `base`.
 *
 * @example
 * ```ts
 * import { RemiTokenizer, tokenCapFor } from "./remi.ts";
 * const tok = new RemiTokenizer();
 * tok.tokenCap = { perNote: 16, base: 100_000 }; // for music with long empty stretches
 * tokenCapFor(10, tok.tokenCap); // 100160
 * ```
 */
export interface TokenCap {
  /** Tokens allowed per note (the notes REMI encodes: in the pitch range, duplicates removed). */
  perNote: number;
  /** Tokens allowed on top, for bars, meters and tempos. */
  base: number;
}

/**
 * The default REMI token cap: 16 per note + 4,096. A note costs at most 6 tokens (Position, Tempo, Chord, Pitch,
 * Velocity, Duration) besides bars and meters; real music needs 3.5–4.5 per note (7 for a one-note file): over the
 * 2,208 readable files of the shared corpora, at most 1,736 tokens above 4 per note. What the cap stops is a long
 * stretch of empty bars, which costs tokens without notes.
 *
 * @example
 * ```ts
 * import { DEFAULT_TOKEN_CAP, tokenCapFor } from "./remi.ts";
 * tokenCapFor(1000, DEFAULT_TOKEN_CAP); // 20096
 * ```
 */
export const DEFAULT_TOKEN_CAP: Readonly<TokenCap> = Object.freeze({ perNote: 16, base: 4096 });

/**
 * The most tokens a piece of `notes` notes may take under `cap`.
 *
 * @example
 * ```ts
 * import { tokenCapFor } from "./remi.ts";
 * tokenCapFor(2, { perNote: 16, base: 4096 }); // 4128
 * ```
 */
export function tokenCapFor(notes: number, cap: TokenCap = DEFAULT_TOKEN_CAP): number {
  return cap.perNote * notes + cap.base;
}

/**
 * Thrown by `encode` when a piece needs more tokens than the cap allows; the message says how many notes, the cap and
 * where it was reached.
 *
 * @example
 * ```ts
 * import { RemiTokenizer, TokenLimitError } from "./remi.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 80, start: 480 * 4 * 100_000, duration: 480 }); // after 100,000 empty bars
 * try {
 *   new RemiTokenizer().encode(s);
 * } catch (e) {
 *   if (e instanceof TokenLimitError) console.log(e.message, e.cap); // "REMI: … more than 4112 tokens …", 4112
 * }
 * ```
 */
export class TokenLimitError extends Error {
  /** The cap that was reached. */
  readonly cap: number;
  /** Notes in the piece. */
  readonly notes: number;
  /**
   * An error with the token cap that was exceeded and the piece's note count.
   *
   * @example
   * ```ts
   * import { TokenLimitError } from "./remi.ts";
   * new TokenLimitError("REMI: too many tokens", 4112, 1).name; // "TokenLimitError"
   * ```
   */
  constructor(message: string, cap: number, notes: number) {
    super(message);
    this.name = "TokenLimitError";
    this.cap = cap;
    this.notes = notes;
  }
}

/**
 * Options for `RemiTokenizer.encode` (and `BpeTokenizer.encode`).
 *
 * @example
 * ```ts
 * import { RemiTokenizer, TokenLimitError } from "./remi.ts";
 * import { emptyScore } from "../score.ts";
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 95, start: 0, duration: 480 });
 * try {
 *   new RemiTokenizer().encode(s, { maxTokens: 4 }); // the note needs 7 tokens
 * } catch (e) {
 *   if (e instanceof TokenLimitError) console.log(e.cap); // 4
 * }
 * ```
 */
export interface RemiEncodeOptions {
  /** Most tokens for this piece (default: `tokenCapFor(notes, tokenizer.tokenCap)`); over it, `TokenLimitError`. */
  maxTokens?: number;
}

interface QNote {
  pos: number;
  pitch: number;
  vel: number;
  dur: number;
}

/**
 * The REMI tokenizer.
 *
 * @example
 * ```ts
 * import { RemiTokenizer } from "./remi.ts";
 * import { emptyScore } from "../score.ts";
 * const tok = new RemiTokenizer();
 * const s = emptyScore(480);
 * s.notes.push({ pitch: 60, velocity: 95, start: 0, duration: 480 });
 * const ids = tok.encode(s);
 * console.log(ids.map((i) => tok.vocab[i])); // Bar_None Position_0 TimeSig_4/4 Tempo_121.29 Pitch_60 …
 * tok.decode(ids).notes; // [{ pitch: 60, velocity: 95, start: 0, duration: 480 }]
 * ```
 */
export class RemiTokenizer implements Tokenizer {
  /** Always `"remi"`. */
  readonly kind = "remi" as const;
  /** The full configuration (defaults filled in). */
  readonly config: RemiConfig;
  readonly vocab: readonly string[];
  /** @internal derived tables */
  readonly tables: RemiTables;
  /**
   * The cap on tokens per piece `encode` enforces (default `DEFAULT_TOKEN_CAP`; not part of `tokenizer.json`). Raise
   * it for music with long empty stretches, e.g. `tok.tokenCap = { perNote: 16, base: 100_000 }`.
   */
  tokenCap: TokenCap = { ...DEFAULT_TOKEN_CAP };
  #type: Uint8Array;
  #value: Float64Array;
  #index: Map<string, number>;
  #velIndex: Int32Array;

  /**
   * A REMI tokenizer with `DEFAULT_REMI_CONFIG` overridden by `config`; throws naming a bad field.
   *
   * @example
   * ```ts
   * import { RemiTokenizer } from "./remi.ts";
   * const tok = new RemiTokenizer({ useChords: true, useRests: true });
   * console.log(tok.vocab.length);
   * ```
   */
  constructor(config: Partial<RemiConfig> = {}) {
    const given = Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined));
    this.config = structuredClone({ ...DEFAULT_REMI_CONFIG, ...given });
    const t = this.tables = buildTables(this.config);
    this.vocab = Object.freeze(t.vocab.slice());
    this.#index = new Map(t.vocab.map((n, i) => [n, i]));
    const n = t.vocab.length;
    this.#type = new Uint8Array(n);
    this.#value = new Float64Array(n);
    const set = (base: number, count: number, type: number, val: (i: number) => number) => {
      for (let i = 0; i < count; i++) {
        this.#type[base + i] = type;
        this.#value[base + i] = val(i);
      }
    };
    const c = this.config;
    set(t.bar, 1, T_BAR, () => 0);
    set(t.pitch, c.pitchRange[1] - c.pitchRange[0] + 1, T_PITCH, (i) => c.pitchRange[0] + i);
    set(t.velocity, t.velocities.length, T_VEL, (i) => t.velocities[i]);
    set(t.duration, t.durations.length, T_DUR, (i) => t.durations[i].positions);
    set(t.position, t.numPositions, T_POS, (i) => i);
    if (c.useChords) set(t.chord, t.chordNames.length, T_CHORD, (i) => i);
    if (c.useRests) set(t.rest, t.rests.length, T_REST, (i) => t.rests[i].positions);
    if (c.useTempos) set(t.tempo, t.tempos.length, T_TEMPO, (i) => t.tempos[i]);
    if (c.useTimeSignatures) set(t.timeSig, t.timeSigs.length, T_TS, (i) => i);
    this.#velIndex = new Int32Array(128);
    for (let v = 0; v < 128; v++) this.#velIndex[v] = nearest(t.velocities, v);
  }

  /**
   * Rebuilds a tokenizer from its `tokenizer.json` form, checking that the vocabulary matches the config.
   *
   * @example
   * ```ts
   * import { RemiTokenizer } from "./remi.ts";
   * const tok = RemiTokenizer.fromJSON(new RemiTokenizer().toJSON());
   * ```
   */
  static fromJSON(json: TokenizerJson): RemiTokenizer {
    if (json.kind !== "remi") {
      throw new Error(`tokenizer.json: kind: expected "remi", got ${JSON.stringify(json.kind)}`);
    }
    const tok = new RemiTokenizer(json.config as Partial<RemiConfig>);
    checkVocab(tok.vocab, json.vocab);
    return tok;
  }

  /** The id of a token name, or undefined. */
  tokenId(name: string): number | undefined {
    return this.#index.get(name);
  }

  /** The token type (`Bar`, `Pitch`, …) of an id, from its name. */
  tokenType(id: number): string {
    const name = this.vocab[id];
    return name === undefined ? "" : name.slice(0, name.indexOf("_"));
  }

  /**
   * Which token type may follow which in what `encode` produces (MidiTok's `tokens_types_graph`, for this config):
   * a sequence starts with `Bar`; `Position` values rise within a bar; `TimeSig` only follows `Bar Position_0`.
   *
   * @example
   * ```ts
   * import { RemiTokenizer } from "./remi.ts";
   * new RemiTokenizer().typeGraph().Pitch; // ["Velocity"]
   * ```
   */
  typeGraph(): Record<string, string[]> {
    const c = this.config;
    const g: Record<string, string[]> = {
      Bar: ["Bar", "Position"],
      Position: ["Pitch"],
      Pitch: ["Velocity"],
      Velocity: ["Duration"],
      Duration: ["Pitch", "Position", "Bar"],
    };
    const afterStep = ["Position", "Bar", ...(c.useRests ? ["Rest"] : [])];
    if (c.useRests) {
      g.Rest = ["Rest", "Position", "Bar"];
      g.Duration.push("Rest");
    }
    if (c.useChords) {
      g.Chord = ["Pitch"];
      g.Position.push("Chord");
    }
    if (c.useTempos) {
      g.Tempo = [...(c.useChords ? ["Chord"] : []), "Pitch", ...afterStep];
      g.Position.push("Tempo");
    }
    if (c.useTimeSignatures) {
      g.TimeSig = [
        ...(c.useTempos ? ["Tempo"] : []),
        ...(c.useChords ? ["Chord"] : []),
        "Pitch",
        ...afterStep,
      ];
      g.Position.push("TimeSig");
    }
    return g;
  }

  /** Encodes a score (no BOS/EOS). */
  /**
   * Encodes a score (no BOS/EOS). Throws `TokenLimitError` when it needs more than `opts.maxTokens` (default
   * `tokenCapFor(notes, this.tokenCap)`) tokens.
   *
   * @example
   * ```ts
   * import { RemiTokenizer } from "./remi.ts";
   * import { emptyScore } from "../score.ts";
   * const s = emptyScore(480);
   * s.notes.push({ pitch: 60, velocity: 95, start: 0, duration: 480 });
   * new RemiTokenizer().encode(s).length; // 7
   * ```
   */
  encode(score: Score, opts: RemiEncodeOptions = {}): number[] {
    const t = this.tables, c = this.config, R = t.grid;
    const scale = R / score.ticksPerBeat;
    const notes = this.#quantise(score, scale);
    const out: number[] = [];
    if (notes.length === 0) return out;
    const cap = opts.maxTokens ?? tokenCapFor(notes.length, this.tokenCap);
    let noteBar = 0; // the last bar with a note or a tempo change, for the message
    const overCap = (): never => {
      const given = opts.maxTokens === undefined
        ? `the cap for ${notes.length} note(s): ${this.tokenCap.perNote} per note + ${this.tokenCap.base}, ` +
          `RemiTokenizer.tokenCap`
        : "maxTokens";
      throw new TokenLimitError(
        `REMI: the piece needs more than ${cap} tokens (${given}); reached at bar ${curBar + 1}` +
          (curBar > noteBar
            ? `, ${curBar - noteBar} empty bar(s) after the last note (a long silence or a very fast tempo)`
            : ""),
        cap,
        notes.length,
      );
    };
    const lastOnset = notes[notes.length - 1].pos;

    // Tempo changes (pos, bin), first at 0, last one on a position wins, repeats dropped.
    const tempos: { pos: number; bin: number }[] = [];
    if (c.useTempos) {
      const src = score.tempos.length && score.tempos[0].tick <= 0
        ? score.tempos
        : [{ tick: 0, bpm: 120 }, ...score.tempos];
      for (const tc of src) {
        const pos = Math.max(0, Math.round(tc.tick * scale));
        if (pos > lastOnset) break;
        const bin = nearest(t.tempos, tc.bpm);
        if (tempos.length && tempos[tempos.length - 1].pos === pos) tempos.pop();
        if (tempos.length && tempos[tempos.length - 1].bin === bin) continue;
        tempos.push({ pos, bin });
      }
    }
    // Time signatures (pos, index into t.timeSigs); unsupported ones become 4/4.
    const four = t.timeSigs.findIndex((x) => x.name === "4/4");
    const sigs: { pos: number; idx: number }[] = [];
    if (c.useTimeSignatures) {
      for (const ts of score.timeSignatures) {
        const i = t.timeSigs.findIndex((x) =>
          x.numerator === ts.numerator && x.denominator === ts.denominator
        );
        sigs.push({ pos: Math.max(0, Math.round(ts.tick * scale)), idx: i < 0 ? four : i });
      }
      sigs.sort((a, b) => a.pos - b.pos);
    }

    let curBar = -1, barStart = 0, barLen = 4 * R, curSig = -1, sigPtr = 0;
    let prevEnd = 0, lastStep = 0, posDoneAt = -1, tempoPtr = 0, chordSkip = -1;
    const minRest = t.rests.length ? t.rests[0].positions : Infinity;
    const newBar = () => {
      if (curBar < 0) curBar = barStart = 0;
      else {
        barStart += barLen;
        curBar++;
      }
      out.push(t.bar);
      if (out.length > cap) overCap();
      if (!c.useTimeSignatures) return;
      let sig = curSig;
      while (sigPtr < sigs.length && sigs[sigPtr].pos <= barStart) sig = sigs[sigPtr++].idx;
      if (sig < 0) sig = four;
      if (sig !== curSig) {
        curSig = sig;
        barLen = t.timeSigs[sig].barPositions;
        out.push(t.position, t.timeSig + sig);
        posDoneAt = barStart;
      }
    };

    let i = 0;
    while (i < notes.length || tempoPtr < tempos.length) {
      const p = Math.min(
        i < notes.length ? notes[i].pos : Infinity,
        tempoPtr < tempos.length ? tempos[tempoPtr].pos : Infinity,
      );
      // Rests: from the later of the last step and the end of the sounding notes, up to p (not across a meter change).
      if (c.useRests && curBar >= 0) {
        const t0 = Math.max(lastStep, prevEnd);
        const sigAt = sigPtr < sigs.length
          ? barStart + Math.ceil((sigs[sigPtr].pos - barStart) / barLen) * barLen
          : Infinity;
        if (p - t0 >= minRest && sigAt > p) {
          let rem = p - t0, at = t0;
          for (let k = t.rests.length - 1; k >= 0 && rem > 0;) {
            if (t.rests[k].positions <= rem) {
              out.push(t.rest + k);
              if (out.length > cap) overCap();
              rem -= t.rests[k].positions;
              at += t.rests[k].positions;
            } else k--;
          }
          const nb = Math.floor((at - barStart) / barLen);
          barStart += nb * barLen;
          curBar += nb;
        }
      }
      while (curBar < 0 || p >= barStart + barLen) newBar();
      if (posDoneAt !== p) out.push(t.position + (p - barStart));
      posDoneAt = p;
      if (tempoPtr < tempos.length && tempos[tempoPtr].pos === p) out.push(t.tempo + tempos[tempoPtr++].bin);
      let j = i;
      while (j < notes.length && notes[j].pos === p) j++;
      if (c.useChords && j > i && p > chordSkip) {
        const [chord, skip] = this.#detectChord(notes, i);
        chordSkip = skip;
        if (chord >= 0) out.push(t.chord + chord);
      }
      for (; i < j; i++) {
        const n = notes[i];
        out.push(t.pitch + n.pitch - c.pitchRange[0], t.velocity + n.vel, t.duration + n.dur);
        prevEnd = Math.max(prevEnd, p + t.durations[n.dur].positions);
      }
      lastStep = p;
      noteBar = curBar;
      if (out.length > cap) overCap();
    }
    return out;
  }

  /** Notes in range, snapped to the grid and binned, sorted by position then pitch, duplicates removed. */
  #quantise(score: Score, scale: number): QNote[] {
    const t = this.tables, [lo, hi] = this.config.pitchRange;
    const q: QNote[] = [];
    for (const n of score.notes) {
      if (n.pitch < lo || n.pitch > hi) continue;
      const v = Math.min(127, Math.max(0, Math.round(n.velocity)));
      q.push({
        pos: Math.max(0, Math.round(n.start * scale)),
        pitch: n.pitch,
        vel: this.#velIndex[v],
        dur: nearestTime(t.durations, Math.max(0, n.duration) * scale),
      });
    }
    q.sort((a, b) => a.pos - b.pos || a.pitch - b.pitch);
    let w = 0;
    for (let r = 0; r < q.length; r++) {
      if (w > 0 && q[w - 1].pos === q[r].pos && q[w - 1].pitch === q[r].pitch) continue;
      q[w++] = q[r];
    }
    q.length = w;
    return q;
  }

  /**
   * MidiTok's chord detection on grid notes: notes starting within one position of notes[i], ends within half a beat
   * of the first one's (else ambiguous), only same-onset notes if the first is at most half a beat long, 3–5 distinct
   * pitches spanning ≤ 24 semitones, intervals above the lowest matched exactly. Returns [chord index or -1, last
   * onset covered].
   */
  #detectChord(notes: QNote[], i: number): [number, number] {
    const t = this.tables, R = t.grid, p0 = notes[i].pos;
    const end = (n: QNote) => n.pos + t.durations[n.dur].positions;
    const end0 = end(notes[i]);
    let j = i;
    while (j < notes.length && notes[j].pos <= p0 + 1) j++;
    let group = notes.slice(i, j);
    const lastOnset = group[group.length - 1].pos;
    if (group.some((n) => Math.abs(end(n) - end0) > R / 2)) return [-1, lastOnset];
    if (end0 - p0 <= R / 2) group = group.filter((n) => n.pos === p0);
    const pitches = [...new Set(group.map((n) => n.pitch))].sort((a, b) => a - b);
    const covered = group[group.length - 1].pos;
    if (pitches.length < 3 || pitches.length > 5 || pitches[pitches.length - 1] - pitches[0] > 24) {
      return [-1, covered];
    }
    const q = t.chordIntervals.get(pitches.map((x) => x - pitches[0]).join(","));
    if (q === undefined) return [-1, covered];
    return [this.config.chordRoots ? q * 12 + pitches[0] % 12 : q, covered];
  }

  /** Decodes ids to a score; never throws (unplaceable tokens are skipped). */
  decode(ids: readonly number[], opts: RemiDecodeOptions = {}): Score {
    const d = this.streamDecoder(opts);
    d.push(ids);
    return d.score();
  }

  /**
   * An incremental decoder (the one `decode` runs): push ids as they come, get the notes each push completes.
   *
   * @example
   * ```ts
   * import { RemiTokenizer } from "./remi.ts";
   * const tok = new RemiTokenizer();
   * const id = (n: string) => tok.tokenId(n)!;
   * const d = tok.streamDecoder();
   * d.push([id("Bar_None"), id("Position_0"), id("Pitch_60")]); // [] (the note is not complete yet)
   * d.push([id("Velocity_95"), id("Duration_1.0.8")]); // [{ pitch: 60, velocity: 95, start: 0, duration: 480 }]
   * ```
   */
  streamDecoder(opts: RemiDecodeOptions = {}): StreamDecoder {
    return new RemiStreamDecoder(
      this.tables,
      this.#type,
      this.#value,
      opts.ticksPerBeat ?? this.config.decodeTicksPerBeat,
    );
  }

  /**
   * The `tokenizer.json` form.
   *
   * @example
   * ```ts
   * import { RemiTokenizer } from "./remi.ts";
   * await Deno.writeTextFile("tokenizer.json", JSON.stringify(new RemiTokenizer().toJSON()));
   * ```
   */
  toJSON(): TokenizerJson {
    return {
      kind: "remi",
      config: structuredClone(this.config) as unknown as Record<string, unknown>,
      vocab: [...this.vocab],
    };
  }
}

const DEFAULT_TEMPOS: readonly TempoChange[] = Object.freeze([Object.freeze({ tick: 0, bpm: 120 })]);

/**
 * REMI decoding as a state machine over pushed ids (bar, position, meter, the note being read); the tempo map is kept
 * deduplicated as it grows (a Tempo on the tick of the previous one replaces it, a repeated bpm is dropped), so the
 * tempo view costs nothing per push.
 */
class RemiStreamDecoder implements StreamDecoder {
  readonly ticksPerBeat: number;
  readonly #t: RemiTables;
  readonly #type: Uint8Array;
  readonly #value: Float64Array;
  /** Ticks per grid position. */
  readonly #k: number;
  #notes: Note[] = [];
  /** Every Tempo token's change in token order (one per tick in a row), and whether the map kept it. */
  #raw: { change: TempoChange; kept: boolean }[] = [];
  /** The tempo map: `#raw`'s kept entries. */
  #map: TempoChange[] = [];
  #changedFrom = Infinity;
  #sigs: TimeSignature[] = [];
  #curBar = -1;
  #barStart = 0;
  #barLen: number;
  #cur = 0;
  #prevEnd = 0;
  #pitch = -1;
  #vel = -1;

  constructor(t: RemiTables, type: Uint8Array, value: Float64Array, ticksPerBeat: number) {
    this.#t = t;
    this.#type = type;
    this.#value = value;
    this.ticksPerBeat = ticksPerBeat;
    this.#k = ticksPerBeat / t.grid;
    this.#barLen = 4 * t.grid;
  }

  get tempos(): readonly TempoChange[] {
    return this.#map.length ? this.#map : DEFAULT_TEMPOS;
  }

  tempoChangedFrom(): number {
    const from = Math.min(this.#changedFrom, this.tempos.length);
    this.#changedFrom = Infinity;
    return from;
  }

  push(ids: readonly number[]): Note[] {
    const t = this.#t, k = this.#k, n = this.#type.length;
    const done: Note[] = [];
    for (const id of ids) {
      const type = Number.isInteger(id) && id >= 0 && id < n ? this.#type[id] : T_NONE;
      const v = type === T_NONE ? 0 : this.#value[id];
      if (type !== T_PITCH && type !== T_VEL && type !== T_DUR) this.#pitch = this.#vel = -1;
      switch (type) {
        case T_BAR:
          if (this.#curBar < 0) this.#curBar = this.#barStart = 0;
          else {
            this.#barStart += this.#barLen;
            this.#curBar++;
          }
          this.#cur = this.#barStart;
          break;
        case T_POS:
          if (this.#curBar < 0) this.#curBar = this.#barStart = 0;
          if (v < this.#barLen) this.#cur = this.#barStart + v;
          break;
        case T_TS:
          if (this.#cur === this.#barStart) {
            const ts = t.timeSigs[v];
            this.#barLen = ts.barPositions;
            const tick = Math.round(this.#barStart * k);
            const sigs = this.#sigs;
            if (sigs.length && sigs[sigs.length - 1].tick === tick) sigs.pop();
            sigs.push({ tick, numerator: ts.numerator, denominator: ts.denominator });
          }
          break;
        case T_TEMPO:
          this.#tempo({ tick: Math.round(this.#cur * k), bpm: v });
          break;
        case T_REST: {
          if (this.#curBar < 0) this.#curBar = this.#barStart = 0;
          this.#cur = Math.max(this.#cur, this.#prevEnd) + v;
          const nb = Math.floor((this.#cur - this.#barStart) / this.#barLen);
          this.#barStart += nb * this.#barLen;
          this.#curBar += nb;
          break;
        }
        case T_PITCH:
          this.#pitch = v;
          this.#vel = -1;
          break;
        case T_VEL:
          if (this.#pitch >= 0 && this.#vel < 0) this.#vel = v;
          else this.#pitch = this.#vel = -1;
          break;
        case T_DUR:
          if (this.#pitch >= 0 && this.#vel >= 0) {
            const note = {
              pitch: this.#pitch,
              velocity: this.#vel,
              start: Math.round(this.#cur * k),
              duration: Math.round(v * k),
            };
            this.#notes.push(note);
            done.push(note);
            this.#prevEnd = Math.max(this.#prevEnd, this.#cur + v);
          }
          this.#pitch = this.#vel = -1;
          break;
      }
    }
    return done;
  }

  /**
   * A Tempo token: replaces the previous change when on the same tick; the map drops a repeated bpm. A Tempo before
   * the previous one (a Position that went back, which the grammar mask never samples) is ignored, so the tempo map
   * stays in tick order whatever the ids.
   */
  #tempo(change: TempoChange) {
    const raw = this.#raw, map = this.#map;
    if (raw.length && change.tick < raw[raw.length - 1].change.tick) return;
    if (raw.length && raw[raw.length - 1].change.tick === change.tick) {
      if (raw.pop()!.kept) {
        map.pop();
        this.#changedFrom = Math.min(this.#changedFrom, map.length);
      }
    }
    const kept = !map.length || map[map.length - 1].bpm !== change.bpm;
    if (kept) {
      this.#changedFrom = Math.min(this.#changedFrom, map.length);
      map.push(change);
    }
    raw.push({ change, kept });
  }

  score(): Score {
    return {
      ticksPerBeat: this.ticksPerBeat,
      notes: sortNotes(this.#notes.map((n) => ({ ...n }))),
      tempos: this.tempos.map((x) => ({ ...x })),
      timeSignatures: dedupe(
        this.#sigs.map((x) => ({ ...x })),
        (a, b) => a.numerator === b.numerator && a.denominator === b.denominator,
        [{ tick: 0, numerator: 4, denominator: 4 }],
      ),
    };
  }
}

/** Throws unless a stored vocabulary equals the one rebuilt from the config. */
export function checkVocab(built: readonly string[], stored: unknown): void {
  if (!Array.isArray(stored)) throw new Error("tokenizer.json: vocab: expected an array of token names");
  if (stored.length !== built.length) {
    throw new Error(`tokenizer.json: vocab: ${stored.length} tokens, the config gives ${built.length}`);
  }
  for (let i = 0; i < built.length; i++) {
    if (stored[i] !== built[i]) {
      throw new Error(
        `tokenizer.json: vocab[${i}]: expected ${JSON.stringify(built[i])}, got ${JSON.stringify(stored[i])}`,
      );
    }
  }
}

function dedupe<T>(xs: T[], same: (a: T, b: T) => boolean, fallback: T[]): T[] {
  const out: T[] = [];
  for (const x of xs) if (!out.length || !same(out[out.length - 1], x)) out.push(x);
  return out.length ? out : fallback;
}

/** Index of the value nearest to x in an ascending list (ties to the lower). */
function nearest(values: readonly number[], x: number): number {
  let lo = 0, hi = values.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (values[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 && x - values[lo - 1] <= values[lo] - x ? lo - 1 : lo;
}

function nearestTime(values: readonly { positions: number }[], x: number): number {
  let lo = 0, hi = values.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (values[mid].positions < x) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 && x - values[lo - 1].positions <= values[lo].positions - x ? lo - 1 : lo;
}
