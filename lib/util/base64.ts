/**
 * Base64 (standard alphabet, padded) to and from bytes: the native `Uint8Array.fromBase64` / `toBase64` where the
 * runtime has them, `atob` / `btoa` otherwise.
 *
 * @module
 */

type NativeFrom = (s: string) => Uint8Array;
type NativeTo = (this: Uint8Array) => string;

/**
 * Decodes base64 (white space ignored) to bytes; throws on characters outside the alphabet or a bad length.
 *
 * @example
 * ```ts
 * import { decodeBase64 } from "./base64.ts";
 * decodeBase64("TVRoZA=="); // Uint8Array [77, 84, 104, 100]
 * ```
 */
export function decodeBase64(b64: string): Uint8Array {
  // both skip ASCII white space (forgiving-base64)
  const native = (Uint8Array as unknown as { fromBase64?: NativeFrom }).fromBase64;
  if (native) return native(b64);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * Encodes bytes as base64.
 *
 * @example
 * ```ts
 * import { encodeBase64 } from "./base64.ts";
 * encodeBase64(new Uint8Array([77, 84, 104, 100])); // "TVRoZA=="
 * ```
 */
export function encodeBase64(bytes: Uint8Array): string {
  const native = (bytes as unknown as { toBase64?: NativeTo }).toBase64;
  if (native) return native.call(bytes);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
