/**
 * The decode loop's GPU → CPU path: a ring of MAP_READ staging buffers, so several chunks of sampled tokens are in
 * flight (being decoded or mapped) while the CPU reads the oldest.
 *
 * @module
 */

interface Pending {
  buf: GPUBuffer;
  bytes: number;
  mapped: Promise<void>;
}

/**
 * A ring of `inFlight + 1` staging buffers of `slotBytes` each. `submit` appends a copy into the next one to a
 * command encoder, submits it and starts the map; `take` awaits the oldest map and returns its words. A slot is
 * reused only after `take` released it: keep at most `inFlight` pending (take when `pending` reaches it).
 *
 * @example
 * ```ts ignore
 * import { getGpu } from "./_gpu.ts";
 * import { ReadbackRing } from "./_readback.ts";
 * const { device } = await getGpu();
 * const tokens = device.createBuffer({ size: 32 * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
 * const ring = new ReadbackRing(device, 32 * 4, 3);
 * const enc = device.createCommandEncoder();
 * // … encode the steps that write `tokens` …
 * ring.submit(enc, tokens, 32 * 4);
 * const words = await ring.take(); // Uint32Array(32)
 * ring.destroy();
 * ```
 */
export class ReadbackRing {
  readonly #device: GPUDevice;
  readonly #slots: GPUBuffer[];
  readonly #pending: Pending[] = [];
  #next = 0;

  /** `inFlight + 1` staging buffers of `slotBytes` bytes each on `device`. */
  constructor(device: GPUDevice, slotBytes: number, inFlight: number) {
    this.#device = device;
    this.#slots = Array.from(
      { length: inFlight + 1 },
      () =>
        device.createBuffer({ size: slotBytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
    );
  }

  /** Readbacks submitted and not yet taken. */
  get pending(): number {
    return this.#pending.length;
  }

  /** Ends `enc` with a copy of `bytes` of `src` into the next slot, submits it and starts mapping that slot. */
  submit(enc: GPUCommandEncoder, src: GPUBuffer, bytes: number): void {
    const buf = this.#slots[this.#next];
    this.#next = (this.#next + 1) % this.#slots.length;
    enc.copyBufferToBuffer(src, 0, buf, 0, bytes);
    this.#device.queue.submit([enc.finish()]);
    this.#pending.push({ buf, bytes, mapped: buf.mapAsync(GPUMapMode.READ, 0, bytes) });
  }

  /** Waits for the oldest readback and returns its words (a copy), releasing its slot. */
  async take(): Promise<Uint32Array> {
    const p = this.#pending.shift();
    if (!p) throw new Error("ReadbackRing.take: no readback pending");
    await p.mapped;
    const words = new Uint32Array(p.buf.getMappedRange(0, p.bytes).slice(0));
    p.buf.unmap();
    return words;
  }

  /** Frees the staging buffers. */
  destroy(): void {
    for (const b of this.#slots) b.destroy();
  }
}
