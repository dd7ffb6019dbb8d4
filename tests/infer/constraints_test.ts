// The dynamic controls' state machine (lib/infer/constraints.ts), model-free: random walks that draw any allowed
// token (uniformly, so every BPE token and corner gets drawn), checked on the tokenizer's own decoding of the ids.
import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { type DecodeConstraint, decodeConstraints, hasDynamicControls } from "../../lib/infer/constraints.ts";
import { controlBias, type Controls } from "../../lib/infer/controls.ts";
import { grammarTables, initialState, nextState, TokenType } from "../../lib/infer/grammar.ts";
import { loadTokenizer } from "../../lib/tokenizers/load.ts";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import type { TokenizerJson } from "../../lib/tokenizers/tokenizer.ts";
import type { Score } from "../../lib/score.ts";
import { remiTokenizer } from "./_fixtures.ts";
import { rng } from "./_fixtures.ts";

const DEFAULT_TOK: TokenizerJson = JSON.parse(await Deno.readTextFile("models/maestro-2m/tokenizer.json"));
const EOS = 2;

interface Walk {
  ids: number[];
  constraint: DecodeConstraint;
}

/**
 * Draws up to `maxTokens` tokens uniformly among the allowed ones, stopping as `generate` does (EOS; a token whose
 * Bars take the count past `bars`, not kept).
 */
const tables = new Map<TokenizerJson, ReturnType<typeof grammarTables>>();
const grammarOf = (json: TokenizerJson) =>
  tables.get(json) ?? tables.set(json, grammarTables(json)).get(json)!;

function walk(
  json: TokenizerJson,
  o: { bars?: number; controls?: Controls; maxTokens: number; prompt?: number[] },
  seed: number,
): Walk {
  const g = grammarOf(json);
  let gs = initialState(g);
  for (const id of o.prompt ?? []) gs = nextState(g, gs, id);
  const bias = controlBias(json.vocab, o.controls);
  const setup = { tokenizer: json, grammar: g, ...o, prompt: o.prompt ?? [], grammarState: gs, bias };
  const c = decodeConstraints(setup)!();
  const r = rng(seed), ids: number[] = [];
  let bars = 0;
  for (let i = 0; i < o.maxTokens; i++) {
    const a = c.allowed();
    const ok = [...a.keys()].filter((v) => a[v]);
    assert(ok.length > 0, `seed ${seed}: no token allowed after ${ids.length}`);
    const t = ok[Math.floor(r() * ok.length)];
    c.advance(t);
    if (t === EOS) break;
    bars += g.base[t].filter((b) => g.baseType[b] === TokenType.Bar).length;
    if (o.bars !== undefined && bars > o.bars) {
      assertEquals(g.baseType[g.base[t][0]], TokenType.Bar, "the stop token starts with its Bar");
      break;
    }
    ids.push(t);
  }
  // The piece's bars as `generate` writes them: a fresh constraint over the kept ids.
  const fresh = decodeConstraints(setup)!();
  for (const id of ids) fresh.advance(id);
  return { ids, constraint: fresh };
}

/** Bars up to `end` in the score's time signatures (4/4 before the first). */
function barsUpTo(s: Score, end: number): number {
  const sigs = s.timeSignatures.length && s.timeSignatures[0].tick === 0
    ? s.timeSignatures
    : [{ tick: 0, numerator: 4, denominator: 4 }, ...s.timeSignatures];
  let n = 0;
  for (let i = 0; i < sigs.length && sigs[i].tick < end; i++) {
    const to = Math.min(sigs[i + 1]?.tick ?? end, end);
    n += (to - sigs[i].tick) / (s.ticksPerBeat * 4 * sigs[i].numerator / sigs[i].denominator);
  }
  return n;
}

function polyphony(s: Score): number {
  const ev = s.notes.flatMap((n) => [[n.start, 1], [n.start + n.duration, -1]]).sort((a, b) =>
    a[0] - b[0] || a[1] - b[1]
  );
  let c = 0, most = 0;
  for (const [, d] of ev) most = Math.max(most, c += d);
  return most;
}

function checkWalks(json: TokenizerJson, walks: number) {
  const tok = loadTokenizer(json);
  let tight = 0;
  for (let seed = 1; seed <= walks; seed++) {
    const r = rng(1000 + seed);
    const N = 1 + Math.floor(r() * 4), cap = [1, 2, 3, Infinity][seed % 4];
    const maxTokens = N + 3 + Math.floor(r() * 40);
    const controls: Controls = cap < Infinity ? { maxPolyphony: cap } : {};
    const { ids, constraint } = walk(json, { bars: N, controls, maxTokens }, seed);
    if (ids.length >= maxTokens) tight++;
    const g = grammarOf(json);
    const bars = ids.flatMap((id) => g.base[id]).filter((b) => json.vocab[b] === "Bar_None").length;
    assertEquals(bars, N, `seed ${seed}: bars opened`);
    const s = tok.decode(ids), end = constraint.endTick()!;
    assertEquals(barsUpTo(s, end), N, `seed ${seed}: bars by the decoded time signatures`);
    for (const n of s.notes) assert(n.start + n.duration <= end, `seed ${seed}: a note past bar ${N}`);
    assert(polyphony(s) <= cap, `seed ${seed}: polyphony ${polyphony(s)} > ${cap}`);
  }
  assert(tight > 10, `the token budget ran out in ${tight} walks (wrap-up exercised)`);
}

Deno.test("random walks, the default model's REMI+BPE tokens: exact bars, polyphony, budget", () => {
  checkWalks(DEFAULT_TOK, 300);
});

Deno.test("random walks, REMI with rests, time signatures and tempos", () => {
  checkWalks(new RemiTokenizer({ useRests: true }).toJSON(), 300);
});

Deno.test("a prompt: bars count from the generation's start; its notes count toward polyphony", () => {
  const tok = new RemiTokenizer();
  const json = tok.toJSON();
  const score: Score = {
    ticksPerBeat: 480,
    notes: [{ pitch: 60, velocity: 80, start: 0, duration: 2880 }, {
      pitch: 64,
      velocity: 80,
      start: 2400,
      duration: 960,
    }],
    tempos: [{ tick: 0, bpm: 120 }],
    timeSignatures: [{ tick: 0, numerator: 4, denominator: 4 }],
  };
  const prompt = tok.encode(score);
  for (let seed = 1; seed <= 30; seed++) {
    const { ids, constraint } = walk(
      json,
      { bars: 2, controls: { maxPolyphony: 2 }, maxTokens: 80, prompt },
      seed,
    );
    const s = tok.decode([...prompt, ...ids]);
    const end = constraint.endTick()!;
    assertEquals(barsUpTo(s, end), 4, `seed ${seed}: the prompt's 2 bars, then 2`);
    assert(polyphony(s) <= 2, `seed ${seed}`);
    for (const n of s.notes) assert(n.start + n.duration <= end, `seed ${seed}: a note past the end`);
  }
});

Deno.test("maxPolyphony: a BPE token is allowed only if every note of it passes", () => {
  const base = remiTokenizer();
  const id = (n: string) => base.vocab.indexOf(n);
  const [p60, p64, v, d] = [
    id("Pitch_60"),
    id("Pitch_64"),
    id(base.vocab.find((n) => n.startsWith("Velocity_"))!),
    id("Duration_1.0.8"),
  ];
  const n = base.vocab.length;
  // Pitch_60+Velocity, +Duration, +Pitch_64: two notes at one onset.
  const json = remiTokenizer([[p60, v], [n, d], [n + 1, p64]]);
  const g = grammarTables(json), two = n + 2;
  const prompt = [
    id("Bar_None"),
    id("Position_0"),
    id("Pitch_48"),
    v,
    id("Duration_2.0.8"),
    id("Position_8"),
  ];
  let gs = initialState(g);
  for (const t of prompt) gs = nextState(g, gs, t);
  const make = (cap: number) =>
    decodeConstraints({
      tokenizer: json,
      grammar: g,
      controls: { maxPolyphony: cap },
      maxTokens: 100,
      prompt,
      grammarState: gs,
    })!();
  // Pitch_48 sounds at position 8: with a cap of 2 one more note may start, not two.
  assertEquals([make(2).allowed()[p60], make(2).allowed()[two]], [1, 0]);
  assertEquals([make(3).allowed()[p60], make(3).allowed()[two]], [1, 1]);
  assertEquals(make(1).allowed()[p60], 0);
});

Deno.test("noRepeatNgram: the token completing a seen n-gram is masked; lifted when it is the only one", () => {
  const json = new RemiTokenizer().toJSON();
  const g = grammarTables(json), V = json.vocab.length;
  const [a, b, c, d] = [10, 20, 30, 40];
  const make = (bias?: Float32Array) =>
    decodeConstraints({
      tokenizer: json,
      grammar: g,
      controls: { noRepeatNgram: 3 },
      maxTokens: 9,
      prompt: [a, b, c, a],
      bias,
    })!();
  const k = make();
  k.advance(b); // a b → c would repeat "a b c"
  assertEquals([k.allowed()[c], k.allowed()[d]], [0, 1]);
  k.advance(d); // "b d" is new: nothing masked
  assertEquals(k.allowed().reduce((s, x) => s + x, 0), V);
  const only = new Float32Array(V).fill(-Infinity);
  only[c] = 0;
  const l = make(only);
  l.advance(b);
  assertEquals(l.allowed()[c], 1, "lifted: c is the only token left");
});

Deno.test("hasDynamicControls, and no constraint without one", () => {
  assertEquals(hasDynamicControls({ key: "C major", tempo: 90 }), false);
  assertEquals(hasDynamicControls({ noRepeatNgram: 4 }), true);
  assertEquals(hasDynamicControls({}, 4), true);
  const g = grammarTables(DEFAULT_TOK);
  assertEquals(
    decodeConstraints({
      tokenizer: DEFAULT_TOK,
      grammar: g,
      controls: { key: "C major" },
      maxTokens: 9,
      prompt: [],
    }),
    undefined,
  );
  const pitch: TokenizerJson = {
    kind: "pitch",
    config: {},
    vocab: ["PAD_None", "BOS_None", "EOS_None", "MASK_None", "C4"],
  };
  assertThrows(
    () =>
      decodeConstraints({
        tokenizer: pitch,
        grammar: grammarTables(pitch),
        controls: { maxPolyphony: 2 },
        maxTokens: 9,
        prompt: [],
      }),
    RangeError,
    "maxPolyphony: needs a REMI tokenizer",
  );
  // n-grams are of ids: any tokenizer.
  const k = decodeConstraints({
    tokenizer: pitch,
    grammar: grammarTables(pitch),
    controls: { noRepeatNgram: 2 },
    maxTokens: 9,
    prompt: [4, 4],
  })!();
  assertEquals(k.allowed()[4], 0);
  assertThrows(
    () =>
      decodeConstraints({
        tokenizer: DEFAULT_TOK,
        grammar: g,
        controls: { maxPolyphony: 17 },
        maxTokens: 9,
        prompt: [],
      }),
    RangeError,
    "maxPolyphony: expected an integer in 1–16, got 17",
  );
});
