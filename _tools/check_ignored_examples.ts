/**
 * Type-checks the JSDoc examples marked ```` ```ts ignore ```` under `lib/`. `deno check --doc` skips those blocks
 * entirely (they are neither type-checked nor run), and `ignore` is what an example gets when it needs a GPU, the
 * network or files that do not exist at check time — so without this, such examples rot unnoticed.
 *
 * It copies `lib/` and `mod.ts` into a temporary directory (with `deno.json`, `deno.lock` and a link to
 * `node_modules`), drops the `ignore` attribute there, and runs `deno check --doc` on the copy. Nothing is run.
 *
 * Usage: `deno run -A _tools/check_ignored_examples.ts [ROOT]` (ROOT defaults to the repository). Prints the type
 * errors with paths mapped back to ROOT and exits with 1; prints a summary and exits with 0 when there are none.
 *
 * @example
 * ```ts ignore
 * import { checkIgnoredExamples } from "./check_ignored_examples.ts";
 * const { examples, ok, output } = await checkIgnoredExamples(".");
 * if (!ok) console.error(output);
 * console.log(`${examples} ignored examples`);
 * ```
 *
 * @module
 */
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const IGNORE = /^(\s*\*\s*)```ts ignore\s*$/gm;

/** What {@link checkIgnoredExamples} found. */
export interface IgnoredExamplesResult {
  /** `ts ignore` blocks found (and type-checked). */
  examples: number;
  /** Whether `deno check --doc` passed on them. */
  ok: boolean;
  /** The checker's diagnostics (paths point into `root`), empty when `ok`. */
  output: string;
}

async function copyTree(
  from: string,
  to: string,
  onFile: (path: string, text: string) => string,
): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    const src = join(from, e.name), dst = join(to, e.name);
    if (e.isDirectory) await copyTree(src, dst, onFile);
    else if (e.isFile && /\.(ts|js|json|wgsl|html)$/.test(e.name)) {
      await Deno.writeTextFile(dst, onFile(src, await Deno.readTextFile(src)));
    }
  }
}

/**
 * Type-checks every `ts ignore` example of `root`'s `lib/` and `mod.ts` (see the module doc).
 *
 * @example
 * ```ts ignore
 * import { checkIgnoredExamples } from "./check_ignored_examples.ts";
 * (await checkIgnoredExamples(".")).ok; // true when every ignored example type-checks
 * ```
 */
export async function checkIgnoredExamples(root: string): Promise<IgnoredExamplesResult> {
  root = resolve(root);
  const tmp = await Deno.makeTempDir({ prefix: "etude-examples-" });
  try {
    let examples = 0;
    const strip = (_path: string, text: string) =>
      text.replace(IGNORE, (_m, lead: string) => {
        examples++;
        return `${lead}\`\`\`ts`;
      });
    await copyTree(join(root, "lib"), join(tmp, "lib"), strip);
    for (const f of ["mod.ts", "deno.json", "deno.lock"]) {
      await Deno.writeTextFile(join(tmp, f), strip(f, await Deno.readTextFile(join(root, f))));
    }
    await Deno.symlink(join(root, "node_modules"), join(tmp, "node_modules"));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--doc", "lib/", "mod.ts"],
      cwd: tmp,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    const output = out.success ? "" : text
      .split("\n")
      .filter((l) => !l.startsWith("Check "))
      .join("\n")
      .replaceAll(`file://${tmp}${sep}`, `file://${root}${sep}`)
      .replaceAll(`${tmp}${sep}`, `${relative(Deno.cwd(), root) || "."}${sep}`);
    return { examples, ok: out.success, output };
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

if (import.meta.main) {
  const here = dirname(dirname(fileURLToPath(import.meta.url)));
  const r = await checkIgnoredExamples(Deno.args[0] ?? here);
  if (!r.ok) {
    console.error(r.output.trim());
    console.error(`ignored examples: type errors (${r.examples} \`ts ignore\` blocks checked)`);
    Deno.exit(1);
  }
  console.log(`ignored examples: ${r.examples} \`ts ignore\` blocks type-check`);
}
