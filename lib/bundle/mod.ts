/**
 * The single-file generator: `embed.ts` turns a model directory and the WGSL kernels into a module of base64
 * assets and registers them at run time (kernels through the engine's hook, the model through the CLI's host);
 * `compile.ts` writes the entry, bundles it with `deno bundle` and, where `denort` is available, compiles a binary.
 *
 * @example
 * ```ts ignore
 * import { bundle, writeEntry } from "./mod.ts";
 * await bundle(await writeEntry("dist/.build", "models/default"), "dist/etude-bundle.js");
 * ```
 *
 * @module
 */
export * from "./compile.ts";
export * from "./embed.ts";
