/**
 * Each training kernel, forward and backward, against its lib/cpu reference on awkward shapes (rows not a multiple
 * of any tile, d not a multiple of 64, vocabularies 1,024 and 161, 4 and 8 heads, weights at unaligned offsets of
 * a larger buffer), on both kernel paths: the software shapes and the real-GPU ones.
 */
import { assert } from "../_assert.ts";
import { fallbackBlas as blas } from "../../lib/cpu/blas.ts";
import {
  embeddingBackward,
  embeddingForward,
  matmulBackward,
  matmulForward,
  rmsnormBackward,
  rmsnormForward,
  swigluBackward,
  swigluForward,
} from "../../lib/cpu/ops.ts";
import { ropeBackward, ropeForward, ropeTables } from "../../lib/cpu/rope.ts";
import { attentionBackward, attentionForward } from "../../lib/cpu/attention.ts";
import { crossEntropyBackward, crossEntropyForward, gradNorm } from "../../lib/cpu/loss.ts";
import { CpuAdamW } from "../../lib/cpu/adamw.ts";
import type { ParamInfo } from "../../lib/cpu/layout.ts";
import { countingSort } from "../../lib/gpu/tokens.ts";
import { stepScalars, view } from "../../lib/gpu/dispatch.ts";
import { Rng } from "../../lib/util/rng.ts";
import { close, device, opsFor, PATHS, randn, read, run, tensor, words } from "./_util.ts";

const TOL = 2e-5;

for (const path of PATHS) {
  Deno.test(`${path}: matmul forward (+ residual), dX = dY·W and dW += dYᵀ·X equal lib/cpu's`, async () => {
    const ops = await opsFor(path, 2);
    for (const [N, inDim, outDim] of [[37, 40, 161], [70, 24, 72], [5, 3, 7]]) {
      const x = randn(N * inDim, 1), w = randn(outDim * inDim, 2), r = randn(N * outDim, 3);
      const dy = randn(N * outDim, 4), dw0 = randn(outDim * inDim, 5);
      const X = tensor(x), W = tensor(w, 5), R = tensor(r, 3), DY = tensor(dy, 1);
      const Y = tensor(N * outDim), YR = tensor(N * outDim, 2), DX = tensor(N * inDim), DW = tensor(dw0, 3);
      run([
        ops.matmulForward(Y, X, W, N, inDim, outDim),
        ops.matmulForward(YR, X, W, N, inDim, outDim, R),
        ops.matmulBackwardInput(DX, DY, W, N, inDim, outDim),
        ops.matmulBackwardWeight(DW, DY, X, N, inDim, outDim),
      ]);
      const y = new Float32Array(N * outDim), dx = new Float32Array(N * inDim), dw = dw0.slice();
      matmulForward(blas, y, x, w, N, inDim, outDim);
      matmulBackward(blas, dx, dw, dy, x, w, N, inDim, outDim);
      const shape = `${N}×${inDim}→${outDim}`;
      close(await read(Y), y, TOL, `forward ${shape}`);
      close(await read(YR), y.map((v, i) => v + r[i]), TOL, `forward + residual ${shape}`);
      close(await read(DX), dx, TOL, `dX ${shape}`);
      close(await read(DW), dw, TOL, `dW ${shape}`);
    }
  });

  Deno.test(`${path}: RMSNorm forward and backward (dx +=, and written; dw +=) equal lib/cpu's`, async () => {
    const ops = await opsFor(path, 2);
    for (const [N, d] of [[37, 40], [3, 24], [70, 72]]) {
      const x = randn(N * d, 1), w = randn(d, 2, 0.1).map((v) => 1 + v), dout = randn(N * d, 3);
      const dx0 = randn(N * d, 4), dw0 = randn(d, 5);
      const X = tensor(x), W = tensor(w, 7), OUT = tensor(N * d), RSTD = tensor(N), DOUT = tensor(dout);
      const DX = tensor(dx0), DW = tensor(dw0, 9), DX2 = tensor(dx0);
      run([
        ops.rmsnormForward(OUT, RSTD, X, W, N, d, 1e-5),
        ops.rmsnormBackward(DX, DW, DOUT, X, W, RSTD, N, d),
        ops.rmsnormBackward(DX2, tensor(d), DOUT, X, W, RSTD, N, d, false),
      ]);
      const out = new Float32Array(N * d), rstd = new Float32Array(N);
      rmsnormForward(out, rstd, x, w, N, d, 1e-5);
      const dx = dx0.slice(), dw = dw0.slice(), dxw = new Float32Array(N * d);
      rmsnormBackward(dx, dw, dout, x, w, rstd, N, d);
      rmsnormBackward(dxw, new Float32Array(d), dout, x, w, rstd, N, d);
      close(await read(OUT), out, TOL, `out ${N}×${d}`);
      close(await read(RSTD), rstd, TOL, `rstd ${N}×${d}`);
      close(await read(DX), dx, TOL, `dx += ${N}×${d}`);
      close(await read(DX2), dxw, TOL, `dx = ${N}×${d}`);
      close(await read(DW), dw, TOL, `dw ${N}×${d}`);
    }
  });

  for (const [d, H] of [[40, 4], [48, 8]]) {
    const hd = d / H;
    Deno.test(`${path}: RoPE forward and backward on q|k of ${H} heads (hd ${hd}) equal lib/cpu's`, async () => {
      const ops = await opsFor(path, hd);
      const B = 2, T = 19, N = B * T, tab = ropeTables(32, hd, 10000);
      const rope = { cos: tensor(tab.cos).buffer, sin: tensor(tab.sin).buffer, half: tab.half };
      const qkv = randn(N * 3 * d, 1), g = randn(N * 3 * d, 2);
      const Q = tensor(qkv), G = tensor(g);
      run([
        ops.ropeForward(Q, N, T, 3 * d, 0, 2 * H, rope),
        ops.ropeBackward(G, N, T, 3 * d, 0, 2 * H, rope),
      ]);
      ropeForward(qkv, N, T, 3 * d, 0, 2 * H, tab);
      ropeBackward(g, N, T, 3 * d, 0, 2 * H, tab);
      close(await read(Q), qkv, TOL, "rope forward");
      close(await read(G), g, TOL, "rope backward");
    });

    Deno.test(`${path}: flash attention forward and backward (${H} heads, hd ${hd}) equal lib/cpu's`, async () => {
      const ops = await opsFor(path, hd);
      for (const [B, T] of [[2, 37], [1, 70], [3, 1]]) {
        const N = B * T, qkv = randn(N * 3 * d, 1), dout = randn(N * d, 2);
        const QKV = tensor(qkv), OUT = tensor(N * d), LSE = tensor(B * H * T), DOUT = tensor(dout);
        const DQKV = tensor(N * 3 * d);
        run([
          ops.attentionForward(OUT, LSE, QKV, B, T, H, hd),
          ...ops.attentionBackward(DQKV, DOUT, OUT, LSE, QKV, B, T, H, hd),
        ]);
        const out = new Float32Array(N * d), probs = new Float32Array(B * H * T * T);
        attentionForward(blas, out, probs, qkv, B, T, H, hd);
        const dqkv = new Float32Array(N * 3 * d);
        attentionBackward(blas, dqkv, new Float32Array(T * T), dout, probs, qkv, B, T, H, hd);
        close(await read(OUT), out, TOL, `out B ${B} T ${T}`);
        close(await read(DQKV), dqkv, 1e-4, `dqkv B ${B} T ${T}`);
      }
    });
  }

  Deno.test(`${path}: SwiGLU forward and backward equal lib/cpu's`, async () => {
    const ops = await opsFor(path, 2);
    const N = 37, f = 40, gu = randn(N * 2 * f, 1, 2), dact = randn(N * f, 2);
    const GU = tensor(gu), ACT = tensor(N * f), DACT = tensor(dact), DGU = tensor(N * 2 * f);
    run([ops.swigluForward(ACT, GU, N, f), ops.swigluBackward(DGU, DACT, GU, N, f)]);
    const act = new Float32Array(N * f), dgu = new Float32Array(N * 2 * f);
    swigluForward(act, gu, N, f);
    swigluBackward(dgu, dact, gu, N, f);
    close(await read(ACT), act, TOL, "swiglu forward");
    close(await read(DGU), dgu, TOL, "swiglu backward");
  });

  Deno.test(`${path}: embedding gather and per-id scatter-add (onto a tied head's gradient) equal lib/cpu's`, async () => {
    const ops = await opsFor(path, 2);
    const V = 161, d = 40, N = 37, r = new Rng(4);
    const ids = Int32Array.from({ length: N }, (_, i) => i % 5 === 0 ? 7 : r.int(V)); // id 7 repeats
    const table = randn(V * d, 1), dout = randn(N * d, 2), dtab0 = randn(V * d, 3);
    const { start, pos } = countingSort(ids, V);
    const tok = new Uint32Array(8 + N + V + 1 + N);
    tok.set(ids, 8);
    tok.set(start, 8 + N);
    tok.set(pos, 8 + N + V + 1);
    const TOK = words(tok), TABLE = tensor(table, 11), OUT = tensor(N * d), DOUT = tensor(dout);
    const DTAB = tensor(dtab0, 5);
    run([
      ops.embeddingForward(OUT, TOK, 8, TABLE, N, d),
      ops.embeddingBackward(DTAB, DOUT, TOK, 8 + N, 8 + N + V + 1, V, d),
    ]);
    const out = new Float32Array(N * d), dtab = dtab0.slice();
    embeddingForward(out, ids, table, N, d);
    embeddingBackward(dtab, dout, ids, N, d);
    close(await read(OUT), out, 0, "embedding forward");
    close(await read(DTAB), dtab, TOL, "embedding backward");
  });

  for (const V of [1024, 161]) {
    for (const ignore of [0, -1]) {
      Deno.test(`${path}: fused softmax + cross-entropy, V ${V}, ignore ${ignore}, equals lib/cpu's`, async () => {
        const ops = await opsFor(path, 2);
        const N = 37, r = new Rng(V + ignore);
        const logits = randn(N * V, 1, 3);
        const tg = Int32Array.from({ length: N }, (_, i) => i % 6 === 2 ? 0 : r.int(V));
        const ref = new Float32Array(N);
        const { loss, count } = crossEntropyForward(ref, logits, tg, N, V, ignore);
        const dref = new Float32Array(N * V);
        crossEntropyBackward(dref, logits, ref, tg, N, V, count, 1, ignore);
        const step = device.createBuffer({
          size: 64,
          usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        });
        const s = { lr: 0, weightDecay: 0, beta1: 0.9, beta2: 0.95, eps: 1e-8, clip: 1, t: 1, slot: 0 };
        device.queue.writeBuffer(step, 0, stepScalars({ ...s, invTotal: 1 / count, update: true }));
        const LOG = tensor(logits), LSE = tensor(N), ROWS = tensor(N + 3), FWD = tensor(logits);
        run([
          ops.crossEntropy(LOG, LSE, ROWS, 3, words(tg), 0, step, N, V, ignore, true),
          ops.crossEntropy(FWD, tensor(N), tensor(N), 0, words(tg), 0, step, N, V, ignore, false),
        ]);
        close(await read(LSE), ref, 1e-6, "lse");
        const rows = (await read(ROWS)).subarray(3);
        const sum = rows.reduce((a, b) => a + b, 0);
        assert(Math.abs(sum / count - loss) <= 1e-5 * loss, `loss ${sum / count} vs ${loss}`);
        for (let n = 0; n < N; n++) if (tg[n] === ignore) assert(rows[n] === 0, `ignored row ${n} counted`);
        close(await read(LOG), dref, 1e-5, "dlogits");
        close(await read(FWD), logits, 0, "forward only leaves the logits");
      });
    }
  }
}

for (const path of PATHS) {
  Deno.test(`${path}: gradient norm + AdamW in two dispatches (clipping folded in, decay mask) equal lib/cpu's`, async () => {
    const ops = await opsFor(path, 2);
    // matrices (decayed) and norm weights (not), at offsets that are not multiples of 32
    const layout: ParamInfo[] = [];
    let off = 0;
    for (
      const [name, size, decay] of [["a", 1037, true], ["n", 13, false], ["b", 2100, true], [
        "m",
        7,
        false,
      ]] as const
    ) {
      layout.push({ name, shape: decay ? [size, 1] : [size], offset: off, size, decay });
      off += size;
    }
    const n = off,
      p0 = randn(n, 1),
      opt = new CpuAdamW(layout, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 });
    const mask = new Uint32Array(Math.ceil(n / 32));
    for (const q of layout) {
      if (q.decay) { for (let i = q.offset; i < q.offset + q.size; i++) mask[i >> 5] |= 1 << (i & 31); }
    }
    const P = tensor(p0), Gv = tensor(n), M = tensor(n), Vv = tensor(n), rows = randn(29, 7).map(Math.abs);
    const parts = 5,
      partial = tensor(parts + 1).buffer,
      stats = tensor(8).buffer,
      step = device.createBuffer({
        size: 64,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      });
    const list = [
      ops.gradNorm(partial, view(Gv.buffer, 0, n), tensor(rows), parts, 0, rows.length, parts),
      ops.adamw(P, Gv, M, Vv, words(mask), partial, stats, step, parts, true),
    ];
    const p = p0.slice();
    // a large gradient (clipped), then a small one (not), then a step that only measures
    for (const [t, std, clip, update] of [[1, 1, 1, true], [2, 1e-3, 1, true], [3, 1, 0.5, false]] as const) {
      const g = randn(n, 10 + t, std);
      device.queue.writeBuffer(Gv.buffer, 0, g as Float32Array<ArrayBuffer>);
      const s = {
        invTotal: 1 / 17,
        lr: 1e-2,
        weightDecay: 0.1,
        beta1: 0.9,
        beta2: 0.95,
        eps: 1e-8,
        clip,
        t,
        slot: t - 1,
      };
      device.queue.writeBuffer(step, 0, stepScalars({ ...s, update }));
      run(list);
      const norm = gradNorm(g);
      if (update) opt.apply(p, g, 1e-2, norm > clip ? clip / (norm + 1e-6) : 1);
      const st = await read({ buffer: stats, offset: 0, size: 6 });
      assert(Math.abs(st[2 * (t - 1) + 1] - norm) <= 1e-5 * norm, `norm ${st[2 * (t - 1) + 1]} vs ${norm}`);
      const loss = rows.reduce((a, b) => a + b, 0) / 17;
      assert(Math.abs(st[2 * (t - 1)] - loss) <= 1e-5 * loss, `loss ${st[2 * (t - 1)]} vs ${loss}`);
      close(await read(P), p, 1e-5, `params after step ${t}`);
      close(await read(M), opt.m, 1e-5, `m after step ${t}`);
      close(await read(Vv), opt.v, 1e-5, `v after step ${t}`);
    }
  });
}
