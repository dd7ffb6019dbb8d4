import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import {
  attentionKernel,
  chooseKernelPath,
  KERNEL_PATH_ENV,
  kernelSpecs,
  matmulPlan,
  SPLITK,
} from "../../lib/infer/_kernels.ts";
import { loadKernel } from "../../lib/infer/_gpu.ts";
import { kernelSource, registerKernelSources } from "../../lib/infer/kernel_sources.ts";

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

Deno.test("kernel specs: each path compiles what its plans dispatch; bindings match each kernel's @binding declarations", async () => {
  for (const path of ["software", "gpu"] as const) {
    const specs = kernelSpecs(path, 96);
    // Every matmul kind a plan can pick on this path is compiled, plain and SwiGLU.
    for (const m of [1, 2, 3, 8, 9, 64]) {
      for (const swiglu of [false, true]) {
        const role = `${swiglu ? "sw" : "mm"}${matmulPlan(path, swiglu, m, 128).kind}` as const;
        assert(specs[role], `${path}: ${role} for m = ${m}`);
      }
    }
    assertEquals(specs.attn?.file, attentionKernel(path));
    assertEquals(specs.attn?.consts, { MAXPOS: 96 });
    assertEquals(specs.mmS !== undefined, path === "gpu");
    for (const [role, spec] of Object.entries(specs)) {
      // Overrides apply (loadKernel throws for a const the file lacks), and the bind group layout letters are the
      // file's bindings in order: uniform, read-only storage, read-write storage.
      const code = await loadKernel(spec.file, spec.consts);
      for (const [k, v] of Object.entries(spec.consts ?? {})) {
        assert(new RegExp(`const ${k}: u32 = ${v}u;`).test(code), `${role}: ${k} = ${v}`);
      }
      const decl = [...code.matchAll(/@binding\((\d+)\)\s*var<([^>]+)>/g)];
      assertEquals(
        decl.map((m) => Number(m[1])),
        decl.map((_, i) => i),
        `${role}: bindings 0, 1, … in order`,
      );
      const letter = (kind: string) =>
        ({ "uniform": "u", "storage,read": "r", "storage,read_write": "w" })[kind.replace(/\s/g, "")] ?? "?";
      const bindings = decl.map((m) => letter(m[2])).join("");
      assertEquals(bindings, spec.bindings, `${role} (kernels/${spec.file}.wgsl)`);
    }
  }
});

Deno.test("kernel sources: a registered source wins over the disk, and the engine imports no bundle code", async () => {
  const name = "etude_test_only_kernel";
  await assertRejects(() => kernelSource(name)); // not on disk
  const code = "@compute @workgroup_size(1) fn main() {}\nconst N: u32 = 1u;\n";
  registerKernelSources({ [name]: code });
  assertEquals(await kernelSource(name), code);
  assertEquals(await loadKernel(name, { N: 4 }), code.replace("1u;", "4u;"));
  assertEquals(
    await kernelSource("matmul"),
    await Deno.readTextFile(new URL("../../kernels/matmul.wgsl", import.meta.url)),
  );
  // The bundle registers kernels through the hook; nothing under lib/infer/ reaches up into lib/bundle/.
  const dir = new URL("../../lib/infer/", import.meta.url);
  for (const e of Deno.readDirSync(dir)) {
    if (!e.name.endsWith(".ts")) continue;
    const src = await Deno.readTextFile(new URL(e.name, dir));
    assert(!/from\s+"\.\.\/bundle\//.test(src), `lib/infer/${e.name} imports lib/bundle`);
  }
});
