/**
 * Embedding a model and the WGSL kernels into a single-file program (`deno bundle` output or a `deno compile`
 * binary), so it runs with no files beside it.
 *
 * `deno task compile` writes a generated module (see {@linkcode embedModuleSource}) holding the checkpoint files as
 * base64 and the kernels as text; the program's entry calls {@linkcode registerEmbedded} before anything else.
 * That hands the kernel sources to the engine's hook (`registerKernelSources` in lib/infer/kernel_sources.ts: the
 * engine knows no bundle), and {@linkcode materializeEmbeddedModel} writes the checkpoint to a private temporary
 * directory for `loadModel(dir)`.
 *
 * @module
 */
import { join } from "node:path";
import { registerKernelSources } from "../infer/kernel_sources.ts";
import { CHECKPOINT_FILES } from "../model/checkpoint.ts";
import { GENERATION_CONFIG_FILE } from "../infer/generation_config.ts";
import { decodeBase64, encodeBase64 } from "../util/base64.ts";

/** What a generated embed module exports. */
export interface EmbeddedAssets {
  /** The model's name (its directory name when embedded). */
  modelName: string;
  /** Checkpoint files by name (`config.json`, `model.safetensors`, `tokenizer.json`), base64. */
  model: Record<string, string>;
  /** Kernel name (file name without `.wgsl`) → WGSL source. */
  kernels: Record<string, string>;
}

const KEY = Symbol.for("etude.embedded");

type Registry = { [KEY]?: EmbeddedAssets };

/**
 * Makes embedded assets visible process-wide: the kernels to the engine (its `registerKernelSources` hook), the
 * model to the CLI.
 *
 * @example
 * ```ts
 * import { embeddedKernel, registerEmbedded } from "./embed.ts";
 * registerEmbedded({ modelName: "m", model: {}, kernels: { add: "@compute @workgroup_size(1) fn main() {}" } });
 * embeddedKernel("add"); // the source above
 * ```
 */
export function registerEmbedded(assets: EmbeddedAssets): void {
  (globalThis as Registry)[KEY] = assets;
  registerKernelSources(assets.kernels);
}

/**
 * The registered assets, if this program carries any.
 *
 * @example
 * ```ts
 * import { embeddedAssets } from "./embed.ts";
 * if (embeddedAssets()) console.log("running from a bundle");
 * ```
 */
export function embeddedAssets(): EmbeddedAssets | undefined {
  return (globalThis as Registry)[KEY];
}

/**
 * The embedded source of kernel `name`, or undefined (the engine then reads `kernels/<name>.wgsl` from disk).
 *
 * @example
 * ```ts
 * import { embeddedKernel } from "./embed.ts";
 * const src = embeddedKernel("matmul") ?? "read it from kernels/matmul.wgsl";
 * ```
 */
export function embeddedKernel(name: string): string | undefined {
  return embeddedAssets()?.kernels[name];
}

/**
 * Writes the embedded checkpoint into a fresh temporary directory; `cleanup()` removes it.
 *
 * @example
 * ```ts
 * import { materializeEmbeddedModel, registerEmbedded } from "./embed.ts";
 * registerEmbedded({ modelName: "m", model: { "config.json": btoa("{}") }, kernels: {} });
 * const { dir, cleanup } = await materializeEmbeddedModel();
 * await cleanup();
 * ```
 */
export async function materializeEmbeddedModel(): Promise<
  { dir: string; name: string; cleanup: () => Promise<void> }
> {
  const assets = embeddedAssets();
  if (!assets) throw new Error("this program carries no embedded model");
  const dir = await Deno.makeTempDir({ prefix: "etude_model_" });
  for (const [file, b64] of Object.entries(assets.model)) {
    if (file.includes("/") || file.includes("\\") || file.startsWith(".")) {
      throw new Error(`embedded model: bad file name ${file}`);
    }
    await Deno.writeFile(join(dir, file), decodeBase64(b64));
  }
  return {
    dir,
    name: assets.modelName,
    cleanup: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
  };
}

/** The checkpoint files a model directory must hold to be embedded: the checkpoint reader's `CHECKPOINT_FILES`. */
export const MODEL_FILES: typeof CHECKPOINT_FILES = CHECKPOINT_FILES;

/**
 * Source text of a TypeScript module that exports `ASSETS: EmbeddedAssets` with the model directory's checkpoint
 * files and every `*.wgsl` in `kernelsDir`. A missing checkpoint file is an error naming it.
 *
 * @example
 * ```ts
 * import { embedModuleSource } from "./embed.ts";
 * const src = await embedModuleSource("models/default", "kernels");
 * await Deno.writeTextFile("/tmp/etude_assets.ts", src);
 * ```
 */
export async function embedModuleSource(modelDir: string, kernelsDir: string): Promise<string> {
  const model: Record<string, string> = {};
  for (const f of MODEL_FILES) {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(join(modelDir, f));
    } catch {
      throw new Error(`${join(modelDir, f)}: missing (a model directory holds ${MODEL_FILES.join(", ")})`);
    }
    model[f] = encodeBase64(bytes);
  }
  // the model's own sampling defaults travel with it when it has them
  try {
    model[GENERATION_CONFIG_FILE] = encodeBase64(await Deno.readFile(join(modelDir, GENERATION_CONFIG_FILE)));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const kernels: Record<string, string> = {};
  const names: string[] = [];
  for (const e of Deno.readDirSync(kernelsDir)) if (e.isFile && e.name.endsWith(".wgsl")) names.push(e.name);
  for (const n of names.sort()) kernels[n.slice(0, -5)] = await Deno.readTextFile(join(kernelsDir, n));
  const name = modelDir.replace(/\/+$/, "").split(/[\\/]/).pop() || "model";
  const assets: EmbeddedAssets = { modelName: name, model, kernels };
  return `// Generated by deno task compile: the ${name} model and ${names.length} kernels. Do not edit.\n` +
    `export const ASSETS = ${JSON.stringify(assets)};\n`;
}
