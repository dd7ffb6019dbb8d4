import { assert, assertEquals } from "../_assert.ts";
import { referenceLogits } from "../../lib/infer/reference.ts";
import { readEngineModel } from "../../lib/infer/model_loader.ts";
import { benchModelConfig, writeRandomCheckpoint } from "../../bench/random_checkpoint.ts";
import { torchAvailable, torchLogits, torchPython } from "../../bench/torch_peer.ts";

const torch = await torchAvailable();
if (!torch.ok) {
  console.log(`torch_peer test ignored: ${torch.python} cannot import torch (${torch.detail})`);
}

Deno.test({
  name:
    `torch_peer.py logits equal the plain-TS Llama reference on a tiny random checkpoint (${torchPython()})`,
  ignore: !torch.ok,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      // awkward sizes: 2 layers, 3 heads of 6 (RoPE halves of 3), ffn 20, vocab 37; larger std so logits are not ~0
      const model = benchModelConfig({ layers: 2, dim: 18, heads: 3, ffn: 20, vocab: 37, seqLen: 16 });
      await writeRandomCheckpoint(dir, model, {
        seed: 7,
        std: 0.3,
        tokenizerJson: { kind: "remi", config: {}, vocab: Array.from({ length: 37 }, (_, i) => `T_${i}`) },
      });
      const ids = [1, 5, 36, 9, 9, 4, 20, 11];
      const { weights, config } = await readEngineModel(dir);
      const ref = referenceLogits(config, weights, ids);
      const { logits, cacheVsFull } = await torchLogits(dir, ids);
      assertEquals(logits.length, ids.length * 37);
      let maxDiff = 0, scale = 0;
      for (let i = 0; i < ref.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(ref[i] - logits[i]));
        scale = Math.max(scale, Math.abs(ref[i]));
      }
      console.log(`max |torch − reference| = ${maxDiff.toExponential(2)} (logit scale ${scale.toFixed(2)})`);
      assert(scale > 0.5, `logits too small to be a meaningful check: ${scale}`);
      assert(maxDiff < 1e-4 * Math.max(1, scale), `max abs diff ${maxDiff}`);
      assert(
        cacheVsFull < 1e-4 * Math.max(1, scale),
        `peer KV-cache path differs from full forward: ${cacheVsFull}`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
