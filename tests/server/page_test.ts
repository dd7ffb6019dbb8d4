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

/** A fake Web MIDI access, installed before the page loads: one output recording `send()`, one input to fire. */
function fakeMidi() {
  const w = globalThis as unknown as Record<string, unknown>;
  const sent: { data: number[]; ts?: number }[] = [];
  const input = { id: "in1", name: "Fake Keys", onmidimessage: null as null | ((e: unknown) => void) };
  const output = {
    id: "out1",
    name: "Fake Synth",
    send: (data: number[], ts?: number) => sent.push({ data: Array.from(data), ts }),
    clear: () => sent.push({ data: [] }),
  };
  w.__midi = {
    sent,
    fire: (data: number[], timeStamp: number) =>
      input.onmidimessage?.({ data: new Uint8Array(data), timeStamp }),
  };
  Object.defineProperty(navigator, "requestMIDIAccess", {
    configurable: true,
    value: () =>
      Promise.resolve({
        outputs: new Map([["out1", output]]),
        inputs: new Map([["in1", input]]),
        onstatechange: null,
      }),
  });
}

Deno.test({
  name:
    "page in headless Chromium: steering controls sent and obeyed, regenerate, vary, drag-out .mid, WebMIDI out live, panic, a recorded prompt",
  ignore: !hasChromium,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { chromium } = await import("playwright-core");
    const fx: PageFixture = await startPageFixture();
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox"] });
    type Sent = { data: number[]; ts?: number };
    type Result = { seed: number; notes: Note[]; midiBase64: string };
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.addInitScript(fakeMidi);
      await page.goto(fx.url);
      await page.waitForFunction(() => document.querySelectorAll("#model option").length > 0);
      // Every control of /api/params has its row, built from the answer.
      const limits = await (await fetch(`${fx.url}api/params`)).json() as Record<string, { control?: true }>;
      const controls = Object.keys(limits).filter((k) => limits[k].control);
      assertEquals(controls.length, 10);
      assertEquals(
        await page.evaluate(() =>
          [...document.querySelectorAll("#steer [data-control]")].map((e) =>
            (e as HTMLElement).dataset.control
          )
        ),
        controls,
      );
      const result = () =>
        page.evaluate(() => (globalThis as unknown as { etudeState: { result: Result } }).etudeState.result);
      const sent = () =>
        page.evaluate(() => (globalThis as unknown as { __midi: { sent: Sent[] } }).__midi.sent.slice());
      // Clicks `button` and waits for a new result (or an error on the page).
      const run = async (button: string) => {
        await page.evaluate(() => {
          const w = globalThis as unknown as { etudeState: { result: unknown }; __prev: unknown };
          w.__prev = w.etudeState.result;
        });
        await page.click(button);
        await page.waitForFunction(
          () => {
            const w = globalThis as unknown as { etudeState: { result: unknown }; __prev: unknown };
            const error = document.getElementById("status")!.classList.contains("error");
            return error || (w.etudeState.result && w.etudeState.result !== w.__prev);
          },
          undefined,
          { timeout: 60_000 },
        );
        assertEquals(
          await page.evaluate(() => document.body.dataset.state),
          "done",
          await page.textContent("#status") ?? "",
        );
        return await result();
      };

      // Steer: E minor, pitches 48–84, 96 BPM, high density.
      await page.selectOption("#c-key", "E minor");
      await page.check("#c-pitchRange-on");
      await page.fill("#c-pitchRange-lo", "48");
      await page.fill("#c-pitchRange-hi", "84");
      await page.check("#c-tempo-on");
      await page.evaluate(() => {
        const t = document.getElementById("c-tempo") as HTMLInputElement;
        t.value = "96";
        t.dispatchEvent(new Event("input"));
      });
      await page.selectOption("#c-density", "high");
      // MIDI out: the fake synth.
      await page.click("#midi-connect");
      await page.waitForFunction(() => document.querySelectorAll("#midi-out option").length === 2);
      await page.selectOption("#midi-out", "out1");
      await page.fill("#seed", "77");
      await page.selectOption("#unit", "tokens");
      await page.fill("#length", "160");
      const first = await run("#generate");
      assertEquals(fx.lastOptions()?.controls, {
        key: "E minor",
        keyStrength: 1,
        keyTonic: 0.25,
        pitchRange: [48, 84],
        tempo: 96,
        density: "high",
      });
      assert(first.notes.length > 0);
      // Obeyed, read from the notes the page received: in E minor and within 48–84.
      const eMinor = new Set([4, 6, 7, 9, 11, 0, 2]);
      for (const n of first.notes) {
        assert(eMinor.has(n.pitch % 12) && n.pitch >= 48 && n.pitch <= 84, `pitch ${n.pitch}`);
      }
      // Every generated note went to the MIDI output as it streamed: a note-on, then its note-off later.
      const out = await sent();
      const ons = out.filter((m) => m.data[0] === 0x90 && m.data[2] > 0);
      const offs = out.filter((m) => m.data[0] === 0x80);
      assertEquals(ons.map((m) => m.data[1]).sort(), first.notes.map((n) => n.pitch).sort());
      assertEquals(offs.length, ons.length);
      for (let i = 0; i < ons.length; i++) {
        const off = out.find((m, j) =>
          j > out.indexOf(ons[i]) && m.data[0] === 0x80 && m.data[1] === ons[i].data[1]
        )!;
        assert(off.ts! > ons[i].ts!, "note-off after its note-on");
      }

      // Regenerate: same settings and seed → the same notes. Vary: the next seed → another piece.
      const again = await run("#regenerate");
      assertEquals([again.seed, fx.lastOptions()?.seed], [77, 77]);
      assertEquals(again.notes, first.notes);
      assertEquals(again.midiBase64, first.midiBase64);
      const varied = await run("#vary");
      assertEquals([varied.seed, fx.lastOptions()?.seed, await page.inputValue("#seed")], [78, 78, "78"]);
      assertEquals(fx.lastOptions()?.controls?.key, "E minor", "vary keeps the settings");
      assert(JSON.stringify(varied.notes) !== JSON.stringify(first.notes), "another seed, another piece");

      // Drag-out: a download link whose dragstart carries Chromium's DownloadURL of the piece's .mid.
      const drag = await page.evaluate(() => {
        const a = document.getElementById("drag-mid") as HTMLAnchorElement;
        const dt = new DataTransfer();
        a.dispatchEvent(new DragEvent("dragstart", { dataTransfer: dt, bubbles: true, cancelable: true }));
        return { url: dt.getData("DownloadURL"), draggable: a.draggable, download: a.download, href: a.href };
      });
      assert(drag.draggable);
      assertEquals(drag.download, "etude-78.mid");
      assert(drag.href.startsWith("blob:"), drag.href);
      assertEquals(drag.url, `audio/midi:etude-78.mid:${drag.href}`);
      // The link itself is the file (a click downloads it; the page's CSP keeps its own scripts from fetching it).
      const [dl] = await Promise.all([page.waitForEvent("download"), page.click("#drag-mid")]);
      assertEquals(dl.suggestedFilename(), "etude-78.mid");
      const bytes = await Deno.readFile(await dl.path());
      assertEquals(bytes, Uint8Array.from(atob(varied.midiBase64), (c) => c.charCodeAt(0)));
      assert(readMidi(bytes).notes.length > 0);

      // Panic: All Notes Off and All Sound Off on all 16 channels.
      const before = (await sent()).length;
      await page.click("#panic");
      const panicked = (await sent()).slice(before).map((m) => m.data.join(","));
      for (let ch = 0; ch < 16; ch++) {
        assert(
          panicked.includes(`${0xb0 | ch},123,0`) && panicked.includes(`${0xb0 | ch},120,0`),
          `channel ${ch}`,
        );
      }

      // Record a prompt from the MIDI input: C, E, G, half a second each → the next request's prompt.
      await page.selectOption("#c-key", ""); // key off: the prompt is C major
      await page.selectOption("#midi-in", "in1");
      await page.click("#record");
      await page.evaluate(() => {
        const fire =
          (globalThis as unknown as { __midi: { fire: (d: number[], t: number) => void } }).__midi.fire;
        fire([0x90, 60, 100], 1000);
        fire([0x80, 60, 0], 1500);
        fire([0x90, 64, 90], 1500);
        fire([0x90, 64, 0], 2000); // a note-on with velocity 0 ends a note too
        fire([0x90, 67, 80], 2000);
        fire([0xb0, 64, 127], 2100); // a pedal: not a note
        fire([0x80, 67, 64], 2500);
      });
      await page.click("#record");
      assert((await page.textContent("#prompt-info"))!.includes("3 recorded notes"));
      await run("#generate");
      const prompt = fx.lastOptions()?.prompt;
      assert(prompt, "the recorded take is the prompt");
      assertEquals(
        prompt.notes.map((n) => [n.pitch, n.velocity, n.start, n.duration]),
        [[60, 100, 0, 480], [64, 90, 480, 480], [67, 80, 960, 480]],
      );
      assertEquals(fx.lastOptions()?.controls, { pitchRange: [48, 84], tempo: 96, density: "high" });
      assertEquals(errors, []);
    } finally {
      await browser.close();
      await fx.close();
    }
  },
});
