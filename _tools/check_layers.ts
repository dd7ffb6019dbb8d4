/**
 * Checks the import layers of the code: each `lib/` folder may import only from its own layer and those below it,
 * `bench/` and `tasks/` sit above all of `lib/`, the root `mod.ts` may import anything in `lib/`, and no two `lib/`
 * folders may import each other in a cycle. Tests (`tests/`) are not checked: they may import anything.
 *
 * Usage: `deno run -A _tools/check_layers.ts [ROOT]` (ROOT defaults to the repository). Prints one line per violation,
 * `lib/a/x.ts imports lib/b/y.ts: b is above a`, and one per cycle, then exits with 1; prints a summary and exits with 0
 * when there are none.
 *
 * Imports are read from the source text (comments and string contents aside): static `import … from "…"`,
 * `import "…"`, `export … from "…"`, dynamic `import("…")` with a literal, and `new URL("…", import.meta.url)` of a
 * code file (workers). Only relative specifiers count; `npm:`, `node:` and import-map names are outside the tree.
 *
 * @example
 * ```ts ignore
 * import { checkLayers } from "./check_layers.ts";
 * const problems = await checkLayers(".");
 * for (const p of problems) console.log(p);
 * ```
 *
 * @module
 */
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The layers, lowest first: a file may import from its own layer and any layer before it. `lib/<name>/` (or
 * `lib/<name>.ts`) is layer `<name>`; `bench/` and `tasks/` come after all of `lib/`.
 *
 * @example
 * ```ts ignore
 * import { LAYERS } from "./check_layers.ts";
 * LAYERS.indexOf("midi") < LAYERS.indexOf("tokenizers"); // true
 * ```
 */
export const LAYERS: readonly string[] = [
  "util",
  "score",
  "midi",
  "tokenizers",
  "data",
  "model",
  "cpu",
  "gpu",
  "train",
  "infer",
  "audio",
  "eval",
  "server",
  "cli",
  "bundle",
  "bench",
  "tasks",
];

/** Layers that are top-level folders rather than `lib/` folders. */
const TOP_LEVEL = new Set(["bench", "tasks"]);

const CODE = /\.(ts|tsx|mts|js|jsx|mjs)$/;

/** One import found in a file: the specifier as written. */
interface Found {
  specifier: string;
}

/**
 * The relative import specifiers of a source text: static and dynamic imports, re-exports, and
 * `new URL("…", import.meta.url)` of code files (workers). Comments, and imports written inside strings or template
 * literals, are not imports.
 *
 * @example
 * ```ts ignore
 * import { importSpecifiers } from "./check_layers.ts";
 * importSpecifiers('import { a } from "./a.ts"; // import "./b.ts"'); // ["./a.ts"]
 * ```
 */
export function importSpecifiers(source: string): string[] {
  const { code, strings } = lex(source);
  const str = (i: string) => strings[Number(i)];
  const out: Found[] = [];
  const patterns = [
    // import x from "…", import { a, b } from "…", import type … from "…", export { a } from "…", export * from "…"
    /(?:^|[^.\w$])(?:import|export)\b[^;"]*?\bfrom\s*"(\d+)"/g,
    // import "…"
    /(?:^|[^.\w$])import\s*"(\d+)"/g,
    // import("…")
    /(?:^|[^.\w$])import\s*\(\s*"(\d+)"\s*[,)]/g,
    // new URL("…", import.meta.url)
    /\bnew\s+URL\s*\(\s*"(\d+)"\s*,\s*import\s*\.\s*meta\s*\.\s*url\s*\)/g,
  ];
  for (const [k, re] of patterns.entries()) {
    for (const m of code.matchAll(re)) {
      const s = str(m[1]);
      if (s === undefined) continue;
      if (k === 3 && !CODE.test(s)) continue; // data files (kernels, wasm, page assets) are not imports
      out.push({ specifier: s });
    }
  }
  return out.map((f) => f.specifier).filter((s) => s.startsWith("./") || s.startsWith("../"));
}

/**
 * Source text with comments removed, regular-expression literals replaced by `R`, and every string literal replaced
 * by `"<index>"` into `strings` (template literals with substitutions get no index and are blanked).
 */
function lex(src: string): { code: string; strings: (string | undefined)[] } {
  const strings: (string | undefined)[] = [];
  let out = "";
  let i = 0;
  const n = src.length;
  const regexAllowed = () => {
    const t = out.trimEnd();
    if (t === "") return true;
    const c = t[t.length - 1];
    if ("(,=:[!&|?{};+-*%<>~^".includes(c)) return true;
    if (c === "}") return true;
    return /(?:^|[^\w$.])(?:return|typeof|instanceof|in|of|new|delete|void|throw|case|do|else|yield|await)$/
      .test(t);
  };
  const readTemplate = (): string | undefined => {
    // at src[i] === "`"
    i++;
    let text = "";
    let plain = true;
    while (i < n && src[i] !== "`") {
      if (src[i] === "\\") {
        text += src.slice(i, i + 2);
        i += 2;
      } else if (src[i] === "$" && src[i + 1] === "{") {
        plain = false;
        i += 2;
        skipCode(1);
      } else text += src[i++];
    }
    i++;
    return plain ? text : undefined;
  };
  const readQuoted = (q: string): string => {
    i++;
    let text = "";
    while (i < n && src[i] !== q && src[i] !== "\n") {
      if (src[i] === "\\") {
        text += src[i + 1] ?? "";
        i += 2;
      } else text += src[i++];
    }
    i++;
    return text;
  };
  const skipRegex = () => {
    i++;
    let inClass = false;
    while (i < n && src[i] !== "\n") {
      const c = src[i];
      if (c === "\\") i += 2;
      else if (inClass) {
        if (c === "]") inClass = false;
        i++;
      } else if (c === "[") {
        inClass = true;
        i++;
      } else if (c === "/") {
        i++;
        break;
      } else i++;
    }
    while (i < n && /[a-z]/i.test(src[i])) i++;
  };
  // Skips code inside `${ … }` up to the closing brace at depth 0 (nested strings and templates handled).
  const skipCode = (depth: number) => {
    while (i < n && depth > 0) {
      const c = src[i];
      if (c === "{") depth++;
      else if (c === "}") depth--;
      if (c === '"' || c === "'") readQuoted(c);
      else if (c === "`") readTemplate();
      else i++;
    }
  };
  while (i < n) {
    const c = src[i];
    if (c === "/" && src[i + 1] === "/") {
      while (i < n && src[i] !== "\n") i++;
    } else if (c === "/" && src[i + 1] === "*") {
      const end = src.indexOf("*/", i + 2);
      i = end < 0 ? n : end + 2;
      out += " ";
    } else if (c === '"' || c === "'") {
      strings.push(readQuoted(c));
      out += `"${strings.length - 1}"`;
    } else if (c === "`") {
      strings.push(readTemplate());
      out += `"${strings.length - 1}"`;
    } else if (c === "/" && regexAllowed()) {
      skipRegex();
      out += "R";
    } else {
      out += c;
      i++;
    }
  }
  return { code: out, strings };
}

function walk(dir: string): string[] {
  const out: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory) out.push(...walk(p));
    else if (e.isFile && CODE.test(e.name)) out.push(p);
  }
  return out.sort();
}

/** The layer of a repository-relative path (`/`-separated), `mod` for the root mod.ts, or undefined. */
function layerOf(path: string): string | undefined {
  const parts = path.split("/");
  if (parts[0] === "lib" && parts.length >= 2) {
    return parts.length === 2 ? parts[1].replace(CODE, "") : parts[1];
  }
  if (TOP_LEVEL.has(parts[0]) && parts.length >= 2) return parts[0];
  if (path === "mod.ts") return "mod";
  return undefined;
}

/**
 * Checks the tree at `root` and returns one line per violation (empty when the layers hold): upward imports, imports
 * of files outside the layers (tests, tools), files in a `lib/` folder that has no layer, and cycles between layers.
 *
 * @example
 * ```ts ignore
 * import { checkLayers } from "./check_layers.ts";
 * (await checkLayers(".")).length; // 0 when the layers hold
 * ```
 */
export async function checkLayers(root: string): Promise<string[]> {
  root = resolve(root);
  const rank = new Map(LAYERS.map((l, i) => [l, i]));
  const files = [
    ...walk(join(root, "lib")),
    ...LAYERS.filter((l) => TOP_LEVEL.has(l)).flatMap((l) => walk(join(root, l))),
  ];
  try {
    if (Deno.statSync(join(root, "mod.ts")).isFile) files.push(join(root, "mod.ts"));
  } catch { /* no mod.ts */ }
  const rel = (p: string) => relative(root, p).split(sep).join("/");
  const problems: string[] = [];
  const unknown = new Set<string>();
  // layer → layer → first import seen (for the cycle report).
  const edges = new Map<string, Map<string, string>>();
  for (const file of files) {
    const from = rel(file);
    const a = layerOf(from)!;
    if (a !== "mod" && !rank.has(a)) {
      if (!unknown.has(a)) {
        problems.push(`${from}: lib/${a} is in no layer (add it to LAYERS in _tools/check_layers.ts)`);
      }
      unknown.add(a);
      continue;
    }
    const source = await Deno.readTextFile(file);
    for (const spec of new Set(importSpecifiers(source))) {
      const to = rel(resolve(dirname(file), spec));
      const b = layerOf(to);
      if (b === undefined || b === "mod") {
        if (to.startsWith("../")) continue; // outside the repository (should not happen; deno check reports it)
        problems.push(`${from} imports ${to}: ${to.split("/")[0]} is not a layer code may import`);
        continue;
      }
      if (b === a) continue;
      if (!rank.has(b)) continue; // reported as a file in no layer
      if (a === "mod") {
        if (TOP_LEVEL.has(b)) problems.push(`${from} imports ${to}: mod.ts may import only lib/`);
        continue;
      }
      if (rank.get(b)! > rank.get(a)!) problems.push(`${from} imports ${to}: ${b} is above ${a}`);
      let m = edges.get(a);
      if (!m) edges.set(a, m = new Map());
      if (!m.has(b)) m.set(b, `${from} imports ${to}`);
    }
  }
  for (const cycle of cycles(edges)) {
    const via = cycle.slice(0, -1).map((x, k) => edges.get(x)!.get(cycle[k + 1])!);
    problems.push(`cycle: ${cycle.join(" → ")} (${via.join("; ")})`);
  }
  return problems;
}

/** One shortest cycle per strongly connected component of more than one layer, as [a, b, …, a]. */
function cycles(edges: Map<string, Map<string, string>>): string[][] {
  const nodes = [...new Set([...edges.keys(), ...[...edges.values()].flatMap((m) => [...m.keys()])])].sort();
  const index = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], on = new Set<string>(), sccs: string[][] = [];
  let next = 0;
  const strong = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    on.add(v);
    for (const w of [...(edges.get(v)?.keys() ?? [])].sort()) {
      if (!index.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) sccs.push(scc);
    }
  };
  for (const v of nodes) if (!index.has(v)) strong(v);
  const rank = new Map(LAYERS.map((l, i) => [l, i]));
  return sccs.map((scc) => {
    const inside = new Set(scc);
    // Start at the lowest layer of the component; breadth-first back to it.
    const start = scc.sort((a, b) => rank.get(a)! - rank.get(b)!)[0];
    const prev = new Map<string, string>();
    const queue = [start];
    let end: string | undefined;
    while (queue.length && end === undefined) {
      const v = queue.shift()!;
      for (const w of [...(edges.get(v)?.keys() ?? [])].sort()) {
        if (!inside.has(w)) continue;
        if (w === start) {
          end = v;
          break;
        }
        if (!prev.has(w)) {
          prev.set(w, v);
          queue.push(w);
        }
      }
    }
    const path = [start];
    for (let v = end!; v !== start; v = prev.get(v)!) path.splice(1, 0, v);
    return [...path, start];
  });
}

if (import.meta.main) {
  const root = Deno.args[0] ?? fileURLToPath(new URL("..", import.meta.url));
  const problems = await checkLayers(root);
  for (const p of problems) console.log(p);
  if (problems.length) Deno.exit(1);
  console.log(`layers hold: ${LAYERS.join(" < ")}`);
}
