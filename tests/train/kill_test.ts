/**
 * SIGKILL `deno task train` at seeded random moments — some while it is starting, some while it trains, some while
 * it writes a checkpoint (`--save-every 1`: a save after every step) — resuming after each kill; the run must end
 * exactly where an uninterrupted run ends: the same loss at every step, the same validation losses, the same weights
 * and optimizer state, and a log with every step once.
 */
import { assert, assertEquals } from "../_assert.ts";
import { loadBlas } from "../../lib/cpu/blas.ts";
import { readCheckpoint } from "../../lib/model/checkpoint.ts";
import { Rng } from "../../lib/util/rng.ts";
import { writePrepared } from "./_shards.ts";
import { syntheticPieces } from "./_synthetic.ts";

const TASK = new URL("../../tasks/train.ts", import.meta.url).pathname;

function spawn(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TASK, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function finish(child: Deno.ChildProcess): Promise<{ code: number; out: string }> {
  const r = await child.output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

/** Leftovers of a save in progress: the new `last/` beside it, the old one parked, or a staged best checkpoint. */
function saveInProgress(out: string): boolean {
  try {
    for (const e of Deno.readDirSync(out)) {
      if (/^\.(last\.(tmp|old)|checkpoint\.tmp)-/.test(e.name)) return true;
    }
  } catch { /* not created yet */ }
  return false;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

async function records(dir: string): Promise<Record<string, number & string>[]> {
  return (await Deno.readTextFile(`${dir}/train_log.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));
}

/** The tfjs reference and the CPU backend (lib/cpu through the system BLAS; skipped where none is installed). */
const BACKENDS = [
  { name: "tfjs-wasm", flags: ["--backend", "wasm"], says: "backend: wasm", ignore: false },
  { name: "CPU backend", flags: ["--device", "cpu"], says: "backend: blas", ignore: !loadBlas().blas },
];

for (const be of BACKENDS) {
  Deno.test({
    name:
      `${be.name}: SIGKILL at random moments (during saves too), resumed each time: the uninterrupted run's ` +
      `losses and weights`,
    ignore: be.ignore,
    fn: () => killAndResume(be.flags, be.says),
  });
}

async function killAndResume(backendFlags: string[], says: string): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "etude_kills_" });
  try {
    const V = 24;
    await writePrepared(`${root}/data`, {
      train: syntheticPieces(24, V, 1),
      validation: syntheticPieces(4, V, 2),
      test: syntheticPieces(2, V, 3),
    }, V);
    const common = (out: string) => ["--data", `${root}/data`, "--out", out, ...backendFlags];
    const fresh = (out: string) => [
      ...["--preset", "v7", "--layers", "1", "--dim", "32", "--heads", "2", "--ffn", "64", "--seq-len", "16"],
      ...["--batch", "2", "--epochs", "2", "--save-every", "1", ...common(out)],
    ];
    const t = Date.now();
    const full = await finish(spawn(fresh(`${root}/full`)));
    assertEquals(full.code, 0, full.out);
    assert(full.out.includes(says), full.out);
    const fullMs = Date.now() - t; // kills are scheduled within it (start-up included), so most land before the end

    const cut = `${root}/cut`;
    const rng = new Rng(11);
    let kills = 0, inSave = 0, finished = false;
    for (let attempt = 0; attempt < 10 && !finished; attempt++) {
      // resume once a checkpoint is on disk (a fresh start finds one a kill left between renames and says so)
      let child = spawn(exists(`${cut}/last`) ? [...common(cut), "--resume"] : fresh(cut));
      const duringSave = attempt % 2 === 1 && inSave < 3;
      // within the first third of an uninterrupted run's time: a resumed run has less left to do, and on a loaded
      // machine a later kill can miss it (the run finishes first); the loop keeps going until 4 kills have landed
      const t0 = Date.now(), wait = rng.next() * fullMs * 0.35;
      let status: Deno.CommandStatus | null = null;
      const done = child.status.then((s) => (status = s));
      while (status === null) {
        if (duringSave ? saveInProgress(cut) : Date.now() - t0 >= wait) {
          child.kill("SIGKILL");
          break;
        }
        await new Promise((r) => setTimeout(r, duringSave ? 0 : 5));
      }
      await done;
      const r = await finish(child);
      if (r.code === 0) {
        finished = true;
        break;
      }
      if (/a run already exists there/.test(r.out)) {
        // the previous kill fell between a save's two renames: the fresh start put last/ back; resume it
        child = spawn([...common(cut), "--resume"]);
        const again = await finish(child);
        assertEquals(again.code, 0, again.out);
        finished = true;
        break;
      }
      assert(status!.signal === "SIGKILL", `attempt ${attempt}: exit ${r.code}\n${r.out}`);
      kills++;
      if (saveInProgress(cut)) inSave++;
    }
    if (!finished) {
      const last = await finish(spawn([...common(cut), "--resume"]));
      assertEquals(last.code, 0, last.out);
    }
    assert(kills >= 4, `only ${kills} kills landed`);
    assert(inSave >= 1, `no kill landed during a save (${kills} kills)`);

    const [lf, lc] = [await records(`${root}/full`), await records(cut)];
    const steps = (l: typeof lf) => l.filter((r) => r.type === "step").map((r) => [r.step, r.loss]);
    assertEquals(steps(lc), steps(lf)); // every step once, in order, with the uninterrupted loss
    assertEquals(lc.filter((r) => r.type === "start").length, 1);
    const resumes = lc.filter((r) => r.type === "resume").map((r) => r.step);
    assert(resumes.every((s, i) => i === 0 || s > resumes[i - 1]), `resume records ${resumes}`);
    const epochs = (l: typeof lf) => l.filter((r) => r.type === "epoch").map((r) => [r.epoch, r.val_loss]);
    assertEquals(epochs(lc), epochs(lf));
    for (const d of ["", "/last"]) {
      const [a, b] = [await readCheckpoint(`${root}/full${d}`), await readCheckpoint(`${cut}${d}`)];
      assertEquals(b.weights, a.weights);
      assertEquals(b.state?.valLosses, a.state?.valLosses);
    }
    assertEquals(
      await Deno.readFile(`${cut}/last/optimizer.safetensors`),
      await Deno.readFile(`${root}/full/last/optimizer.safetensors`),
    );
    assert(!saveInProgress(cut), "leftovers of a save remain");
    console.log(`${kills} kills (${inSave} during a save), resumes at steps ${resumes.join(", ")}`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}
