/**
 * Where the engine's WGSL comes from: `kernels/<name>.wgsl` on disk, unless a program that carries the kernels in
 * memory (a bundle or compiled binary: lib/bundle/embed.ts) registered them first through
 * {@linkcode registerKernelSources}. The engine knows no bundle; whoever embeds kernels calls this hook.
 *
 * @module
 */

const registered = new Map<string, string>();
const cache = new Map<string, Promise<string>>();

/**
 * Serves kernel sources from memory (kernel name, the file name without `.wgsl` → WGSL text); a registered name wins
 * over the file on disk from then on, for every engine created later.
 *
 * @example
 * ```ts
 * import { kernelSource, registerKernelSources } from "./kernel_sources.ts";
 * registerKernelSources({ noop: "@compute @workgroup_size(1) fn main() {}" });
 * await kernelSource("noop"); // the source above
 * ```
 */
export function registerKernelSources(sources: Readonly<Record<string, string>>): void {
  for (const [name, code] of Object.entries(sources)) {
    registered.set(name, code);
    cache.delete(name);
  }
}

/**
 * The WGSL text of kernel `name`: the registered source, else `kernels/<name>.wgsl` read once from disk.
 *
 * @example
 * ```ts
 * import { kernelSource } from "./kernel_sources.ts";
 * const code = await kernelSource("matmul");
 * ```
 */
export function kernelSource(name: string): Promise<string> {
  const mem = registered.get(name);
  if (mem !== undefined) return Promise.resolve(mem);
  let p = cache.get(name);
  if (!p) {
    p = Deno.readTextFile(new URL(`../../kernels/${name}.wgsl`, import.meta.url));
    cache.set(name, p);
  }
  return p;
}
