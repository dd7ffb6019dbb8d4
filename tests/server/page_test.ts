/// <reference lib="dom" />
/**
 * The web page in a real headless Chromium (Debian `chromium` + npm:playwright-core): load, move a slider,
 * generate, watch notes being drawn, download a .mid that parses. Writes tests/artifacts/page.png.
 * Ignored (visibly) where /usr/bin/chromium is absent.
 */
import { assert, assertEquals } from "../_assert.ts";
import { Buffer } from "node:buffer";
import { readMidi, writeMidi } from "../../lib/midi/mod.ts";
import { emptyScore } from "../../lib/score.ts";
import type { Note } from "../../lib/score.ts";
import { type PageFixture, startPageFixture } from "./_page_fixture.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name:
    "page in headless Chromium: slider, streamed piano roll, .mid/.wav downloads, MIDI prompt, play, screenshot",
  ignore: !hasChromium,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { chromium } = await import("playwright-core");
    const fx: PageFixture = await startPageFixture();
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    try {
      const context = await browser.newContext({
        acceptDownloads: true,
        viewport: { width: 1280, height: 800 },
      });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(fx.url);
      // The model picker is filled from /api/models.
      await page.waitForFunction(() => document.querySelectorAll("#model option").length > 0);
      assertEquals(await page.inputValue("#model"), "default");
      assertEquals(await page.textContent("#temperature-out"), "0.8");
      // Move the temperature slider with the keyboard (a real input event), and set top-k.
      await page.focus("#temperature");
      for (let i = 0; i < 4; i++) await page.keyboard.press("ArrowRight");
      assertEquals(await page.textContent("#temperature-out"), "1");
      await page.fill("#seed", "1234");
      await page.selectOption("#unit", "tokens");
      await page.fill("#length", String(fx.tokens));

      // Count note-drawing updates while streaming: the roll must fill in before "done".
      await page.evaluate(() => {
        const w = globalThis as unknown as { __counts: number[] };
        w.__counts = [];
        const el = document.getElementById("notes-count")!;
        new MutationObserver(() => w.__counts.push(Number(el.textContent))).observe(el, {
          childList: true,
          characterData: true,
          subtree: true,
        });
      });
      await page.click("#generate");
      await page.waitForFunction(() => document.body.dataset.state !== "generating", undefined, {
        timeout: 60_000,
      });
      assertEquals(
        await page.evaluate(() => document.body.dataset.state),
        "done",
        await page.textContent("#status") ?? "",
      );
      const counts: number[] = await page.evaluate(() =>
        (globalThis as unknown as { __counts: number[] }).__counts
      );
      const final = Number(await page.textContent("#notes-count"));
      assert(final > 0, "notes were generated");
      const partial = counts.filter((c) => c > 0 && c < final);
      assert(partial.length > 0, `the roll filled in while streaming (counts seen: ${counts.join(",")})`);
      assertEquals(await page.textContent("#seed-used"), "1234");
      assertEquals(fx.lastTemperature(), 1);

      // Notes really are drawn: sample canvas pixels for non-background colour.
      const lit: number = await page.evaluate(() => {
        const c = document.getElementById("roll") as HTMLCanvasElement;
        const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] > 120 || d[i + 1] > 120) n++;
        return n;
      });
      assert(lit > 200, `coloured note pixels on the canvas: ${lit}`);

      await Deno.mkdir("tests/artifacts", { recursive: true });
      await page.screenshot({ path: "tests/artifacts/page.png", fullPage: true });

      const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download-mid")]);
      assertEquals(download.suggestedFilename(), "etude-1234.mid");
      const path = await download.path();
      const score = readMidi(await Deno.readFile(path));
      // The file is the generated piece: same resolution, every note one the page drew. (MIDI itself merges
      // overlapping same-pitch notes, so a random model's piece can lose some on the way: not all must survive.)
      const result = await page.evaluate(() =>
        (globalThis as unknown as { etudeState: { result: { ticksPerBeat: number; notes: Note[] } } })
          .etudeState
          .result
      );
      assertEquals(score.ticksPerBeat, result.ticksPerBeat);
      assert(score.notes.length > 0);
      const drawn = new Set(result.notes.map((n) => `${n.start}:${n.pitch}`));
      for (const n of score.notes) {
        assert(drawn.has(`${n.start}:${n.pitch}`), `note ${JSON.stringify(n)} not drawn`);
      }

      // .wav download (rendered by POST /api/render).
      const [wavDl] = await Promise.all([page.waitForEvent("download"), page.click("#download-wav")]);
      assertEquals(wavDl.suggestedFilename(), "etude-1234.wav");
      const wav = await Deno.readFile(await wavDl.path());
      assertEquals(new TextDecoder().decode(wav.subarray(0, 12)).replace(/[^A-Z]/g, ""), "RIFFWAVE");

      // Upload a MIDI prompt: the new piece continues it (its notes come first in the roll's data).
      const prompt = emptyScore(480);
      for (let i = 0; i < 5; i++) {
        prompt.notes.push({ pitch: 72 - i, velocity: 100, start: i * 480, duration: 480 });
      }
      await page.setInputFiles("#prompt", {
        name: "prompt.mid",
        mimeType: "audio/midi",
        buffer: Buffer.from(writeMidi(prompt)),
      });
      await page.fill("#length", "60");
      await page.click("#generate");
      await page.waitForFunction(() => document.body.dataset.state !== "generating", undefined, {
        timeout: 60_000,
      });
      assertEquals(
        await page.evaluate(() => document.body.dataset.state),
        "done",
        await page.textContent("#status") ?? "",
      );
      const cont = await page.evaluate(() =>
        (globalThis as unknown as { etudeState: { result: { notes: Note[] } } }).etudeState.result.notes
      );
      const keys = new Set(cont.map((n) => `${n.start}:${n.pitch}`));
      for (const n of prompt.notes) assert(keys.has(`${n.start}:${n.pitch}`), "prompt note kept");
      // Play starts WebAudio playback without errors (headless: no sound, but the graph is built).
      await page.click("#play");
      await page.waitForFunction(() => !(document.getElementById("stop") as HTMLButtonElement).disabled);
      await page.click("#stop");
      assertEquals(errors, []);
      await context.close();
    } finally {
      await browser.close();
      await fx.close();
    }
  },
});

Deno.test({
  name:
    "page in headless Chromium: while the server is busy, the page shows its place in line, then generates",
  ignore: !hasChromium,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { chromium } = await import("playwright-core");
    // One row at a time, held by a job of our own, so the page's request waits behind it.
    const fx: PageFixture = await startPageFixture({ maxBatch: 1 });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox"] });
    let release!: () => void;
    const busy = fx.queue.run(() => new Promise<void>((r) => release = r));
    try {
      const page = await browser.newPage();
      await page.goto(fx.url);
      await page.waitForFunction(() => document.querySelectorAll("#model option").length > 0);
      await page.selectOption("#unit", "tokens");
      await page.fill("#length", "64");
      await page.click("#generate");
      await page.waitForFunction(() => document.getElementById("queue-pos")!.textContent === "1 of 1");
      assert((await page.textContent("#status"))!.includes("waiting in line: number 1"));
      assertEquals(await page.evaluate(() => document.body.dataset.state), "generating");
      release(); // the row is free: the page's request starts
      await busy;
      await page.waitForFunction(() => document.body.dataset.state !== "generating", undefined, {
        timeout: 60_000,
      });
      assertEquals(await page.evaluate(() => document.body.dataset.state), "done");
      assert(Number(await page.textContent("#notes-count")) > 0);
    } finally {
      release();
      await browser.close();
      await fx.close();
    }
  },
});
