/**
 * Resumable HTTP download into `<dest>.part`, renamed to `dest` when complete, plus streaming sha256 of a file.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** A download failure; the message is one line and says whether the partial file was kept. */
export class DownloadError extends Error {
  /** Always `DownloadError`. */
  override name = "DownloadError";
}

/** Options for {@link downloadWithResume}. */
export interface DownloadOptions {
  /** The fetch to use (tests inject one; default `globalThis.fetch`). */
  fetch?: typeof fetch;
  /** Called as bytes arrive: bytes on disk so far and the total (NaN when the server does not say). */
  onProgress?: (done: number, total: number) => void;
}

/** What {@link downloadWithResume} did. */
export interface DownloadResult {
  /** Final size in bytes. */
  bytes: number;
  /** Bytes already in `.part` that the server let us keep (0 on a fresh download). */
  resumedFrom: number;
  /** True when a `.part` existed but the server ignored or refused the Range request, so the download restarted. */
  restarted: boolean;
}

function parseContentRange(h: string | null): { start: number; total: number } | undefined {
  const m = h?.match(/^bytes\s+(\d+)-\d+\/(\d+|\*)$/i);
  if (!m) return undefined;
  return { start: Number(m[1]), total: m[2] === "*" ? NaN : Number(m[2]) };
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return 0;
  }
}

/**
 * Downloads `url` to `dest`, resuming from `dest + ".part"` with an HTTP Range request when one exists. A server
 * that ignores Range (200) or refuses it (416 on a stale part) restarts the download from byte 0. A network error or
 * a body shorter than announced keeps the `.part` file and throws a one-line `DownloadError` suggesting a rerun.
 *
 * @example
 * ```ts ignore
 * import { downloadWithResume } from "./_download.ts";
 * await downloadWithResume("https://example.com/a.zip", "data/a.zip");
 * ```
 */
export async function downloadWithResume(
  url: string,
  dest: string,
  opts: DownloadOptions = {},
): Promise<DownloadResult> {
  const doFetch = opts.fetch ?? globalThis.fetch;
  const part = `${dest}.part`;
  let offset = await fileSize(part);
  let restarted = false;
  const resumedFrom0 = offset;
  for (let attempt = 0; attempt < 2; attempt++) {
    let res: Response;
    try {
      res = await doFetch(url, { headers: offset > 0 ? { Range: `bytes=${offset}-` } : {} });
    } catch (e) {
      throw new DownloadError(`cannot reach ${url}: ${oneLine(e)}${keptNote(part, offset)}`);
    }
    let total = NaN;
    let append = false;
    if (res.status === 416 && offset > 0) {
      await res.body?.cancel();
      const cr = res.headers.get("content-range")?.match(/\*\/(\d+)/);
      if (cr && Number(cr[1]) === offset) {
        await Deno.rename(part, dest);
        return { bytes: offset, resumedFrom: offset, restarted: false };
      }
      await Deno.remove(part).catch(() => {});
      offset = 0;
      restarted = true;
      continue;
    } else if (res.status === 206 && offset > 0) {
      const cr = parseContentRange(res.headers.get("content-range"));
      if (!cr || cr.start !== offset) {
        // A range we did not ask for: start over rather than splice mismatched bytes.
        await res.body?.cancel();
        await Deno.remove(part).catch(() => {});
        offset = 0;
        restarted = true;
        continue;
      }
      total = cr.total;
      append = true;
    } else if (res.status === 200) {
      if (offset > 0) restarted = true;
      offset = 0;
      const len = res.headers.get("content-length");
      total = len !== null ? Number(len) : NaN;
    } else {
      await res.body?.cancel();
      throw new DownloadError(`${url}: HTTP ${res.status} ${res.statusText}`.trim() + keptNote(part, offset));
    }
    if (!res.body) throw new DownloadError(`${url}: empty response body`);
    const file = await Deno.open(part, { create: true, write: true, append, truncate: !append });
    let done = offset;
    opts.onProgress?.(done, total);
    try {
      for await (const chunk of res.body) {
        let w = 0;
        while (w < chunk.length) w += await file.write(chunk.subarray(w));
        done += chunk.length;
        opts.onProgress?.(done, total);
      }
    } catch (e) {
      file.close();
      throw new DownloadError(`download of ${url} interrupted: ${oneLine(e)}${keptNote(part, done)}`);
    }
    file.close();
    if (Number.isFinite(total) && done !== total) {
      throw new DownloadError(
        `download of ${url} ended early at ${done} of ${total} bytes${keptNote(part, done)}`,
      );
    }
    await Deno.rename(part, dest);
    return { bytes: done, resumedFrom: restarted ? 0 : resumedFrom0, restarted };
  }
  throw new DownloadError(`${url}: the server refused to resume or restart the download`);
}

function keptNote(part: string, bytes: number): string {
  return bytes > 0 ? ` (${bytes} bytes kept in ${part}; run again to resume)` : "";
}

function oneLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split("\n")[0];
}

/**
 * The sha256 of a file as lowercase hex, read in a stream (constant memory).
 *
 * @example
 * ```ts ignore
 * import { sha256File } from "./_download.ts";
 * await sha256File("data/maestro-v3.0.0-midi.zip");
 * ```
 */
export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  const file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) h.update(chunk); // the stream closes the file
  return h.digest("hex");
}
