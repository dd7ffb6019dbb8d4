/** CpuTrainer: micro-batch accumulation (uneven chunks) equals the whole batch; evaluate equals loss. */
import { assert } from "../_assert.ts";
import { CpuTransformer } from "../../lib/cpu/model.ts";
import { countTargets, CpuTrainer } from "../../lib/cpu/train.ts";
import { Rng } from "../../lib/util/rng.ts";
import { BLASES, maxDiff, TINY } from "./_util.ts";

const opts = { beta1: 0.9, beta2: 0.95, adamEps: 1e-8, weightDecay: 0.1, clip: 1, microBatch: 0 };

function windows(batch: number, w: number, seed: number): Int32Array {
  const r = new Rng(seed);
  return Int32Array.from({ length: batch * w }, (_, i) => (i % w === 0 ? 1 : i % 7 === 3 ? 0 : 2 + r.int(9)));
}

for (const blas of BLASES) {
  Deno.test(`${blas.kind}: micro-batches of 2 over a batch of 5 give the whole batch's loss and gradients`, () => {
    const win = windows(5, 7, 3);
    const whole = new CpuTrainer(CpuTransformer.init(TINY, 2, blas), opts);
    const micro = new CpuTrainer(CpuTransformer.init(TINY, 2, blas), { ...opts, microBatch: 2 });
    const l1 = whole.gradients(win, 5), l2 = micro.gradients(win, 5);
    assert(Math.abs(l1 - l2) <= 1e-6 * l1, `loss ${l1} vs ${l2}`);
    const r = maxDiff(micro.model.grads, whole.model.grads);
    assert(r.diff <= 1e-5 * r.scale, `gradients differ by ${r.diff} (scale ${r.scale})`);
    // twice, so the views of the larger buffers are exercised after a smaller chunk
    assert(Math.abs(micro.gradients(win, 5) - l2) <= 1e-7 * l2);
    const ev = micro.evaluate(win, 5);
    assert(Math.abs(ev.loss - l1) <= 1e-6 * l1 && ev.tokens === countTargets(win, 5));
    // a step changes the weights and reports the pre-update loss
    const before = whole.model.params.slice();
    const s = whole.step(win, 5, 1e-2);
    assert(Math.abs(s.loss - l1) <= 1e-6 * l1 && s.gradNorm > 0);
    assert(whole.model.params.some((v, i) => v !== before[i]));
    assert(whole.optimizer.step === 1);
  });
}

Deno.test("countTargets counts non-PAD ids after each window's first", () => {
  assert(countTargets(new Int32Array([1, 5, 0, 1, 6, 7]), 2) === 3);
  assert(countTargets(new Int32Array([0, 0, 0]), 1) === 0);
});
