/**
 * `deno task bench [--quick] [--out FILE] [--parts a,b]`: tokeniser, memory, decode, training and server
 * throughput against the PyTorch peer and the bandwidth limit, in one run; writes `bench/results.json` (or
 * `bench/results-<gpu>.json` on a real GPU) and prints the tables. See bench/run.ts.
 *
 * @module
 */
import { parseCli, runMain, UsageError } from "../lib/cli/args.ts";
import { BENCH_PARTS } from "../bench/parts.ts";
import { formatReport, runBench } from "../bench/run.ts";

const USAGE = `usage: deno task bench [--quick] [--out bench/results.json] [--parts ${
  BENCH_PARTS.map((p) => p.id).join(",")
}]
  --quick   a short version (fewer tokens and steps; slow parts skipped visibly)
  PyTorch peer: /usr/bin/python3 with Debian python3-torch + libopenblas0-pthread ($ETUDE_TORCH_PYTHON overrides)`;

if (import.meta.main) {
  await runMain(async () => {
    const { values, positionals } = parseCli(Deno.args, {
      quick: { type: "boolean" },
      out: { type: "string" },
      parts: { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help) return console.log(USAGE);
    if (positionals.length) {
      throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}\n${USAGE}`);
    }
    const parts = typeof values.parts === "string" ? values.parts.split(",").map((s) => s.trim()) : undefined;
    for (const p of parts ?? []) {
      if (!BENCH_PARTS.some((b) => b.id === p)) {
        throw new UsageError(
          `--parts: unknown part ${JSON.stringify(p)}; expected some of ${
            BENCH_PARTS.map((b) => b.id).join(", ")
          }`,
        );
      }
    }
    const { report, path } = await runBench({
      quick: Boolean(values.quick),
      out: typeof values.out === "string" ? values.out : undefined,
      parts,
    });
    console.log(formatReport(report));
    console.log(`\nwrote ${path}`);
  });
}
