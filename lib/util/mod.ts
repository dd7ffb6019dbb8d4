/**
 * The lowest layer: small helpers every other area uses — atomic writes, safetensors, the progress bar, the one
 * seeded RNG, text tables, base64, file-system checks, hashes, SVG escaping, repository paths, the etude version.
 * Nothing here imports any other part of etude.
 *
 * @example
 * ```ts
 * import { mulberry32, sha256Hex } from "./mod.ts";
 * const rand = mulberry32(1);
 * console.log(rand() < 1, await sha256Hex(new Uint8Array([1, 2, 3])));
 * ```
 *
 * @module
 */
export * from "./atomic.ts";
export * from "./base64.ts";
export * from "./errors.ts";
export * from "./fs.ts";
export * from "./hash.ts";
export * from "./output.ts";
export * from "./paths.ts";
export * from "./progress.ts";
export * from "./rng.ts";
export * from "./safetensors.ts";
export * from "./svg.ts";
export * from "./table.ts";
export * from "./version.ts";
