/**
 * The safetensors container (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length, a JSON
 * header `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {string: string}}`, then the raw
 * little-endian tensor bytes. Only what etude needs: F32, F16, BF16, I32, I64, U8.
 *
 * @module
 */

/** Tensor element types etude reads and writes. */
export type SafeDtype = "F32" | "F16" | "BF16" | "I32" | "I64" | "U8";

/** One tensor as stored: dtype, shape and its bytes. */
export interface SafeTensor {
  dtype: SafeDtype;
  shape: number[];
  data: Uint8Array;
}

const BYTES: Record<SafeDtype, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8, U8: 1 };

/** Error for a malformed safetensors file; the message names the tensor or field. */
export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

/**
 * Serialises tensors (`Float32Array`s become F32) into safetensors bytes. Tensor data is laid out in the order given,
 * each aligned to 8 bytes after the header (the header is padded with spaces to a multiple of 8).
 *
 * @example
 * ```ts
 * import { encodeSafetensors } from "./safetensors.ts";
 * const bytes = encodeSafetensors({ "w": { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } });
 * ```
 */
export function encodeSafetensors(
  tensors: Record<
    string,
    { dtype: SafeDtype; shape: number[]; data: Float32Array | Int32Array | Uint8Array }
  >,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const parts: Uint8Array[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    if (bytes.byteLength !== n * BYTES[t.dtype]) {
      throw new SafetensorsError(
        `tensor ${name}: ${bytes.byteLength} bytes for shape [${t.shape}] ${t.dtype}`,
      );
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    parts.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  while ((8 + new TextEncoder().encode(json).length) % 8 !== 0) json += " ";
  const hbytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hbytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(hbytes.length), true);
  out.set(hbytes, 8);
  let p = 8 + hbytes.length;
  for (const b of parts) {
    out.set(b, p);
    p += b.byteLength;
  }
  return out;
}

/**
 * Parses safetensors bytes, validating the header (dtypes, shapes, offsets contiguous and inside the file).
 * Returned tensor data are views into `bytes` (no copy).
 *
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors, toFloat32 } from "./safetensors.ts";
 * const { tensors } = decodeSafetensors(encodeSafetensors({ w: { dtype: "F32", shape: [1], data: new Float32Array([3]) } }));
 * toFloat32(tensors.w); // Float32Array [3]
 * ```
 */
export function decodeSafetensors(
  bytes: Uint8Array,
): { tensors: Record<string, SafeTensor>; metadata: Record<string, string> } {
  if (bytes.byteLength < 8) throw new SafetensorsError("file shorter than the 8-byte header length");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = Number(dv.getBigUint64(0, true));
  if (hlen > bytes.byteLength - 8 || hlen > 100_000_000) {
    throw new SafetensorsError(`header length ${hlen} exceeds the file (${bytes.byteLength} bytes)`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + hlen)));
  } catch (e) {
    throw new SafetensorsError(`header is not valid JSON: ${(e as Error).message}`);
  }
  const base = 8 + hlen;
  const dataLen = bytes.byteLength - base;
  const tensors: Record<string, SafeTensor> = {};
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = v as Record<string, string>;
      continue;
    }
    const info = v as { dtype: SafeDtype; shape: number[]; data_offsets: [number, number] };
    if (!(info.dtype in BYTES)) throw new SafetensorsError(`tensor ${name}: unsupported dtype ${info.dtype}`);
    const [b, e] = info.data_offsets ?? [];
    const n = (info.shape ?? []).reduce((a, c) => a * c, 1);
    if (!(Number.isInteger(b) && Number.isInteger(e) && 0 <= b && b <= e && e <= dataLen)) {
      throw new SafetensorsError(
        `tensor ${name}: data_offsets [${b}, ${e}] outside the data (${dataLen} bytes)`,
      );
    }
    if (e - b !== n * BYTES[info.dtype]) {
      throw new SafetensorsError(
        `tensor ${name}: ${e - b} bytes do not match shape [${info.shape}] ${info.dtype}`,
      );
    }
    tensors[name] = { dtype: info.dtype, shape: info.shape, data: bytes.subarray(base + b, base + e) };
  }
  return { tensors, metadata };
}

/**
 * A tensor's values as a new `Float32Array` (F32 copied; F16/BF16 widened).
 *
 * @example
 * ```ts
 * import { toFloat32 } from "./safetensors.ts";
 * toFloat32({ dtype: "F32", shape: [1], data: new Uint8Array(new Float32Array([1.5]).buffer) }); // [1.5]
 * ```
 */
export function toFloat32(t: SafeTensor): Float32Array {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const dv = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (t.dtype === "F32") {
    for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
  } else if (t.dtype === "BF16") {
    const u = new Uint32Array(1);
    const f = new Float32Array(u.buffer);
    for (let i = 0; i < n; i++) {
      u[0] = dv.getUint16(i * 2, true) << 16;
      out[i] = f[0];
    }
  } else if (t.dtype === "F16") {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(i * 2, true));
  } else {
    throw new SafetensorsError(`cannot convert ${t.dtype} to float32`);
  }
  return out;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
