/**
 * Test fixtures for lib/data: a zip in MAESTRO v3's exact layout built from real MIDI files of the shared corpus
 * (renamed into CSV rows of the real metadata), and a local HTTP server for it that honours Range requests and can
 * cut a response short or ignore Range.
 */
import { zipSync } from "fflate";
import { join } from "node:path";
import { CORPUS } from "../_corpus.ts";
import { parseCsv } from "../../lib/data/_csv.ts";

/** The corpus files used, by the split they are given. The first is MAESTRO's own file under its real CSV row. */
const PLAN: { file: string; split: "train" | "validation" | "test" }[] = [
  {
    file: "mirdata-maestro-sample/MIDI-Unprocessed_Chamber3_MID--AUDIO_10_R3_2018_wav--1.midi",
    split: "train",
  },
  { file: "miditok/tests/MIDIs_one_track/Maestro_1.mid", split: "train" },
  { file: "miditok/tests/MIDIs_one_track/Maestro_2.mid", split: "train" },
  { file: "piano-midi-de/midis/Haydn/haydn_8_4.mid", split: "train" },
  { file: "piano-midi-de/midis/Haydn/haydn_7_1.mid", split: "train" },
  { file: "piano-midi-de/midis/Haydn/haydn_8_3.mid", split: "train" },
  { file: "miditok/tests/MIDIs_one_track/Maestro_3.mid", split: "validation" },
  { file: "piano-midi-de/midis/Haydn/haydn_7_3.mid", split: "validation" },
  { file: "miditok/tests/MIDIs_one_track/Maestro_10.mid", split: "test" },
  { file: "piano-midi-de/midis/Tchaikovsky/ty_juli.mid", split: "test" },
];

/** One file placed in the fixture: where it came from and its path inside the dataset root. */
export interface FixtureFile {
  source: string;
  midiFilename: string;
  split: "train" | "validation" | "test";
}

/** The built fixture zip. */
export interface MaestroFixture {
  zip: Uint8Array;
  sha256: string;
  files: FixtureFile[];
  csv: string;
}

/** Builds the fixture zip (needs CORPUS). */
export async function buildMaestroZip(): Promise<MaestroFixture> {
  if (!CORPUS) throw new Error("no corpus");
  const meta = join(CORPUS, "maestro-v3-metadata");
  const csvText = await Deno.readTextFile(join(meta, "maestro-v3.0.0.csv"));
  const lines = csvText.split(/\r?\n/);
  const rows = parseCsv(csvText);
  const header = rows[0].fields;
  const col = (name: string) => header.indexOf(name);
  const used = new Set<number>();
  const files: FixtureFile[] = [];
  const keep: number[] = [];
  for (const p of PLAN) {
    const own = p.file.split("/").pop()!;
    let row = rows.slice(1).find((r) => r.fields[col("midi_filename")].endsWith("/" + own));
    row ??= rows.slice(1).find((r) => r.fields[col("split")] === p.split && !used.has(r.line));
    used.add(row!.line);
    keep.push(row!.line);
    files.push({
      source: join(CORPUS, p.file),
      midiFilename: row!.fields[col("midi_filename")],
      split: p.split,
    });
  }
  keep.sort((a, b) => a - b);
  const csv = [lines[0], ...keep.map((l) => lines[l - 1])].join("\n") + "\n";
  // maestro-v3.0.0.json is column-oriented ({column: {"0": value}}); built from the same rows.
  const json: Record<string, Record<string, string | number>> = {};
  parseCsv(csv).slice(1).forEach((r, i) => {
    header.forEach((h, j) => {
      const v = r.fields[j];
      (json[h] ??= {})[String(i)] = h === "year" || h === "duration" ? Number(v) : v;
    });
  });
  const root = "maestro-v3.0.0";
  const tree: Record<string, Uint8Array> = {
    [`${root}/LICENSE`]: await Deno.readFile(join(meta, "LICENSE")),
    [`${root}/README`]: await Deno.readFile(join(meta, "README")),
    [`${root}/maestro-v3.0.0.csv`]: new TextEncoder().encode(csv),
    [`${root}/maestro-v3.0.0.json`]: new TextEncoder().encode(JSON.stringify(json)),
  };
  for (const f of files) tree[`${root}/${f.midiFilename}`] = await Deno.readFile(f.source);
  const zip = zipSync(tree, { level: 6 });
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", zip));
  const sha256 = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
  return { zip, sha256, files, csv };
}

/** How the fixture server misbehaves. */
export interface ServeOptions {
  /** Abort the body of the first full (non-Range) response after this many bytes. */
  cutFirstAt?: number;
  /** Ignore Range headers (always answer 200 with the whole file). */
  ignoreRange?: boolean;
}

/** A running fixture server; `requests` records each request's Range header (or null). */
export interface FixtureServer {
  url: string;
  requests: (string | null)[];
  close(): Promise<void>;
}

/** Serves `bytes` at `/maestro-v3.0.0-midi.zip` on 127.0.0.1 with a random port. */
export function serveZip(bytes: Uint8Array, opts: ServeOptions = {}): FixtureServer {
  const requests: (string | null)[] = [];
  let cut = opts.cutFirstAt;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const range = req.headers.get("range");
    requests.push(range);
    const m = range?.match(/^bytes=(\d+)-$/);
    if (m && !opts.ignoreRange) {
      const start = Number(m[1]);
      if (start >= bytes.length) {
        return new Response(null, { status: 416, headers: { "content-range": `bytes */${bytes.length}` } });
      }
      return new Response(bytes.slice(start), {
        status: 206,
        headers: { "content-range": `bytes ${start}-${bytes.length - 1}/${bytes.length}` },
      });
    }
    if (cut !== undefined) {
      const n = cut;
      cut = undefined;
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(bytes.slice(0, n));
        },
        pull(c) {
          c.close(); // fewer bytes than Content-Length: the connection ends mid-body
        },
      });
      return new Response(body, { headers: { "content-length": String(bytes.length) } });
    }
    return new Response(bytes.slice(), { headers: { "content-length": String(bytes.length) } });
  });
  const addr = server.addr as Deno.NetAddr;
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${addr.port}/maestro-v3.0.0-midi.zip`,
    requests,
    close: () => closed ??= server.shutdown(),
  };
}
