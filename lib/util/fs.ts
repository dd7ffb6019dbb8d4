/**
 * Small file-system helpers shared across etude: whether a path exists, and the MIDI files under a folder.
 *
 * @module
 */
import { join } from "node:path";

/**
 * Whether something is at `path` (following links: a dangling link counts as missing).
 *
 * @example
 * ```ts
 * import { exists } from "./fs.ts";
 * await exists("deno.json"); // true in the repository root
 * ```
 */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * {@link exists}, synchronously.
 *
 * @example
 * ```ts
 * import { existsSync } from "./fs.ts";
 * existsSync("/nonexistent/x"); // false
 * ```
 */
export function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The `.mid` / `.midi` files (any case) under `dir`, recursively, sorted by path. Throws when `dir` cannot be read.
 *
 * @example
 * ```ts ignore
 * import { listMidiFiles } from "./fs.ts";
 * listMidiFiles("data/maestro-v3.0.0"); // ["data/maestro-v3.0.0/2004/….midi", …]
 * ```
 */
export function listMidiFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of Deno.readDirSync(d)) {
      const p = join(d, e.name);
      if (e.isDirectory) walk(p);
      else if (e.isFile && /\.midi?$/i.test(e.name)) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

/**
 * Reads a whole file after checking its size, so a huge file costs a `stat`, not its bytes: throws a `RangeError`
 * naming the file and the limit when it is larger than `maxBytes`.
 *
 * @example
 * ```ts ignore
 * import { readFileCapped } from "./fs.ts";
 * const bytes = await readFileCapped("take.json", 16 * 1024 * 1024);
 * ```
 */
export async function readFileCapped(path: string, maxBytes: number): Promise<Uint8Array<ArrayBuffer>> {
  const { size } = await Deno.stat(path);
  if (size > maxBytes) {
    throw new RangeError(`${path}: ${size} bytes, more than the ${maxBytes} this input may have`);
  }
  return await Deno.readFile(path);
}
