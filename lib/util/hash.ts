/**
 * Content hashes as hex strings.
 *
 * @module
 */

/**
 * The SHA-256 of `bytes` as 64 lowercase hex digits.
 *
 * @example
 * ```ts
 * import { sha256Hex } from "./hash.ts";
 * await sha256Hex(new TextEncoder().encode("")); // "e3b0c442…b855"
 * ```
 */
export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}
