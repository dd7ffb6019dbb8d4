/**
 * Zip extraction with npm:fflate (central directory read first, entries inflated in batches, paths checked).
 *
 * @module
 */
import { unzipSync } from "fflate";
import { dirname, join } from "node:path";
import { Progress } from "../util/progress.ts";
import { FetchError } from "./_fs.ts";

/**
 * Extracts a zip with fflate into `dest` (created), checking every entry path stays inside it. Reads the central
 * directory first (a truncated or corrupt zip fails before anything is written), then inflates in batches.
 * Returns the number of files and the single top-level folder if all entries share one.
 *
 * @example
 * ```ts ignore
 * import { extractZip } from "./_zip.ts";
 * const { files, top } = await extractZip("data/maestro-v3.0.0-midi.zip", "/tmp/x");
 * ```
 */
export async function extractZip(
  zipPath: string,
  dest: string,
  opts: { progress?: boolean } = {},
): Promise<{ files: number; top?: string }> {
  const data = await Deno.readFile(zipPath);
  const entries: { name: string; size: number }[] = [];
  try {
    unzipSync(data, {
      filter: (f) => {
        entries.push({ name: f.name, size: f.originalSize });
        return false;
      },
    });
  } catch (e) {
    throw new FetchError(`${zipPath}: not a readable zip (truncated or corrupt): ${(e as Error).message}`);
  }
  const files = entries.filter((e) => !e.name.endsWith("/"));
  if (files.length === 0) throw new FetchError(`${zipPath}: the zip holds no files`);
  for (const f of files) {
    if (
      f.name.startsWith("/") || f.name.includes("\\") || f.name.split("/").some((p) => p === ".." || p === "")
    ) {
      throw new FetchError(`${zipPath}: unsafe entry path ${JSON.stringify(f.name)}`);
    }
  }
  const tops = new Set(files.map((f) => f.name.split("/")[0]));
  const top = tops.size === 1 && files.every((f) => f.name.includes("/")) ? [...tops][0] : undefined;
  await Deno.mkdir(dest, { recursive: true });
  const bar = new Progress("extract", files.length, { unit: "files", force: opts.progress });
  const BATCH = 64;
  for (let i = 0; i < files.length; i += BATCH) {
    const want = new Map(files.slice(i, i + BATCH).map((f) => [f.name, f.size]));
    let got: Record<string, Uint8Array>;
    try {
      got = unzipSync(data, { filter: (f) => want.has(f.name) });
    } catch (e) {
      throw new FetchError(
        `${zipPath}: corrupt zip entry near ${[...want.keys()][0]}: ${(e as Error).message}`,
      );
    }
    for (const [name, size] of want) {
      const bytes = got[name];
      if (!bytes || bytes.length !== size) {
        throw new FetchError(`${zipPath}: entry ${name} did not inflate to its recorded ${size} bytes`);
      }
      const path = join(dest, name);
      await Deno.mkdir(dirname(path), { recursive: true });
      await Deno.writeFile(path, bytes);
    }
    bar.update(Math.min(files.length, i + BATCH));
  }
  if (opts.progress !== false) bar.done();
  return { files: files.length, top };
}
