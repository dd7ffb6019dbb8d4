import { assertEquals, assertThrows } from "../_assert.ts";
import {
  attentionKernel,
  chooseKernelPath,
  KERNEL_PATH_ENV,
  matmulPlan,
  SPLITK,
} from "../../lib/infer/_kernels.ts";

function withEnv(value: string | undefined, fn: () => void) {
  const prev = Deno.env.get(KERNEL_PATH_ENV);
  if (value === undefined) Deno.env.delete(KERNEL_PATH_ENV);
  else Deno.env.set(KERNEL_PATH_ENV, value);
  try {
    fn();
  } finally {
    if (prev === undefined) Deno.env.delete(KERNEL_PATH_ENV);
    else Deno.env.set(KERNEL_PATH_ENV, prev);
  }
}

Deno.test("kernel path: software adapters keep the llvmpipe kernels, real GPUs get split-K; option and env override", () => {
  withEnv(undefined, () => {
    assertEquals(
      chooseKernelPath({ software: true, adapter: "llvmpipe (LLVM 15.0.6, 256 bits)" }),
      "software",
    );
    // A driver that does not flag its software rasteriser as a fallback adapter.
    assertEquals(
      chooseKernelPath({ software: false, adapter: "llvmpipe (LLVM 15.0.6, 256 bits)" }),
      "software",
    );
    assertEquals(chooseKernelPath({ software: false, adapter: "NVIDIA H100 80GB HBM3" }), "gpu");
    assertEquals(chooseKernelPath({ software: true, adapter: "llvmpipe" }, "gpu"), "gpu");
    assertEquals(chooseKernelPath({ software: false, adapter: "NVIDIA H100" }, "software"), "software");
  });
  withEnv("gpu", () => assertEquals(chooseKernelPath({ software: true, adapter: "llvmpipe" }), "gpu"));
  withEnv(
    "software",
    () => assertEquals(chooseKernelPath({ software: false, adapter: "NVIDIA" }), "software"),
  );
  // The option wins over the environment.
  withEnv(
    "gpu",
    () => assertEquals(chooseKernelPath({ software: false, adapter: "x" }, "software"), "software"),
  );
  withEnv("cuda", () => {
    assertThrows(() => chooseKernelPath({ software: false, adapter: "NVIDIA" }), Error, KERNEL_PATH_ENV);
  });
});

Deno.test("matmul plan and attention kernel: software path unchanged (llvmpipe-tuned grids); gpu path splits K for small M", () => {
  // Software: GEMV (8 invocations × 4 vec4) for m ≤ 2, 4×2 tile above; swiglu GEMV 8 × 2 vec4, tile 4×1.
  assertEquals(matmulPlan("software", false, 1, 512), { kind: "G", x: 16, y: 1 });
  assertEquals(matmulPlan("software", false, 2, 256), { kind: "G", x: 8, y: 2 });
  assertEquals(matmulPlan("software", true, 1, 512), { kind: "G", x: 32, y: 1 });
  assertEquals(matmulPlan("software", false, 16, 128), { kind: "T", x: 8, y: 4 });
  assertEquals(matmulPlan("software", true, 16, 512), { kind: "T", x: 64, y: 4 });
  // GPU: one workgroup per COLS vec4 columns and row, up to 8 rows; tiles above.
  assertEquals(matmulPlan("gpu", false, 1, 512), { kind: "S", x: 512 / SPLITK.COLS, y: 1 });
  assertEquals(matmulPlan("gpu", true, 8, 31), { kind: "S", x: Math.ceil(31 / SPLITK.COLS), y: 8 });
  assertEquals(matmulPlan("gpu", false, 9, 128), matmulPlan("software", false, 9, 128));
  assertEquals(matmulPlan("gpu", false, 64, 128), { kind: "T", x: 8, y: 16 });
  assertEquals(attentionKernel("software"), "attention");
  assertEquals(attentionKernel("gpu"), "attention_gpu");
});
