/**
 * `deno task fetch [--url URL] [--zip PATH] [--out DIR] [--sha256 HEX|none]`: download, verify and extract MAESTRO v3.
 *
 * @module
 */
import { parseCli, runMain, UsageError } from "../lib/cli/args.ts";
import { fetchMaestro, MAESTRO_URL, SPLITS } from "../lib/data/maestro.ts";

const HELP = `usage: deno task fetch [--out DIR] [--url URL] [--zip PATH] [--sha256 HEX|none]
  --out DIR      where the zip and the dataset go (default data)
  --url URL      download from a mirror (default ${MAESTRO_URL})
  --zip PATH     use an already-downloaded zip instead of downloading
  --sha256 HEX   expected checksum (default: the official MAESTRO v3 zip's); "none" skips the check`;

if (import.meta.main) {
  await runMain(async () => {
    const { values, positionals } = parseCli(Deno.args, {
      out: { type: "string" },
      url: { type: "string" },
      zip: { type: "string" },
      sha256: { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help) return console.log(HELP);
    if (positionals.length) throw new UsageError(`unexpected argument ${positionals[0]}; see --help`);
    // --url with --zip, and the --sha256 value, are checked by fetchMaestro
    const r = await fetchMaestro({
      out: values.out as string | undefined,
      url: values.url as string | undefined,
      zip: values.zip as string | undefined,
      sha256: values.sha256 as string | undefined,
      log: (line) => console.error(line),
    });
    if (r.records) {
      const counts = SPLITS.map((s) => `${s} ${r.records!.filter((x) => x.split === s).length}`).join(", ");
      console.log(`${r.root}: ${r.records.length} pieces (${counts})`);
    } else {
      console.log(`${r.root}: already present`);
    }
  });
}
