/**
 * Weight products with reduced-precision weights for the CPU decoder: bf16 (the upper 16 bits of each f32, rounded to
 * nearest even) or int8 with one f32 scale per output row (max |w| / 127, as llama.cpp's per-row schemes), computed by
 * WebAssembly SIMD kernels (`qgemv_wat.ts`) on `threads` threads (default 1): the calling thread and its workers share
 * one WebAssembly memory holding the weights, and split each product's output rows. bf16 products take f32
 * activations and sum in f32; int8 products take the activations as int16 with a per-row scale (≈ 1.5e-5 relative:
 * far below the weights' own rounding) and sum exactly in i32 (`i32x4.dot_i16x8_s`), so any thread count gives the
 * same bits. BLAS has no bf16 or int8 GEMV; fewer bytes per weight is what takes batch-1 decode past the fp32
 * read-bandwidth limit.
 *
 * @module
 */
import { Worker } from "node:worker_threads";
import { QGEMV_WASM_BASE64 } from "./_qgemv_wasm.ts";

/** How the decoder stores its weight matrices. */
export type WeightFormat = "f32" | "bf16" | "int8";

/** A weight matrix to quantize: HF layout [out, in], row-major. */
export interface QuantSource {
  /** The f32 weights [out, in]. */
  w: Float32Array;
  /** Output rows. */
  out: number;
  /** Input columns. */
  in: number;
}

/** A quantized matrix held by a {@link QuantWeights}: `apply` runs y ← x·Wᵀ + β·y on it. */
export interface QuantMatrix {
  /** Output rows. */
  readonly out: number;
  /** Input columns. */
  readonly in: number;
  /** y [rows, out] ← x [rows, in] · Wᵀ + β·y (β 0 or 1). */
  apply(rows: number, x: Float32Array, beta: number, y: Float32Array): void;
}

// The job block at the start of the memory (i32 words), then one state word per output block.
const GEN = 0, STOP = 1, FN = 2, W = 3, S = 4, X = 5, XS = 6, Y = 7, OUT = 8, N = 9, LDY = 10, ROWS = 11;
const TICKET = 12, BLOCKS = 13, BS = 14; // next block (| job tag << 16), block count, outputs per block
const CTRL = 16, MAXB = 4096; // block states at CTRL …: (job id << 3) | FREE, CLAIMED, WRITING, DONE or STOLEN
const FREE = 0, CLAIMED = 1, WRITING = 2, DONE = 3, STOLEN = 4;
const SPIN = 100_000; // a worker's spins on a job change before it sleeps
const STEAL = 2_000; // the caller's spins on a worker's block before computing it itself
const CHUNK = 64; // rows of x per pass over the weights
const BLOCK = 64; // outputs per block at up to 4 rows (fewer above)
const PAR_MIN = 1 << 19; // weights × rows below which a product runs on the calling thread alone (waking costs more)

// The worker (a node:worker_threads worker, unref'd: it never keeps the process alive). Jobs are numbered by even
// values of GEN (odd while the caller writes one: a seqlock, so a worker reads a job's parameters whole or not at
// all). A worker claims blocks of a job's outputs by a compare-exchange on the ticket (which carries the job's tag),
// marks the block CLAIMED, computes it into its own scratch, and copies it into y only if the block is still its own
// (CLAIMED → WRITING → DONE): the caller, done with its own blocks, waits a little for the workers' and then computes
// any still unfinished itself (a STOLEN block's late result is dropped: its CLAIMED → WRITING fails). So a worker
// descheduled on a busy machine delays nothing; a failed one costs only the wait.
const WORKER = `
const { workerData } = require("node:worker_threads");
const { mem, bytes, spin, scratch } = workerData;
const ex = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { mem } }).exports;
const fns = [ex.i8_1, ex.i8_4, ex.bf_1, ex.bf_4];
const c = new Int32Array(mem.buffer, 0, ${CTRL} + ${MAXB}), f32 = new Float32Array(mem.buffer);
let seen = 0;
for (;;) {
  let g, k = 0;
  while ((g = Atomics.load(c, ${GEN})) === seen || (g & 1)) if (++k > spin) Atomics.wait(c, ${GEN}, g);
  seen = g;
  if (Atomics.load(c, ${STOP})) break;
  const f = c[${FN}], n = c[${N}], ldy = c[${LDY}], rows = c[${ROWS}], out = c[${OUT}], bs = c[${BS}], nb = c[${BLOCKS}];
  const w = c[${W}], s = c[${S}], x = c[${X}], xs = c[${XS}], y = c[${Y}], xb = f === 0 ? 2 : 4;
  if (Atomics.load(c, ${GEN}) !== g) continue; // a new job began while these were read
  const tag = ((g >>> 1) & 0x7fff) << 16, id = ((g >>> 1) & 0x0fffffff) << 3;
  for (;;) {
    const t = Atomics.load(c, ${TICKET});
    if ((t & 0x7fff0000) !== tag || (t & 0xffff) >= nb) break;
    if (Atomics.compareExchange(c, ${TICKET}, t, t + 1) !== t) continue;
    const b = t & 0xffff, st = ${CTRL} + b;
    if (Atomics.compareExchange(c, st, id | ${FREE}, id | ${CLAIMED}) !== (id | ${FREE})) continue;
    const o0 = b * bs, o1 = Math.min(out, o0 + bs), base = scratch - o0 * 4; // scratch rows of bs outputs
    try {
      let r = 0;
      for (; r + 4 <= rows; r += 4) fns[f + 1](w, s, x + r * n * xb, xs + r * 4, base + r * bs * 4, o0, o1, n, bs);
      for (; r < rows; r++) fns[f](w, s, x + r * n * xb, xs + r * 4, base + r * bs * 4, o0, o1, n, bs);
    } catch {
      continue; // the caller computes the block
    }
    if (Atomics.compareExchange(c, st, id | ${CLAIMED}, id | ${WRITING}) !== (id | ${CLAIMED})) continue;
    for (let r = 0; r < rows; r++) {
      f32.set(f32.subarray(scratch / 4 + r * bs, scratch / 4 + r * bs + (o1 - o0)), y / 4 + r * ldy + o0);
    }
    Atomics.store(c, st, id | ${DONE});
  }
}`;

let bytesCache: Uint8Array<ArrayBuffer> | undefined;
function moduleBytes(): Uint8Array<ArrayBuffer> {
  return bytesCache ??= Uint8Array.from(atob(QGEMV_WASM_BASE64), (ch) => ch.charCodeAt(0));
}

/** The least block width that keeps `out` outputs within the block states (MAXB). */
function maxBlock(out: number): number {
  return Math.max(BLOCK, Math.ceil(out / MAXB / 16) * 16);
}

/** Rounds an f32 to its bf16 upper half (nearest, ties to even). */
function toBf16(bits: number): number {
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * The weights of one model in bf16 or int8 inside a shared WebAssembly memory, with the workers that multiply by them.
 * Create with {@link QuantWeights.create}; {@link QuantWeights.dispose} stops the workers.
 *
 * @example
 * ```ts
 * import { QuantWeights } from "./qgemv.ts";
 * const q = QuantWeights.create("int8", [{ w: new Float32Array([1, 2, 3, 4]), out: 2, in: 2 }], { threads: 1 });
 * const y = new Float32Array(2);
 * q.matrices[0].apply(1, new Float32Array([1, 1]), 0, y); // y ≈ [3, 7]
 * q.dispose();
 * ```
 */
export class QuantWeights {
  /** The stored format. */
  readonly format: "bf16" | "int8";
  /** One per source matrix, in order. */
  readonly matrices: QuantMatrix[];
  /** Threads sharing each product (this one and the workers). */
  readonly threads: number;
  /** Bytes of weights and scales stored. */
  readonly bytes: number;
  /** Output blocks the workers computed so far (the rest ran on the calling thread). */
  workerBlocks = 0;
  /** Blocks a worker had claimed but was late with, computed by the calling thread instead. */
  stolenBlocks = 0;
  #job = 0;
  #mine = new Uint8Array(0);
  readonly #c: Int32Array;
  readonly #f32: Float32Array;
  readonly #i16: Int16Array;
  readonly #fns: ((...a: number[]) => void)[];
  readonly #workers: Worker[];
  readonly #at: Buffers;
  #disposed = false;

  private constructor(
    format: "bf16" | "int8",
    mem: WebAssembly.Memory,
    fns: ((...a: number[]) => void)[],
    workers: Worker[],
    layout: Stored[],
    at: Buffers,
    bytes: number,
  ) {
    this.format = format;
    this.#c = new Int32Array(mem.buffer, 0, CTRL + MAXB);
    this.#f32 = new Float32Array(mem.buffer);
    this.#i16 = new Int16Array(mem.buffer);
    this.#fns = fns;
    this.#workers = workers;
    this.#at = at;
    this.threads = workers.length + 1;
    this.bytes = bytes;
    this.matrices = layout.map((l) => ({
      out: l.src.out,
      in: l.src.in,
      apply: (rows, x, beta, y) => this.#apply(l, rows, x, beta, y),
    }));
  }

  /**
   * Quantizes `mats` into a new shared memory and starts `opts.threads − 1` workers. Default: 1 thread — on the
   * shared 2-core box this was measured on, one thread already streams int8 weights faster than the f32 read limit,
   * and a second one lost more to a loaded machine (waking, waiting) than it gave; more threads help on idle cores.
   */
  static create(format: "bf16" | "int8", mats: QuantSource[], opts: { threads?: number } = {}): QuantWeights {
    const threads = Math.max(1, Math.floor(opts.threads ?? 1));
    const per = format === "int8" ? 1 : 2;
    const pad16 = (n: number) => Math.ceil(n / 16) * 16;
    let maxNp = 16, maxOut = 1;
    for (const m of mats) {
      if (m.w.length !== m.out * m.in) {
        throw new RangeError(`weights: ${m.w.length} values, expected ${m.out} × ${m.in}`);
      }
      maxNp = Math.max(maxNp, pad16(m.in));
      maxOut = Math.max(maxOut, m.out);
    }
    const x = (CTRL + MAXB) * 4, xs = x + CHUNK * maxNp * 4, y = xs + CHUNK * 4;
    const scratch = pad16(y + CHUNK * maxOut * 4), perScratch = CHUNK * maxBlock(maxOut) * 4;
    const w0 = pad16(scratch + (threads - 1) * perScratch);
    let end = w0;
    const layout = mats.map((src): Stored => {
      const np = pad16(src.in), w = end;
      end = pad16(end + src.out * np * per);
      const s = end;
      end = pad16(end + src.out * 4);
      return { w, s, src, np };
    });
    const pages = Math.ceil(end / 65536);
    if (pages > 65536) throw new RangeError(`weights: ${end} bytes exceed the 4 GiB WebAssembly memory`);
    const mem = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    for (const l of layout) store(mem.buffer, format, l);
    const bytes = moduleBytes();
    const ex = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { mem } }).exports as Record<
      string,
      (...a: number[]) => void
    >;
    const fns = [ex.i8_1, ex.i8_4, ex.bf_1, ex.bf_4];
    const workers = Array.from({ length: threads - 1 }, (_, j) => {
      const workerData = { mem, bytes, spin: SPIN, scratch: scratch + j * perScratch };
      const w = new Worker(WORKER, { eval: true, workerData });
      w.unref();
      return w;
    });
    return new QuantWeights(format, mem, fns, workers, layout, { x, xs, y }, end - w0);
  }

  #apply(l: Stored, rows: number, x: Float32Array, beta: number, y: Float32Array) {
    if (this.#disposed) throw new Error("quantized weights were disposed");
    const { out, in: n } = l.src, np = l.np, f32 = this.#f32, c = this.#c, T = this.threads, at = this.#at;
    const int8 = this.format === "int8", fn = int8 ? 0 : 2, xb = int8 ? 2 : 4;
    for (let r0 = 0; r0 < rows; r0 += CHUNK) {
      const R = Math.min(CHUNK, rows - r0);
      for (let r = 0; r < R; r++) {
        const src = x.subarray((r0 + r) * n, (r0 + r + 1) * n);
        if (!int8) evensThenOdds(src, f32, at.x / 4 + r * np, np);
        else f32[at.xs / 4 + r] = quantizeRow(src, this.#i16, at.x / 2 + r * np);
      }
      const f1 = this.#fns[fn], f4 = this.#fns[fn + 1];
      const run = (o0: number, o1: number) => {
        let r = 0;
        for (; r + 4 <= R; r += 4) {
          f4(l.w, l.s, at.x + r * np * xb, at.xs + r * 4, at.y + r * out * 4, o0, o1, np, out);
        }
        for (; r < R; r++) {
          f1(l.w, l.s, at.x + r * np * xb, at.xs + r * 4, at.y + r * out * 4, o0, o1, np, out);
        }
      };
      // outputs per block: ≈ BLOCK × 4 rows of work (its weights stay in cache across the row groups)
      const bs = Math.max(Math.max(16, Math.round(BLOCK / Math.ceil(R / 4) / 16) * 16), maxBlock(out));
      if (T === 1 || out * n * R < PAR_MIN) {
        for (let o0 = 0; o0 < out; o0 += bs) run(o0, Math.min(out, o0 + bs));
      } else {
        const nb = Math.ceil(out / bs), g = (this.#job += 2), tag = ((g >>> 1) & 0x7fff) << 16;
        const id = ((g >>> 1) & 0x0fffffff) << 3;
        Atomics.store(c, GEN, g - 1); // writing the job
        c[FN] = fn, c[W] = l.w, c[S] = l.s, c[X] = at.x, c[XS] = at.xs, c[Y] = at.y;
        c[OUT] = out, c[N] = np, c[LDY] = out, c[ROWS] = R, c[BLOCKS] = nb, c[BS] = bs;
        for (let b = 0; b < nb; b++) Atomics.store(c, CTRL + b, id | FREE);
        Atomics.store(c, TICKET, tag);
        Atomics.store(c, GEN, g);
        Atomics.notify(c, GEN);
        const mine = this.#mine.length >= nb ? this.#mine : (this.#mine = new Uint8Array(nb));
        mine.fill(0, 0, nb);
        for (;;) {
          const t = Atomics.load(c, TICKET);
          if ((t & 0xffff) >= nb) break;
          if (Atomics.compareExchange(c, TICKET, t, t + 1) !== t) continue;
          const b = t & 0xffff;
          run(b * bs, Math.min(out, (b + 1) * bs));
          mine[b] = 1;
        }
        for (let b = 0; b < nb; b++) {
          if (mine[b]) continue;
          for (let k = 0;; k++) {
            const st = Atomics.load(c, CTRL + b);
            if (st === (id | DONE)) {
              this.workerBlocks++;
              break;
            }
            if (
              k > STEAL && st !== (id | WRITING) &&
              Atomics.compareExchange(c, CTRL + b, st, id | STOLEN) === st
            ) {
              run(b * bs, Math.min(out, (b + 1) * bs)); // a worker is late with it (or never took it up)
              this.stolenBlocks++;
              break;
            }
          }
        }
      }
      const res = f32.subarray(at.y / 4, at.y / 4 + R * out), dst = y.subarray(r0 * out, (r0 + R) * out);
      if (beta === 0) dst.set(res);
      else for (let i = 0; i < R * out; i++) dst[i] += res[i];
    }
  }

  /** Stops the workers (idempotent); the matrices cannot be used after. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    if (this.#workers.length) {
      Atomics.store(this.#c, STOP, 1);
      Atomics.store(this.#c, GEN, this.#job += 2); // a new job: the workers wake and see STOP
      Atomics.notify(this.#c, GEN);
      for (const w of this.#workers) void w.terminate();
    }
  }
}

/** Byte offsets of the activation buffers in the shared memory. */
interface Buffers {
  x: number;
  xs: number;
  y: number;
}

/** A matrix as stored: weights at `w`, scales at `s`, rows padded to `np`. */
interface Stored {
  w: number;
  s: number;
  src: QuantSource;
  np: number;
}

/** Writes `l.src` into the memory as int8 with per-row scales (max |w| / 127) or bf16 (scales 1). */
function store(buf: ArrayBufferLike, format: "bf16" | "int8", l: Stored): void {
  const { w, s, src, np } = l;
  const sc = new Float32Array(buf, s, src.out);
  if (format === "int8") {
    const q = new Int8Array(buf, w, src.out * np);
    for (let o = 0; o < src.out; o++) {
      const row = src.w.subarray(o * src.in, (o + 1) * src.in);
      let amax = 0;
      for (let i = 0; i < src.in; i++) amax = Math.max(amax, Math.abs(row[i]));
      const scale = Math.fround(amax / 127);
      sc[o] = scale;
      if (scale === 0) continue;
      for (let i = 0; i < src.in; i++) {
        q[o * np + i] = Math.max(-127, Math.min(127, Math.round(row[i] / scale)));
      }
    }
  } else {
    const q = new Uint16Array(buf, w, src.out * np);
    const bits = new Uint32Array(src.w.buffer, src.w.byteOffset, src.w.length);
    for (let o = 0; o < src.out; o++) {
      for (let i = 0; i < src.in; i++) q[o * np + i] = toBf16(bits[o * src.in + i]);
    }
    sc.fill(1);
  }
}

/** Copies x to `dst[at …]` with each 8 values as the 4 even-indexed ones, then the 4 odd ones (the bf16 kernels' order). */
function evensThenOdds(x: Float32Array, dst: Float32Array, at: number, np: number): void {
  const n = x.length, full = n - (n % 8);
  if (full < np) dst.fill(0, at + full, at + np); // the padding (zero weights) must not meet a stale Inf or NaN
  for (let i = 0; i < full; i += 8) {
    const d = at + i;
    dst[d] = x[i], dst[d + 1] = x[i + 2], dst[d + 2] = x[i + 4], dst[d + 3] = x[i + 6];
    dst[d + 4] = x[i + 1], dst[d + 5] = x[i + 3], dst[d + 6] = x[i + 5], dst[d + 7] = x[i + 7];
  }
  for (let i = full; i < n; i++) dst[at + i - (i % 8) + ((i % 2) ? 4 : 0) + ((i % 8) >> 1)] = x[i];
}

/** Quantizes a row of x to int16 at `dst[at …]` (scale max |x| / 32767); returns the scale. */
function quantizeRow(x: Float32Array, dst: Int16Array, at: number): number {
  let amax = 0;
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]);
    if (a > amax) amax = a;
  }
  if (!(amax > 0 && amax < Infinity)) {
    dst.fill(0, at, at + x.length);
    return amax === 0 ? 0 : NaN;
  }
  const inv = 32767 / amax;
  for (let i = 0; i < x.length; i++) dst[at + i] = Math.round(x[i] * inv);
  return amax / 32767;
}
