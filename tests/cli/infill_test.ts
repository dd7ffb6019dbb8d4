/**
 * `deno task generate --prompt take.mid --infill 5:8 [--style pop]` (lib/cli/generate.ts) on a tiny random model
 * trained-with-conditioning in shape (its vocabulary has the condition and FIM tokens): the written file is the whole
 * piece, every measure outside 5–8 note for note as the prompt's (read by @tonejs/midi); the record holds `infill`
 * and `style`, and `--replay` of the take writes the same bytes; the one-line usage errors (no prompt, a model
 * without the tokens, a length unit besides).
 */
import midiPkg from "@tonejs/midi";
import { assert, assertEquals } from "../_assert.ts";
import { join } from "node:path";
import { generateCli } from "../../lib/cli/generate.ts";
import { UsageError } from "../../lib/cli/args.ts";
import { writeMidi } from "../../lib/midi/mod.ts";
import { emptyScore, type Score } from "../../lib/score.ts";
import { writeCondModel } from "../infer/_cond_model.ts";
import { tinyModelsDir } from "../server/_tiny_model.ts";

const { Midi } = midiPkg;
const opts = { sanitizeResources: false, sanitizeOps: false };
const tmp = await Deno.makeTempDir({ prefix: "etude_infill_cli_" });
const model = await writeCondModel(undefined, 7, join(tmp, "cond"));
const plainModel = join(await tinyModelsDir(), "default");

/** 10 bars of 4/4, eight notes a bar. */
function piece(): Score {
  const s = emptyScore(480);
  for (let b = 0; b < 10; b++) {
    for (let k = 0; k < 8; k++) {
      s.notes.push({
        pitch: 50 + ((b * 3 + k * 5) % 30),
        velocity: 60 + k * 5,
        start: b * 1920 + k * 240,
        duration: 200,
      });
    }
  }
  return s;
}
const prompt = join(tmp, "take.mid");
await Deno.writeFile(prompt, writeMidi(piece()));

function assertStringIncludes(text: string, part: string) {
  assert(text.includes(part), `${JSON.stringify(text)} lacks ${JSON.stringify(part)}`);
}

async function run(args: string[]) {
  const lines: string[] = [];
  const r = await generateCli(args, (l) => lines.push(l), () => {});
  return { r: r!, lines };
}

async function usageError(args: string[]): Promise<string> {
  try {
    await run(args);
  } catch (e) {
    assert(e instanceof UsageError, String(e));
    assert(!e.message.includes("\n"), "one line");
    return e.message;
  }
  throw new Error(`accepted ${args.join(" ")}`);
}

/** Notes per measure as @tonejs/midi reads them: `tick,pitch,velocity,duration`. */
function measures(bytes: Uint8Array): Map<number, string[]> {
  const midi = new Midi(bytes);
  const out = new Map<number, string[]>();
  for (const t of midi.tracks) {
    for (const n of t.notes) {
      const m = Math.floor(midi.header.ticksToMeasures(n.ticks));
      if (!out.has(m)) out.set(m, []);
      out.get(m)!.push([n.ticks, n.midi, Math.round(n.velocity * 127), n.durationTicks].join());
    }
  }
  for (const l of out.values()) l.sort();
  return out;
}

Deno.test({
  name:
    "generate --prompt take.mid --infill 5:8 --style pop: bars 5–8 new, the rest kept; replay byte-identical",
  ...opts,
  fn: async () => {
    const out = join(tmp, "infilled.mid");
    const { r, lines } = await run([
      "--model",
      model,
      "--prompt",
      prompt,
      "--infill",
      "5:8",
      "--style",
      "pop",
      "--key",
      "E minor",
      "--seed",
      "42",
      "--out",
      out,
    ]);
    assertStringIncludes(lines.join("\n"), "bars 5–8 of the prompt (infilling)");
    assertStringIncludes(lines.join("\n"), "conditions: style pop");
    const bytes = await Deno.readFile(out);
    const before = measures(await Deno.readFile(prompt)), after = measures(bytes);
    for (let m = 0; m < 10; m++) {
      if (m >= 4 && m < 8) continue;
      assertEquals(after.get(m) ?? [], before.get(m) ?? [], `measure ${m + 1}`);
    }
    assert((after.get(4)?.length ?? 0) + (after.get(7)?.length ?? 0) > 0, "the infilled bars hold notes");
    assertEquals(r.provenance[0].params.infill, "5:8");
    assertEquals(r.provenance[0].params.style, "pop");
    assertEquals(r.provenance[0].params.key, "E minor");
    assertEquals(r.provenance[0].params.maxTokens, undefined, "no length unit: the bars are the length");
    const side = JSON.parse(await Deno.readTextFile(join(tmp, "infilled.json")));
    assertEquals(side.params.infill, "5:8");
    // replay from the sidecar and from the .mid: the same bytes
    for (const from of [join(tmp, "infilled.json"), out]) {
      const again = join(tmp, `replay-${from.endsWith(".mid") ? "mid" : "json"}.mid`);
      await run(["--replay", from, "--out", again]);
      assertEquals(await Deno.readFile(again), bytes, `replay of ${from}`);
    }
  },
});

Deno.test({
  name: "generate --infill / --style: one-line errors",
  ...opts,
  fn: async () => {
    assertEquals(
      await usageError(["--model", model, "--infill", "2:3"]),
      "--infill: needs --prompt FILE.mid (the piece whose bars are regenerated)",
    );
    assertStringIncludes(
      await usageError(["--model", model, "--prompt", prompt, "--infill", "9:12"]),
      "--infill: bars 9:12: the prompt has 10 bars",
    );
    assertStringIncludes(
      await usageError(["--model", model, "--prompt", prompt, "--infill", "8:5"]),
      '--infill: expected bars FROM:TO of the prompt, 1 <= FROM <= TO <= 4096 (like 5:8), got "8:5"',
    );
    assertStringIncludes(
      await usageError(["--model", model, "--prompt", prompt, "--infill", "2:3", "--bars", "4"]),
      "--bars: give only one of --infill, --bars",
    );
    assertStringIncludes(await usageError(["--model", model, "--style", "jazz"]), "--style: expected one of");
    assertStringIncludes(
      await usageError(["--model", plainModel, "--prompt", prompt, "--infill", "2:3"]),
      "--infill: this model was not trained with infilling",
    );
    assertStringIncludes(
      await usageError(["--model", plainModel, "--style", "pop", "--tokens", "8"]),
      "--style: this model was not trained with conditioning",
    );
  },
});
