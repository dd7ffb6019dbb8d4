/**
 * Helpers for the hand-written SVG documents (the training loss curve, the eval chart).
 *
 * @module
 */

/**
 * Escapes text for SVG/XML content and attribute values (`&`, `<`, `>`, `"`).
 *
 * @example
 * ```ts
 * import { esc } from "./svg.ts";
 * esc('a <b> & "c"'); // "a &lt;b&gt; &amp; &quot;c&quot;"
 * ```
 */
export function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
