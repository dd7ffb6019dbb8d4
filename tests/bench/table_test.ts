import { assert, assertAlmostEquals, assertEquals } from "../_assert.ts";
import {
  type BenchResult,
  computeRatios,
  formatNumber,
  formatTable,
  ratiosTable,
  resultsTable,
  slug,
} from "../../lib/util/table.ts";
import { decodeLimit } from "../../bench/bandwidth.ts";

const results: BenchResult[] = [
  {
    id: "decode.engine.b1",
    section: "decode",
    label: "engine b1",
    value: 40,
    unit: "tokens/s",
    note: "llvmpipe",
  },
  { id: "decode.engine.b16", section: "decode", label: "engine b16", value: 400, unit: "tokens/s" },
  { id: "decode.torch.t1.b1", section: "decode", label: "torch b1", value: 61, unit: "tokens/s" },
  {
    id: "decode.tfjs.b1",
    section: "decode",
    label: "tfjs b1",
    value: null,
    unit: "tokens/s",
    skipped: "no lib/model",
  },
  { id: "zero", section: "x", label: "zero", value: 0, unit: "s" },
];

Deno.test("ratios: num ÷ den; a skipped or missing side is a visible null with the reason", () => {
  const r = computeRatios(results, [
    { label: "engine ÷ torch", num: "decode.engine.b1", den: "decode.torch.t1.b1", goal: "≥ 1.0" },
    { label: "b16 ÷ b1", num: "decode.engine.b16", den: "decode.engine.b1", goal: "≥ 8" },
    { label: "tfjs ÷ torch", num: "decode.tfjs.b1", den: "decode.torch.t1.b1" },
    { label: "ghost", num: "decode.engine.b1", den: "nope" },
    { label: "div0", num: "decode.engine.b1", den: "zero" },
  ]);
  assertAlmostEquals(r[0].value!, 40 / 61, 1e-12);
  assertEquals(r[1].value, 10);
  assertEquals(r[2].value, null);
  assertEquals(r[2].skipped, "decode.tfjs.b1 skipped: no lib/model");
  assertEquals(r[3].skipped, "nope not measured");
  assertEquals(r[4].value, null);
  const t = ratiosTable(r);
  assert(t.includes("0.656×"), t);
  assert(t.includes("10×"), t);
  assert(t.includes("SKIPPED: decode.tfjs.b1 skipped: no lib/model"), t);
});

Deno.test("tables align columns, right-align numbers and show skips", () => {
  const t = formatTable([["a", "num"], ["long name", "1.5"], ["b", "1,234"]]);
  const lines = t.split("\n");
  assertEquals(lines[0], "a          num");
  assertEquals(lines[1], "---------  -----");
  assertEquals(lines[2], "long name    1.5");
  assertEquals(lines[3], "b          1,234");
  const rt = resultsTable(results);
  assert(rt.includes("SKIPPED: no lib/model"));
  assert(rt.includes("llvmpipe"));
  assertEquals(rt.split("\n").length, results.length + 2);
});

Deno.test("number formatting, slugs and the bandwidth decode limit", () => {
  assertEquals(formatNumber(12345.6), "12,346");
  assertEquals(formatNumber(61.234), "61.2");
  assertEquals(formatNumber(0.012345), "0.0123");
  assertEquals(formatNumber(0.0000176), "1.76e-5");
  assertEquals(formatNumber(null), "—");
  assertEquals(formatNumber(NaN), "—");
  assertEquals(slug("NVIDIA H100 80GB HBM3"), "nvidia-h100-80gb-hbm3");
  assertEquals(slug("  "), "unknown");
  // v8: 34,087,424 fp32 params = 136.3 MB; at 30 GB/s → 220 tokens/s
  assertAlmostEquals(decodeLimit(30, 34_087_424 * 4), 220.0, 0.1);
});
