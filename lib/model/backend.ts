/**
 * tfjs backend selection: `webgpu` when `navigator.gpu` offers a real (non-fallback) adapter, otherwise `wasm`
 * (SIMD, single thread: the threaded build does not start under Deno), `cpu` as the last resort.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";

/**
 * A backend name, or `auto`.
 *
 * @example
 * ```ts
 * import { type BackendChoice, selectBackend } from "./backend.ts";
 * const choice: BackendChoice = Deno.env.get("CI") ? "cpu" : "auto";
 * const name = await selectBackend(choice); // the backend actually set: "webgpu", "wasm" or "cpu"
 * ```
 */
export type BackendChoice = "auto" | "webgpu" | "wasm" | "cpu";

let wasmConfigured = false;

function configureWasm(): void {
  if (wasmConfigured) return;
  // the package's dist/ folder holds the .wasm binaries; resolve it from the module graph
  const base = import.meta.resolve("@tensorflow/tfjs-backend-wasm");
  const dist = base.startsWith("file:") ? new URL("./", base) : null;
  const dir = dist ?? new URL("../../node_modules/@tensorflow/tfjs-backend-wasm/dist/", import.meta.url);
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
  setWasmPaths({
    "tfjs-backend-wasm.wasm": new URL("tfjs-backend-wasm.wasm", dir).href,
    "tfjs-backend-wasm-simd.wasm": new URL("tfjs-backend-wasm-simd.wasm", dir).href,
    "tfjs-backend-wasm-threaded-simd.wasm": new URL("tfjs-backend-wasm-threaded-simd.wasm", dir).href,
  }, true);
  wasmConfigured = true;
}

/**
 * True when `navigator.gpu` gives an adapter that is not a software fallback (llvmpipe, lavapipe, SwiftShader).
 *
 * @example
 * ```ts
 * import { hasRealGpu } from "./backend.ts";
 * console.log(await hasRealGpu());
 * ```
 */
export async function hasRealGpu(): Promise<boolean> {
  // deno-lint-ignore no-explicit-any
  const gpu = (navigator as any).gpu;
  if (!gpu) return false;
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) return false;
    const info = adapter.info ?? {};
    if (adapter.isFallbackAdapter || info.isFallbackAdapter) return false;
    return !/llvmpipe|lavapipe|swiftshader|software/i.test(`${info.description ?? ""} ${info.device ?? ""}`);
  } catch {
    return false;
  }
}

/**
 * Initialises and activates a tfjs backend; `auto` picks webgpu (real GPU) → wasm → cpu. Returns the active name.
 *
 * @example
 * ```ts
 * import { selectBackend } from "./backend.ts";
 * const name = await selectBackend("cpu"); // "cpu"
 * ```
 */
export async function selectBackend(choice: BackendChoice = "auto"): Promise<string> {
  const order: string[] = choice === "auto"
    ? [(await hasRealGpu()) ? "webgpu" : "", "wasm", "cpu"]
    : [choice];
  const errors: string[] = [];
  // production mode: no debug checks, and no "install tfjs-node" banner from the cpu backend
  tf.env().set("PROD", true);
  for (const name of order.filter(Boolean)) {
    try {
      if (tf.getBackend() === name) return name;
    } catch { /* no backend yet */ }
    try {
      if (name === "wasm") configureWasm();
      if (name === "webgpu") await import("@tensorflow/tfjs-backend-webgpu");
      if (await tf.setBackend(name)) {
        await tf.ready();
        return name;
      }
      errors.push(`${name}: setBackend returned false`);
    } catch (e) {
      errors.push(`${name}: ${(e as Error).message}`);
    }
  }
  throw new Error(`no tfjs backend could start (${errors.join("; ")})`);
}
