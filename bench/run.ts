/**
 * `deno task bench` as a library: sets up the shared inputs (a random v8 checkpoint, the PyTorch peer's status, the
 * machine and WebGPU adapter), runs every part in its own child process with a time limit, and assembles the
 * report: results, headline ratios, machine. A part whose code is missing, that crashes or that runs out of time is
 * reported as skipped, with the reason, row by row.
 *
 * @module
 */
import { repoRoot } from "../lib/util/paths.ts";
import { join } from "node:path";
import { writeFileAtomic } from "../lib/util/atomic.ts";
import { exists } from "../lib/util/fs.ts";
import { countParams } from "../lib/model/config.ts";
import { BENCH_PARTS, type BenchContext, type BenchPart, type TorchVariant } from "./parts.ts";
import { RESULT_PREFIX } from "./part_main.ts";
import { benchModelConfig, writeRandomCheckpoint } from "./random_checkpoint.ts";
import {
  type BenchResult,
  computeRatios,
  type Ratio,
  type RatioSpec,
  ratiosTable,
  resultsTable,
  slug,
} from "../lib/util/table.ts";
import { TORCH_INSTALL_HINT, torchAvailable } from "./torch_peer.ts";
import { findMidiCorpus } from "./tokenizer_bench.ts";

/** The machine a report was measured on. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  deno: string;
  /** WebGPU adapter description (or why there is none). */
  adapter: string;
  /** True when the adapter is a hardware GPU (not llvmpipe/lavapipe/SwiftShader). */
  realGpu: boolean;
  torch: string;
  torchDevice?: string;
}

/** The whole bench report (`bench/results.json`). */
export interface BenchReport {
  date: string;
  quick: boolean;
  seconds: number;
  machine: MachineInfo;
  model: { shape: string; params: number; weightBytes: number };
  results: BenchResult[];
  ratios: Ratio[];
}

/** Options for {@link runBench}. */
export interface BenchOptions {
  quick?: boolean;
  /** Output file; default `bench/results.json`, or `bench/results-<adapter>.json` on a real GPU. */
  out?: string;
  /** Only these part ids (default all). */
  parts?: string[];
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

/** The ratios the bench reports as its headline. */
export const HEADLINE_RATIOS: readonly RatioSpec[] = [
  {
    label: "decode b1: CPU backend ÷ read-bandwidth limit",
    num: "decode.cpu.b1",
    den: "decode.limit.read.b1",
    goal: "≥ 0.8",
  },
  {
    label: "decode b1: CPU backend ÷ PyTorch (1 thread)",
    num: "decode.cpu.b1",
    den: "decode.torch.t1.b1",
    goal: "≥ 5",
  },
  { label: "decode b1: CPU backend ÷ PyTorch 2 threads", num: "decode.cpu.b1", den: "decode.torch.t2.b1" },
  { label: "decode b16 ÷ b1: CPU backend", num: "decode.cpu.b16", den: "decode.cpu.b1", goal: "≥ 8" },
  { label: "decode b2 ÷ b1: CPU backend (tokens/s)", num: "decode.cpu.b2", den: "decode.cpu.b1" },
  { label: "decode b4 ÷ b1: CPU backend (tokens/s)", num: "decode.cpu.b4", den: "decode.cpu.b1" },
  { label: "decode b1: CPU backend ÷ WebGPU engine", num: "decode.cpu.b1", den: "decode.engine.b1" },
  {
    label: "train 8 × 256: CPU backend ÷ PyTorch CPU (each best of 1 and 2 threads)",
    num: "train.cpu.best",
    den: "train.torch.cpu.best",
    goal: "≥ 1.0",
  },
  { label: "train 8 × 256: CPU backend ÷ tfjs wasm", num: "train.cpu.best", den: "train.tfjs.wasm" },
  { label: "train 8 × 256: CPU backend 2 threads ÷ 1 thread", num: "train.cpu.t2", den: "train.cpu.t1" },
  {
    label: "decode b1: engine ÷ PyTorch (1 thread)",
    num: "decode.engine.b1",
    den: "decode.torch.t1.b1",
    goal: "≥ 1.0",
  },
  {
    label: "decode b1: engine ÷ bandwidth limit",
    num: "decode.engine.b1",
    den: "decode.limit.b1",
    goal: "≥ 0.5",
  },
  { label: "decode b16 ÷ b1: engine", num: "decode.engine.b16", den: "decode.engine.b1", goal: "≥ 8" },
  { label: "decode b1: engine ÷ tfjs token by token", num: "decode.engine.b1", den: "decode.tfjs.b1" },
  { label: "decode b1: engine ÷ PyTorch CUDA", num: "decode.engine.b1", den: "decode.torch.cuda.b1" },
  { label: "decode b1: engine ÷ GPU bandwidth limit", num: "decode.engine.b1", den: "decode.limit.gpu.b1" },
  {
    label: "decode b1: PyTorch CUDA ÷ GPU bandwidth limit",
    num: "decode.torch.cuda.b1",
    den: "decode.limit.gpu.b1",
  },
  {
    label: "decode b1: PyTorch (1 thread) ÷ bandwidth limit",
    num: "decode.torch.t1.b1",
    den: "decode.limit.b1",
  },
  { label: "decode b1: PyTorch 2 threads ÷ 1 thread", num: "decode.torch.t2.b1", den: "decode.torch.t1.b1" },
  { label: "decode b16 ÷ b1: PyTorch (1 thread)", num: "decode.torch.t1.b16", den: "decode.torch.t1.b1" },
  { label: "decode b1: tfjs ÷ PyTorch (1 thread)", num: "decode.tfjs.b1", den: "decode.torch.t1.b1" },
  {
    label: "train 8 × 256: tfjs wasm ÷ PyTorch (1 thread)",
    num: "train.tfjs.wasm",
    den: "train.torch.t1",
    goal: "≥ 1.0",
  },
  {
    label: "train 8 × 256: tfjs wasm 2 threads ÷ PyTorch 2 threads",
    num: "train.tfjs.wasm.w2",
    den: "train.torch.t2",
  },
  {
    label: "train 8 × 256: tfjs webgpu ÷ PyTorch CUDA",
    num: "train.tfjs.webgpu",
    den: "train.torch.cuda",
    goal: "≥ 1.0",
  },
  {
    label: "train 1 × 64: tfjs wasm ÷ PyTorch (1 thread)",
    num: "train.tfjs.wasm.small",
    den: "train.torch.t1.small",
  },
  {
    label: "train 1 × 64: tfjs cpu ÷ PyTorch (1 thread)",
    num: "train.tfjs.cpu.small",
    den: "train.torch.t1.small",
  },
  {
    label: "train 1 × 64: tfjs webgpu ÷ PyTorch CUDA",
    num: "train.tfjs.webgpu.small",
    den: "train.torch.cuda.small",
  },
  { label: "train 8 × 256: PyTorch 2 threads ÷ 1 thread", num: "train.torch.t2", den: "train.torch.t1" },
  { label: "memory copy: Deno ÷ PyTorch", num: "memory.copy.deno", den: "memory.copy.torch" },
];

/** Repository root (two levels above this file). */
/** The repository root. */
export const REPO_ROOT: string = repoRoot();

async function machineInfo(): Promise<Omit<MachineInfo, "torch" | "torchDevice">> {
  let cpu = "unknown";
  try {
    cpu = (await Deno.readTextFile("/proc/cpuinfo")).match(/model name\s*:\s*(.+)/)?.[1]?.trim() ?? cpu;
  } catch { /* not Linux */ }
  let memoryGiB = 0;
  try {
    memoryGiB = Math.round(Deno.systemMemoryInfo().total / 2 ** 30);
  } catch { /* unavailable */ }
  let adapter = "none", realGpu = false;
  try {
    // deno-lint-ignore no-explicit-any
    const gpu = (navigator as any).gpu;
    const a = gpu ? await gpu.requestAdapter() : null;
    if (a) {
      const info = a.info ?? {};
      adapter = [info.description, info.device, info.vendor].filter(Boolean)[0] ?? "unnamed adapter";
      realGpu = !a.isFallbackAdapter && !/llvmpipe|lavapipe|swiftshader|software/i.test(
        `${info.description ?? ""} ${info.device ?? ""}`,
      );
    } else adapter = gpu ? "no adapter" : "navigator.gpu absent";
  } catch (e) {
    adapter = `error: ${(e as Error).message}`;
  }
  return {
    cpu,
    cores: navigator.hardwareConcurrency,
    memoryGiB,
    os: `${Deno.build.os} ${Deno.build.arch}`,
    deno: Deno.version.deno,
    adapter,
    realGpu,
  };
}

function skippedRows(part: BenchPart, ctx: BenchContext, why: string): BenchResult[] {
  return part.rows(ctx).map((r) => ({ ...r, section: part.section, value: null, skipped: why }));
}

/**
 * Runs one part in a child process and never throws: a missing file, a crash, no results line or the time limit
 * gives every row of the part as skipped, with the reason.
 *
 * @example
 * ```ts ignore
 * import { runPart } from "./run.ts";
 * import { BENCH_PARTS } from "./parts.ts";
 * const rows = await runPart(BENCH_PARTS[0], ctx, "/tmp/context.json");
 * ```
 */
export async function runPart(part: BenchPart, ctx: BenchContext, ctxFile: string): Promise<BenchResult[]> {
  const missing: string[] = [];
  for (const f of part.requires) if (!(await exists(join(ctx.root, f)))) missing.push(f);
  if (missing.length) return skippedRows(part, ctx, `${missing.join(", ")} not present yet`);
  const limit = part.timeoutS(ctx);
  const ac = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, limit * 1000);
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(Deno.execPath(), {
      // $ETUDE_DENO_FLAGS: extra runtime flags for the children (e.g. --cached-only on an offline machine)
      args: [
        "run",
        "-A",
        ...(Deno.env.get("ETUDE_DENO_FLAGS") ?? "").split(/\s+/).filter(Boolean),
        join(ctx.root, "bench/part_main.ts"),
        part.id,
        ctxFile,
      ],
      cwd: ctx.root,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
      signal: ac.signal,
    }).output();
  } catch (e) {
    clearTimeout(timer);
    return skippedRows(part, ctx, `could not start: ${(e as Error).message}`);
  }
  clearTimeout(timer);
  if (timedOut) return skippedRows(part, ctx, `timed out after ${limit} s`);
  const stdout = new TextDecoder().decode(out.stdout);
  const line = stdout.split("\n").find((l) => l.startsWith(RESULT_PREFIX));
  if (!out.success || !line) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").filter((l) => l.trim()).pop() ??
      `exit ${out.code}`;
    return skippedRows(part, ctx, `failed: ${err.slice(0, 300)}`);
  }
  const got = JSON.parse(line.slice(RESULT_PREFIX.length)) as BenchResult[];
  const ids = new Set(got.map((r) => r.id));
  return [
    ...got,
    ...skippedRows(part, ctx, "the part did not report this row").filter((r) => !ids.has(r.id)),
  ];
}

/** Writes a tiny random model for the faces when models/default is absent. */
async function facesModel(
  root: string,
  tmp: string,
): Promise<Pick<BenchContext, "facesModelsDir" | "facesModelName" | "facesModelNote">> {
  if (await exists(join(root, "models/default/config.json"))) {
    return {
      facesModelsDir: join(root, "models"),
      facesModelName: "default",
      facesModelNote: "models/default",
    };
  }
  const dir = join(tmp, "models");
  await writeRandomCheckpoint(
    join(dir, "bench-tiny"),
    benchModelConfig({ layers: 2, dim: 128, heads: 4, ffn: 256, vocab: 512, seqLen: 256 }),
    { seed: 2 },
  );
  return {
    facesModelsDir: dir,
    facesModelName: "bench-tiny",
    facesModelNote: "tiny random model (2 L, d 128; no models/default)",
  };
}

/**
 * Runs the bench and writes the report (atomically) to `opts.out`.
 *
 * @example
 * ```ts ignore
 * import { runBench } from "./run.ts";
 * const report = await runBench({ quick: true });
 * console.log(report.ratios);
 * ```
 */
export async function runBench(opts: BenchOptions = {}): Promise<{ report: BenchReport; path: string }> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const t0 = performance.now();
  const quick = opts.quick ?? false;
  if (!Deno.env.get("XDG_RUNTIME_DIR")) {
    const xdg = "/tmp/etude-xdg";
    await Deno.mkdir(xdg, { recursive: true, mode: 0o700 }).catch(() => {});
    Deno.env.set("XDG_RUNTIME_DIR", xdg);
  }
  const m = await machineInfo();
  const torch = await torchAvailable();
  const torchVariants: TorchVariant[] = [
    { tag: "t1", device: "cpu", threads: 1 },
    { tag: "t2", device: "cpu", threads: 2 },
  ];
  if (torch.ok && torch.cuda) torchVariants.push({ tag: "cuda", device: "cuda" });
  const machine: MachineInfo = {
    ...m,
    torch: torch.ok ? `torch ${torch.detail} (${torch.python})` : `absent: ${torch.detail}`,
    torchDevice: torch.cuda ? torch.deviceName : undefined,
  };
  log(
    `bench${
      quick ? " --quick" : ""
    }: ${machine.cpu}, ${machine.cores} cores; WebGPU adapter: ${machine.adapter}`,
  );
  if (!torch.ok) {
    log(`PyTorch peer absent (${torch.detail}): its rows are skipped. Install: ${TORCH_INSTALL_HINT}`);
  } else log(`PyTorch peer: ${machine.torch}${torch.cuda ? `, CUDA ${torch.deviceName}` : ""}`);

  const tmp = await Deno.makeTempDir({ prefix: "etude_bench_" });
  try {
    const shape = benchModelConfig();
    const ckptDir = join(tmp, "v8");
    const { weightBytes } = await writeRandomCheckpoint(ckptDir, shape, { seed: 1 });
    const params = countParams(shape);
    const ctx: BenchContext = {
      quick,
      root: REPO_ROOT,
      ckptDir,
      weightBytes,
      params,
      torch,
      torchVariants,
      realGpu: m.realGpu,
      adapter: m.adapter,
      corpus: findMidiCorpus(),
      ...(await facesModel(REPO_ROOT, tmp)),
    };
    const ctxFile = join(tmp, "context.json");
    await Deno.writeTextFile(ctxFile, JSON.stringify(ctx));
    const results: BenchResult[] = [];
    for (const part of BENCH_PARTS) {
      if (opts.parts && !opts.parts.includes(part.id)) continue;
      const ps = performance.now();
      log(`▶ ${part.id} (limit ${part.timeoutS(ctx)} s)`);
      const rs = await runPart(part, ctx, ctxFile);
      for (const r of rs) {
        log(
          `  ${r.label}: ${
            r.value === null ? `SKIPPED (${r.skipped})` : `${r.value.toPrecision(4)} ${r.unit}`
          }`,
        );
      }
      log(`  (${((performance.now() - ps) / 1000).toFixed(1)} s)`);
      results.push(...rs);
    }
    const report: BenchReport = {
      date: new Date().toISOString(),
      quick,
      seconds: (performance.now() - t0) / 1000,
      machine,
      model: {
        shape:
          `v8: ${shape.layers} L, ${shape.heads} H, d ${shape.dim}, ffn ${shape.ffn}, vocab ${shape.vocabSize}, ctx ${shape.maxPositions}`,
        params,
        weightBytes,
      },
      results,
      ratios: computeRatios(results, HEADLINE_RATIOS),
    };
    const gpuName = m.realGpu ? m.adapter : torch.cuda ? torch.deviceName : undefined;
    const path = opts.out ??
      join(REPO_ROOT, "bench", gpuName ? `results-${slug(gpuName)}.json` : "results.json");
    await writeFileAtomic(path, JSON.stringify(report, null, 2) + "\n");
    return { report, path };
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/**
 * The printed form of a report: machine line, the headline ratios, then every result.
 *
 * @example
 * ```ts ignore
 * import { formatReport, runBench } from "./run.ts";
 * console.log(formatReport((await runBench({ quick: true })).report));
 * ```
 */
export function formatReport(r: BenchReport): string {
  const m = r.machine;
  return [
    `etude bench ${r.date.slice(0, 16).replace("T", " ")} UTC${r.quick ? " (--quick)" : ""}, ${
      r.seconds.toFixed(0)
    } s`,
    `machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Deno ${m.deno}`,
    `WebGPU adapter: ${m.adapter}${m.realGpu ? "" : " (software)"}; PyTorch: ${m.torch}${
      m.torchDevice ? ` on ${m.torchDevice}` : ""
    }`,
    `model: ${r.model.shape}, ${r.model.params.toLocaleString("en-US")} params, ${
      (r.model.weightBytes / 1e6).toFixed(1)
    } MB fp32`,
    "",
    "Headline ratios (same machine, same run):",
    ratiosTable(r.ratios),
    "",
    "Measurements:",
    resultsTable(r.results),
  ].join("\n");
}
