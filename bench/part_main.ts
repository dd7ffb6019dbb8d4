/**
 * Child-process entry of the bench: `deno run -A bench/part_main.ts <part id> <context JSON file>` runs one part
 * and prints its results as the last stdout line, prefixed with {@link RESULT_PREFIX}.
 *
 * @module
 */
import { BENCH_PARTS, type BenchContext } from "./parts.ts";

/** Marks the results line in the child's stdout. */
export const RESULT_PREFIX = "@@etude-bench-results@@ ";

if (import.meta.main) {
  const [id, ctxFile] = Deno.args;
  const part = BENCH_PARTS.find((p) => p.id === id);
  if (!part || !ctxFile) {
    console.error(`usage: part_main.ts <${BENCH_PARTS.map((p) => p.id).join("|")}> <context.json>`);
    Deno.exit(2);
  }
  const ctx = JSON.parse(await Deno.readTextFile(ctxFile)) as BenchContext;
  try {
    const results = await part.run(ctx);
    console.log(RESULT_PREFIX + JSON.stringify(results));
    Deno.exit(0);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    if (Deno.env.get("ETUDE_DEBUG")) console.error((e as Error).stack);
    Deno.exit(1);
  }
}
