/**
 * Streaming in `generate` (`onNotes`): each readback decodes only its new ids, and the notes streamed for a sequence,
 * concatenated, are exactly the notes its generated ids add to the final score (the final score minus the prompt's
 * notes, as a multiset) — for REMI and REMI+BPE (the default model's real tokenizer), batches, the `seconds` and
 * `bars` stops, a prompt, and a context small enough that the window slides. Streaming changes nothing else: the same
 * ids and scores come back with and without it, whatever the callback does to the notes it is given.
 */
import { assert, assertEquals } from "../_assert.ts";
import { generate } from "../../lib/infer/generate.ts";
import { loadModel } from "../../lib/infer/load.ts";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import type { TokenizerJson } from "../../lib/tokenizers/tokenizer.ts";
import { emptyScore, type Note, type Score, sortNotes, ticksToSeconds } from "../../lib/score.ts";
import { writeTinyCheckpoint } from "./_fixtures.ts";

const REMI = new RemiTokenizer().toJSON();
const BPE = JSON.parse(
  await Deno.readTextFile(new URL("../../models/maestro-2m/tokenizer.json", import.meta.url)),
) as TokenizerJson;

const key = (n: Note) => `${n.start}:${n.pitch}:${n.duration}:${n.velocity}`;

/** `all` minus `some` as multisets (throws if `some` is not contained in `all`). */
function minus(all: Note[], some: Note[]): Note[] {
  const left = new Map<string, number>();
  for (const n of some) left.set(key(n), (left.get(key(n)) ?? 0) + 1);
  const out = all.filter((n) => {
    const k = key(n), c = left.get(k) ?? 0;
    if (c > 0) left.set(k, c - 1);
    return c === 0;
  });
  assertEquals([...left.values()].filter((c) => c > 0).length, 0, "every prompt note is in the final score");
  return out;
}

function promptPiece(): Score {
  const s = emptyScore(480);
  for (let i = 0; i < 24; i++) {
    s.notes.push({ pitch: 60 + (i % 5) * 2, velocity: 80, start: i * 240, duration: 200 });
  }
  return s;
}

for (const [name, tok] of [["REMI", REMI], ["REMI+BPE", BPE]] as const) {
  Deno.test(`streaming (${name}): streamed notes, concatenated, are the final score's generated notes`, async () => {
    const dir = await writeTinyCheckpoint(
      { vocab: tok.vocab.length, d: 24, ffn: 40, layers: 1, heads: 2, maxPos: 64 },
      5,
      tok,
    );
    const model = await loadModel(dir);
    try {
      const prompt = promptPiece();
      const cases = [
        { maxTokens: 300, batch: 3, seed: 1 },
        { maxTokens: 200, batch: 2, seed: 2, chunk: 5, prompt },
        { seconds: 6, batch: 2, seed: 3, prompt },
        { seconds: 4, batch: 3, seed: 4, chunk: 7 },
        { bars: 4, batch: 2, seed: 5, prompt },
        // No mask: positions go back and tempos land anywhere. Only BPE's merged notes make a random model play then.
        ...(name === "REMI+BPE" ? [{ maxTokens: 300, batch: 2, seed: 6, grammar: false }] : []),
      ];
      for (const c of cases) {
        const label = JSON.stringify({ ...c, prompt: c.prompt ? "yes" : undefined });
        const opts = { model, temperature: 1.3, topK: 0, topP: 1, ...c };
        const streamed: Note[][] = Array.from({ length: c.batch }, () => []);
        const r = await generate({
          ...opts,
          onNotes: (notes, s) => {
            streamed[s].push(...notes.map((n) => ({ ...n })));
            for (const n of notes) n.start = -1; // the callback owns what it is given
          },
        });
        const plain = await generate(opts);
        assertEquals(r.ids, plain.ids, `${label}: streaming does not change the ids`);
        assertEquals(r.scores, plain.scores, `${label}: nor the scores`);
        const promptNotes = c.prompt ? model.tokenizer.decode(model.tokenizer.encode(c.prompt)).notes : [];
        let total = 0;
        for (let s = 0; s < c.batch; s++) {
          const generated = minus(r.scores[s].notes, promptNotes);
          assertEquals(sortNotes(streamed[s]), generated, `${label}: sequence ${s}`);
          total += generated.length;
        }
        assert(total > 0, `${label}: notes were generated (${total})`);
      }
    } finally {
      model.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("the seconds stop falls on the same token whatever the readback length (CLI chunk, server rows)", async () => {
  const dir = await writeTinyCheckpoint(
    { vocab: REMI.vocab.length, d: 24, ffn: 40, layers: 1, heads: 2, maxPos: 64 },
    3,
    REMI,
  );
  const model = await loadModel(dir, { device: "cpu" });
  try {
    let stops = 0;
    for (const seed of [4, 6, 9]) {
      const runs = [];
      for (const chunk of [1, 7, 64]) {
        runs.push((await generate({ model, seconds: 3, seed, temperature: 2, chunk })).ids[0]);
      }
      assertEquals(runs[1], runs[0], `seed ${seed}: chunk 7 = chunk 1`);
      assertEquals(runs[2], runs[0], `seed ${seed}: chunk 64 = chunk 1`);
      // the last id is the one that completed the first note at or past 3 s (when the stop, not EOS, ended it)
      const timed = (ids: number[]) => {
        const sc = model.tokenizer.decode([1, ...ids]);
        return sc.notes.some((n) => ticksToSeconds(sc, n.start) >= 3);
      };
      if (timed(runs[0])) {
        stops++;
        assert(!timed(runs[0].slice(0, -1)), `seed ${seed}: stopped on the crossing token`);
      }
    }
    assert(stops >= 2, `${stops} of 3 ended by the seconds stop`);
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
