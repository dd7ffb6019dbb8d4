/**
 * The web page's sources (`page.html`, `page.js`: plain HTML/CSS/JS, no build step), read once when the server
 * module loads.
 *
 * @module
 */

function read(name: string): string {
  return Deno.readTextFileSync(new URL(`./${name}`, import.meta.url));
}

/**
 * The page's HTML (with its CSS inline).
 *
 * @example
 * ```ts
 * import { PAGE_HTML } from "./page.ts";
 * PAGE_HTML.includes("<canvas"); // true
 * ```
 */
export const PAGE_HTML: string = read("page.html");

/**
 * The page's script, served at `/page.js`.
 *
 * @example
 * ```ts
 * import { PAGE_JS } from "./page.ts";
 * PAGE_JS.length > 0; // true
 * ```
 */
export const PAGE_JS: string = read("page.js");

/**
 * The page's modules besides `page.js`, by their served name (`/page_steer.js`: the steering controls,
 * `/page_midi.js`: WebMIDI out and in, `/page_roll.js`: the piano roll, `/page_audio.js`: WebAudio playback,
 * `/page_infill.js`: bars selected on the roll and regenerated).
 *
 * @example
 * ```ts
 * import { PAGE_MODULES } from "./page.ts";
 * Object.keys(PAGE_MODULES).includes("page_midi.js"); // true
 * ```
 */
export const PAGE_MODULES: Readonly<Record<string, string>> = Object.freeze(
  Object.fromEntries(
    ["page_steer.js", "page_midi.js", "page_roll.js", "page_audio.js", "page_infill.js"].map((
      n,
    ) => [n, read(n)]),
  ),
);
