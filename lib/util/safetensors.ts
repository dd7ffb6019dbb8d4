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
  /** Element type as the file names it. */
  dtype: SafeDtype;
  /** Dimensions, outermost first (row-major). */
  shape: number[];
  /** The raw little-endian bytes (`shape` product × the dtype's size). */
  data: Uint8Array;
}

const BYTES: Record<SafeDtype, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8, U8: 1 };

/**
 * Error for a malformed safetensors file; the message names the file (when the bytes came from one: `file`) and the
 * tensor or field.
 *
 * @example
 * ```ts
 * import { SafetensorsError } from "./safetensors.ts";
 * const e = new SafetensorsError("header is not valid JSON", "model.safetensors");
 * e.message; // "model.safetensors: header is not valid JSON"
 * ```
 */
export class SafetensorsError extends Error {
  /** The error's name. */
  override name = "SafetensorsError";
  /** The file the bytes came from, when known. */
  readonly file?: string;
  /** `message` names what is wrong; `file`, when given, prefixes it. */
  constructor(message: string, file?: string) {
    super(file ? `${file}: ${message}` : message);
    if (file) this.file = file;
  }
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
 * Returned tensor data are views into `bytes` (no copy). `file` (the path the bytes were read from) prefixes every
 * error message; {@linkcode readSafetensors} passes it.
 *
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors, toFloat32 } from "./safetensors.ts";
 * const { tensors } = decodeSafetensors(encodeSafetensors({ w: { dtype: "F32", shape: [1], data: new Float32Array([3]) } }));
 * toFloat32(tensors.w); // Float32Array [3]
 * // decodeSafetensors(new Uint8Array(3), "m.safetensors") throws
 * // "m.safetensors: file shorter than the 8-byte header length"
 * ```
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  file?: string,
): { tensors: Record<string, SafeTensor>; metadata: Record<string, string> } {
  const fail = (message: string): never => {
    throw new SafetensorsError(message, file);
  };
  if (bytes.byteLength < 8) fail("file shorter than the 8-byte header length");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = Number(dv.getBigUint64(0, true));
  if (hlen > bytes.byteLength - 8 || hlen > 100_000_000) {
    fail(`header length ${hlen} exceeds the file (${bytes.byteLength} bytes)`);
  }
  let header: Record<string, unknown> = {};
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + hlen)));
  } catch (e) {
    fail(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    fail("header is not a JSON object");
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
    if (v === null || typeof v !== "object") fail(`tensor ${name}: expected {dtype, shape, data_offsets}`);
    const info = v as { dtype: SafeDtype; shape: number[]; data_offsets: [number, number] };
    if (!Object.hasOwn(BYTES, info.dtype)) fail(`tensor ${name}: unsupported dtype ${info.dtype}`);
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      fail(`tensor ${name}: shape ${JSON.stringify(shape)} is not a list of sizes`);
    }
    const [b, e] = (Array.isArray(info.data_offsets) ? info.data_offsets : [NaN, NaN]) as [number, number];
    const n = shape.reduce((a, c) => a * c, 1);
    if (!(Number.isInteger(b) && Number.isInteger(e) && 0 <= b && b <= e && e <= dataLen)) {
      fail(`tensor ${name}: data_offsets [${b}, ${e}] outside the data (${dataLen} bytes)`);
    }
    if (e - b !== n * BYTES[info.dtype]) {
      fail(`tensor ${name}: ${e - b} bytes do not match shape [${info.shape}] ${info.dtype}`);
    }
    tensors[name] = { dtype: info.dtype, shape: info.shape, data: bytes.subarray(base + b, base + e) };
  }
  return { tensors, metadata };
}

/**
 * Reads and parses a safetensors file; every error (unreadable, malformed) is a {@linkcode SafetensorsError} whose
 * message starts with `path`.
 *
 * @example
 * ```ts
 * import { readSafetensors } from "./safetensors.ts";
 * const { tensors } = await readSafetensors("models/default/model.safetensors");
 * ```
 */
export async function readSafetensors(
  path: string,
): Promise<{ tensors: Record<string, SafeTensor>; metadata: Record<string, string> }> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new SafetensorsError(`cannot read (${String((e as Error)?.message ?? e).split("\n")[0]})`, path);
  }
  return decodeSafetensors(bytes, path);
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
