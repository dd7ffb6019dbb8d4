import { assert, assertEquals } from "../_assert.ts";
import { HEADLINE_RATIOS, runPart } from "../../bench/run.ts";
import { BENCH_PARTS, type BenchContext, type BenchPart } from "../../bench/parts.ts";

const root = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const ctx = {
  quick: true,
  root,
  ckptDir: "/nonexistent",
  weightBytes: 1,
  params: 1,
  torch: { ok: false, detail: "test", python: "/usr/bin/python3" },
  torchVariants: [],
  realGpu: false,
  adapter: "none",
} satisfies BenchContext;

function fakePart(id: string, requires: string[]): BenchPart {
  return {
    id,
    section: "test",
    requires,
    rows: () => [{ id: `${id}.a`, label: "A", unit: "x" }, { id: `${id}.b`, label: "B", unit: "x" }],
    timeoutS: () => 30,
    run: () => Promise.resolve([]),
  };
}

Deno.test("a part whose code is missing is skipped visibly, row by row", async () => {
  const rows = await runPart(fakePart("ghost", ["lib/does_not_exist.ts"]), ctx, "/nonexistent.json");
  assertEquals(rows.map((r) => r.id), ["ghost.a", "ghost.b"]);
  for (const r of rows) {
    assertEquals(r.value, null);
    assertEquals(r.skipped, "lib/does_not_exist.ts not present yet");
  }
});

Deno.test("a part that fails in its child process is skipped with the child's last error line", async () => {
  // part_main.ts does not know this id: it exits 2 with its usage line
  const rows = await runPart(
    fakePart("not-a-registered-part", ["bench/run.ts"]),
    ctx,
    "/nonexistent.json",
  );
  assertEquals(rows.length, 2);
  for (const r of rows) {
    assertEquals(r.value, null);
    assert(r.skipped?.startsWith("failed: usage: part_main.ts"), r.skipped);
  }
});

Deno.test("every headline ratio refers to rows the parts produce (CPU + CUDA context)", () => {
  const cuda = {
    ...ctx,
    torchVariants: [{ tag: "t1", device: "cpu", threads: 1 }, { tag: "t2", device: "cpu", threads: 2 }, {
      tag: "cuda",
      device: "cuda",
    }],
  } satisfies BenchContext;
  const ids = new Set(BENCH_PARTS.flatMap((p) => p.rows(cuda).map((r) => r.id)));
  assertEquals(ids.size, BENCH_PARTS.flatMap((p) => p.rows(cuda)).length, "row ids are unique");
  for (const r of HEADLINE_RATIOS) {
    assert(ids.has(r.num), `${r.label}: ${r.num} is no part's row`);
    assert(ids.has(r.den), `${r.label}: ${r.den} is no part's row`);
  }
});
