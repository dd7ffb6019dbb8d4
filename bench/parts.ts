/**
 * The parts `deno task bench` measures. Each part declares the rows it produces (so a part that cannot run still
 * shows every row, skipped with the reason), the repository files it needs, a time limit, and a `run` that
 * imports its code lazily: parts run one by one in child processes (`part_main.ts`), so a crash, a hang or a
 * missing module costs one part, not the run.
 *
 * @module
 */
import type { BenchResult } from "../lib/util/table.ts";
import type { TorchStatus } from "./torch_peer.ts";
import { trainGpu } from "./gpu_train_part.ts";
import { decodeCpu, readBandwidth, trainCpu } from "./cpu_parts.ts";
import { decodeGuidance } from "./guidance_part.ts";

/** One way of running the PyTorch peer. */
export interface TorchVariant {
  /** Short tag used in ids: `t1`, `t2`, `cuda`. */
  tag: string;
  device: "cpu" | "cuda";
  /** OPENBLAS_NUM_THREADS / torch threads (cpu). */
  threads?: number;
}

/** Everything a part needs, serialisable to a child process. */
export interface BenchContext {
  quick: boolean;
  /** Repository root. */
  root: string;
  /** The random v8 checkpoint directory. */
  ckptDir: string;
  weightBytes: number;
  params: number;
  torch: TorchStatus;
  torchVariants: TorchVariant[];
  realGpu: boolean;
  adapter: string;
  corpus?: string;
  /** A small model directory for the faces (models/default when present), and its name inside `modelsDir`. */
  facesModelsDir?: string;
  facesModelName?: string;
  facesModelNote?: string;
}

/** A row a part promises. */
export interface RowSpec {
  id: string;
  label: string;
  unit: string;
}

/** One bench part. */
export interface BenchPart {
  id: string;
  section: string;
  /** Repository-relative files the part's code lives in (checked before running). */
  requires: string[];
  rows(ctx: BenchContext): RowSpec[];
  /** Seconds before the child process is killed. */
  timeoutS(ctx: BenchContext): number;
  run(ctx: BenchContext): Promise<BenchResult[]>;
}

const TORCH_MISSING = (ctx: BenchContext) =>
  `${ctx.torch.python} cannot import torch (${ctx.torch.detail}); install: apt-get install -y python3-torch libopenblas0-pthread`;

function row(
  section: string,
  spec: RowSpec,
  value: number | null,
  extra: Partial<BenchResult> = {},
): BenchResult {
  return { id: spec.id, section, label: spec.label, unit: spec.unit, value, ...extra };
}

/** Decode shape per mode: tokens per sequence at batch 1 and 16. */
function decodeTokens(ctx: BenchContext, who: "engine" | "torch" | "tfjs", batch: number): number {
  if (who === "tfjs") return ctx.quick ? (batch === 1 ? 4 : 2) : (batch === 1 ? 32 : 8);
  if (who === "engine") return ctx.quick ? 16 : (batch === 1 ? 128 : 64);
  return ctx.quick ? 16 : 128;
}

/** The training shape of the spec (v8: seq 256 × batch 8) and a small one every backend manages in seconds. */
const SPEC_SHAPE = { batch: 8, seq: 256 };
const SMALL_SHAPE = { batch: 1, seq: 64 };

const bandwidth: BenchPart = {
  id: "bandwidth",
  section: "memory",
  requires: ["bench/bandwidth.ts"],
  rows: (ctx) => [
    { id: "memory.copy.deno", label: "copy bandwidth, Deno TypedArray.set (read + write)", unit: "GB/s" },
    { id: "memory.copy.torch", label: "copy bandwidth, PyTorch tensor.copy_ (read + write)", unit: "GB/s" },
    {
      id: "decode.limit.b1",
      label: "batch-1 decode limit = bandwidth ÷ fp32 weight bytes",
      unit: "tokens/s",
    },
    ...(ctx.torchVariants.some((v) => v.device === "cuda")
      ? [
        {
          id: "memory.copy.cuda",
          label: "GPU copy bandwidth, PyTorch CUDA tensor.copy_ (read + write)",
          unit: "GB/s",
        },
        {
          id: "decode.limit.gpu.b1",
          label: "batch-1 decode limit on the GPU = GPU bandwidth ÷ weight bytes",
          unit: "tokens/s",
        },
      ]
      : []),
  ],
  timeoutS: () => 120,
  async run(ctx) {
    const { measureCopyBandwidth, decodeLimit } = await import("./bandwidth.ts");
    const { runTorchPeer } = await import("./torch_peer.ts");
    const [deno, torchSpec, limit, cudaSpec, gpuLimit] = this.rows(ctx);
    const mb = ctx.quick ? 128 : 256;
    const bw = measureCopyBandwidth(mb, ctx.quick ? 3 : 7);
    const out = [row("memory", deno, bw.gbPerSecond, { note: `${mb} MiB, best of ${ctx.quick ? 3 : 7}` })];
    if (ctx.torch.ok) {
      const r = await runTorchPeer(["bandwidth", "--mb", String(mb)], { threads: 1 });
      out.push(row("memory", torchSpec, Number(r.gb_per_s), { note: `${mb} MiB, torch ${r.torch}` }));
    } else out.push(row("memory", torchSpec, null, { skipped: TORCH_MISSING(ctx) }));
    out.push(row("decode", limit, decodeLimit(bw.gbPerSecond, ctx.weightBytes), {
      note: `${(ctx.weightBytes / 1e6).toFixed(1)} MB at ${bw.gbPerSecond.toFixed(1)} GB/s`,
    }));
    if (cudaSpec && gpuLimit) {
      const r = await runTorchPeer(["bandwidth", "--mb", "1024", "--device", "cuda"]);
      const gb = Number(r.gb_per_s);
      out.push(row("memory", cudaSpec, gb, { note: `1 GiB, torch ${r.torch}` }));
      out.push(row("decode", gpuLimit, decodeLimit(gb, ctx.weightBytes), {
        note: `${(ctx.weightBytes / 1e6).toFixed(1)} MB at ${gb.toFixed(0)} GB/s`,
      }));
    }
    return out;
  },
};

const tokenizer: BenchPart = {
  id: "tokenizer",
  section: "tokenizer",
  requires: ["lib/tokenizers/remi.ts", "lib/tokenizers/bpe.ts", "lib/midi/read.ts"],
  rows: () => [
    { id: "tokenizer.remi.encode", label: "REMI encode", unit: "notes/s" },
    { id: "tokenizer.bpe.train", label: "BPE train to vocab 1,024", unit: "s" },
    { id: "tokenizer.bpe.encode", label: "BPE encode (base ids → BPE)", unit: "tokens/s" },
  ],
  timeoutS: (ctx) => (ctx.quick ? 60 : 300),
  async run(ctx) {
    const [enc, train, bpe] = this.rows(ctx);
    if (!ctx.corpus) {
      const why = "no MIDI corpus (../shared/midi or $ETUDE_MIDI_CORPUS)";
      return [enc, train, bpe].map((s) => row("tokenizer", s, null, { skipped: why }));
    }
    const { pianoFiles, tokenizerThroughput } = await import("./tokenizer_bench.ts");
    const all = pianoFiles(ctx.corpus);
    const files = ctx.quick ? all.filter((_, i) => i % 10 === 0) : all;
    const r = tokenizerThroughput(files, 1024);
    const what = `${r.files} files, ${r.notes.toLocaleString("en-US")} notes`;
    return [
      row("tokenizer", enc, r.remiNotesPerSecond, {
        note: `${what}, ${(r.baseTokens / r.notes).toFixed(2)} tokens/note`,
      }),
      row("tokenizer", train, r.bpeTrainSeconds, {
        note: `${r.baseTokens.toLocaleString("en-US")} base tokens → vocab ${r.bpeVocab}`,
      }),
      row("tokenizer", bpe, r.bpeTokensPerSecond, {
        note: `${Math.round(r.bpeNotesPerSecond).toLocaleString("en-US")} notes/s, ${
          (100 * r.bpeReduction).toFixed(1)
        }% fewer tokens than REMI`,
      }),
    ];
  },
};

const tokenizeMaestro: BenchPart = {
  id: "tokenize-maestro",
  section: "tokenizer",
  requires: ["lib/data/dataset.ts", "bench/tokenizer_bench.ts"],
  rows: () => [
    {
      id: "tokenizer.prepare.maestro",
      label: "tokenize the MAESTRO subset end to end, 2 workers",
      unit: "s",
    },
    {
      id: "tokenizer.prepare.maestro.shards",
      label: "… read, split, augment, BPE, shards (no copy index)",
      unit: "s",
    },
    {
      id: "tokenizer.prepare.full",
      label: "… projected to the full MAESTRO (1,276 files, by hours)",
      unit: "s",
    },
    {
      id: "tokenizer.prepare.full.shards",
      label: "… projected, no copy index (goal < 30 s on 2 cores)",
      unit: "s",
    },
    {
      id: "tokenizer.prepare.full.idle",
      label: "… projected from CPU time on 2 idle cores, no copy index",
      unit: "s",
    },
  ],
  timeoutS: (ctx) => (ctx.quick ? 120 : 300),
  async run(ctx) {
    const specs = this.rows(ctx);
    const { maestroPrepareNumbers } = await import("./tokenizer_bench.ts");
    const n = await maestroPrepareNumbers(ctx.quick ? 40 : undefined);
    if (!n) {
      const why =
        "no ../shared/midi-corpus/maestro-asap/maestro-v3.0.0 (or no full MAESTRO CSV in ../shared/midi)";
      return specs.map((s) => row("tokenizer", s, null, { skipped: why }));
    }
    const st = n.r.stages;
    const f1 = (x: number) => x.toFixed(1);
    const stages =
      `parse ${f1(st.parse)}, screen ${f1(st.screen)}, BPE ${f1(st.bpe)}, encode ${f1(st.encode)}, ` +
      `shards ${f1(st.shards)}, copy index ${f1(st.copyIndex)} s`;
    const cpu = n.r.cpuSeconds === undefined ? "" : `; ${f1(n.r.cpuSeconds)} CPU-s`;
    return [
      row("tokenizer", specs[0], n.r.seconds, {
        note: `${n.r.files} files, ${n.hours.toFixed(1)} h, ${
          n.r.notes.toLocaleString("en-US")
        } notes: ${stages}${cpu}`,
      }),
      row("tokenizer", specs[1], n.shardsSeconds),
      row("tokenizer", specs[2], n.projectedSeconds, {
        note: `× ${n.scale.toFixed(2)} (hours); BPE × ${n.bpeScale.toFixed(2)} (its sample cap)`,
      }),
      row("tokenizer", specs[3], n.projectedShardsSeconds, {
        note: n.projectedShardsSeconds < 30 ? "goal met" : "above the goal of 30 s",
      }),
      n.projectedIdleShardsSeconds === undefined
        ? row("tokenizer", specs[4], null, { skipped: "no /proc/self/stat" })
        : row("tokenizer", specs[4], n.projectedIdleShardsSeconds, {
          note: `parallel stages' CPU ÷ 2 + serial stages'; with the copy index ${
            f1(n.projectedIdleSeconds!)
          } s (for a loaded machine, where wall time overstates)`,
        }),
    ];
  },
};

const logitsCheck: BenchPart = {
  id: "logits",
  section: "check",
  requires: ["bench/torch_peer.py", "lib/infer/reference.ts", "lib/infer/engine.ts", "lib/model/model.ts"],
  rows: () => [
    { id: "check.torch_vs_reference", label: "max |logit diff| PyTorch vs plain-TS reference", unit: "abs" },
    { id: "check.torch_vs_engine", label: "max |logit diff| PyTorch vs WebGPU engine", unit: "abs" },
    { id: "check.torch_vs_tfjs", label: "max |logit diff| PyTorch vs tfjs model (wasm)", unit: "abs" },
    {
      id: "check.torch_cache_vs_full",
      label: "max |logit diff| PyTorch KV cache vs full forward",
      unit: "abs",
    },
  ],
  timeoutS: () => 300,
  async run(ctx) {
    const specs = this.rows(ctx);
    if (!ctx.torch.ok) return specs.map((s) => row("check", s, null, { skipped: TORCH_MISSING(ctx) }));
    const { torchLogits } = await import("./torch_peer.ts");
    const ids = [1, 4, 200, 31, 77, 500, 1000, 9];
    const t = await torchLogits(ctx.ckptDir, ids, { threads: 1 });
    let scale = 0;
    for (const v of t.logits) scale = Math.max(scale, Math.abs(v));
    const diff = (other: Float32Array) => {
      let m = 0;
      for (let i = 0; i < t.logits.length; i++) m = Math.max(m, Math.abs(other[i] - t.logits[i]));
      return m;
    };
    const note = `${ids.length}-token prompt, logit scale ${scale.toFixed(3)}`;
    const out: BenchResult[] = [];
    const attempt = async (spec: RowSpec, f: () => Promise<{ logits: Float32Array; note?: string }>) => {
      try {
        const r = await f();
        if (r.logits.length !== t.logits.length) {
          throw new Error(`${r.logits.length} logits, PyTorch gave ${t.logits.length}`);
        }
        out.push(row("check", spec, diff(r.logits), { note: r.note ? `${note}, ${r.note}` : note }));
      } catch (e) {
        out.push(row("check", spec, null, { skipped: (e as Error).message.split("\n")[0] }));
      }
    };
    await attempt(specs[0], async () => {
      const { referenceLogits } = await import("../lib/infer/reference.ts");
      const { readEngineModel } = await import("../lib/infer/model_loader.ts");
      const { config, weights } = await readEngineModel(ctx.ckptDir);
      return { logits: referenceLogits(config, weights, ids) };
    });
    await attempt(specs[1], async () => {
      const { engineLogits } = await import("./engine_bench.ts");
      const r = await engineLogits(ctx.ckptDir, ids);
      return { logits: r.logits, note: r.adapter };
    });
    await attempt(specs[2], async () => {
      const { selectBackend } = await import("../lib/model/backend.ts");
      const { TfModel, forwardLogits } = await import("../lib/model/model.ts");
      await selectBackend("wasm");
      const { model } = await TfModel.load(ctx.ckptDir);
      const logits = forwardLogits(model, ids);
      model.dispose();
      return { logits };
    });
    out.push(row("check", specs[3], t.cacheVsFull, { note }));
    return out;
  },
};

const decodeEngine: BenchPart = {
  id: "decode.engine",
  section: "decode",
  requires: ["lib/infer/engine.ts", "lib/infer/model_loader.ts"],
  rows: () => [
    { id: "decode.engine.b1", label: "WebGPU engine, batch 1", unit: "tokens/s" },
    { id: "decode.engine.b16", label: "WebGPU engine, batch 16", unit: "tokens/s" },
  ],
  timeoutS: (ctx) => (ctx.quick ? 120 : 400),
  async run(ctx) {
    const { engineDecodeThroughput } = await import("./engine_bench.ts");
    const out: BenchResult[] = [];
    for (const [spec, batch] of this.rows(ctx).map((s, i) => [s, i === 0 ? 1 : 16] as const)) {
      const r = await engineDecodeThroughput(ctx.ckptDir, {
        batch,
        tokens: decodeTokens(ctx, "engine", batch),
      });
      out.push(
        row("decode", spec, r.tokensPerSecond, {
          note: `${r.adapter}, ${r.tokens} tokens/seq, GPU sampling`,
        }),
      );
    }
    return out;
  },
};

const decodeTfjs: BenchPart = {
  id: "decode.tfjs",
  section: "decode",
  requires: ["lib/model/model.ts", "lib/model/backend.ts"],
  rows: () => [
    { id: "decode.tfjs.b1", label: "tfjs model token by token (wasm), batch 1", unit: "tokens/s" },
    { id: "decode.tfjs.b16", label: "tfjs model token by token (wasm), batch 16", unit: "tokens/s" },
  ],
  timeoutS: (ctx) => (ctx.quick ? 60 : 300),
  async run(ctx) {
    const { tfjsDecodeThroughput } = await import("./decode_bench.ts");
    const out: BenchResult[] = [];
    for (const [spec, batch] of this.rows(ctx).map((s, i) => [s, i === 0 ? 1 : 16] as const)) {
      const tokens = decodeTokens(ctx, "tfjs", batch);
      const r = await tfjsDecodeThroughput(ctx.ckptDir, { backend: "wasm", batch, tokens });
      out.push(
        row("decode", spec, r.tokensPerSecond, {
          note: `${tokens} tokens/seq, no KV cache (full prefix per step)`,
        }),
      );
    }
    return out;
  },
};

const decodeTorch: BenchPart = {
  id: "decode.torch",
  section: "decode",
  requires: ["bench/torch_peer.py"],
  rows: (ctx) =>
    ctx.torchVariants.flatMap((v) =>
      [1, 16].map((b) => ({
        id: `decode.torch.${v.tag}.b${b}`,
        label: `PyTorch KV cache, batch ${b}, ${v.device === "cuda" ? "CUDA" : `CPU ${v.threads} thread(s)`}`,
        unit: "tokens/s",
      }))
    ),
  timeoutS: (ctx) => (ctx.quick ? 90 : 400),
  async run(ctx) {
    const specs = this.rows(ctx);
    if (!ctx.torch.ok) return specs.map((s) => row("decode", s, null, { skipped: TORCH_MISSING(ctx) }));
    const { runTorchPeer } = await import("./torch_peer.ts");
    const out: BenchResult[] = [];
    let i = 0;
    for (const v of ctx.torchVariants) {
      for (const b of [1, 16]) {
        const spec = specs[i++];
        const tokens = decodeTokens(ctx, "torch", b);
        const r = await runTorchPeer(
          [
            "decode",
            "--model",
            ctx.ckptDir,
            "--batch",
            String(b),
            "--tokens",
            String(tokens),
            "--device",
            v.device,
          ],
          { threads: v.threads },
        );
        out.push(
          row("decode", spec, Number(r.tokens_per_s), {
            note: `torch ${r.torch}, ${tokens} tokens/seq, greedy`,
          }),
        );
      }
    }
    return out;
  },
};

function trainTfjs(backend: "wasm" | "cpu" | "webgpu"): BenchPart {
  const name = `tfjs ${backend}`;
  return {
    id: `train.tfjs.${backend}`,
    section: "train",
    requires: ["lib/model/model.ts", "lib/model/backend.ts", "lib/train/step.ts", "lib/train/parallel.ts"],
    rows: () => [
      { id: `train.tfjs.${backend}`, label: `${name}, seq 256 × batch 8, lib/train step`, unit: "tokens/s" },
      ...(backend === "wasm"
        ? [{
          id: "train.tfjs.wasm.w2",
          label: "tfjs wasm + 1 gradient worker, seq 256 × batch 8",
          unit: "tokens/s",
        }]
        : []),
      {
        id: `train.tfjs.${backend}.small`,
        label: `${name}, seq 64 × batch 1, lib/train step`,
        unit: "tokens/s",
      },
    ],
    timeoutS: (ctx) => (ctx.quick ? 120 : 600),
    async run(ctx) {
      const specs = this.rows(ctx);
      if (backend === "webgpu" && !ctx.realGpu) {
        const why = `no real GPU (adapter: ${ctx.adapter}); tfjs-webgpu is measured only there`;
        return specs.map((s) => row("train", s, null, { skipped: why }));
      }
      const { tfjsTrainThroughput } = await import("./train_bench.ts");
      const out: BenchResult[] = [];
      const measure = async (spec: RowSpec, shape: { batch: number; seq: number }, workers = 0) => {
        const micro = backend === "webgpu" ? 0 : 1;
        const r = await tfjsTrainThroughput(ctx.ckptDir, {
          backend,
          ...shape,
          microBatch: micro,
          workers,
          steps: 1,
        });
        out.push(row("train", spec, r.tokensPerSecond, {
          note: `${r.secondsPerStep.toFixed(1)} s/step after a ${r.warmupSeconds.toFixed(1)} s warm-up step${
            micro ? ", micro-batch 1" : ""
          }${workers ? `, ${workers + 1} threads` : ""}`,
        }));
      };
      for (const spec of specs) {
        const small = spec.id.endsWith(".small");
        if (!small && ctx.quick) {
          out.push(
            row("train", spec, null, {
              skipped: "--quick: seq 256 × batch 8 takes minutes on tfjs; see the small shape",
            }),
          );
        } else if (ctx.quick && backend === "cpu") {
          out.push(
            row("train", spec, null, { skipped: "--quick: tfjs-cpu needs about a minute even for 1 × 64" }),
          );
        } else if (!small && backend === "cpu") {
          out.push(
            row("train", spec, null, {
              skipped: "tfjs-cpu (≈ 0.8 GFLOP/s) needs > 10 min per v8 step at 8 × 256",
            }),
          );
        } else await measure(spec, small ? SMALL_SHAPE : SPEC_SHAPE, spec.id.endsWith(".w2") ? 1 : 0);
      }
      return out;
    },
  };
}

const trainTorch: BenchPart = {
  id: "train.torch",
  section: "train",
  requires: ["bench/torch_peer.py"],
  rows: (ctx) =>
    ctx.torchVariants.flatMap((v) => {
      const who = `PyTorch AdamW, ${v.device === "cuda" ? "CUDA" : `CPU ${v.threads} thread(s)`}`;
      return [
        { id: `train.torch.${v.tag}`, label: `${who}, seq 256 × batch 8`, unit: "tokens/s" },
        { id: `train.torch.${v.tag}.small`, label: `${who}, seq 64 × batch 1`, unit: "tokens/s" },
      ];
    }).concat([{
      id: "train.torch.cpu.best",
      label: "PyTorch AdamW, CPU, seq 256 × batch 8, best of 1 and 2 threads",
      unit: "tokens/s",
    }]),
  timeoutS: (ctx) => (ctx.quick ? 90 : 500),
  async run(ctx) {
    const specs = this.rows(ctx);
    if (!ctx.torch.ok) return specs.map((s) => row("train", s, null, { skipped: TORCH_MISSING(ctx) }));
    const { runTorchPeer } = await import("./torch_peer.ts");
    const out: BenchResult[] = [];
    let i = 0;
    for (const v of ctx.torchVariants) {
      for (const s of [SPEC_SHAPE, SMALL_SHAPE]) {
        const spec = specs[i++];
        if (ctx.quick && v.device === "cpu" && v.threads !== 1) {
          out.push(
            row("train", spec, null, { skipped: "--quick: training measured with 1 thread only" }),
          );
          continue;
        }
        const steps = s === SMALL_SHAPE ? 3 : ctx.quick ? 1 : 2;
        const r = await runTorchPeer(
          [
            "train",
            "--model",
            ctx.ckptDir,
            "--batch",
            String(s.batch),
            "--seq",
            String(s.seq),
            "--steps",
            String(steps),
          ]
            .concat(["--device", v.device]),
          { threads: v.threads },
        );
        out.push(row("train", spec, Number(r.tokens_per_s), { note: `${steps} step(s), torch ${r.torch}` }));
      }
    }
    const cpu = out.filter((r) => /^train\.torch\.t\d+$/.test(r.id) && r.value !== null);
    const best = cpu.reduce<BenchResult | undefined>(
      (a, r) => (a && a.value! >= r.value! ? a : r),
      undefined,
    );
    out.push(
      row(
        "train",
        specs[specs.length - 1],
        best?.value ?? null,
        best ? { note: best.label } : {
          skipped: "no PyTorch CPU measurement",
        },
      ),
    );
    return out;
  },
};

const coldStart: BenchPart = {
  id: "coldstart",
  section: "faces",
  requires: ["tasks/generate.ts", "lib/cli/generate.ts", "lib/infer/generate.ts"],
  rows:
    () => [{ id: "faces.coldstart", label: "cold start: `deno task generate` → .mid written", unit: "s" }],
  timeoutS: () => 300,
  async run(ctx) {
    const [spec] = this.rows(ctx);
    if (!ctx.facesModelsDir || !ctx.facesModelName) {
      return [row("faces", spec, null, { skipped: "no model for the faces" })];
    }
    const { coldStartGenerate } = await import("./server_bench.ts");
    const tokens = 64;
    const r = await coldStartGenerate(ctx.root, `${ctx.facesModelsDir}/${ctx.facesModelName}`, tokens);
    return [
      row("faces", spec, r.seconds, {
        note: `${ctx.facesModelNote}, ${tokens} tokens, ${r.midiBytes} B of MIDI`,
      }),
    ];
  },
};

const server: BenchPart = {
  id: "server",
  section: "faces",
  requires: ["lib/server/app.ts", "lib/infer/generate.ts", "lib/infer/batch.ts"],
  rows: () => [
    { id: "faces.health.rps", label: "server GET /healthz, 16 clients", unit: "req/s" },
    { id: "faces.health.p50", label: "server GET /healthz p50 latency", unit: "ms" },
    { id: "faces.health.p99", label: "server GET /healthz p99 latency", unit: "ms" },
    { id: "faces.generate1.rps", label: "server POST /api/generate, 1 client", unit: "req/s" },
    { id: "faces.generate1.p50", label: "server POST /api/generate, 1 client, p50 latency", unit: "ms" },
    { id: "faces.generate1.p99", label: "server POST /api/generate, 1 client, p99 latency", unit: "ms" },
    { id: "faces.generate.rps", label: "server POST /api/generate, 16 clients (batched)", unit: "req/s" },
    { id: "faces.generate.p50", label: "server POST /api/generate, 16 clients, p50 latency", unit: "ms" },
    { id: "faces.generate.p99", label: "server POST /api/generate, 16 clients, p99 latency", unit: "ms" },
    { id: "faces.generate.speedup", label: "server throughput, 16 clients ÷ 1 client (goal ≥ 4)", unit: "×" },
  ],
  timeoutS: (ctx) => (ctx.quick ? 150 : 500),
  async run(ctx) {
    const specs = this.rows(ctx);
    if (!ctx.facesModelsDir || !ctx.facesModelName) {
      return specs.map((s) => row("faces", s, null, { skipped: "no model for the faces" }));
    }
    const { serverThroughput } = await import("./server_bench.ts");
    const tokens = 64;
    const o = {
      concurrency: 16,
      healthRequests: ctx.quick ? 400 : 2000,
      singleRequests: ctx.quick ? 4 : 12,
      generateRequests: ctx.quick ? 32 : 96,
      tokens,
    };
    const r = await serverThroughput(ctx.facesModelsDir, ctx.facesModelName, o);
    const note = (x: typeof r.health, what: string) =>
      `${x.requests} requests${what}, ${x.ok} ok${
        Object.keys(x.errors).length ? `, errors ${JSON.stringify(x.errors)}` : ""
      }`;
    const g = `, ${tokens} tokens each, ${ctx.facesModelNote}`;
    const speedup = r.concurrent.requestsPerSecond / r.single.requestsPerSecond;
    return [
      row("faces", specs[0], r.health.requestsPerSecond, { note: note(r.health, "") }),
      row("faces", specs[1], r.health.p50Ms),
      row("faces", specs[2], r.health.p99Ms),
      row("faces", specs[3], r.single.requestsPerSecond, { note: note(r.single, g) }),
      row("faces", specs[4], r.single.p50Ms),
      row("faces", specs[5], r.single.p99Ms),
      row("faces", specs[6], r.concurrent.requestsPerSecond, {
        note: `${note(r.concurrent, g)}; continuous batching, up to ${r.batching.peakRows} rows per step`,
      }),
      row("faces", specs[7], r.concurrent.p50Ms),
      row("faces", specs[8], r.concurrent.p99Ms),
      row("faces", specs[9], speedup, { note: speedup >= 4 ? "goal met" : "below the goal of 4×" }),
    ];
  },
};

/** All parts in run order. */
export const BENCH_PARTS: readonly BenchPart[] = [
  bandwidth,
  readBandwidth,
  tokenizer,
  tokenizeMaestro,
  logitsCheck,
  decodeTorch,
  decodeEngine,
  decodeTfjs,
  decodeCpu,
  decodeGuidance,
  trainTorch,
  trainTfjs("wasm"),
  trainTfjs("webgpu"),
  trainTfjs("cpu"),
  trainGpu,
  trainCpu,
  coldStart,
  server,
];
