/**
 * One logits contract, run against every implementation of the Transformer forward pass (Hono's
 * `common.case.test.ts` pattern): the plain-TS reference, tfjs, the WebGPU engine (both kernel paths) and the CPU
 * backend (native BLAS and its TypeScript fallback). Each must reproduce the logits Hugging Face `transformers`'
 * `LlamaForCausalLM` computed for a `deno task train` checkpoint (tests/testdata/hf_llama, recorded on a GPU
 * machine), for the whole prompt at once (prefill) and token by token through its KV cache (decode).
 */
import { assert } from "../_assert.ts";
import { readEngineModel } from "../../lib/infer/model_loader.ts";
import { ReferenceDecoder, referenceForward } from "../../lib/infer/reference.ts";
import { Engine } from "../../lib/infer/engine.ts";
import { forwardLogits, TfModel } from "../../lib/model/model.ts";
import { selectBackend } from "../../lib/model/backend.ts";
import { readCheckpoint } from "../../lib/model/checkpoint.ts";
import { CpuDecoder, CpuTransformer, fallbackBlas, loadBlas } from "../../lib/cpu/mod.ts";

const dir = new URL("../testdata/hf_llama/", import.meta.url).pathname;
const hf = JSON.parse(await Deno.readTextFile(`${dir}hf_logits.json`)) as {
  ids: number[];
  logits: number[][];
};

/** What an implementation offers the contract: logits rows [T][V] for the ids, all at once and step by step. */
interface LogitsImpl {
  prefill(ids: number[]): Promise<ArrayLike<number>[]>;
  /** Token by token through the KV cache; undefined where the implementation has no cache (tfjs). */
  decode?(ids: number[]): Promise<ArrayLike<number>[]>;
  dispose(): void;
}

function rowsOf(flat: Float32Array, T: number, V: number): Float32Array[] {
  return Array.from({ length: T }, (_, t) => flat.slice(t * V, (t + 1) * V));
}

function maxDiff(rows: ArrayLike<number>[], ref: number[][]): { diff: number; scale: number } {
  let diff = 0, scale = 0;
  for (let t = 0; t < ref.length; t++) {
    for (let v = 0; v < ref[t].length; v++) {
      diff = Math.max(diff, Math.abs(rows[t][v] - ref[t][v]));
      scale = Math.max(scale, Math.abs(ref[t][v]));
    }
  }
  return { diff, scale };
}

/** The contract: prefill and decode logits equal transformers' to `tol` × the logit scale. */
function logitsContract(name: string, make: () => Promise<LogitsImpl>, tol: number, ignore = false) {
  Deno.test({
    name: `logits contract, ${name}: prefill and KV-cache decode equal transformers' LlamaForCausalLM`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const impl = await make();
      try {
        const pre = maxDiff(await impl.prefill(hf.ids), hf.logits);
        assert(pre.scale > 1, "the stored logits are not trivial");
        const lines = [`prefill max |diff| ${pre.diff.toExponential(2)} (scale ${pre.scale.toFixed(2)})`];
        assert(
          pre.diff <= tol * pre.scale,
          `${name} prefill: max diff ${pre.diff} exceeds ${tol} × ${pre.scale}`,
        );
        if (impl.decode) {
          const dec = maxDiff(await impl.decode(hf.ids), hf.logits);
          lines.push(`decode max |diff| ${dec.diff.toExponential(2)}`);
          assert(
            dec.diff <= tol * dec.scale,
            `${name} decode: max diff ${dec.diff} exceeds ${tol} × ${dec.scale}`,
          );
        }
        console.log(`${name} vs transformers: ${lines.join("; ")}`);
      } finally {
        impl.dispose();
      }
    },
  });
}

logitsContract("plain-TS reference", async () => {
  const ck = await readEngineModel(dir);
  return {
    prefill: (ids) => Promise.resolve(referenceForward(ck.config, ck.weights, ids)),
    decode: (ids) => {
      const d = new ReferenceDecoder(ck.config, ck.weights);
      return Promise.resolve(ids.map((id) => d.step(id)));
    },
    dispose() {},
  };
}, 1e-4);

logitsContract("tfjs (cpu backend)", async () => {
  await selectBackend("cpu");
  const model = TfModel.fromCheckpoint(await readCheckpoint(dir));
  const V = model.config.vocabSize;
  return {
    prefill: (ids) => Promise.resolve(rowsOf(forwardLogits(model, ids), ids.length, V)),
    dispose: () => model.dispose(),
  };
}, 1e-4);

for (const kernels of ["software", "gpu"] as const) {
  logitsContract(`WebGPU engine, ${kernels} kernels`, async () => {
    const ck = await readEngineModel(dir);
    const engine = await Engine.create(ck.config, ck.weights, { kernels });
    const V = ck.config.vocabSize;
    return {
      prefill: async (ids) => rowsOf(await engine.forward(ids, { allRows: true }), ids.length, V),
      decode: async (ids) => {
        const rows = [(await engine.forward(ids.slice(0, 1))).slice()];
        for (let t = 1; t < ids.length; t++) rows.push((await engine.step([ids[t]], [t])).slice());
        return rows;
      },
      dispose: () => engine.dispose(),
    };
  }, 1e-3);
}

const native = loadBlas();
for (const [label, blas] of [["native BLAS", native.blas], ["TypeScript fallback", fallbackBlas]] as const) {
  logitsContract(
    `CPU backend, ${label}`,
    async () => {
      const model = await CpuTransformer.load(dir, blas ?? undefined);
      const V = model.config.vocabSize;
      return {
        prefill: (ids) => Promise.resolve(rowsOf(model.forward(ids, 1, ids.length), ids.length, V)),
        decode: (ids) => {
          const dec = new CpuDecoder(model, { maxBatch: 1 });
          const rows = [dec.prefill(ids.slice(0, 1)).slice()];
          for (let t = 1; t < ids.length; t++) rows.push(dec.step([ids[t]]).slice());
          return Promise.resolve(rows);
        },
        dispose() {},
      };
    },
    1e-4,
    blas === undefined,
  );
}
