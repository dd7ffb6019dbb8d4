/**
 * Runs the PyTorch peer (`bench/torch_peer.py`) through `/usr/bin/python3` (Debian `python3-torch` +
 * `libopenblas0-pthread`; the `python3` on PATH may be another interpreter), or `$ETUDE_TORCH_PYTHON`.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** How to install the CPU peer on Debian/Ubuntu (printed when it is absent). */
export const TORCH_INSTALL_HINT =
  "apt-get install -y python3-torch libopenblas0-pthread   (then /usr/bin/python3 -c 'import torch')";

/** Path of `bench/torch_peer.py` in this checkout. */
export const TORCH_PEER_SCRIPT: string = fileURLToPath(new URL("./torch_peer.py", import.meta.url));

/** The interpreter the peer runs under. */
export function torchPython(): string {
  return Deno.env.get("ETUDE_TORCH_PYTHON") ?? "/usr/bin/python3";
}

/** Result of {@link torchAvailable}. */
export interface TorchStatus {
  ok: boolean;
  /** torch version when ok; the reason when not. */
  detail: string;
  python: string;
  cuda?: boolean;
  deviceName?: string;
}

/**
 * Whether the interpreter imports torch (version or the reason it cannot).
 *
 * @example
 * ```ts
 * import { torchAvailable } from "./torch_peer.ts";
 * const s = await torchAvailable();
 * console.log(s.ok ? `torch ${s.detail}` : `no torch: ${s.detail}`);
 * ```
 */
export async function torchAvailable(): Promise<TorchStatus> {
  const python = torchPython();
  try {
    const r = await runTorchPeer(["info"], { timeoutMs: 60_000 });
    return {
      ok: true,
      detail: String(r.torch),
      python,
      cuda: Boolean(r.cuda),
      deviceName: String(r.device_name ?? "cpu"),
    };
  } catch (e) {
    return { ok: false, detail: (e as Error).message.split("\n").slice(-1)[0], python };
  }
}

/** Options for {@link runTorchPeer}. */
export interface TorchRunOptions {
  /** OPENBLAS_NUM_THREADS (and torch threads) for this run. */
  threads?: number;
  timeoutMs?: number;
}

/**
 * Runs one peer command and returns its JSON answer; throws with the last line of stderr on failure.
 *
 * @example
 * ```ts
 * import { runTorchPeer } from "./torch_peer.ts";
 * const bw = await runTorchPeer(["bandwidth", "--mb", "64"], { threads: 1 }).catch(() => null);
 * ```
 */
export async function runTorchPeer(
  args: string[],
  opts: TorchRunOptions = {},
): Promise<Record<string, unknown>> {
  const env: Record<string, string> = { PYTHONUNBUFFERED: "1" };
  const full = [TORCH_PEER_SCRIPT, ...args];
  if (opts.threads) {
    env.OPENBLAS_NUM_THREADS = String(opts.threads);
    env.OMP_NUM_THREADS = String(opts.threads);
    full.push("--threads", String(opts.threads));
  }
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), opts.timeoutMs ?? 600_000);
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(torchPython(), {
      args: full,
      env,
      stdout: "piped",
      stderr: "piped",
      signal: ac.signal,
    })
      .output();
  } catch (e) {
    throw new Error(`${torchPython()}: ${(e as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
  const stderr = new TextDecoder().decode(out.stderr).trim();
  if (!out.success) {
    throw new Error(
      `torch_peer ${args[0]} failed (exit ${out.code}): ${stderr.split("\n").slice(-1)[0] || "no output"}`,
    );
  }
  const stdout = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(stdout);
  } catch {
    throw new Error(
      `torch_peer ${args[0]}: expected one JSON line, got ${JSON.stringify(stdout.slice(0, 200))}`,
    );
  }
}

/**
 * Full-sequence logits `[ids.length × vocab]` from the peer for a checkpoint directory, plus the peer's own check
 * that its KV-cache path gives the same logits as the full forward.
 *
 * @example
 * ```ts
 * import { torchLogits } from "./torch_peer.ts";
 * const r = await torchLogits("models/default", [1, 40, 41]).catch(() => null);
 * ```
 */
export async function torchLogits(
  modelDir: string,
  ids: readonly number[],
  opts: TorchRunOptions & { device?: "cpu" | "cuda" } = {},
): Promise<{ logits: Float32Array; cacheVsFull: number }> {
  const tmp = await Deno.makeTempFile({ suffix: ".f32" });
  try {
    const r = await runTorchPeer(
      ["logits", "--model", modelDir, "--ids", ids.join(","), "--out", tmp, "--device", opts.device ?? "cpu"],
      opts,
    );
    const bytes = await Deno.readFile(tmp);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const logits = new Float32Array(bytes.byteLength / 4);
    for (let i = 0; i < logits.length; i++) logits[i] = dv.getFloat32(i * 4, true);
    return { logits, cacheVsFull: Number(r.cache_vs_full_max_abs_diff) };
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}
