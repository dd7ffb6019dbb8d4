/**
 * `deno task train --preset v8 --data data/prepared/<name> --out models/<run>` — trains a model on prepared shards.
 * `--dry-run` prints the architecture, parameter count and memory estimate; `--resume` continues `<out>/last/`.
 *
 * @module
 */
import { numberOpt, parseCli, runMain, UsageError } from "../lib/cli/args.ts";
import { openShards } from "../lib/data/shards.ts";
import { type BackendChoice, selectBackend } from "../lib/model/backend.ts";
import {
  applyOverrides,
  countParams,
  describeModel,
  estimateTrainMemory,
  getPreset,
  type Overrides,
  type Preset,
  PRESETS,
} from "../lib/model/config.ts";
import { trainModel } from "../lib/train/loop.ts";

const USAGE = `usage: deno task train --preset v2..v8 --data data/prepared/<name> --out models/<run> [options]
  --dry-run            print architecture, parameters and memory estimate; no training
  --resume             continue <out>/last/ (optimizer, schedule and data order restored)
  --backend B          auto (default: webgpu on a real GPU, else wasm) | webgpu | wasm | cpu
  model:  --layers N --dim N --heads N --ffn N --seq-len N --vocab N --hidden 512,512 --embed-dim N
  train:  --lr X --batch N --micro-batch N --workers N (threads per batch) --epochs N --warmup N --weight-decay X --patience N --stride N --seed N --max-steps N`;

const MiB = 1024 * 1024;

async function main(): Promise<void> {
  const s = { type: "string" as const };
  const { values } = parseCli(Deno.args, {
    preset: s,
    data: s,
    out: s,
    backend: s,
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
    warmup: s,
    "weight-decay": s,
    patience: s,
    stride: s,
    seed: s,
    "max-steps": s,
    "dry-run": { type: "boolean" },
    resume: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const presetName = (values.preset as string | undefined) ?? "v8";
  if (!PRESETS[presetName]) {
    throw new UsageError(`--preset: expected one of ${Object.keys(PRESETS).join(", ")}, got ${presetName}`);
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
  const o: Overrides = {
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
    warmup: int("warmup", 0),
    weightDecay: num("weight-decay"),
    patience: int("patience"),
    stride: int("stride"),
    seed: int("seed", 0),
  };
  let preset: Preset;
  try {
    preset = applyOverrides(getPreset(presetName), o);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }

  const out = values.out as string | undefined;
  if (values.resume) {
    // the run's own model and recipe, not the preset's
    if (!out) throw new UsageError("--out: required with --resume");
    const path = `${out}/last/config.json`;
    let saved: { etude?: { model?: Preset["model"]; state?: { train?: Preset["train"] } } };
    try {
      saved = JSON.parse(await Deno.readTextFile(path));
    } catch (e) {
      throw new Error(`${path}: ${(e as Error).message.split("\n")[0]} (nothing to resume)`);
    }
    if (!saved.etude?.model || !saved.etude.state?.train) throw new Error(`${path}: no etude model/state`);
    preset = { model: saved.etude.model, train: saved.etude.state.train };
    // how a step is executed (not what it computes) may change on resume: another machine, another heap
    if (o.microBatch !== undefined) preset.train.microBatch = o.microBatch;
    if (o.workers !== undefined) preset.train.workers = o.workers;
  }
  const data = values.data as string | undefined;
  const ds = data ? await openShards(data) : null;
  if (ds && values.resume) {
    if (preset.model.vocabSize < ds.meta.vocabSize) {
      throw new UsageError(
        `--data: vocabulary ${ds.meta.vocabSize} exceeds the run's ${preset.model.vocabSize}`,
      );
    }
  } else if (ds) {
    if (o.vocab !== undefined && o.vocab < ds.meta.vocabSize) {
      throw new UsageError(`--vocab ${o.vocab} is smaller than the data's vocabulary (${ds.meta.vocabSize})`);
    }
    preset.model.vocabSize = o.vocab ?? ds.meta.vocabSize;
    if (preset.model.tokenizer !== ds.meta.tokenizer.kind) {
      console.error(
        `note: preset ${presetName} expects ${preset.model.tokenizer} tokens; the data is ${ds.meta.tokenizer.kind}`,
      );
      preset.model.tokenizer = ds.meta.tokenizer.kind;
    }
  }

  const m = preset.model;
  const rows = preset.train.microBatch || preset.train.batch;
  const mem = estimateTrainMemory(m, rows);
  console.log(describeModel(m));
  console.log(`parameters: ${countParams(m).toLocaleString("en-US")} (${countParams(m)})`);
  console.log(
    `training memory ≈ ${(mem.total / MiB).toFixed(0)} MiB (weights+grads+AdamW ${
      (mem.params / MiB).toFixed(0)
    } MiB,` +
      ` activations at ${rows} rows × ${m.seqLen} ≈ ${(mem.activations / MiB).toFixed(0)} MiB)`,
  );
  console.log(`recipe: ${JSON.stringify(preset.train)}`);
  if (values["dry-run"]) return;

  if (!ds) throw new UsageError("--data: required (a data/prepared/<name> directory)");
  if (!out) throw new UsageError("--out: required (e.g. models/<run>)");
  const choice = ((values.backend as string | undefined) ?? "auto") as BackendChoice;
  if (!["auto", "webgpu", "wasm", "cpu"].includes(choice)) {
    throw new UsageError(`--backend: expected auto, webgpu, wasm or cpu, got ${choice}`);
  }
  const backend = await selectBackend(choice);
  console.log(`backend: ${backend}`);
  const r = await trainModel({
    model: m,
    train: preset.train,
    data: {
      train: ds.splits.train,
      validation: ds.splits.validation,
      // copied byte for byte, so the checkpoint's tokenizer.json hashes like the data's
      tokenizerJson: await Deno.readTextFile(`${ds.dir}/tokenizer.json`),
    },
    out,
    resume: Boolean(values.resume),
    backend,
    stopAfterSteps: int("max-steps"),
    handleSignals: true,
  });
  console.log(
    `${r.stopped}: epoch ${r.state.epoch}, step ${r.state.step}, best val loss ${
      r.state.bestValLoss?.toFixed(4)
    }` +
      ` (epoch ${r.state.bestEpoch}), ${Math.round(r.tokensPerSecond)} tokens/s; best checkpoint in ${out}/`,
  );
}

if (import.meta.main) await runMain(main);
