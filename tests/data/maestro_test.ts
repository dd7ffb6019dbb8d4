import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { CORPUS } from "../_corpus.ts";
import { parseCsv } from "../../lib/data/_csv.ts";
import {
  DownloadError,
  FETCH_MARKER,
  FetchError,
  fetchMaestro,
  parseMaestroCsv,
  parseMaestroJson,
  readMaestroMetadata,
} from "../../lib/data/maestro.ts";
import { buildMaestroZip, type MaestroFixture, serveZip } from "./_fixture.ts";

let fixture: MaestroFixture | undefined;
async function getFixture(): Promise<MaestroFixture> {
  return fixture ??= await buildMaestroZip();
}

function listDir(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

Deno.test("parseCsv: quoted commas, doubled quotes, CRLF, newline inside quotes, unterminated quote", () => {
  const rows = parseCsv('a,b,c\r\n"x, y","say ""hi""",3\r\n"multi\nline",,\n\n');
  assertEquals(rows.map((r) => r.fields), [["a", "b", "c"], ["x, y", 'say "hi"', "3"], [
    "multi\nline",
    "",
    "",
  ]]);
  assertEquals(rows.map((r) => r.line), [1, 2, 3]);
  let msg = "";
  try {
    parseCsv('a\n"open', "f.csv");
  } catch (e) {
    msg = (e as Error).message;
  }
  assertEquals(msg, "f.csv:2: unterminated quoted field");
});

Deno.test("parseMaestroCsv: bad split names the line and field", () => {
  const head = "canonical_composer,canonical_title,split,year,midi_filename,audio_filename,duration\n";
  let msg = "";
  try {
    parseMaestroCsv(
      head + "A,B,train,2004,2004/a.midi,2004/a.wav,1\nA,B,dev,2004,2004/b.midi,2004/b.wav,1\n",
      "m.csv",
    );
  } catch (e) {
    msg = (e as Error).message;
  }
  assertEquals(msg, 'm.csv:3: split: expected train, validation or test, got "dev"');
});

Deno.test({
  name: "parseMaestroCsv: the real MAESTRO v3 CSV has 1,276 rows, 962/137/177 by split, 198.7 h",
  ignore: !CORPUS,
  fn: async () => {
    const recs = await readMaestroMetadata(join(CORPUS!, "maestro-v3-metadata"));
    assertEquals(recs.length, 1276);
    const by = (s: string) => recs.filter((r) => r.split === s).length;
    assertEquals([by("train"), by("validation"), by("test")], [962, 137, 177]);
    assertEquals(Math.round(recs.reduce((a, r) => a + r.duration, 0) / 360) / 10, 198.7);
    assertEquals(new Set(recs.map((r) => r.canonicalComposer)).size, 60);
    // A title with a comma inside quotes stays one field.
    assert(recs.some((r) => r.canonicalTitle === "24 Preludes Op. 11, No. 13-24"));
    assert(recs.every((r) => r.midiFilename.startsWith(`${r.year}/`)));
  },
});

Deno.test({
  name: "fetch: download, verify, extract a MAESTRO-layout zip; a second run does nothing",
  ignore: !CORPUS,
  fn: async () => {
    const fx = await getFixture();
    const srv = serveZip(fx.zip);
    const out = await Deno.makeTempDir({ prefix: "etude_fetch_" });
    try {
      // Leftovers of a run killed mid-extraction are cleaned up.
      await Deno.mkdir(join(out, ".etude-extract-deadbeef", "maestro-v3.0.0"), { recursive: true });
      const r = await fetchMaestro({ out, url: srv.url, sha256: fx.sha256, progress: false });
      assertEquals(r.status, "extracted");
      assertEquals(r.root, join(out, "maestro-v3.0.0"));
      assertEquals(r.files, fx.files.length + 4);
      assertEquals(listDir(out), ["maestro-v3.0.0", "maestro-v3.0.0-midi.zip"]);
      assertEquals(await Deno.readFile(join(out, "maestro-v3.0.0-midi.zip")), fx.zip);
      assertEquals(
        listDir(r.root).filter((n) => !/^\d{4}$/.test(n)),
        [FETCH_MARKER, "LICENSE", "README", "maestro-v3.0.0.csv", "maestro-v3.0.0.json"],
      );
      for (const f of fx.files) {
        assertEquals(await Deno.readFile(join(r.root, f.midiFilename)), await Deno.readFile(f.source));
      }
      // Typed records from the CSV agree with the JSON and with the plan.
      const recs = r.records!;
      assertEquals(
        recs.map((x) => [x.midiFilename, x.split]).sort(),
        fx.files.map((f) => [f.midiFilename, f.split]).sort(),
      );
      const json = parseMaestroJson(await Deno.readTextFile(join(r.root, "maestro-v3.0.0.json")));
      assertEquals(json, recs);
      assertEquals(srv.requests.length, 1);
      const again = await fetchMaestro({ out, url: srv.url, sha256: fx.sha256, progress: false });
      assertEquals(again.status, "present");
      assertEquals(srv.requests.length, 1, "the second run made no request");
    } finally {
      await srv.close();
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "fetch: a download cut mid-way resumes with a Range request to the identical file; Range ignored → restart",
  ignore: !CORPUS,
  fn: async () => {
    const fx = await getFixture();
    for (const ignoreRange of [false, true]) {
      const cutAt = Math.floor(fx.zip.length * 0.4);
      const srv = serveZip(fx.zip, { cutFirstAt: cutAt, ignoreRange });
      const out = await Deno.makeTempDir({ prefix: "etude_fetch_" });
      try {
        await assertRejects(
          () => fetchMaestro({ out, url: srv.url, sha256: fx.sha256, progress: false }),
          (e: Error) =>
            e instanceof DownloadError && /run again to resume/.test(e.message) && !e.message.includes("\n"),
        );
        assertEquals(listDir(out), ["maestro-v3.0.0-midi.zip.part"], "only the partial download is left");
        const partSize = Deno.statSync(join(out, "maestro-v3.0.0-midi.zip.part")).size;
        assert(partSize > 0 && partSize <= cutAt, `part holds ${partSize} bytes`);
        const r = await fetchMaestro({ out, url: srv.url, sha256: fx.sha256, progress: false });
        assertEquals(srv.requests, [null, `bytes=${partSize}-`]);
        assertEquals(r.resumedFrom, ignoreRange ? 0 : partSize);
        assertEquals(await Deno.readFile(join(out, "maestro-v3.0.0-midi.zip")), fx.zip);
        assertEquals(listDir(out), ["maestro-v3.0.0", "maestro-v3.0.0-midi.zip"]);
      } finally {
        await srv.close();
        await Deno.remove(out, { recursive: true });
      }
    }
  },
});

Deno.test({
  name: "fetch: a complete .part left by a crash before the rename is recognised from the server's 416",
  ignore: !CORPUS,
  fn: async () => {
    const fx = await getFixture();
    const srv = serveZip(fx.zip);
    const out = await Deno.makeTempDir({ prefix: "etude_fetch_" });
    try {
      await Deno.writeFile(join(out, "maestro-v3.0.0-midi.zip.part"), fx.zip);
      const r = await fetchMaestro({ out, url: srv.url, sha256: fx.sha256, progress: false });
      assertEquals(srv.requests, [`bytes=${fx.zip.length}-`]);
      assertEquals([r.status, r.resumedFrom], ["extracted", fx.zip.length]);
    } finally {
      await srv.close();
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name: "fetch: a wrong checksum or a truncated zip fails in one line and leaves nothing in the output dir",
  ignore: !CORPUS,
  fn: async () => {
    const fx = await getFixture();
    const srv = serveZip(fx.zip);
    const out = await Deno.makeTempDir({ prefix: "etude_fetch_" });
    try {
      await assertRejects(
        () => fetchMaestro({ out, url: srv.url, sha256: "0".repeat(64), progress: false }),
        (e: Error) =>
          e instanceof FetchError && /does not match/.test(e.message) && !e.message.includes("\n"),
      );
      assertEquals(listDir(out), []);
      // A truncated zip given with --zip and no checksum: the zip reader refuses it before anything is written.
      const cut = join(await Deno.makeTempDir({ prefix: "etude_zip_" }), "maestro-v3.0.0-midi.zip");
      await Deno.writeFile(cut, fx.zip.slice(0, fx.zip.length - 5000));
      await assertRejects(
        () => fetchMaestro({ out, zip: cut, sha256: null, progress: false }),
        (e: Error) => e instanceof FetchError && /truncated or corrupt/.test(e.message),
      );
      assertEquals(listDir(out), []);
      assert(Deno.statSync(cut).isFile, "a user's --zip file is never deleted");
      await Deno.remove(cut);
      // The same zip given with --zip and the right checksum extracts without any download.
      const zipPath = join(out, "..", `etude_fx_${crypto.randomUUID().slice(0, 6)}.zip`);
      await Deno.writeFile(zipPath, fx.zip);
      const r = await fetchMaestro({ out, zip: zipPath, sha256: fx.sha256, progress: false });
      assertEquals([r.status, r.downloaded], ["extracted", false]);
      assertEquals(listDir(out), ["maestro-v3.0.0"]);
      await Deno.remove(zipPath);
      // A network error (nothing listening any more): one line, nothing written.
      await srv.close();
      const out2 = await Deno.makeTempDir({ prefix: "etude_fetch_" });
      await assertRejects(
        () => fetchMaestro({ out: out2, url: srv.url, sha256: fx.sha256, progress: false }),
        (e: Error) =>
          e instanceof DownloadError && /^cannot reach http/.test(e.message) && !e.message.includes("\n"),
      );
      assertEquals(listDir(out2), []);
      await Deno.remove(out2);
    } finally {
      await srv.close();
      await Deno.remove(out, { recursive: true });
    }
  },
});
