/**
 * TEST DOUBLE for the generation entry, used ONLY by the server's validation/queue/transport unit tests (the
 * end-to-end tests use the real `lib/infer/generate.ts`). It streams a deterministic C-major run in chunks through
 * `onNotes`, honours its AbortSignal, and records every call.
 */
import { join } from "node:path";
import { emptyScore, type Note } from "../../lib/score.ts";
import type { AppGenerateOptions, AppGenerateResult } from "../../lib/server/app.ts";

export interface DoubleModel {
  dir: string;
  disposed: boolean;
  dispose(): void;
}

export interface DoubleCall {
  opts: AppGenerateOptions<DoubleModel>;
  aborted: boolean;
  finished: boolean;
  /** Whether the model had been disposed by the time this generation finished (it must not be). */
  modelDisposedAtEnd?: boolean;
}

/** A fake generate: `chunks` chunks of `perChunk` notes, `delayMs` apart; `fail` makes it throw. */
export function doubleGenerate(
  calls: DoubleCall[],
  { chunks = 4, perChunk = 3, delayMs = 5, fail }: {
    chunks?: number;
    perChunk?: number;
    delayMs?: number;
    fail?: Error;
  } = {},
): (opts: AppGenerateOptions<DoubleModel>) => Promise<AppGenerateResult> {
  return async (opts) => {
    const call: DoubleCall = { opts, aborted: false, finished: false };
    calls.push(call);
    opts.signal?.addEventListener("abort", () => call.aborted = true, { once: true });
    if (fail) throw fail;
    const score = emptyScore(480);
    const scale = [0, 2, 4, 5, 7, 9, 11];
    for (let c = 0; c < chunks; c++) {
      await new Promise((r) => setTimeout(r, delayMs));
      opts.signal?.throwIfAborted();
      const notes: Note[] = [];
      for (let j = 0; j < perChunk; j++) {
        const i = c * perChunk + j;
        notes.push({
          pitch: 60 + scale[i % 7] + 12 * Math.floor(i / 7),
          velocity: 64 + (i % 5) * 10,
          start: i * 240,
          duration: 240,
        });
      }
      score.notes.push(...notes);
      opts.onNotes?.(notes, c);
    }
    call.finished = true;
    call.modelDisposedAtEnd = opts.model.disposed;
    const ids = score.notes.map((_, i) => i + 4);
    return {
      scores: [score],
      ids: [ids],
      tokens: ids.length,
      tokensPerSecond: 123.4,
      adapter: "test double",
    };
  };
}

/** A models dir with complete `default` and `tiny` model dirs and one incomplete dir. */
export function makeModelsDir(): string {
  const root = Deno.makeTempDirSync({ prefix: "etude_models_" });
  for (const name of ["default", "tiny"]) {
    const dir = join(root, name);
    Deno.mkdirSync(dir);
    Deno.writeTextFileSync(
      join(dir, "config.json"),
      JSON.stringify({
        vocab_size: 300,
        hidden_size: 32,
        intermediate_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 2,
        tie_word_embeddings: true,
      }),
    );
    Deno.writeFileSync(join(dir, "model.safetensors"), new Uint8Array(16));
    Deno.writeTextFileSync(
      join(dir, "tokenizer.json"),
      JSON.stringify({ kind: "remi", config: {}, vocab: [] }),
    );
  }
  Deno.mkdirSync(join(root, "broken"));
  Deno.writeTextFileSync(join(root, "broken", "config.json"), "{}");
  return root;
}

export function doubleLoadModel(loads: string[]): (dir: string) => Promise<DoubleModel> {
  return (dir) => {
    loads.push(dir);
    const m: DoubleModel = {
      dir,
      disposed: false,
      dispose() {
        m.disposed = true;
      },
    };
    return Promise.resolve(m);
  };
}
