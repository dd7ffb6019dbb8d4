/**
 * Where the engine's WGSL comes from: `kernels/<name>.wgsl` on disk, unless a program that carries the kernels in
 * memory (a bundle or compiled binary: lib/bundle/embed.ts) registered them first through `registerKernelSources`.
 * The engine knows no bundle; whoever embeds kernels calls this hook. Re-exported from lib/gpu/device.ts (one
 * registry for the engine and the training kernels).
 *
 * @module
 */
export { kernelSource, registerKernelSources } from "../gpu/device.ts";
