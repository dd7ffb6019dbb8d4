/**
 * The controls that need state while decoding (lib/infer/controls.ts documents what each means): the exact bar count
 * of a `bars` length, `maxPolyphony` and `noRepeatNgram`. One `DecodeConstraint` per sequence follows the tokens as
 * the REMI decoder reads them (bar, position, meter, the notes and their ticks; BPE tokens expanded to their base
 * tokens) and gives, before each draw, the tokens that may come next: the grammar mask, the static controls' masked
 * tokens and its own. Both decoders use it: the CPU loop (`sampleLoop`: the mask given to its sampler) and the
 * WebGPU engine (`Engine.decode`'s `stepBias`: a bias row uploaded before every step, -inf where masked).
 *
 * A BPE token is simulated base token by base token and allowed only if every step of it passes. Hard rules (with
 * the grammar mask on, some token always passes them): the piece never ends before bar N, a Bar past bar N is the
 * stop, no Duration lets a note sound past bar N's end, no TimeSig shortens the bars so that one would, a Rest never
 * crosses a bar line; no Pitch where `maxPolyphony` notes sound, no Position where they do (no Pitch could follow)
 * nor one back in time (then the count at an onset is the most over the note's whole length);
 * and when the token budget (`maxTokens`) runs short of the bars still to open, only tokens that finish the current
 * note and open bars. The n-gram block is soft: the one step where it would leave no token, it is lifted.
 *
 * @module
 */
import type { TokenizerJson } from "../tokenizers/tokenizer.ts";
import { DEFAULT_REMI_CONFIG } from "../tokenizers/remi.ts";
import { allowedMask, type GrammarState, type GrammarTables, nextState } from "./grammar.ts";
import { checkControls, type Controls, durationBeats } from "./controls.ts";

const K = { OTHER: 0, BAR: 1, POS: 2, TS: 3, TEMPO: 4, CHORD: 5, PITCH: 6, VEL: 7, DUR: 8, REST: 9, END: 10 };
const KINDS: Record<string, number> = {
  Bar: K.BAR,
  Position: K.POS,
  TimeSig: K.TS,
  Tempo: K.TEMPO,
  Chord: K.CHORD,
  Pitch: K.PITCH,
  Velocity: K.VEL,
  Duration: K.DUR,
  Rest: K.REST,
  EOS: K.END,
};

/**
 * What a generation's constraints are built from.
 *
 * @example
 * ```ts ignore
 * import type { ConstraintSetup } from "./constraints.ts";
 * import { loadModel } from "./load.ts";
 * const model = await loadModel("models/default");
 * const setup: ConstraintSetup = {
 *   tokenizer: model.tokenizerJson, grammar: model.grammar, controls: { maxPolyphony: 3 }, bars: 4, maxTokens: 4096,
 *   prompt: [],
 * };
 * ```
 */
export interface ConstraintSetup {
  /** The model's `tokenizer.json` (REMI or REMI+BPE for any dynamic control). */
  tokenizer: TokenizerJson;
  /** Its grammar tables (token expansions and types). */
  grammar: GrammarTables;
  /** The controls (only `maxPolyphony` and `noRepeatNgram` are dynamic here). */
  controls?: Controls;
  /** The length in bars: the piece gets exactly that many (counted from the generation's start). */
  bars?: number;
  /** Tokens drawn at most per sequence. */
  maxTokens: number;
  /** The ids before the generation (the whole prompt, no BOS), as the written piece decodes them. */
  prompt: readonly number[];
  /** The grammar state after the prompt the model sees; absent: no grammar mask. */
  grammarState?: GrammarState;
  /** The static controls' bias (`controlBias`): its -inf tokens are never allowed. */
  bias?: Float32Array;
}

/**
 * Whether a generation needs a `DecodeConstraint` (per-step masks): `maxPolyphony` or `noRepeatNgram` set, or a
 * length in `bars` (the exact bar count). A request without them can run on the static bias alone (the server's
 * batcher, `Engine.decodeRows`).
 *
 * @example
 * ```ts
 * import { hasDynamicControls } from "./constraints.ts";
 * hasDynamicControls({ key: "C major" }); // false
 * hasDynamicControls({ maxPolyphony: 3 }); // true
 * hasDynamicControls(undefined, 8); // true: 8 bars, exactly
 * ```
 */
export function hasDynamicControls(controls: Controls | undefined, bars?: number): boolean {
  return bars !== undefined || controls?.maxPolyphony !== undefined || controls?.noRepeatNgram !== undefined;
}

/** A sequence's decoder mirror: the REMI decoder's state (positions) and the constraint's counters. */
interface Mirror {
  curBar: number;
  barStart: number;
  barLen: number;
  cur: number;
  prevEnd: number;
  pitch: number;
  vel: number;
  /** Bars opened since the generation started. */
  bars: number;
  /** Kind of the last base token. */
  kind: number;
  /** The latest end (ticks) of a generated note. */
  maxEnd: number;
}

/** Per-model tables of a constraint: base token kinds and values, the tick grid. */
interface Tables {
  kind: Uint8Array;
  /** Pitch number, Position index, TimeSig bar length or Duration/Rest length in positions. */
  val: Float64Array;
  /** Ticks per position. */
  k: number;
  /** Positions per beat. */
  grid: number;
  /** The shortest Duration the static bias allows, in positions. */
  minDur: number;
}

function tablesOf(tok: TokenizerJson, g: GrammarTables, bias?: Float32Array): Tables {
  const c = (tok.config.base ?? tok.config) as Record<string, unknown>;
  // The onset grid as the grammar tables take it: the finest beat resolution (8 per beat when none is given).
  const res = Array.isArray(c.beatRes) ? c.beatRes as number[][] : DEFAULT_REMI_CONFIG.beatRes;
  const grid = Math.max(...res.map((r) => Array.isArray(r) ? Number(r[2]) : 0)) || 8;
  const tpb = Number(c.decodeTicksPerBeat ?? DEFAULT_REMI_CONFIG.decodeTicksPerBeat);
  const nBase = g.baseType.length;
  const kind = new Uint8Array(nBase), val = new Float64Array(nBase);
  let minDur = Infinity;
  for (let b = 0; b < nBase; b++) {
    const name = tok.vocab[b], i = name.indexOf("_");
    const type = i < 0 ? name : name.slice(0, i), v = name.slice(i + 1);
    kind[b] = KINDS[type] ?? K.OTHER;
    if (kind[b] === K.PITCH || kind[b] === K.POS) val[b] = Number(v);
    else if (kind[b] === K.TS) val[b] = g.baseBar[b];
    else if (kind[b] === K.DUR || kind[b] === K.REST) val[b] = Math.round(durationBeats(v) * grid);
    if (kind[b] === K.DUR && !(bias && !(bias[b] > -3.4e38))) minDur = Math.min(minDur, val[b]);
  }
  return { kind, val, k: tpb / grid, grid, minDur };
}

/**
 * The constraints of one generation: a factory of per-sequence `DecodeConstraint`s, or undefined when the generation
 * has no dynamic control (then nothing changes: the same tokens as before). Throws a one-line RangeError naming the
 * control for a value outside its range, or `maxPolyphony` on a tokenizer without REMI time (`pitch`).
 *
 * @example
 * ```ts ignore
 * import { decodeConstraints } from "./constraints.ts";
 * import { loadModel } from "./load.ts";
 * const model = await loadModel("models/default");
 * const make = decodeConstraints({
 *   tokenizer: model.tokenizerJson, grammar: model.grammar, bars: 4, maxTokens: 4096, prompt: [],
 *   controls: { maxPolyphony: 2 },
 * })!;
 * const c = make();
 * c.allowed(); // Uint8Array: 1 where the first token may be drawn
 * ```
 */
export function decodeConstraints(setup: ConstraintSetup): (() => DecodeConstraint) | undefined {
  checkControls(setup.controls);
  if (!hasDynamicControls(setup.controls, setup.bars)) return undefined;
  if (!setup.grammar.remi) {
    // No REMI time: no polyphony to count, no bars to make exact (the stop criterion alone); n-grams are of ids.
    if (setup.controls?.maxPolyphony !== undefined) {
      throw new RangeError(`maxPolyphony: needs a REMI tokenizer (this model's is ${setup.tokenizer.kind})`);
    }
    if (setup.controls?.noRepeatNgram === undefined) return undefined;
    setup = { ...setup, bars: undefined };
  }
  TABLES.set(setup, tablesOf(setup.tokenizer, setup.grammar, setup.bias));
  return () => new DecodeConstraint(setup);
}

/** The tables of each setup `decodeConstraints` took (built once per generation, shared by its sequences). */
const TABLES = new WeakMap<ConstraintSetup, Tables>();

/**
 * One sequence's constraint state: `advance` with every token drawn, `allowed` before each draw.
 *
 * @example
 * ```ts ignore
 * import { decodeConstraints } from "./constraints.ts";
 * import { loadModel } from "./load.ts";
 * const model = await loadModel("models/default");
 * const c = decodeConstraints({
 *   tokenizer: model.tokenizerJson, grammar: model.grammar, bars: 2, maxTokens: 512, prompt: [],
 * })!();
 * c.allowed()[2]; // 0: no EOS before bar 2
 * c.advance(4); // Bar_None
 * c.endTick(); // 3840: the end of bar 2 (4/4, 480 ticks per beat)
 * ```
 */
export class DecodeConstraint {
  readonly #t: Tables;
  readonly #g: GrammarTables;
  readonly #bars?: number;
  readonly #cap: number;
  readonly #n: number;
  readonly #maxTokens: number;
  readonly #bias?: Float32Array;
  #grammar?: GrammarState;
  #s: Mirror = {
    curBar: -1,
    barStart: 0,
    barLen: 0,
    cur: 0,
    prevEnd: 0,
    pitch: -1,
    vel: -1,
    bars: 0,
    kind: 0,
    maxEnd: 0,
  };
  readonly #x: Mirror = { ...this.#s };
  /** Notes that may still sound: start and end ticks. */
  #starts: number[] = [];
  #ends: number[] = [];
  /** Notes a token under test adds. */
  readonly #tmpS: number[] = [];
  readonly #tmpE: number[] = [];
  #tmp = 0;
  /** n-gram block: the ids so far, and the tokens seen after each (n−1)-gram. */
  readonly #hist: number[] = [];
  readonly #seen = new Map<string, Set<number>>();
  #drawn = 0;
  #done = false;

  /** A sequence's constraint at the generation's start (`decodeConstraints(setup)()` checks `setup` first). */
  constructor(setup: ConstraintSetup) {
    const tables = TABLES.get(setup) ?? tablesOf(setup.tokenizer, setup.grammar, setup.bias);
    this.#t = tables;
    this.#g = setup.grammar;
    this.#bars = setup.bars;
    this.#cap = setup.controls?.maxPolyphony ?? Infinity;
    this.#n = setup.controls?.noRepeatNgram ?? 0;
    this.#maxTokens = setup.maxTokens;
    this.#bias = setup.bias;
    this.#grammar = setup.grammarState ? { ...setup.grammarState } : undefined;
    this.#s.barLen = 4 * tables.grid;
    for (const id of setup.prompt) this.#step(id, false);
  }

  /** True once the sequence ended (End, or the Bar past bar N): no more masks. */
  get done(): boolean {
    return this.#done;
  }

  /** Takes the token drawn. */
  advance(id: number): void {
    if (this.#grammar) this.#grammar = nextState(this.#g, this.#grammar, id);
    this.#drawn++;
    this.#step(id, true);
  }

  /**
   * The tokens that may be drawn next (1 = allowed): the grammar mask (when on), the static controls' -inf tokens
   * out, and this constraint's rules.
   */
  allowed(): Uint8Array {
    const V = this.#g.base.length, bias = this.#bias;
    const out = this.#grammar ? allowedMask(this.#g, this.#grammar) : new Uint8Array(V).fill(1);
    if (bias) { for (let v = 0; v < V; v++) if (!(bias[v] > -3.4e38)) out[v] = 0; }
    if (this.#done) return out;
    const banned = this.#banned();
    const b = this.#bars, need = b === undefined ? 0 : b - this.#s.bars;
    const wrap = need > 0 && this.#maxTokens - this.#drawn <= need + 3;
    const hard = new Uint8Array(V);
    let nHard = 0, nSoft = 0;
    for (let v = 0; v < V; v++) {
      if (!out[v] || !this.#check(v, wrap)) continue;
      hard[v] = 1;
      nHard++;
      if (!banned?.has(v)) nSoft++;
    }
    if (!nHard) return out; // cannot happen with the grammar mask on (see the module doc)
    if (nSoft && banned) { for (const v of banned) hard[v] = 0; }
    return hard;
  }

  /** The static bias with -inf where `allowed()` is 0: the engine's per-step bias row. */
  bias(): Float32Array {
    const a = this.allowed();
    const out = this.#bias ? Float32Array.from(this.#bias) : new Float32Array(a.length);
    for (let v = 0; v < a.length; v++) if (!a[v]) out[v] = -Infinity;
    return out;
  }

  /** With `bars`: the tick where the last bar drawn ends (the end of bar N once all are drawn); else undefined. */
  endTick(): number | undefined {
    const s = this.#s;
    if (this.#bars === undefined || s.curBar < 0) return undefined;
    return Math.round((s.barStart + s.barLen) * this.#t.k);
  }

  /** The end of bar N in positions, from a mirror state. */
  #endN(s: Mirror): number {
    const N = this.#bars!;
    if (s.bars >= 1) return s.barStart + (N - s.bars + 1) * s.barLen;
    return (s.curBar < 0 ? 0 : s.barStart + s.barLen) + N * s.barLen;
  }

  /** Notes sounding at tick `t` (committed and the token under test's). */
  #sounding(t: number): number {
    let c = 0;
    for (let i = 0; i < this.#ends.length; i++) if (this.#starts[i] <= t && t < this.#ends[i]) c++;
    for (let i = 0; i < this.#tmp; i++) if (this.#tmpS[i] <= t && t < this.#tmpE[i]) c++;
    return c;
  }

  /** The ids that would repeat an n-gram, or undefined. */
  #banned(): Set<number> | undefined {
    const n = this.#n, h = this.#hist;
    if (!n || h.length < n - 1) return undefined;
    return this.#seen.get(h.slice(h.length - n + 1).join(","));
  }

  /** Whether token `v` passes every rule from the current state (simulated on a copy). */
  #check(v: number, wrap: boolean): boolean {
    Object.assign(this.#x, this.#s);
    this.#tmp = 0;
    return this.#run(v, this.#x, wrap, true);
  }

  /** Takes a token into the real state (`gen`: drawn, not the prompt's). */
  #step(id: number, gen: boolean) {
    const h = this.#hist, n = this.#n;
    if (n) {
      // Every n-gram of the piece so far (the prompt's too): its first n − 1 ids → its last.
      if (h.length >= n - 1) {
        const key = h.slice(h.length - n + 1).join(",");
        if (!this.#seen.has(key)) this.#seen.set(key, new Set());
        this.#seen.get(key)!.add(id);
      }
      h.push(id);
    }
    this.#tmp = 0;
    const stopped = !this.#run(id, this.#s, false, false, gen);
    for (let i = 0; i < this.#tmp; i++) this.#starts.push(this.#tmpS[i]), this.#ends.push(this.#tmpE[i]);
    this.#tmp = 0;
    const now = Math.round(this.#s.cur * this.#t.k);
    for (let i = this.#ends.length - 1; i >= 0; i--) {
      if (this.#ends[i] <= now) this.#ends.splice(i, 1), this.#starts.splice(i, 1);
    }
    if (gen && stopped) this.#done = true;
  }

  /**
   * Runs token `v` over mirror `s`, base token by base token, as the REMI decoder does. With `check`, returns false
   * at the first rule it breaks; without, applies it and returns false once the sequence is over (End, or a Bar past
   * bar N). Notes it completes go to the `#tmp` lists.
   */
  #run(v: number, s: Mirror, wrap: boolean, check: boolean, gen = true): boolean {
    const t = this.#t, seq = this.#g.base[v] ?? [], N = this.#bars, exact = N !== undefined && gen;
    const cap = this.#cap, poly = cap < Infinity;
    for (let i = 0; i < seq.length; i++) {
      const b = seq[i], kind = t.kind[b], val = t.val[b];
      if (kind !== K.PITCH && kind !== K.VEL && kind !== K.DUR) s.pitch = s.vel = -1;
      switch (kind) {
        case K.END:
          if (check) return !(exact && s.bars < N!);
          return !gen;
        case K.BAR:
          if (exact && s.bars + 1 > N) return check ? i === 0 : false; // the stop: dropped, nothing after counts
          if (gen) s.bars++;
          if (s.curBar < 0) s.curBar = s.barStart = 0;
          else s.barStart += s.barLen, s.curBar++;
          s.cur = s.barStart;
          break;
        case K.POS:
          if (check && wrap) return false;
          if (s.curBar < 0) s.curBar = s.barStart = 0;
          // Time only moves on under a polyphony cap (after a Rest, REMI's grammar allows a Position before it).
          if (check && poly && val < s.barLen && s.barStart + val < s.cur) return false;
          if (val < s.barLen) s.cur = s.barStart + val;
          if (check && poly && this.#sounding(Math.round(s.cur * t.k)) >= cap) return false;
          if (check && exact && s.cur + t.minDur > this.#endN(s)) return false;
          break;
        case K.TS:
          if (check && wrap) return false;
          if (s.cur === s.barStart) {
            s.barLen = val;
            if (check && exact && s.maxEnd > Math.round(this.#endN(s) * t.k)) return false;
          }
          break;
        case K.REST: {
          if (check && wrap) return false;
          if (s.curBar < 0) s.curBar = s.barStart = 0;
          s.cur = Math.max(s.cur, s.prevEnd) + val;
          const nb = Math.floor((s.cur - s.barStart) / s.barLen);
          if (check && exact && nb > 0) return false;
          s.barStart += nb * s.barLen;
          s.curBar += nb;
          break;
        }
        case K.PITCH:
          if (check && wrap && s.kind !== K.POS && s.kind !== K.CHORD) return false;
          if (check && poly && this.#sounding(Math.round(s.cur * t.k)) >= cap) return false;
          s.pitch = val;
          s.vel = -1;
          break;
        case K.VEL:
          if (s.pitch >= 0 && s.vel < 0) s.vel = val;
          else s.pitch = s.vel = -1;
          break;
        case K.DUR:
          if (s.pitch >= 0 && s.vel >= 0) {
            const start = Math.round(s.cur * t.k), end = start + Math.round(val * t.k);
            if (check && exact && end > Math.round(this.#endN(s) * t.k)) return false;
            if (poly || !check) this.#tmpS[this.#tmp] = start, this.#tmpE[this.#tmp++] = end;
            if (gen) s.maxEnd = Math.max(s.maxEnd, end);
            s.prevEnd = Math.max(s.prevEnd, s.cur + val);
          }
          s.pitch = s.vel = -1;
          break;
        default:
          if (check && wrap) return false;
      }
      if (kind !== K.OTHER) s.kind = kind;
    }
    return true;
  }
}
