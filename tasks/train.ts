/**
 * `deno task train --preset v8 --data data/prepared/<name> --out models/<run>` — trains a model on prepared shards.
 * `--dry-run` prints the architecture, parameter count and memory estimate; `--resume` continues `<out>/last/`;
 * `--save-every 500|10m` saves `<out>/last/` inside epochs; `--init-from models/default` fine-tunes a checkpoint.
 *
 * @module
 */
import { numberOpt, parseCli, runMain, UsageError } from "../lib/cli/args.ts";
import type { Overrides } from "../lib/model/config.ts";
import { parseSaveEvery, runTraining } from "../lib/train/run.ts";

const USAGE = `usage: deno task train --preset v2..v8 --data data/prepared/<name> --out models/<run> [options]
  --dry-run            print architecture, parameters and memory estimate; no training
  --resume             continue <out>/last/ (optimizer, schedule and data order restored); with --steps N,
                       a new step budget: the cosine goes on over it
  --save-every N|T     also save <out>/last/ inside epochs: every N steps (500), every T (90s, 10m, 1h),
                       or both (500,10m); 0 = only at epoch ends (default 10m)
  --log-every N        --backend gpu: log, and read the loss back, every N steps (default 10); the other
                       backends log every step
  --init-from DIR      fine-tune: start from DIR's weights and architecture (e.g. models/default), with a fresh
                       optimizer and schedule; the data must use DIR's tokenizer (tokenize --tokenizer-from DIR);
                       lr defaults to a third of DIR's run, warmup to at most a tenth of the steps
  --device D           where to train, picked per machine: auto (default: a real GPU → tfjs webgpu; else the
                       CPU backend when a BLAS is found; else tfjs wasm, saying how to install one:
                       apt-get install libopenblas0-pthread) | gpu (tfjs webgpu) | cpu (the CPU backend, tfjs
                       wasm without a BLAS). LSTM presets always train on tfjs (webgpu or wasm)
  --threads N          BLAS threads of the CPU backend (default: the library's, usually every core); tfjs
                       spreads a batch over threads with --workers instead
  --backend B          name the engine exactly instead of --device (not both): webgpu | wasm | cpu (tfjs),
                       blas (the CPU backend, fails without a BLAS), gpu (etude's own WGSL kernels), auto
  model:  --layers N --dim N --heads N --ffn N --seq-len N --vocab N --hidden 512,512 --embed-dim N
  train:  --lr X --batch N --micro-batch N --workers N (tfjs threads per batch) --epochs N --steps N (a step budget the schedule anneals over) --warmup N --weight-decay X --patience N --stride N --seed N --max-steps N`;

async function main(): Promise<void> {
  const s = { type: "string" as const };
  const { values } = parseCli(Deno.args, {
    preset: s,
    data: s,
    out: s,
    backend: s,
    device: s,
    threads: s,
    layers: s,
    dim: s,
    heads: s,
    ffn: s,
    "seq-len": s,
    vocab: s,
    hidden: s,
    "embed-dim": s,
    lr: s,
    batch: s,
    "micro-batch": s,
    workers: s,
    epochs: s,
    steps: s,
    warmup: s,
    "weight-decay": s,
    patience: s,
    stride: s,
    seed: s,
    "max-steps": s,
    "save-every": s,
    "log-every": s,
    "init-from": s,
    "dry-run": { type: "boolean" },
    resume: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const int = (name: string, min = 1) => {
    const v = numberOpt(values, name, NaN, min, 1e9, true);
    return Number.isNaN(v) ? undefined : v;
  };
  const num = (name: string, min = 0) => {
    const v = numberOpt(values, name, NaN, min, 1e9);
    return Number.isNaN(v) ? undefined : v;
  };
  const hidden = values.hidden === undefined ? undefined : String(values.hidden).split(",").map((h) => {
    const n = Number(h);
    if (!Number.isInteger(n) || n < 1) {
      throw new UsageError(`--hidden: expected sizes like 512,512, got ${values.hidden}`);
    }
    return n;
  });
  const overrides: Overrides = {
    layers: int("layers"),
    dim: int("dim"),
    heads: int("heads"),
    ffn: int("ffn"),
    seqLen: int("seq-len"),
    vocab: int("vocab", 4),
    hidden,
    embedDim: int("embed-dim"),
    lr: num("lr"),
    batch: int("batch"),
    microBatch: int("micro-batch"),
    workers: int("workers"),
    epochs: int("epochs"),
    steps: int("steps", 0),
    warmup: int("warmup", 0),
    weightDecay: num("weight-decay"),
    patience: int("patience"),
    stride: int("stride"),
    seed: int("seed", 0),
  };
  const out = values.out as string | undefined;
  const r = await runTraining({
    preset: values.preset as string | undefined,
    overrides,
    data: values.data as string | undefined,
    out,
    resume: Boolean(values.resume),
    dryRun: Boolean(values["dry-run"]),
    backend: values.backend as string | undefined,
    device: values.device as string | undefined,
    threads: int("threads"),
    maxSteps: int("max-steps"),
    saveEvery: values["save-every"] === undefined ? undefined : parseSaveEvery(String(values["save-every"])),
    initFrom: values["init-from"] as string | undefined,
    logEvery: int("log-every"),
    handleSignals: true,
  });
  if (!r) return;
  const best = r.state.bestValLoss !== null
    ? `best val loss ${
      r.state.bestValLoss.toFixed(4)
    } (epoch ${r.state.bestEpoch}); best checkpoint in ${out}/`
    : r.state.valLosses.length
    ? `no validation data; last epoch's checkpoint in ${out}/`
    : `not validated yet (validation runs at epoch ends and at the end of a --steps budget)`;
  console.log(
    `${r.stopped}: epoch ${r.state.epoch}, step ${r.state.step}, ${best}, ${
      Math.round(r.tokensPerSecond)
    } tokens/s`,
  );
}

if (import.meta.main) await runMain(main);
