/** A quick decode speed print for the v8 shape (random weights): information for reports, no assertion on speed. */
import { assert } from "../_assert.ts";
import { getBlas } from "../../lib/cpu/blas.ts";
import { CpuTransformer } from "../../lib/cpu/model.ts";
import { decodeSpeed, gemvFloor, V8 } from "./_speed.ts";

Deno.test({
  name: "v8-shape decode speed print (batch 1 and 16, ms/step breakdown)",
  ignore: getBlas().kind !== "native", // the TypeScript fallback would take minutes
  fn() {
    const m = CpuTransformer.init(V8, 1);
    assert(m.size === 34_087_424);
    console.log(`  BLAS ${m.blas.name}, ${m.blas.getThreads()} threads`);
    console.log(`  ${gemvFloor(m, 5)}`);
    console.log(`  ${decodeSpeed(m, 1, 32)}`);
    console.log(`  ${decodeSpeed(m, 16, 4)}`);
  },
});
