/**
 * `deno task compile`: the bundle (model + kernels embedded) runs alone from an empty directory and writes the same
 * piece the in-process generator writes; the `deno compile` binary is tested only where a denort runtime is
 * available (`DENORT_BIN`), and is visibly ignored elsewhere.
 */
import { assert, assertEquals } from "../_assert.ts";
import { join } from "node:path";
import { bundle, writeEntry } from "../../lib/bundle/compile.ts";
import { generateCli } from "../../lib/cli/generate.ts";
import { readMidi } from "../../lib/midi/mod.ts";
import { readProvenance } from "../../lib/infer/provenance.ts";
import { tinyModelsDir } from "../server/_tiny_model.ts";
import { stripLeadingText } from "../midi/_strip.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };
// The repository root, not Deno.cwd(): other test files (run in parallel, one process) may chdir for a moment.
const ROOT = join(import.meta.dirname!, "..", "..");
const DENORT = Deno.env.get("DENORT_BIN");
const ARGS = ["--tokens", "300", "--temperature", "1.2", "--seed", "3"];

async function runIn(cwd: string, cmd: string, args: string[]) {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test({
  name: "bundle: runs alone from an empty directory and writes the same .mid as the in-process generator",
  ...opts,
  async fn() {
    const model = join(await tinyModelsDir(), "default");
    const build = await Deno.makeTempDir({ prefix: "etude_build_" });
    const bundlePath = join(build, "etude-bundle.js");
    await bundle(await writeEntry(join(build, ".build"), model), bundlePath);

    const alone = await Deno.makeTempDir({ prefix: "etude_alone_" });
    await Deno.copyFile(bundlePath, join(alone, "etude-bundle.js"));
    const r = await runIn(alone, Deno.execPath(), [
      "run",
      "-A",
      "etude-bundle.js",
      ...ARGS,
      "--out",
      "x.mid",
    ]);
    assertEquals(r.code, 0, r.stderr);
    assert(r.stdout.includes("with default (embedded)"), r.stdout);
    assert(r.stdout.includes("wrote x.mid"), r.stdout);
    // Nothing else appeared beside it (the model is unpacked into a private temp dir and removed).
    assertEquals([...Deno.readDirSync(alone)].map((e) => e.name).sort(), [
      "etude-bundle.js",
      "x.json",
      "x.mid",
    ]);
    const fromBundle = await Deno.readFile(join(alone, "x.mid"));
    const score = readMidi(fromBundle);
    assert(score.notes.length > 0);

    const ref = join(build, "ref.mid");
    await generateCli(["--model", model, ...ARGS, "--out", ref], () => {});
    // Same model, same seed → same bytes, but for the provenance record: the bundle's names its embedded model.
    const refBytes = await Deno.readFile(ref);
    assertEquals(
      stripLeadingText(fromBundle).bytes,
      stripLeadingText(refBytes).bytes,
      "same notes, same bytes",
    );
    const [recB, recR] = [readProvenance(fromBundle, "x.mid"), readProvenance(refBytes, ref)];
    assertEquals(recB.model, { embedded: "default", sha256: recR.model.sha256 });
    assertEquals({ ...recB, model: recR.model }, recR);

    // Its one-line errors survive bundling.
    const bad = await runIn(alone, Deno.execPath(), ["run", "-A", "etude-bundle.js", "--top-p", "2"]);
    assertEquals([bad.code, bad.stderr], [2, 'error: --top-p: expected a number in [0.01, 1], got "2"\n']);
  },
});

Deno.test({
  name: "deno task compile: a missing model is a one-line error",
  ...opts,
  async fn() {
    const r = await runIn(ROOT, Deno.execPath(), [
      "run",
      "-A",
      "tasks/compile.ts",
      "--model",
      "/nonexistent/model",
      "--no-binary",
    ]);
    assertEquals(r.code, 2, r.stderr);
    assert(
      /^error: \/nonexistent\/model\/config\.json not found: train the default model/.test(r.stderr),
      r.stderr,
    );
    assertEquals(r.stderr.trim().split("\n").length, 1);
  },
});

Deno.test({
  name: "deno compile binary (needs DENORT_BIN): runs alone and writes a valid .mid",
  ignore: !DENORT,
  ...opts,
  async fn() {
    const model = join(await tinyModelsDir(), "default");
    const out = await Deno.makeTempDir({ prefix: "etude_dist_" });
    const c = await runIn(ROOT, Deno.execPath(), [
      "run",
      "-A",
      "tasks/compile.ts",
      "--model",
      model,
      "--out-dir",
      out,
    ]);
    assertEquals(c.code, 0, c.stderr);
    assert(!c.stderr.includes("warning"), c.stderr);
    const alone = await Deno.makeTempDir({ prefix: "etude_alone_" });
    await Deno.copyFile(join(out, "etude"), join(alone, "etude"));
    await Deno.chmod(join(alone, "etude"), 0o755);
    const r = await runIn(alone, join(alone, "etude"), [...ARGS, "--out", "y.mid"]);
    assertEquals(r.code, 0, r.stderr);
    assert(readMidi(await Deno.readFile(join(alone, "y.mid"))).notes.length > 0);
  },
});
