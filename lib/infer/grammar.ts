/**
 * REMI grammar from `tokenizer.json` alone: which token may follow which, as a small state machine
 * (state = type of the last base token + current position within the bar). The same tables drive the GPU mask
 * (`kernels/sampler.wgsl`) and the CPU (`allowedMask`, `grammarErrors`).
 *
 * Types follow MidiTok REMI: Bar → Position/Bar/TimeSig/Rest; Position → [TimeSig]/[Tempo]/[Chord]/Pitch;
 * Tempo → Chord/Pitch (or Position/Bar/Rest: a tempo change on a step without notes); Chord → Pitch; Pitch → Velocity → Duration → Pitch/Position/Bar/Rest; Rest → Rest/Position/Bar.
 * Positions strictly increase within a bar; a TimeSig only opens a bar (after `Bar` or `Position_0`). A type absent
 * from the vocabulary is skipped (Pitch → Duration when there are no velocities). A BPE token enters with its first
 * base token's type and leaves with its last one's; one whose inside breaks the grammar is never sampled. Like PAD and MASK, the condition tokens and FIM sentinels of a
 * model trained with conditioning (`Style_*`, `Key_*`, `TempoClass_*`, `Density_*`, `FIM_*`) are never sampled.
 *
 * @module
 */
import type { TokenizerJson } from "../tokenizers/tokenizer.ts";
import { mergeExpansion } from "../tokenizers/bpe.ts";

/** Token types of the grammar (indices into the transition table). */
export const TokenType = {
  Start: 0,
  Bar: 1,
  Position: 2,
  TimeSig: 3,
  Tempo: 4,
  Chord: 5,
  Pitch: 6,
  Velocity: 7,
  Duration: 8,
  Rest: 9,
  Other: 10,
  End: 11,
} as const;

const T = TokenType;
/** Number of token types. */
export const N_TYPES = 12;
/** Int32 words per token in `GrammarTables.gtab`. */
export const GTAB_STRIDE = 16;

const SUCC: Record<number, number[]> = {
  [T.Start]: [T.Bar],
  [T.Bar]: [T.Bar, T.Position, T.TimeSig, T.Rest, T.End],
  [T.Position]: [T.TimeSig, T.Tempo, T.Chord, T.Pitch],
  [T.TimeSig]: [T.Position, T.Tempo, T.Chord, T.Pitch, T.Bar, T.Rest, T.End],
  // A tempo change may sit on a step without notes (lib/tokenizers/remi.ts emits it there).
  [T.Tempo]: [T.Chord, T.Pitch, T.Position, T.Bar, T.Rest, T.End],
  [T.Chord]: [T.Pitch],
  [T.Pitch]: [T.Velocity],
  [T.Velocity]: [T.Duration],
  [T.Duration]: [T.Pitch, T.Position, T.Bar, T.Rest, T.End],
  [T.Rest]: [T.Rest, T.Position, T.Bar, T.End],
  [T.End]: [T.Bar],
};

/**
 * Per-token grammar table: entry/exit type, required position (> current) and position after it.
 *
 * @example
 * ```ts
 * import { grammarTables, TokenType } from "./grammar.ts";
 * const g = grammarTables({ kind: "remi", config: {}, vocab: ["PAD_None", "BOS_None", "EOS_None", "MASK_None", "Bar_None"] });
 * g.baseType[4] === TokenType.Bar; // true
 * g.remi; // true
 * ```
 */
export interface GrammarTables {
  /**
   * `GTAB_STRIDE` words per token: `[typeIn, typeOut, posReq, posOut, posMax, barOut, flags, 0, pre×4, post×4]`:
   * typeIn −1 = never sampled; posReq −1 = none (else the current position must be below it); posOut −2 = keep,
   * −1 = reset; posMax: the largest Position inside (−1 none; must be below the bar length); barOut: bar length in
   * positions set by a TimeSig inside (−1 keep); flags bit 0: starts a new time step (Position/Bar/Rest inside),
   * bit 1: a note (Pitch/Chord) before any Position/Bar inside (the bar needs a Position already);
   * pre: 128-bit mask of the pitches before that (must not be sounding at the current step already); post: the
   * pitches at the step the token ends on.
   */
  gtab: Int32Array;
  /** Bar length in positions before any TimeSig (4/4; unbounded when the vocabulary has no TimeSig). */
  barLen0: number;
  /** `allow[from * N_TYPES + to]` = 1 when a token of type `to` may follow type `from`. */
  allow: Uint32Array;
  /** Base token ids of each token (itself for base tokens; the expansion for BPE tokens). */
  base: number[][];
  /** By base id: its `TokenType` (−1 for PAD and MASK, never sampled; BOS is `Start`, EOS `End`). */
  baseType: number[];
  /** By base id: the position within the bar of a Position token, −1 for any other. */
  basePos: number[];
  /** By base id: the bar length in positions a TimeSig sets, −1 for any other. */
  baseBar: number[];
  /** Whether the tokenizer has a REMI grammar (false: everything allowed except specials). */
  remi: boolean;
}

/**
 * Grammar state: type of the last token, the current position within the bar (−1 = none yet), the bar length, and
 * the pitches already played at the current time step (4 × 32-bit mask).
 *
 * @example
 * ```ts
 * import { grammarTables, initialState, nextState } from "./grammar.ts";
 * const g = grammarTables({ kind: "remi", config: {}, vocab: ["PAD_None", "BOS_None", "EOS_None", "MASK_None", "Bar_None"] });
 * let s = initialState(g);
 * for (const id of [1, 4]) s = nextState(g, s, id); // BOS, Bar
 * s.pos; // -1: no Position yet in this bar
 * ```
 */
export interface GrammarState {
  /** `TokenType` of the last token (`Start` before any). */
  type: number;
  /** Current position within the bar, in grid steps (−1 = no Position yet in this bar). */
  pos: number;
  /** Bar length in positions (set by the last TimeSig; `barLen0` before any). */
  barLen: number;
  /** Pitches already played at the current step: a 128-bit mask in four 32-bit words (pitch p: bit p & 31 of word p >> 5). */
  pitches: number[];
}

function typeOfName(name: string): { type: number; pos: number; sig?: string; pitch?: number } {
  const [kind, val] = [
    name.slice(0, name.indexOf("_") < 0 ? name.length : name.indexOf("_")),
    name.split("_")[1],
  ];
  switch (kind) {
    case "Bar":
      return { type: T.Bar, pos: -1 };
    case "Position":
      return { type: T.Position, pos: Number(val) };
    case "TimeSig":
      return { type: T.TimeSig, pos: -1, sig: val };
    case "Tempo":
      return { type: T.Tempo, pos: -1 };
    case "Chord":
      return { type: T.Chord, pos: -1 };
    case "Pitch": {
      const p = Number(val);
      return { type: T.Pitch, pos: -1, pitch: Number.isInteger(p) && p >= 0 && p < 128 ? p : undefined };
    }
    case "Velocity":
      return { type: T.Velocity, pos: -1 };
    case "Duration":
      return { type: T.Duration, pos: -1 };
    case "Rest":
      return { type: T.Rest, pos: -1 };
    case "EOS":
      return { type: T.End, pos: -1 };
    case "BOS":
      return { type: T.Start, pos: -1 };
    case "PAD":
    case "MASK":
    // The learned conditions and FIM sentinels (lib/data/conditioning.ts): prompt tokens only, never sampled.
    case "Style":
    case "Key":
    case "TempoClass":
    case "Density":
    case "FIM":
      return { type: -1, pos: -1 };
    default:
      return { type: T.Other, pos: -1 };
  }
}

/**
 * Builds the grammar tables of a tokenizer (REMI or REMI+BPE; other kinds get a permissive table).
 *
 * @example
 * ```ts
 * import { grammarTables } from "./grammar.ts";
 * const g = grammarTables({ kind: "remi", config: {}, vocab: ["PAD_None", "BOS_None", "EOS_None", "MASK_None", "Bar_None"] });
 * g.gtab.length; // 5 * GTAB_STRIDE
 * ```
 */
export function grammarTables(tok: TokenizerJson): GrammarTables {
  const merges = tok.merges ?? [];
  const V = tok.vocab.length;
  const nBase = V - merges.length;
  const remi = tok.kind === "remi" || tok.kind === "remi-bpe";
  const baseType: number[] = [], basePos: number[] = [], baseBar: number[] = [], basePitch: number[] = [];
  const grid = gridOf(tok.config);
  let hasSig = false;
  for (let i = 0; i < nBase; i++) {
    const t = typeOfName(tok.vocab[i]);
    let bar = -1;
    if (t.sig) {
      const [n, d] = t.sig.split("/").map(Number);
      if (n > 0 && d > 0) bar = Math.round(n * grid * 4 / d), hasSig = true;
    }
    baseBar.push(remi ? bar : -1);
    basePitch.push(remi && t.pitch !== undefined ? t.pitch : -1);
    baseType.push(remi || t.type < 0 ? t.type : (t.type === T.Start || t.type === T.End ? t.type : T.Other));
    basePos.push(t.pos);
  }
  const base = mergeExpansion(nBase, merges, "tokenizer.json merges");
  // Transition table with absent types skipped.
  const present = new Set(baseType.filter((t) => t >= 0));
  present.add(T.Start);
  const allow = new Uint32Array(N_TYPES * N_TYPES);
  for (let from = 0; from < N_TYPES; from++) {
    if (from === T.Other || !remi) {
      for (let to = 0; to < N_TYPES; to++) allow[from * N_TYPES + to] = to === T.Start ? 0 : 1;
      continue;
    }
    const seen = new Set<number>();
    const visit = (t: number) => {
      for (const s of SUCC[t] ?? []) {
        if (seen.has(s)) continue;
        seen.add(s);
        if (!present.has(s) && s !== T.End) visit(s);
      }
    };
    visit(from);
    for (const s of seen) allow[from * N_TYPES + s] = 1;
    allow[from * N_TYPES + T.Other] = 1;
  }
  const gtab = new Int32Array(V * GTAB_STRIDE);
  for (let v = 0; v < V; v++) {
    const seq = base[v];
    let posMax = -1, barOut = -1, reset = false;
    const pre = [0, 0, 0, 0], post = [0, 0, 0, 0];
    let typeIn = baseType[seq[0]];
    const typeOut = baseType[seq[seq.length - 1]];
    let posReq = -1, posOut = -2, cur = -3; // -3: unknown (before any Bar/Position inside this token)
    let sigFirst = false; // a TimeSig before any Bar/Position inside: the current step must be the bar's first
    let needsPos = false; // a note (Pitch/Chord) before any Bar/Position inside: the bar must have a Position already
    let prev = -1;
    for (const id of seq) {
      const t = baseType[id];
      if (t < 0 || t === T.Start || (seq.length > 1 && t === T.End)) typeIn = -1;
      if (prev >= 0 && !allow[prev * N_TYPES + t]) typeIn = -1;
      if (baseBar[id] > 0) barOut = baseBar[id];
      const pitch = basePitch[id];
      if (pitch >= 0) {
        const w = pitch >> 5, bit = (1 << (pitch & 31)) >>> 0;
        if (post[w] & bit) typeIn = -1; // the same pitch twice at one step inside the token
        post[w] = (post[w] | bit) >>> 0;
        if (!reset) pre[w] = (pre[w] | bit) >>> 0;
      } else if (t === T.Position || t === T.Bar || t === T.Rest || t === T.End || t === T.Start) {
        reset = true;
        post.fill(0);
      }
      if (t === T.Position) {
        posMax = Math.max(posMax, basePos[id]);
        if (cur === -3) posReq = sigFirst ? Math.min(1, basePos[id]) : basePos[id];
        else if (cur >= 0 && basePos[id] <= cur) typeIn = -1;
        cur = basePos[id];
        posOut = cur;
      } else if (t === T.Bar || t === T.Rest || t === T.End) {
        cur = -1;
        posOut = -1;
      } else if (t === T.TimeSig) {
        // a meter starts a bar: only at its first step (after `Bar` or `Position_0`), as REMI writes it
        if (cur === -3) sigFirst = true, posReq = 1;
        else if (cur > 0) typeIn = -1;
      } else if (t === T.Pitch || t === T.Chord) {
        // a note sits at a Position: never right after `Bar` (or `Bar TimeSig`, `Rest`)
        if (cur === -3) needsPos = true;
        else if (cur === -1) typeIn = -1;
      }
      prev = t;
    }
    if (!remi) posReq = -1, posOut = -2, posMax = -1;
    if (!remi) pre.fill(0), post.fill(0), reset = false;
    gtab.set(
      [
        typeIn,
        typeOut < 0 ? T.Start : typeOut,
        posReq,
        posOut,
        posMax,
        barOut,
        (reset ? 1 : 0) | (needsPos ? 2 : 0),
        0,
        ...pre,
        ...post,
      ],
      v * GTAB_STRIDE,
    );
  }
  const barLen0 = remi && hasSig ? 4 * grid : 0x7fffffff;
  return { gtab, allow, base, baseType, basePos, baseBar, remi, barLen0 };
}

function gridOf(config: Record<string, unknown>): number {
  const c = (config.base ?? config) as Record<string, unknown>;
  const res = c.beatRes;
  if (Array.isArray(res) && res.length) {
    const g = Math.max(...res.map((r) => Array.isArray(r) ? Number(r[2]) : 0));
    if (g > 0) return g;
  }
  return 8;
}

/**
 * The state before any token (as after BOS); with tables, the bar length starts at 4/4.
 *
 * @example
 * ```ts
 * import { initialState } from "./grammar.ts";
 * initialState(); // { type: 0, pos: -1, barLen: 2147483647, pitches: [0, 0, 0, 0] }
 * ```
 */
export function initialState(g?: GrammarTables): GrammarState {
  return { type: T.Start, pos: -1, barLen: g?.barLen0 ?? 0x7fffffff, pitches: [0, 0, 0, 0] };
}

/**
 * Whether token `v` may follow in state `s`.
 *
 * @example
 * ```ts
 * import { grammarTables, initialState, isAllowed } from "./grammar.ts";
 * const g = grammarTables({ kind: "remi", config: {}, vocab: ["PAD_None", "BOS_None", "EOS_None", "MASK_None", "Bar_None"] });
 * isAllowed(g, initialState(), 4); // true: a piece starts with a bar
 * ```
 */
export function isAllowed(g: GrammarTables, s: GrammarState, v: number): boolean {
  const o = v * GTAB_STRIDE;
  const ti = g.gtab[o];
  if (ti < 0 || !g.allow[s.type * N_TYPES + ti]) return false;
  const pr = g.gtab[o + 2], pm = g.gtab[o + 4];
  if (g.gtab[o + 6] & 2 && s.pos < 0) return false;
  for (let w = 0; w < 4; w++) if (g.gtab[o + 8 + w] & s.pitches[w]) return false;
  return !(pr >= 0 && pr <= s.pos) && !(pm >= 0 && pm >= s.barLen);
}

/**
 * The mask of tokens allowed in state `s` (1 = allowed).
 *
 * @example
 * ```ts
 * import { allowedMask, grammarTables, initialState } from "./grammar.ts";
 * const g = grammarTables({ kind: "remi", config: {}, vocab: ["PAD_None", "BOS_None", "EOS_None", "MASK_None", "Bar_None"] });
 * allowedMask(g, initialState()); // Uint8Array [0, 0, 0, 0, 1]
 * ```
 */
export function allowedMask(g: GrammarTables, s: GrammarState): Uint8Array {
  const V = g.gtab.length / GTAB_STRIDE;
  const m = new Uint8Array(V);
  for (let v = 0; v < V; v++) m[v] = isAllowed(g, s, v) ? 1 : 0;
  return m;
}

/**
 * The state after token `v` (exactly the GPU sampler's update).
 *
 * @example
 * ```ts
 * import { grammarTables, initialState, nextState } from "./grammar.ts";
 * const g = grammarTables({ kind: "remi", config: {}, vocab: ["PAD_None", "BOS_None", "EOS_None", "MASK_None", "Bar_None"] });
 * nextState(g, initialState(), 4); // { type: 1, pos: -1, barLen: 2147483647, pitches: [0, 0, 0, 0] }
 * ```
 */
export function nextState(g: GrammarTables, s: GrammarState, v: number): GrammarState {
  const o = v * GTAB_STRIDE;
  const to = g.gtab[o + 1], po = g.gtab[o + 3], bo = g.gtab[o + 5], reset = g.gtab[o + 6] & 1;
  const pitches = s.pitches.map((m, w) => ((reset ? 0 : m) | g.gtab[o + 12 + w]) >>> 0);
  return {
    type: to >= 0 ? to : s.type,
    pos: po !== -2 ? po : s.pos,
    barLen: bo >= 0 ? bo : s.barLen,
    pitches,
  };
}

/**
 * Syntax error counts of a token sequence (MidiTok-style TSE).
 *
 * @example
 * ```ts
 * import { grammarErrors } from "./grammar.ts";
 * const vocab = ["PAD_None", "BOS_None", "EOS_None", "MASK_None", "Bar_None", "Position_0", "Pitch_60"];
 * grammarErrors([4, 5, 5], { kind: "remi", config: {}, vocab }); // { type: 0, time: 1, dupn: 0, tokens: 3 }
 * grammarErrors([4, 5, 6, 6], { kind: "remi", config: {}, vocab }).dupn; // 1: C4 twice at one step
 * ```
 */
export interface GrammarErrors {
  /** A token whose type cannot follow the previous one. */
  type: number;
  /** A Position not after the current one within the bar or past the bar's end, a meter inside a bar, or a note
   * before any Position in its bar. */
  time: number;
  /** The same pitch twice at one time step. */
  dupn: number;
  /** Base tokens checked. */
  tokens: number;
}

/**
 * Counts grammar errors in `ids` (BPE tokens are expanded to base tokens first). BOS resets the state.
 *
 * @example
 * ```ts
 * import { grammarErrors } from "./grammar.ts";
 * const tok = { kind: "remi" as const, config: {}, vocab: ["PAD_None", "BOS_None", "EOS_None", "MASK_None", "Bar_None", "Position_0", "Pitch_60"] };
 * grammarErrors([4, 5, 6], tok); // { type: 0, time: 0, dupn: 0, tokens: 3 }
 * ```
 */
export function grammarErrors(ids: readonly number[], tok: TokenizerJson | GrammarTables): GrammarErrors {
  const g = "gtab" in tok ? tok : grammarTables(tok);
  const errors = { type: 0, time: 0, dupn: 0, tokens: 0 };
  let type: number = T.Start, pos = -1, barLen = g.barLen0;
  let pitches = new Set<number>();
  for (const id of ids) {
    for (const b of g.base[id] ?? []) {
      errors.tokens++;
      const t = g.baseType[b];
      if (t === T.Start) {
        type = T.Start, pos = -1, barLen = g.barLen0, pitches = new Set();
        continue;
      }
      if (t < 0 || !g.allow[type * N_TYPES + t]) errors.type++;
      if (g.baseBar[b] > 0) barLen = g.baseBar[b];
      if (t === T.TimeSig && pos > 0) errors.time++; // a meter inside a bar
      if (t === T.Position) {
        if (g.basePos[b] <= pos || g.basePos[b] >= barLen) errors.time++;
        pos = g.basePos[b];
        pitches = new Set();
      } else if (t === T.Bar || t === T.Rest || t === T.End) {
        pos = -1;
        pitches = new Set();
      } else if (t === T.Pitch) {
        if (pos < 0) errors.time++; // a note with no Position in its bar
        if (pitches.has(b)) errors.dupn++;
        pitches.add(b);
      }
      if (t >= 0) type = t;
    }
  }
  return errors;
}
