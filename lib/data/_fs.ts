/**
 * Small file-system helpers shared by fetch and tokenize, and the fetch error type.
 *
 * @module
 */
import { join } from "node:path";

/** A fetch failure (checksum, zip, layout); one-line message. */
export class FetchError extends Error {
  /** Always `FetchError`. */
  override name = "FetchError";
}

/**
 * Removes leftovers of a process killed mid-way (temporary directories matching `pattern` directly in `dir`).
 *
 * @example
 * ```ts ignore
 * import { removeStale } from "./_fs.ts";
 * await removeStale("data", /^\.etude-extract-/);
 * ```
 */
export async function removeStale(dir: string, pattern: RegExp): Promise<void> {
  try {
    for await (const e of Deno.readDir(dir)) {
      if (pattern.test(e.name)) await Deno.remove(join(dir, e.name), { recursive: true }).catch(() => {});
    }
  } catch { /* no directory yet */ }
}
