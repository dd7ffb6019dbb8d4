/**
 * Where the repository is, for code that runs from a checkout (tasks, the bench, the bundler). In a bundle or a
 * compiled binary the modules are not files: `REPO_ROOT` is then `undefined` and callers fall back to the working
 * directory or embedded assets.
 *
 * @example
 * ```ts
 * import { join } from "node:path";
 * import { REPO_ROOT } from "./paths.ts";
 * if (REPO_ROOT) console.log(join(REPO_ROOT, "models", "default"));
 * ```
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** The repository root (holds deno.json, kernels/, models/), or `undefined` when not running from files. */
export const REPO_ROOT: string | undefined = import.meta.url.startsWith("file:")
  ? fileURLToPath(new URL("../../", import.meta.url)).replace(/[\\/]$/, "")
  : undefined;

/**
 * The repository root; throws where the code does not run from a checkout (only repository tools call this).
 *
 * @example
 * ```ts
 * import { repoRoot } from "./paths.ts";
 * console.log(repoRoot());
 * ```
 */
export function repoRoot(): string {
  if (REPO_ROOT === undefined) throw new Error("not running from a checkout of the etude repository");
  return REPO_ROOT;
}
