/**
 * The embedded WebAssembly modules (lib/cpu/_qgemv_wasm.ts, lib/cpu/_attn_wasm.ts) are exactly what WABT compiles
 * from their source text (lib/cpu/qgemv_wat.ts, lib/cpu/attn_wat.ts): the bytes cannot drift from the source. Needs
 * `npm:wabt@1.0.39` (Deno's npm cache or the registry); ignored, visibly, where it cannot be loaded. To regenerate a
 * module after editing its source, write `toBinary({}).buffer` of the same parse as base64 into its file.
 */
import { assertEquals } from "../_assert.ts";
import { qgemvWat } from "../../lib/cpu/qgemv_wat.ts";
import { attnWat } from "../../lib/cpu/attn_wat.ts";
import { QGEMV_WASM_BASE64 } from "../../lib/cpu/_qgemv_wasm.ts";
import { ATTN_WASM_BASE64 } from "../../lib/cpu/_attn_wasm.ts";

type Wabt = {
  parseWat(name: string, text: string, features: Record<string, boolean>): {
    toBinary(o: Record<string, never>): { buffer: Uint8Array };
  };
};

const WABT = "npm:wabt@1.0.39"; // not a literal import: type checks need no download
let wabt: Wabt | undefined;
try {
  const mod = await import(WABT);
  wabt = await (mod.default as () => Promise<Wabt>)();
} catch {
  wabt = undefined;
}

const b64 = (b: Uint8Array) => btoa(Array.from(b, (x) => String.fromCharCode(x)).join(""));

Deno.test({
  name: "the embedded qgemv and attention modules are WABT's compilation of their source text",
  ignore: !wabt,
  fn() {
    const qgemv = wabt!.parseWat("qgemv.wat", qgemvWat(), { simd: true, threads: true }).toBinary({}).buffer;
    assertEquals(b64(qgemv), QGEMV_WASM_BASE64);
    const attn = wabt!.parseWat("attn.wat", attnWat(), { simd: true }).toBinary({}).buffer;
    assertEquals(b64(attn), ATTN_WASM_BASE64);
  },
});
