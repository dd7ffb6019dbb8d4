/**
 * The one generation entry every face uses (CLI, server, compiled binary): prompt → ids → `Score`s, on the WebGPU
 * engine with GPU sampling and the REMI grammar mask.
 *
 * @module
 */
import type { Note, Score } from "../score.ts";
import { ticksToSeconds } from "../score.ts";
import type { Tokenizer, TokenizerJson } from "../tokenizers/tokenizer.ts";
import { loadTokenizer } from "../tokenizers/load.ts";
import { Engine } from "./engine.ts";
import {
  allowedMask,
  type GrammarState,
  type GrammarTables,
  grammarTables,
  initialState,
  nextState,
  TokenType,
} from "./grammar.ts";
import { type LlamaConfig, type ModelWeights, readCheckpoint } from "./model_loader.ts";
import { sampleReference, type SamplerParams } from "./sampling.ts";

/** A model ready to generate. */
export interface LoadedModel {
  /** The checkpoint directory. */
  readonly dir: string;
  readonly config: LlamaConfig;
  readonly tokenizer: Tokenizer;
  readonly tokenizerJson: TokenizerJson;
  /** The grammar tables derived from `tokenizer.json`. */
  readonly grammar: GrammarTables;
  /** Where it runs: the WebGPU adapter (transformer) or `tfjs-<backend>` (LSTM). */
  readonly adapter: string;
  /** `etude.arch` of the checkpoint. */
  readonly arch: "transformer" | "lstm";
  /** LSTM only: logits of the last position for each of B equally long id windows (via tfjs). */
  readonly lstmLogits?: (windows: number[][]) => Float32Array[];
  /** LSTM only: the training window length (the context the LSTM is run over). */
  readonly seqLen?: number;
  /** The engine (recreated with a larger batch capacity when needed). */
  engine(batch: number): Promise<Engine>;
  dispose(): void;
}

/** Options of `generate`. */
export interface GenerateOptions {
  model: LoadedModel;
  /** Continue this piece (tokenised with the model's tokenizer). */
  prompt?: Score;
  /** Stop criteria (default: maxTokens 512). */
  maxTokens?: number;
  bars?: number;
  seconds?: number;
  /** 0.1–2.0 (default 0.8). */
  temperature?: number;
  /** 0–500 (default 50; 0 = off). */
  topK?: number;
  /** 0.01–1.0 (default 0.95). */
  topP?: number;
  /** 0 ≤ seed < 2^53 integer (default 0). */
  seed?: number;
  /** Grammar mask (default true). */
  grammar?: boolean;
  /** Sequences generated at once (1–64, default 1). */
  batch?: number;
  /** Streaming: new notes of sequence `sequence` as they are decoded. */
  onNotes?: (notes: Note[], sequence: number) => void;
  /** Cancels (the result holds what was generated so far). */
  signal?: AbortSignal;
  /** Tokens per GPU readback (default 32). */
  chunk?: number;
}

/** What `generate` returns. */
export interface GenerateResult {
  /** One piece per sequence (the prompt's notes included when a prompt was given). */
  scores: Score[];
  /** The generated ids per sequence (prompt excluded, cut at the stop criterion). */
  ids: number[][];
  /** Tokens sampled in all sequences. */
  tokens: number;
  /** Sampled tokens per second (all sequences, prefill included). */
  tokensPerSecond: number;
  adapter: string;
}

/** An out-of-range generation parameter; `field` names it. */
export class GenerateParamError extends Error {
  override name = "GenerateParamError";
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

/**
 * Loads a checkpoint directory onto the GPU.
 *
 * @example
 * ```ts ignore
 * import { generate, loadModel } from "./generate.ts";
 * const model = await loadModel("models/default");
 * const { scores } = await generate({ model, bars: 4, seed: 1 });
 * model.dispose();
 * ```
 */
export async function loadModel(dir: string): Promise<LoadedModel> {
  const { config, weights, tokenizer: json } = await readCheckpoint(dir);
  const tokenizer = loadTokenizer(json);
  const grammar = grammarTables(json);
  if (config.arch === "lstm") return await loadLstm(dir, config, tokenizer, json, grammar);
  if (config.arch !== "transformer") {
    throw new Error(
      `${dir}/config.json: etude.arch ${JSON.stringify(config.arch)} is not "transformer" or "lstm"`,
    );
  }
  let engine = await Engine.create(config, weights, { maxBatch: 1 });
  let w: ModelWeights | undefined = weights;
  return {
    dir,
    config,
    tokenizer,
    tokenizerJson: json,
    grammar,
    adapter: engine.adapter,
    arch: "transformer",
    async engine(batch: number) {
      if (batch > engine.maxBatch) {
        if (!w) throw new Error("model was disposed");
        engine.dispose();
        engine = await Engine.create(config, w, { maxBatch: Math.max(batch, 2 * engine.maxBatch) });
      }
      return engine;
    },
    dispose() {
      engine.dispose();
      w = undefined;
    },
  };
}

/** The LSTM presets run through tfjs (lib/model), imported only when such a checkpoint is loaded. */
async function loadLstm(
  dir: string,
  config: LlamaConfig,
  tokenizer: Tokenizer,
  json: TokenizerJson,
  grammar: GrammarTables,
): Promise<LoadedModel> {
  const tf = await import("@tensorflow/tfjs-core");
  const { selectBackend } = await import("../model/backend.ts");
  const { TfModel } = await import("../model/model.ts");
  const backend = await selectBackend("auto");
  const { model } = await TfModel.load(dir);
  const seqLen = Number((config.raw.etude as Record<string, unknown> | undefined)?.seqLen) || 100;
  return {
    dir,
    config: { ...config, maxPos: Number.MAX_SAFE_INTEGER },
    tokenizer,
    tokenizerJson: json,
    grammar,
    adapter: `tfjs-${backend}`,
    arch: "lstm",
    seqLen,
    lstmLogits(windows: number[][]) {
      const B = windows.length, T = windows[0].length, V = config.vocabSize;
      const flat = Int32Array.from(windows.flat());
      const out = tf.tidy(() => model.apply(tf.tensor2d(flat, [B, T], "int32")).dataSync() as Float32Array);
      return windows.map((_, b) => out.slice((b * T + T - 1) * V, (b * T + T) * V));
    },
    engine() {
      return Promise.reject(new Error("LSTM checkpoints run through tfjs, not the WebGPU engine"));
    },
    dispose() {
      model.dispose();
    },
  };
}

function checkRange(
  field: string,
  v: number | undefined,
  lo: number,
  hi: number,
  int = false,
  def?: number,
): number {
  const x = v ?? def;
  if (
    x === undefined || typeof x !== "number" || !Number.isFinite(x) || x < lo || x > hi ||
    (int && !Number.isInteger(x))
  ) {
    throw new GenerateParamError(
      field,
      `${field} must be ${int ? "an integer " : ""}in ${lo}–${hi}${
        def !== undefined ? ` (default ${def})` : ""
      }, got ${x}`,
    );
  }
  return x;
}

/**
 * Generates `batch` pieces (continuing `prompt` if given). Same options and seed → the same ids and scores.
 *
 * @example
 * ```ts ignore
 * import { generate, loadModel } from "./generate.ts";
 * const model = await loadModel("models/default");
 * const r = await generate({ model, maxTokens: 256, temperature: 0.9, seed: 7, batch: 2 });
 * console.log(r.tokensPerSecond, r.adapter, r.scores[0].notes.length);
 * ```
 */
export async function generate(opts: GenerateOptions): Promise<GenerateResult> {
  const model = opts.model;
  const temperature = checkRange("temperature", opts.temperature, 0.1, 2, false, 0.8);
  const topK = checkRange("topK", opts.topK, 0, 500, true, 50);
  const topP = checkRange("topP", opts.topP, 0.01, 1, false, 0.95);
  const seed = checkRange("seed", opts.seed, 0, Number.MAX_SAFE_INTEGER, true, 0);
  const batch = checkRange("batch", opts.batch, 1, 64, true, 1);
  const given = ["maxTokens", "bars", "seconds"].filter((k) =>
    opts[k as keyof GenerateOptions] !== undefined
  );
  if (given.length > 1) throw new GenerateParamError(given[1], `give only one of maxTokens, bars, seconds`);
  const bars = opts.bars !== undefined ? checkRange("bars", opts.bars, 1, 1024, true) : undefined;
  const seconds = opts.seconds !== undefined ? checkRange("seconds", opts.seconds, 0.1, 3600) : undefined;
  const maxTokens = opts.maxTokens !== undefined
    ? checkRange("maxTokens", opts.maxTokens, 1, 65536, true)
    : bars !== undefined || seconds !== undefined
    ? 65536
    : 512;
  const chunk = checkRange("chunk", opts.chunk, 1, 1024, true, 32);
  const useGrammar = opts.grammar ?? true;
  const g = model.grammar, c = model.config, tok = model.tokenizer;

  // Prompt: BOS + tokens, cut at a bar boundary to fit half the context. The model sees only that tail, but the
  // result is the whole prompt (as the tokenizer renders it) followed by the continuation.
  const bos = c.bosId;
  const fullPromptIds = opts.prompt ? tok.encode(opts.prompt) : [];
  let promptIds = fullPromptIds;
  const isBar = (id: number) => g.baseType[g.base[id]?.[0] ?? -1] === TokenType.Bar;
  const limit = Math.floor(c.maxPos / 2);
  if (promptIds.length + 1 > limit) {
    let start = promptIds.length - (limit - 1);
    const bar = promptIds.findIndex((id, i) => i >= start && isBar(id));
    if (bar >= 0) start = bar;
    promptIds = promptIds.slice(start);
  }
  const prompt = [bos, ...promptIds];
  let gs: GrammarState = initialState(g);
  for (const id of promptIds) gs = nextState(g, gs, id);

  // Stop criteria per sequence.
  const ids: number[][] = Array.from({ length: batch }, () => []);
  const done = new Array(batch).fill(false);
  const barsSeen = new Array(batch).fill(0);
  const decodeAll = (s: number) => tok.decode([...fullPromptIds, ...ids[s]]);
  // `seconds` and streaming count from where the prompt stops: its last onset (0 without a prompt)
  const promptScore = tok.decode(fullPromptIds);
  const noteKey = (n: Note) => `${n.start}:${n.pitch}`;
  const promptSeconds = promptScore.notes.reduce(
    (m, n) => Math.max(m, ticksToSeconds(promptScore, n.start)),
    0,
  );
  const until = seconds === undefined ? undefined : promptSeconds + seconds;
  const emitted = Array.from({ length: batch }, () => new Set<string>(promptScore.notes.map(noteKey)));
  const t0 = performance.now();
  const onTokens = (fresh: number[][]): boolean => {
    for (let s = 0; s < batch; s++) {
      if (done[s]) continue;
      for (const id of fresh[s]) {
        if (id === c.eosId) {
          done[s] = true;
          break;
        }
        if (bars !== undefined && isBar(id) && ++barsSeen[s] > bars) {
          done[s] = true;
          break;
        }
        ids[s].push(id);
        if (ids[s].length >= maxTokens) {
          done[s] = true;
          break;
        }
      }
      if (seconds !== undefined || opts.onNotes) {
        const score = decodeAll(s);
        if (until !== undefined && score.notes.some((n) => ticksToSeconds(score, n.start) >= until)) {
          done[s] = true;
        }
        if (opts.onNotes) {
          const fresh2 = score.notes.filter((n) => {
            const k = noteKey(n);
            if (emitted[s].has(k) || (until !== undefined && ticksToSeconds(score, n.start) >= until)) {
              return false;
            }
            emitted[s].add(k);
            return true;
          });
          if (fresh2.length) opts.onNotes(fresh2, s);
        }
      }
    }
    return done.every(Boolean);
  };
  const sampling = { temperature, topK, topP, seed };
  const windowStart = (h: number[]) => {
    const target = h.length - Math.floor(c.maxPos / 2);
    for (let i = Math.max(target - Math.floor(c.maxPos / 4), 0); i < h.length; i++) if (isBar(h[i])) return i;
    return target;
  };
  let steps: number;
  if (model.arch === "lstm") {
    steps = await lstmDecode(
      model,
      prompt,
      gs,
      useGrammar,
      batch,
      maxTokens,
      chunk,
      sampling,
      onTokens,
      opts.signal,
    );
  } else {
    const engine = await model.engine(batch);
    const res = await engine.decode({
      prompt,
      grammarState: gs,
      grammar: useGrammar ? g : undefined,
      batch,
      maxTokens,
      ...sampling,
      chunk,
      signal: opts.signal,
      nextState: (s, id) => nextState(g, s, id),
      windowStart,
      onTokens,
    });
    steps = res.steps;
  }
  const elapsed = (performance.now() - t0) / 1000;
  const scores = ids.map((_, s) => {
    const score = decodeAll(s);
    if (until !== undefined) score.notes = score.notes.filter((n) => ticksToSeconds(score, n.start) < until);
    return score;
  });
  const tokens = steps * batch;
  return { scores, ids, tokens, tokensPerSecond: tokens / elapsed, adapter: model.adapter };
}

/** Token-by-token sampling for LSTM checkpoints (tfjs forward over the last seqLen tokens; CPU sampler). */
async function lstmDecode(
  model: LoadedModel,
  prompt: number[],
  gs: GrammarState,
  useGrammar: boolean,
  batch: number,
  maxTokens: number,
  chunk: number,
  sampling: SamplerParams,
  onTokens: (fresh: number[][]) => boolean,
  signal?: AbortSignal,
): Promise<number> {
  const g = model.grammar, L = model.seqLen ?? 100;
  const hist = Array.from({ length: batch }, () => [...prompt]);
  const states = Array.from({ length: batch }, () => ({ ...gs }));
  let draws = 0;
  while (draws < maxTokens) {
    const fresh: number[][] = Array.from({ length: batch }, () => []);
    const n = Math.min(chunk, maxTokens - draws);
    for (let i = 0; i < n; i++, draws++) {
      const rows = model.lstmLogits!(hist.map((h) => h.slice(-L)));
      for (let b = 0; b < batch; b++) {
        const mask = useGrammar ? allowedMask(g, states[b]) : undefined;
        const t = sampleReference(rows[b], sampling, b, draws, mask).token;
        hist[b].push(t);
        fresh[b].push(t);
        states[b] = nextState(g, states[b], t);
      }
    }
    if (onTokens(fresh) || signal?.aborted) break;
    await new Promise((r) => setTimeout(r, 0));
  }
  return draws;
}
