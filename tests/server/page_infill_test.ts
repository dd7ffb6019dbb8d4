/// <reference lib="dom" />
/**
 * Infilling and the style condition in the web page, in a real headless Chromium (Debian `chromium` +
 * npm:playwright-core), against the real generation entry (the server's batcher) and a tiny random model whose
 * vocabulary has the condition and FIM tokens: the style picker shows for that model only; a piece generated with
 * style pop; bars 3–4 picked by dragging on the piano roll and regenerated (guided toward the style, scale 3):
 * every note outside them comes back as it was. Ignored (visibly) where /usr/bin/chromium is absent.
 */
import { assert, assertEquals } from "../_assert.ts";
import { join } from "node:path";
import { createApp } from "../../lib/server/app.ts";
import { decodeBase64 } from "../../lib/server/params.ts";
import { readMidi, writeMidi } from "../../lib/midi/mod.ts";
import { type GenerateOptions } from "../../lib/infer/generate.ts";
import { loadModel } from "../../lib/infer/load.ts";
import { GenerationBatcher } from "../../lib/infer/batch.ts";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import type { Note } from "../../lib/score.ts";
import { writeCondModel } from "../infer/_cond_model.ts";
import { writeTinyCheckpoint } from "../infer/_fixtures.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

type Sig = { tick: number; numerator: number; denominator: number };
type Piece = { notes: Note[]; ticksPerBeat: number; timeSignatures: Sig[]; midiBase64?: string };

/** The 1-based bar of `tick` by the piece's meter map (REMI's bars: the map its decoder wrote). */
function barOf(p: Piece, tick: number): number {
  const sigs = p.timeSignatures.length ? p.timeSignatures : [{ tick: 0, numerator: 4, denominator: 4 }];
  let bar = 0;
  for (let i = 0; i < sigs.length; i++) {
    const len = sigs[i].numerator * p.ticksPerBeat * 4 / sigs[i].denominator;
    const end = i + 1 < sigs.length ? sigs[i + 1].tick : Infinity;
    if (tick < end) return bar + Math.floor((tick - sigs[i].tick) / len) + 1;
    bar += Math.round((end - sigs[i].tick) / len);
  }
  return bar;
}

Deno.test({
  name: "page in headless Chromium: the style picker, bars picked on the roll and regenerated (infill)",
  ignore: !hasChromium,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { chromium } = await import("playwright-core");
    Deno.env.get("XDG_RUNTIME_DIR") ?? Deno.env.set("XDG_RUNTIME_DIR", "/tmp/etude-xdg");
    await Deno.mkdir(Deno.env.get("XDG_RUNTIME_DIR")!, { recursive: true, mode: 0o700 });
    const root = await Deno.makeTempDir({ prefix: "etude_page_infill_" });
    await writeCondModel(undefined, 7, join(root, "default"));
    await Deno.mkdir(join(root, "plain"));
    const plain = new RemiTokenizer().toJSON();
    await writeTinyCheckpoint(
      { vocab: plain.vocab.length, d: 32, ffn: 64, layers: 1, heads: 2, maxPos: 256 },
      1,
      plain,
      join(root, "plain"),
    );
    const seen: GenerateOptions[] = [];
    const batcher = new GenerationBatcher({ chunk: 16 });
    const etude = createApp({
      modelsDir: root,
      generate: (o) => (seen.push(o), batcher.generate(o)),
      loadModel,
      readMidi,
      writeMidi,
    });
    const ac = new AbortController();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
      etude.handler,
    );
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
      ],
    });
    try {
      const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`http://127.0.0.1:${server.addr.port}/`);
      await page.waitForFunction(() => document.querySelectorAll("#model option").length === 2);
      assertEquals(await page.inputValue("#model"), "default");
      assert(await page.isVisible("#style-field"), "the conditioning model offers a style");
      await page.selectOption("#model", "plain");
      assert(!(await page.isVisible("#style-field")), "a model without conditioning does not");
      await page.selectOption("#model", "default");
      await page.selectOption("#style", "pop");
      await page.fill("#seed", "7");
      await page.selectOption("#unit", "bars");
      await page.fill("#length", "6");
      assert(await page.isDisabled("#infill"), "nothing to infill yet");
      const waitDone = async () => {
        await page.waitForFunction(() => document.body.dataset.state !== "generating", undefined, {
          timeout: 120_000,
        });
        assertEquals(
          await page.evaluate(() => document.body.dataset.state),
          "done",
          await page.textContent("#status") ?? "",
        );
      };
      await page.click("#generate");
      await waitDone();
      assertEquals(seen.at(-1)!.conditions, { style: "pop" });
      assertEquals(seen.at(-1)!.guidanceScale, 1, "guidance starts at the table's 1 (off)");
      assertEquals(
        [seen.at(-1)!.keyGuidanceScale, seen.at(-1)!.densityGuidanceScale],
        [1, 1],
        "the key's, density's too",
      );
      const before: Piece & { midiBase64: string } = await page.evaluate(() =>
        (globalThis as unknown as { etudeState: { result: Piece & { midiBase64: string } } }).etudeState
          .result
      );
      assert(before.notes.length > 0);

      // Drag from the middle of bar 3 to the middle of bar 4 (bars in the piece's meters, as REMI counts them).
      await page.locator("#roll").scrollIntoViewIfNeeded();
      const box = (await page.locator("#roll").boundingBox())!;
      const end = Math.max(...before.notes.map((n) => n.start + n.duration), before.ticksPerBeat * 16);
      const middleTick = (bar: number) => {
        const ticks: number[] = [];
        for (let t = 0; t < end; t += before.ticksPerBeat / 8) if (barOf(before, t) === bar) ticks.push(t);
        return (ticks[0] + ticks[ticks.length - 1]) / 2;
      };
      const xOf = (bar: number) => box.x + (middleTick(bar) / end) * box.width;
      await page.mouse.move(xOf(3), box.y + box.height / 2);
      await page.mouse.down();
      await page.mouse.move(xOf(4), box.y + box.height / 2, { steps: 4 });
      await page.mouse.up();
      assertEquals(await page.textContent("#infill"), "Regenerate bars 3–4");
      assert(!(await page.isDisabled("#infill")));
      await page.fill("#guidanceScale", "3"); // the middle guided toward style pop
      await page.fill("#keyGuidanceScale", "4.5");
      await page.fill("#densityGuidanceScale", "2");
      await page.click("#infill");
      await waitDone();
      const o = seen.at(-1)!;
      assertEquals([
        o.infill,
        o.conditions,
        o.bars,
        o.guidanceScale,
        o.keyGuidanceScale,
        o.densityGuidanceScale,
      ], [
        { from: 3, to: 4 },
        { style: "pop" },
        undefined,
        3,
        4.5,
        2,
      ]);
      assert(o.prompt, "the piece on the roll is the prompt");
      const after: Piece = await page.evaluate(() =>
        (globalThis as unknown as { etudeState: { result: Piece } }).etudeState.result
      );
      const outside = (p: Piece) =>
        p.notes.filter((n) => barOf(p, n.start) < 3 || barOf(p, n.start) > 4)
          .map((n) => [n.start, n.pitch, n.velocity, n.duration].join()).sort();
      // the prompt is the piece's .mid (overlapping notes of one pitch end at the next onset there)
      const file = readMidi(decodeBase64(before.midiBase64, "midi"));
      const prompt: Piece = {
        notes: file.notes,
        ticksPerBeat: file.ticksPerBeat,
        timeSignatures: file.timeSignatures,
      };
      assertEquals(outside(after), outside(prompt), "every note outside bars 3–4 as it was");
      assertEquals(after.timeSignatures, before.timeSignatures);
      // regenerate resends the infill request: the same piece
      await page.click("#regenerate");
      await waitDone();
      const again: Piece = await page.evaluate(() =>
        (globalThis as unknown as { etudeState: { result: Piece } }).etudeState.result
      );
      assertEquals(again.notes, after.notes);
      await page.selectOption("#model", "plain");
      assert(await page.isDisabled("#infill"), "a model without infilling: no bar regeneration");
      assertEquals(errors, []);
    } finally {
      await browser.close();
      ac.abort();
      await server.finished;
      etude.close();
      await batcher.idle();
    }
  },
});
