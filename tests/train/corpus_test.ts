import { assert } from "../_assert.ts";
import { CORPUS, pianoCorpusFiles } from "../_corpus.ts";
import { readMidi } from "../../lib/midi/mod.ts";
import { openShards } from "../../lib/data/shards.ts";
import { selectBackend } from "../../lib/model/backend.ts";
import { applyOverrides, getPreset, type Preset } from "../../lib/model/config.ts";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import { trainModel } from "../../lib/train/loop.ts";
import { writePrepared } from "./_shards.ts";

/** Cross-entropy (nats/token) of the validation targets under the training unigram distribution (add-one). */
function unigramBaseline(train: ArrayLike<number>[], val: ArrayLike<number>[], vocab: number): number {
  const counts = new Float64Array(vocab).fill(1);
  let n = vocab;
  for (const p of train) {
    for (let i = 1; i < p.length; i++) {
      counts[p[i]]++;
      n++;
    }
  }
  let h = 0, m = 0;
  for (const p of val) {
    for (let i = 1; i < p.length; i++) {
      h -= Math.log(counts[p[i]] / n);
      m++;
    }
  }
  return h / m;
}

Deno.test({
  name: "tiny Transformer and LSTM on REMI shards from ../shared/midi beat the unigram baseline",
  ignore: !CORPUS,
  fn: async () => {
    const backend = await selectBackend("wasm");
    const tok = new RemiTokenizer();
    const files = pianoCorpusFiles().filter((f) => f.includes("piano-midi-de")).filter((_, i) => i % 20 === 0)
      .slice(0, 16);
    // the first 800 tokens of each piece keep the test short; pieces, not windows, are split
    const pieces = files.map((f) => tok.encode(readMidi(Deno.readFileSync(f))).slice(0, 800));
    const root = await Deno.makeTempDir({ prefix: "etude_corpus_" });
    try {
      const asShard = (ps: number[][]) => ps.map((p) => Uint16Array.from([1, ...p, 2]));
      await writePrepared(
        `${root}/data`,
        {
          train: asShard(pieces.slice(3)),
          validation: asShard(pieces.slice(0, 3)),
          test: [],
        },
        tok.vocab.length,
        tok.toJSON(),
      );
      const ds = await openShards(`${root}/data`);
      const data = { train: ds.splits.train, validation: ds.splits.validation, tokenizerJson: ds.tokenizer };
      const base = unigramBaseline(data.train, data.validation, tok.vocab.length);
      const common = { vocab: tok.vocab.length, seqLen: 64, stride: 64, batch: 8, epochs: 12 };
      const runs: [string, Preset][] = [
        [
          "transformer",
          applyOverrides(getPreset("v8"), { ...common, layers: 2, dim: 32, heads: 4, ffn: 64, warmup: 10 }),
        ],
        ["lstm", applyOverrides(getPreset("v6"), { ...common, hidden: [48], embedDim: 24 })],
      ];
      runs[0][1].train.lr = 1e-2;
      runs[1][1].train.lr = 2e-2;
      const best: Record<string, number> = {};
      for (const [name, p] of runs) {
        const r = await trainModel({ ...p, data, out: `${root}/${name}`, backend, log: () => {} });
        best[name] = r.state.bestValLoss!;
      }
      console.log(
        `REMI (${tok.vocab.length} ids), ${files.length} piano-midi.de pieces: unigram baseline ${
          base.toFixed(3)
        } ` +
          `nats/token; best val loss transformer ${best.transformer.toFixed(3)}, lstm ${
            best.lstm.toFixed(3)
          }`,
      );
      assert(best.transformer < base - 0.5, `transformer ${best.transformer} vs unigram ${base}`);
      assert(best.lstm < base - 0.5, `lstm ${best.lstm} vs unigram ${base}`);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
