/**
 * The `decodeRows` contract (lib/infer/cpu_rows.ts `RowDecoder`), one suite run against both implementations: the
 * WebGPU engine (`Engine.decodeRows`, software adapter) and the CPU device's `CpuRowDecoder` (on the TypeScript
 * BLAS, whose rows are exact; tests/infer/_exact_cpu.ts). How each row ends (length, stopped, aborted, error) and
 * that a row's failure leaves the others alone; rows joining late and leaving early draw the ids they draw alone;
 * the counters. Then the one numeric difference of the CPU device on a native BLAS: a step over several slots
 * gives each row its logits alone to rounding.
 */
import { assert, assertEquals } from "../_assert.ts";
import { type LoadedModel, loadModel } from "../../lib/infer/load.ts";
import { CpuRowDecoder, type RowDecoder } from "../../lib/infer/cpu_rows.ts";
import type { DecodeRow, RowEnd } from "../../lib/infer/engine.ts";
import { initialState, nextState } from "../../lib/infer/grammar.ts";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import { writeTinyCheckpoint } from "./_fixtures.ts";
import { loadExactCpuModel } from "./_exact_cpu.ts";

const REMI = new RemiTokenizer().toJSON();

const IMPLEMENTATIONS: { name: string; load: (dir: string) => Promise<LoadedModel> }[] = [
  { name: "Engine", load: (dir) => loadModel(dir, { device: "gpu" }) },
  { name: "CpuRowDecoder", load: loadExactCpuModel },
];

/** The implementation's row decoder over `slots` slots. */
async function rowsOf(model: LoadedModel, slots: number): Promise<RowDecoder> {
  return model.cpuDecoder ? new CpuRowDecoder(model.cpuDecoder(slots)) : await model.engine(slots);
}

interface Ended {
  ids: number[];
  reason: RowEnd["reason"];
  error?: unknown;
  heard: number[];
}

/** A row with its own settings; `ended` fills in when it ends, `heard` with what `onTokens` was told. */
function row(
  model: LoadedModel,
  seed: number,
  extra: Partial<DecodeRow> = {},
): { row: DecodeRow; ended: Ended } {
  const ended: Ended = { ids: [], reason: "error", heard: [] };
  return {
    ended,
    row: {
      prompt: [1],
      grammarState: initialState(model.grammar),
      maxTokens: 40,
      temperature: 1.3,
      topK: 0,
      topP: 0.95,
      seed,
      grammar: seed % 2 === 0,
      onTokens: (t) => void ended.heard.push(...t),
      ...extra,
      onEnd: (e) => Object.assign(ended, e),
    },
  };
}

async function decode(rows: RowDecoder, model: LoadedModel, waiting: DecodeRow[][], slots: number) {
  // `waiting[k]` is handed over at the k-th call of `next` (later calls hand over what is left of the last).
  let call = 0;
  const queue: DecodeRow[] = [];
  return await rows.decodeRows({
    grammar: model.grammar,
    nextState: (s, id) => nextState(model.grammar, s, id),
    slots,
    chunk: 4,
    next: (free) => {
      if (call < waiting.length) queue.push(...waiting[call]);
      call++;
      return queue.splice(0, free);
    },
  });
}

for (const impl of IMPLEMENTATIONS) {
  Deno.test(`decodeRows (${impl.name}): each row ends for its own reason; a failing row leaves the others alone`, async () => {
    const dir = await writeTinyCheckpoint(
      { vocab: REMI.vocab.length, d: 24, ffn: 40, layers: 1, heads: 2, maxPos: 64 },
      7,
      REMI,
    );
    const model = await impl.load(dir);
    try {
      const rows = await rowsOf(model, 4);
      const solo = row(model, 10);
      await decode(rows, model, [[solo.row]], 4);
      assertEquals(solo.ended.reason, "length");
      assertEquals(solo.ended.ids.length, 40);
      assertEquals(solo.ended.heard, solo.ended.ids, "onTokens heard every token, in order");

      const aborted = new AbortController();
      aborted.abort();
      const cases = {
        normal: row(model, 10),
        empty: row(model, 11, { prompt: [] }),
        preAborted: row(model, 12, { signal: aborted.signal }),
        none: row(model, 13, { maxTokens: 0 }),
        one: row(model, 14, { maxTokens: 1 }),
        stops: row(model, 15, { onTokens: () => true }),
        throws: row(model, 16, {
          onTokens: () => {
            throw new Error("boom");
          },
        }),
        long: row(model, 17, { maxTokens: 90 }), // slides past the 64-position context
      };
      const stats = await decode(rows, model, [Object.values(cases).map((c) => c.row)], 3);
      const r = Object.fromEntries(Object.entries(cases).map(([k, c]) => [k, c.ended]));
      assertEquals(r.normal.ids, solo.ended.ids, "the row beside the others drew what it draws alone");
      assertEquals([r.normal.reason, r.empty.reason, r.preAborted.reason], ["length", "error", "aborted"]);
      assert(String(r.empty.error).includes("at least one token"), String(r.empty.error));
      assertEquals([r.none.reason, r.none.ids.length, r.one.reason, r.one.ids.length], [
        "length",
        0,
        "length",
        1,
      ]);
      assertEquals(r.stops.reason, "stopped");
      // At its first readback: the draw from its prefill and at most one chunk (4) of steps.
      assert(r.stops.ids.length >= 1 && r.stops.ids.length <= 5, `stopped after ${r.stops.ids.length} ids`);
      assertEquals(r.throws.reason, "error");
      assertEquals(String(r.throws.error), "Error: boom");
      assertEquals([r.long.reason, r.long.ids.length], ["length", 90]);
      assertEquals(stats.rows, 8);
      assert(stats.peakRows <= 3 && stats.peakRows >= 2, `peak ${stats.peakRows}`);
      assert(stats.rowSteps <= stats.slotSteps && stats.steps > 0, JSON.stringify(stats));
    } finally {
      model.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test(`decodeRows (${impl.name}): rows that join late or leave early draw the ids they draw alone`, async () => {
    const dir = await writeTinyCheckpoint(
      { vocab: REMI.vocab.length, d: 24, ffn: 40, layers: 1, heads: 2, maxPos: 64 },
      8,
      REMI,
    );
    const model = await impl.load(dir);
    try {
      const rows = await rowsOf(model, 4);
      const settings: Partial<DecodeRow>[] = [
        { maxTokens: 30 },
        { maxTokens: 75, prompt: [1, 4, 5, 6], temperature: 0.8, topK: 20 },
        { maxTokens: 12, topP: 1 },
        { maxTokens: 50, temperature: 1.8 },
        { maxTokens: 20, topK: 5 },
      ];
      const alone = [];
      for (let i = 0; i < settings.length; i++) {
        const one = row(model, 30 + i, settings[i]);
        await decode(rows, model, [[one.row]], 4);
        alone.push(one.ended.ids);
      }
      const together = settings.map((s, i) => row(model, 30 + i, s));
      // Two at the start, one at the 3rd call of `next`, two at the 6th: joins while others run, into freed slots.
      const w = together.map((t) => t.row);
      const stats = await decode(rows, model, [[w[0], w[1]], [], [w[2]], [], [], [w[3], w[4]]], 3);
      for (let i = 0; i < settings.length; i++) {
        assertEquals(together[i].ended.ids, alone[i], `row ${i} (${JSON.stringify(settings[i])})`);
        assertEquals(together[i].ended.reason, "length");
      }
      assertEquals(stats.rows, 5);
      assertEquals(stats.peakRows, 3, "all three slots in use at once");
    } finally {
      model.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("CpuRowDecoder: a row whose own work fails (a bad id, a throwing constraint) ends alone", async () => {
  const dir = await writeTinyCheckpoint(
    { vocab: REMI.vocab.length, d: 24, ffn: 40, layers: 1, heads: 2, maxPos: 64 },
    9,
    REMI,
  );
  const model = await loadExactCpuModel(dir);
  try {
    const rows = await rowsOf(model, 4);
    const solo = row(model, 20);
    await decode(rows, model, [[solo.row]], 4);
    const ok = row(model, 20), badId = row(model, 21, { prompt: [1, 1_000_000] });
    let calls = 0;
    const flaky = row(model, 22);
    const constraint = {
      allowed: () => {
        if (++calls > 5) throw new Error("constraint broke");
        return new Uint8Array(model.config.vocabSize).fill(1);
      },
      advance: () => {},
    };
    await decode(rows, model, [[ok.row, badId.row, { ...flaky.row, constraint } as DecodeRow]], 4);
    assertEquals([badId.ended.reason, flaky.ended.reason, ok.ended.reason], ["error", "error", "length"]);
    assert(String(badId.ended.error).includes("1000000"), String(badId.ended.error));
    assertEquals(String(flaky.ended.error), "Error: constraint broke");
    assertEquals(flaky.ended.ids.length, 5, "it drew until its constraint failed");
    assertEquals(ok.ended.ids, solo.ended.ids, "the row beside them drew what it draws alone");
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CPU decoder on the BLAS loadModel finds: a step over several slots gives each row its logits alone, to rounding", async () => {
  const model = await loadModel("models/maestro-2m", { device: "cpu" });
  try {
    const dec = model.cpuDecoder!(8), V = model.config.vocabSize;
    const prompts = Array.from({ length: 8 }, (_, s) => [1, 5 + s, 9, 12 + 2 * s, 40]);
    const alone: Float32Array[] = [];
    for (let s = 0; s < 8; s++) {
      dec.reset(0);
      dec.prefill(prompts[s], { seq: 0 });
      alone.push(dec.step([30 + s], [5]).slice());
    }
    for (let s = 0; s < 8; s++) {
      dec.reset(s);
      dec.prefill(prompts[s], { seq: s });
    }
    const out = dec.step(Array.from({ length: 8 }, (_, s) => 30 + s), new Array(8).fill(5));
    let worst = 0;
    for (let s = 0; s < 8; s++) {
      for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(out[s * V + v] - alone[s][v]));
    }
    // The rounding the module doc of lib/infer/cpu_rows.ts states (~4e-6 measured with OpenBLAS): far below a
    // logit's scale, so only a draw landing that close to a token boundary can differ.
    assert(worst < 1e-4, `largest difference ${worst}`);
  } finally {
    model.dispose();
  }
});
