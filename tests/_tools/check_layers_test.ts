/**
 * `_tools/check_layers.ts`: the import specifiers it reads, and its report on a planted tree (an upward import, a
 * cycle, a folder in no layer, mod.ts importing tasks/) and on the real tree.
 */
import { assert, assertEquals } from "../_assert.ts";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkLayers, importSpecifiers, LAYERS } from "../../_tools/check_layers.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SCRIPT = join(ROOT, "_tools", "check_layers.ts");

Deno.test("check_layers: reads static, type, side-effect, re-export, dynamic and worker imports; not comments or strings", () => {
  const src = `
import { a } from "./a.ts";
import type {
  B,
  C,
} from '../b/b.ts';
import "./side.ts";
export { d } from "./d.ts";
export * from "../e/mod.ts";
export type { F } from "./f.ts";
const g = await import("../g/g.ts");
const w = new Worker(new URL("./_worker.ts", import.meta.url).href, { type: "module" });
const kernel = new URL("../../kernels/matmul.wgsl", import.meta.url); // data, not code
const dir = new URL("../../", import.meta.url);
import { h } from "npm:h";
import { join } from "node:path";
const re = /import "\\.\\/re\\.ts"/;
const half = 1 / 2, third = 1 / 3;
const s = 'import { x } from "./in_string.ts"';
const t = \`import { y } from "\${"./in_template.ts"}"\`;
// import { z } from "./commented.ts";
/**
 * \`\`\`ts
 * import { example } from "../example/mod.ts";
 * \`\`\`
 */
const z = Array.from("abc");
`;
  assertEquals(importSpecifiers(src).sort(), [
    "../b/b.ts",
    "../e/mod.ts",
    "../g/g.ts",
    "./_worker.ts",
    "./a.ts",
    "./d.ts",
    "./f.ts",
    "./side.ts",
  ]);
});

async function plant(files: Record<string, string>): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "etude_layers_" });
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(dirname(join(root, path)), { recursive: true });
    await Deno.writeTextFile(join(root, path), text);
  }
  return root;
}

Deno.test("check_layers: reports an upward import, a cycle, a folder in no layer and mod.ts importing tasks/; exit 1", async () => {
  const root = await plant({
    "lib/util/clock.ts": `import { x } from "../cli/args.ts";\nexport const y = x;\n`,
    "lib/cli/args.ts": `import { y } from "../util/clock.ts";\nexport const x = 1;\n`,
    "lib/midi/read.ts":
      `import type { Score } from "../score.ts";\nexport const r = () => import("../infer/engine.ts");\n`,
    "lib/score.ts": `export interface Score {}\n`,
    "lib/infer/engine.ts":
      `import { r } from "../midi/read.ts";\nimport { y } from "../util/clock.ts";\nexport { r, y };\n`,
    "lib/infer/_gpu.ts":
      `import { e } from "./engine.ts";\nexport const w = new Worker(new URL("./_w.ts", import.meta.url));\n`,
    "lib/infer/_w.ts": `export {};\n`,
    "lib/server/app.ts":
      `import { e } from "../infer/engine.ts";\n// import { c } from "../bundle/compile.ts";\n`,
    "lib/gizmo/x.ts": `export const g = 1;\n`,
    "bench/run.ts": `import { x } from "../lib/cli/args.ts";\n`,
    "tasks/bench.ts": `import "../bench/run.ts";\n`,
    "mod.ts": `export * from "./lib/infer/engine.ts";\nexport * from "./tasks/bench.ts";\n`,
    "tests/any_test.ts": `import "../tasks/bench.ts";\nimport "../lib/gizmo/x.ts";\n`,
  });
  try {
    const problems = await checkLayers(root);
    assertEquals(
      problems,
      [
        "lib/gizmo/x.ts: lib/gizmo is in no layer (add it to LAYERS in _tools/check_layers.ts)",
        "lib/midi/read.ts imports lib/infer/engine.ts: infer is above midi",
        "lib/util/clock.ts imports lib/cli/args.ts: cli is above util",
        "mod.ts imports tasks/bench.ts: mod.ts may import only lib/",
        "cycle: util → cli → util (lib/util/clock.ts imports lib/cli/args.ts; lib/cli/args.ts imports lib/util/clock.ts)",
        "cycle: midi → infer → midi (lib/midi/read.ts imports lib/infer/engine.ts; lib/infer/engine.ts imports lib/midi/read.ts)",
      ],
    );
    const run = await new Deno.Command(Deno.execPath(), { args: ["run", "-A", SCRIPT, root] }).output();
    assertEquals(run.code, 1);
    assertEquals(new TextDecoder().decode(run.stdout).trimEnd().split("\n"), problems);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("check_layers: a tree that keeps its layers passes with exit 0", async () => {
  const root = await plant({
    "lib/util/a.ts": `export const a = 1;\n`,
    "lib/midi/b.ts": `import { a } from "../util/a.ts";\nexport const b = a;\n`,
    "tasks/t.ts": `import { b } from "../lib/midi/b.ts";\nconsole.log(b);\n`,
    "mod.ts": `export * from "./lib/midi/b.ts";\n`,
  });
  try {
    assertEquals(await checkLayers(root), []);
    const run = await new Deno.Command(Deno.execPath(), { args: ["run", "-A", SCRIPT, root] }).output();
    assertEquals(run.code, 0);
    assert(new TextDecoder().decode(run.stdout).startsWith(`layers hold: ${LAYERS[0]} < `));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("check_layers: the real tree (violations printed, not yet asserted)", async () => {
  // Other work is still moving code between layers; once it lands this becomes assertEquals(problems, []).
  const problems = await checkLayers(ROOT);
  console.log(
    problems.length
      ? `${problems.length} layer violation(s) in the tree:\n${problems.join("\n")}`
      : "the tree keeps its layers",
  );
  for (const p of problems) assert(/^(lib|bench|tasks|mod\.ts)|^cycle: /.test(p), p);
});
