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
