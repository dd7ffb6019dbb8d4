/**
 * Where the larger real-MIDI corpus lives for tests: `$ETUDE_MIDI_CORPUS` or `../shared/midi`. Tests that need it use
 * `ignore: !CORPUS` so they are reported as ignored when it is absent.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

function findCorpus(): string | undefined {
  const env = Deno.env.get("ETUDE_MIDI_CORPUS");
  const candidates = env ? [env] : [join(fileURLToPath(new URL("../..", import.meta.url)), "shared", "midi")];
  for (const c of candidates) {
    try {
      if (Deno.statSync(c).isDirectory) return c;
    } catch { /* absent */ }
  }
  return undefined;
}

/** Absolute path of the corpus, or undefined when it is absent. */
export const CORPUS: string | undefined = findCorpus();

/** All files under `dir`, recursively, sorted. */
export function walkFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) out.push(...walkFiles(p));
    else if (e.isFile) out.push(p);
  }
  return out.sort();
}

/** The real solo-piano corpus: piano-midi.de plus the MAESTRO performances, deduplicated by content. */
export function pianoCorpusFiles(): string[] {
  if (!CORPUS) return [];
  const files = [
    ...walkFiles(join(CORPUS, "piano-midi-de")),
    ...walkFiles(join(CORPUS, "miditok", "tests", "MIDIs_one_track")).filter((f) => /Maestro_/.test(f)),
    ...walkFiles(join(CORPUS, "mirdata-maestro-sample")),
  ].filter((f) => /\.midi?$/i.test(f));
  return files;
}
