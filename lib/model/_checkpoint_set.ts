/**
 * A checkpoint directory's files written as one set: a kill at any moment leaves the previous set or the new one,
 * never a mix. {@link commitSet} writes; {@link recoverCheckpoint} finishes or undoes a save a kill cut.
 * `saveCheckpoint` (./checkpoint.ts) builds the files; this module only knows their names and order.
 *
 * @module
 */
/** The files of a checkpoint set, in the order a set is committed (`config.json`, which names the save, last). */
const SET_ORDER = ["model.safetensors", "optimizer.safetensors", "tokenizer.json", "config.json"] as const;
/** Inside a staging directory: written last, it lists the set's files (the set is complete and may be moved in). */
const COMPLETE = ".complete";
const STAGE_RE = /^\.checkpoint\.tmp-[0-9a-f]{8}$/;

function splitPath(dir: string): { parent: string; base: string } {
  const d = dir.replace(/\/+$/, "") || "/";
  const i = d.lastIndexOf("/");
  return i < 0 ? { parent: ".", base: d } : { parent: i === 0 ? "/" : d.slice(0, i), base: d.slice(i + 1) };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

async function listNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) names.push(e.name);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return names.sort();
}

/** Writes `data` to `path` and flushes it to the disk before returning. */
async function writeSynced(path: string, data: Uint8Array): Promise<void> {
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    for (let off = 0; off < data.length;) off += await f.write(data.subarray(off));
    await f.sync();
  } finally {
    f.close();
  }
}

/** Flushes a directory's entries (a rename inside it) to the disk; a no-op where directories cannot be opened. */
async function syncDir(path: string): Promise<void> {
  let f: Deno.FsFile;
  try {
    f = await Deno.open(path, { read: true });
  } catch {
    return;
  }
  try {
    await f.sync();
  } catch {
    /* not supported here */
  } finally {
    f.close();
  }
}

/**
 * Finishes or undoes a save of `dir` that a kill interrupted, so `dir` holds one complete checkpoint set (or none, if
 * the first save was cut): the state {@link saveCheckpoint} guarantees after any kill. A save either swaps a whole
 * directory in (`.<name>.tmp-<tag>` beside it, the previous one parked as `.<name>.old-<tag>` until the new one is in
 * place) or, when `dir` holds more than a checkpoint (a run directory), stages the set in `dir/.checkpoint.tmp-<tag>/`
 * and moves it in once complete. Returns what it did. Training calls this before it reads or writes a checkpoint.
 *
 * @example
 * ```ts
 * import { recoverCheckpoint } from "./checkpoint.ts"; // re-exported there
 * await recoverCheckpoint("/tmp/etude_no_such_run/last"); // "none"
 * ```
 */
export async function recoverCheckpoint(dir: string): Promise<"none" | "cleaned" | "finished" | "restored"> {
  const { parent, base } = splitPath(dir);
  let did: "none" | "cleaned" | "finished" | "restored" = "none";
  // 1. a directory swap cut between its two renames: the new set (tmp, complete once the old one was parked) wins
  const re = new RegExp(`^\\.${escapeRe(base)}\\.(tmp|old)-([0-9a-f]{8})$`);
  const side = (await listNames(parent)).map((n) => re.exec(n)).filter((m) => m !== null);
  if (side.length) {
    let present = true;
    try {
      await Deno.lstat(dir);
    } catch {
      present = false;
    }
    if (!present) {
      const olds = side.filter((m) => m[1] === "old");
      const pair = olds.find((o) => side.some((m) => m[1] === "tmp" && m[2] === o[2]));
      if (pair) {
        await Deno.rename(`${parent}/.${base}.tmp-${pair[2]}`, dir);
        did = "finished";
      } else if (olds.length) {
        await Deno.rename(`${parent}/${olds[0][0]}`, dir);
        did = "restored";
      }
      await syncDir(parent);
    }
    for (const m of side) {
      await Deno.remove(`${parent}/${m[0]}`, { recursive: true }).catch(() => {});
    }
    if (did === "none") did = "cleaned";
  }
  // 2. a staged set inside a run directory: move a complete one in, drop an incomplete one
  for (const name of (await listNames(dir)).filter((n) => STAGE_RE.test(n))) {
    const stage = `${dir}/${name}`;
    let files: string[] | null = null;
    try {
      files = JSON.parse(await Deno.readTextFile(`${stage}/${COMPLETE}`));
    } catch { /* incomplete */ }
    if (files) {
      await moveSetIn(stage, dir, files);
      did = "finished";
    } else if (did === "none") did = "cleaned";
    await Deno.remove(stage, { recursive: true }).catch(() => {});
  }
  return did;
}

/** Moves a complete staged set's files into `dir` (config.json last) and removes set files it does not have. */
async function moveSetIn(stage: string, dir: string, files: readonly string[]): Promise<void> {
  for (const f of SET_ORDER) {
    if (!files.includes(f)) continue;
    try {
      await Deno.rename(`${stage}/${f}`, `${dir}/${f}`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e; // moved before a kill
    }
  }
  for (const f of SET_ORDER) {
    if (!files.includes(f)) await Deno.remove(`${dir}/${f}`).catch(() => {});
  }
  await syncDir(dir);
}

/**
 * Writes a set of files (names from the set: `model.safetensors`, `optimizer.safetensors`, `tokenizer.json`,
 * `config.json`) into `dir` as one: a kill at any moment leaves the previous set or this one. A directory holding
 * only a set is rebuilt beside itself and swapped in; one holding more (a run directory) gets the set staged inside
 * it and moved in once complete, `config.json` last. Set files the new set lacks are removed.
 *
 * @example
 * ```ts ignore
 * import { commitSet } from "./_checkpoint_set.ts";
 * await commitSet("runs/x/last", new Map([["config.json", new TextEncoder().encode("{}")]]));
 * ```
 */
export async function commitSet(dir: string, files: Map<string, Uint8Array>): Promise<void> {
  const { parent, base } = splitPath(dir);
  const tag = crypto.randomUUID().slice(0, 8);
  const order = SET_ORDER.filter((f) => files.has(f));
  const others = (await listNames(dir)).filter((n) => !(SET_ORDER as readonly string[]).includes(n));
  if (others.length === 0) {
    // a directory of its own (`last/`): build the new one beside it, then swap it in
    await Deno.mkdir(parent, { recursive: true });
    const tmp = `${parent}/.${base}.tmp-${tag}`, old = `${parent}/.${base}.old-${tag}`;
    try {
      await Deno.mkdir(tmp);
      for (const f of order) await writeSynced(`${tmp}/${f}`, files.get(f)!);
      await syncDir(tmp);
    } catch (e) {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
      throw e;
    }
    let parked = false;
    try {
      await Deno.rename(dir, old);
      parked = true;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    await Deno.rename(tmp, dir);
    await syncDir(parent);
    if (parked) await Deno.remove(old, { recursive: true });
    return;
  }
  // a run directory (logs, last/ beside the best checkpoint): stage the set inside it, mark it complete, move it in
  const stage = `${dir}/.checkpoint.tmp-${tag}`;
  try {
    await Deno.mkdir(stage);
    for (const f of order) await writeSynced(`${stage}/${f}`, files.get(f)!);
    await writeSynced(`${stage}/${COMPLETE}`, new TextEncoder().encode(JSON.stringify(order)));
    await syncDir(stage);
  } catch (e) {
    await Deno.remove(stage, { recursive: true }).catch(() => {});
    throw e;
  }
  await moveSetIn(stage, dir, order);
  await Deno.remove(stage, { recursive: true });
}
