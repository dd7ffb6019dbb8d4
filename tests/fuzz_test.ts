/**
 * Fuzzing the data path (issue 11): mutations of the real files in tests/testdata/midi (7 in 8 of a file that reads) — byte flips, insertions,
 * deletions, truncations, huge delta times and chunk lengths, extreme tempos and divisions, duplicated chunks — go
 * through read → REMI and REMI+BPE encode → decode → write → read → render (8 kHz, at most 30 s). Every case must end
 * in a result within the documented bounds or in one of the documented errors: `MidiError` (reading), `TokenLimitError`
 * (encoding), `RenderLimitError` (rendering). Time and memory per case are measured and reported, not asserted.
 *
 * `ETUDE_FUZZ_N` sets the number of cases (default 2,000), `ETUDE_FUZZ_SEED` the seed (default 11).
 */
import {
  DEFAULT_READ_LIMITS,
  MAX_SCORE_TICK,
  measureScore,
  MidiError,
  readMidi,
  writeMidi,
} from "../lib/midi/mod.ts";
import { RenderLimitError, renderWav } from "../lib/audio/mod.ts";
import { RemiTokenizer, tokenCapFor, TokenLimitError } from "../lib/tokenizers/remi.ts";
import { type BpeTokenizer, trainBpe } from "../lib/tokenizers/bpe.ts";
import type { Score } from "../lib/score.ts";
import { assert, assertEquals } from "./_assert.ts";

const DIR = new URL("./testdata/midi/", import.meta.url);
const N = Number(Deno.env.get("ETUDE_FUZZ_N") ?? 2000);
const SEED = Number(Deno.env.get("ETUDE_FUZZ_SEED") ?? 11);
const RENDER = { sampleRate: 8000, maxSeconds: 30 };

/** mulberry32: a small seeded generator, so the cases are the same on every run. */
function generator(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n: number) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

function vlq(value: number): number[] {
  const out = [value & 0x7f];
  for (let v = Math.floor(value / 128); v > 0; v = Math.floor(v / 128)) out.unshift((v & 0x7f) | 0x80);
  return out;
}

const u32 = (b: Uint8Array, at: number) =>
  ((b[at] << 24) >>> 0) + (b[at + 1] << 16) + (b[at + 2] << 8) + b[at + 3];

/** Where things are in a (possibly broken) file: chunks, and in each MTrk the offsets of its delta times and tempos. */
interface Layout {
  chunks: { at: number; end: number; id: string }[];
  deltas: { at: number; len: number; chunk: number }[];
  tempos: number[];
}

function layout(b: Uint8Array): Layout {
  const out: Layout = { chunks: [], deltas: [], tempos: [] };
  let pos = 0;
  while (pos + 8 <= b.length) {
    const id = String.fromCharCode(b[pos], b[pos + 1], b[pos + 2], b[pos + 3]);
    const end = Math.min(b.length, pos + 8 + u32(b, pos + 4));
    out.chunks.push({ at: pos, end, id });
    if (id === "MTrk") {
      let p = pos + 8, running = 0;
      try {
        while (p < end) {
          const d0 = p;
          while (p < end && b[p] & 0x80) p++;
          p++;
          out.deltas.push({ at: d0, len: p - d0, chunk: out.chunks.length - 1 });
          let status = b[p];
          if (status & 0x80) p++;
          else status = running;
          if (status < 0xf0) {
            running = status;
            p += (status >> 4) === 0xc || (status >> 4) === 0xd ? 1 : 2;
          } else if (status === 0xff) {
            const type = b[p++];
            let len = 0;
            while (b[p] & 0x80) len = len * 128 + (b[p++] & 0x7f);
            len = len * 128 + b[p++];
            if (type === 0x51) out.tempos.push(p);
            p += len;
          } else {
            let len = 0;
            while (b[p] & 0x80) len = len * 128 + (b[p++] & 0x7f);
            len = len * 128 + b[p++];
            p += len;
          }
        }
      } catch { /* a broken track: keep what was found */ }
    }
    if (id === "MThd" && pos === 0) pos = 8 + u32(b, 4);
    else pos = end;
    if (pos <= 0) break;
  }
  return out;
}

/** Replaces b[at, at + len) with `bytes` and fixes the length of the chunk that holds it. */
function splice(b: Uint8Array, at: number, len: number, bytes: number[], chunkAt?: number): Uint8Array {
  const out = new Uint8Array(b.length - len + bytes.length);
  out.set(b.subarray(0, at));
  out.set(bytes, at);
  out.set(b.subarray(at + len), at + bytes.length);
  if (chunkAt !== undefined) {
    const n = u32(b, chunkAt + 4) - len + bytes.length;
    out.set([(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255], chunkAt + 4);
  }
  return out;
}

const OPS = [
  "flip",
  "insert",
  "delete",
  "truncate",
  "huge-delta",
  "huge-length",
  "duplicate-chunk",
  "extreme-tempo",
  "division",
  "huge-delta+tempo",
] as const;
type Op = typeof OPS[number];

function mutate(src: Uint8Array, op: Op, r: (n: number) => number): Uint8Array {
  let b: Uint8Array = src.slice();
  const L = layout(b);
  const trackAt = (at: number) => L.chunks.find((c) => c.id === "MTrk" && at >= c.at + 8 && at < c.end)?.at;
  const hugeDelta = () => [0x0fffffff, 1 << 22, 1 << 26, 1 << 20, 1 + r(0x0fffffff)][r(5)];
  switch (op) {
    case "flip":
      for (let k = 1 + r(4); k > 0; k--) b[r(b.length)] = r(256);
      return b;
    case "insert": {
      // Half the time inside a track with its length fixed, so the garbage is read as events.
      const at = r(b.length + 1);
      return splice(b, at, 0, Array.from({ length: 1 + r(8) }, () => r(256)), r(2) ? trackAt(at) : undefined);
    }
    case "delete": {
      const at = r(b.length);
      const len = Math.min(b.length - at, 1 + r(8));
      const chunk = trackAt(at);
      const fits = chunk !== undefined && at + len <= L.chunks.find((c) => c.at === chunk)!.end;
      return splice(b, at, len, [], fits && r(2) ? chunk : undefined);
    }
    case "truncate":
      return b.subarray(0, r(b.length));
    case "huge-delta":
    case "huge-delta+tempo": {
      for (let k = 1 + r(2); k > 0 && L.deltas.length; k--) {
        const d = L.deltas[r(L.deltas.length)];
        b = splice(b, d.at, d.len, vlq(hugeDelta()), L.chunks[d.chunk].at);
        return op === "huge-delta" ? b : mutate(b, "extreme-tempo", r);
      }
      return b;
    }
    case "huge-length": {
      const c = L.chunks[r(L.chunks.length)] ?? { at: 0 };
      const n = [0xffffffff, 0x7fffffff, 0x10000000, r(0x100000)][r(4)];
      b.set([(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255], c.at + 4);
      return b;
    }
    case "duplicate-chunk": {
      const tracks = L.chunks.filter((c) => c.id === "MTrk");
      if (!tracks.length) return b;
      const c = tracks[r(tracks.length)];
      const copies = 1 + r(3);
      const chunk = [...b.subarray(c.at, c.end)];
      b = splice(b, c.end, 0, Array.from({ length: copies }, () => chunk).flat());
      if (r(4) > 0 && b.length >= 12) {
        const n = ((b[10] << 8) | b[11]) + copies;
        b[10] = (n >> 8) & 255;
        b[11] = n & 255;
      }
      return b;
    }
    case "extreme-tempo": {
      const micros = [1, 0xffffff, 2, 0x800000][r(4)];
      const bytes = [(micros >> 16) & 255, (micros >> 8) & 255, micros & 255];
      if (L.tempos.length) b.set(bytes, L.tempos[r(L.tempos.length)]);
      else {
        const t = L.chunks.find((c) => c.id === "MTrk");
        if (t) b = splice(b, t.at + 8, 0, [0, 0xff, 0x51, 3, ...bytes], t.at);
      }
      return b;
    }
    case "division": {
      const tpb = [1, 0x7fff, 3, 0xe728, 0x8001][r(5)];
      if (b.length >= 14) b.set([tpb >> 8, tpb & 255], 12);
      return b;
    }
  }
}

type Outcome = "ok" | "MidiError" | "TokenLimitError" | "RenderLimitError";

/** Checks a score from `readMidi` against the documented limits. */
function checkRead(s: Score, what: string): void {
  const m = measureScore(s);
  const L = DEFAULT_READ_LIMITS;
  assert(m.seconds <= L.maxSeconds + 1e-6, `${what}: ${m.seconds} s`);
  assert(m.bars <= L.maxBars, `${what}: ${m.bars} bars`);
  assert(m.longestSilence <= L.maxGapSeconds + 1e-6, `${what}: silence of ${m.longestSilence} s`);
  assert(m.endTick <= MAX_SCORE_TICK, `${what}: tick ${m.endTick}`);
  for (const n of s.notes) {
    assert(Number.isInteger(n.start) && n.duration >= 1, `${what}: note ${JSON.stringify(n)}`);
  }
}

function runCase(bytes: Uint8Array, remi: RemiTokenizer, bpe: BpeTokenizer, what: string): Outcome {
  let score: Score;
  try {
    score = readMidi(bytes, { name: what });
  } catch (e) {
    if (e instanceof MidiError && !e.message.includes("\n")) return "MidiError";
    throw e;
  }
  checkRead(score, what);
  // writeMidi can write whatever readMidi returns, and reads back the same.
  assertEquals(readMidi(writeMidi(score)), score, `${what}: write → read`);
  let ids: number[], merged: number[];
  try {
    ids = remi.encode(score);
    merged = bpe.encode(score);
  } catch (e) {
    if (e instanceof TokenLimitError) return "TokenLimitError";
    throw e;
  }
  assert(ids.length <= tokenCapFor(score.notes.length, remi.tokenCap), `${what}: ${ids.length} REMI tokens`);
  assert(merged.length <= ids.length, `${what}: BPE longer than REMI`);
  assertEquals(bpe.decodeToBase(merged), ids, `${what}: BPE expands back to REMI`);
  const decoded = bpe.decode(merged);
  const again = readMidi(writeMidi(decoded), { name: `${what} (decoded)` });
  checkRead(again, `${what} (decoded)`);
  let wav: Uint8Array;
  try {
    wav = renderWav(again, RENDER);
  } catch (e) {
    if (e instanceof RenderLimitError) return "RenderLimitError";
    throw e;
  }
  const frames = (wav.length - 44) / 2;
  assert(frames <= RENDER.maxSeconds * RENDER.sampleRate + 1, `${what}: ${frames} frames`);
  assertEquals(new DataView(wav.buffer).getUint32(4, true), wav.length - 8, `${what}: RIFF size`);
  return "ok";
}

Deno.test(`fuzz: ${N} mutations of real MIDI files through read → REMI/BPE → decode → write → read → render`, () => {
  const sources = [...Deno.readDirSync(DIR)]
    .filter((e) => e.isFile && e.name.endsWith(".mid"))
    .map((e) => ({ name: e.name, bytes: Deno.readFileSync(new URL(e.name, DIR)) }))
    .filter((f) => f.bytes.length > 0)
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const remi = new RemiTokenizer();
  const valid = sources.filter((f) => {
    try {
      return readMidi(f.bytes).notes.length > 0;
    } catch {
      return false;
    }
  });
  const broken = sources.filter((f) => !valid.includes(f));
  assert(valid.length >= 10 && broken.length >= 10);
  const bpe = trainBpe(remi, valid.map((f) => readMidi(f.bytes)), { vocabSize: 400 });
  const r = generator(SEED);
  const outcomes = new Map<string, number>();
  let maxMs = 0, maxRss = 0, slow = 0, maxCase = "";
  const rss0 = Deno.memoryUsage().rss;
  for (let i = 0; i < N; i++) {
    // Mostly the files that read (with notes); one case in eight mutates a broken fixture.
    const from = r(8) ? valid : broken;
    const src = from[r(from.length)];
    const op = OPS[r(OPS.length)];
    const bytes = mutate(src.bytes, op, r);
    const what = `case ${i} (${op} of ${src.name})`;
    const t0 = performance.now();
    const outcome = runCase(bytes, remi, bpe, what);
    const ms = performance.now() - t0;
    const rss = Deno.memoryUsage().rss;
    if (ms > maxMs) [maxMs, maxCase] = [ms, what];
    if (ms > 1000) slow++;
    maxRss = Math.max(maxRss, rss);
    outcomes.set(`${op} → ${outcome}`, (outcomes.get(`${op} → ${outcome}`) ?? 0) + 1);
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  }
  const byType = ["ok", "MidiError", "TokenLimitError", "RenderLimitError"].map((k) =>
    `${k} ${outcomes.get(k) ?? 0}`
  );
  console.log(
    `fuzz: ${N} cases (seed ${SEED}): ${byType.join(", ")}; slowest ${maxMs.toFixed(1)} ms (${maxCase}), ` +
      `${slow} over 1 s; RSS after a case at most ${Math.round(maxRss / 2 ** 20)} MB ` +
      `(${Math.round(rss0 / 2 ** 20)} MB before the first)`,
  );
  for (const op of OPS) {
    const per = ["ok", "MidiError", "TokenLimitError", "RenderLimitError"]
      .map((k) => [k, outcomes.get(`${op} → ${k}`) ?? 0] as const)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k} ${n}`);
    console.log(`  ${op}: ${per.join(", ")}`);
  }
  // Each outcome is reached, and most mutations of the valid files still read.
  assert((outcomes.get("ok") ?? 0) > N / 10, "ok cases");
  assert((outcomes.get("MidiError") ?? 0) > N / 10, "rejected cases");
});
