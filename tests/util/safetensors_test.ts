/**
 * lib/util/safetensors.ts: a malformed file's error names the file (issue 11, F5) when the bytes came from one, and
 * a malformed header is a `SafetensorsError`, never a TypeError.
 */
import { assert, assertEquals } from "../_assert.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  SafetensorsError,
  toFloat32,
} from "../../lib/util/safetensors.ts";

function header(json: unknown, data = 0): Uint8Array {
  const h = new TextEncoder().encode(JSON.stringify(json));
  const out = new Uint8Array(8 + h.length + data);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  return out;
}

/** The SafetensorsError `f` throws. */
function failure(f: () => unknown): SafetensorsError {
  try {
    f();
  } catch (e) {
    assert(e instanceof SafetensorsError, String(e));
    assert(!e.message.includes("\n"), "one line");
    return e;
  }
  throw new Error("accepted");
}

Deno.test("safetensors: round trip; every malformed file is a one-line error naming the file", () => {
  const bytes = encodeSafetensors({ w: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } }, {
    a: "b",
  });
  const { tensors, metadata } = decodeSafetensors(bytes, "m.safetensors");
  assertEquals([...toFloat32(tensors.w)], [1, 2]);
  assertEquals(metadata, { a: "b" });
  const bad: [Uint8Array, string][] = [
    [new Uint8Array(3), "file shorter than the 8-byte header length"],
    [bytes.slice(0, 12), "header length"],
    [header("not an object"), "header is not a JSON object"],
    [header({ w: 5 }), "tensor w: expected {dtype, shape, data_offsets}"],
    [header({ w: { dtype: "F64", shape: [1], data_offsets: [0, 8] } }, 8), "tensor w: unsupported dtype F64"],
    [header({ w: { dtype: "toString", shape: [1], data_offsets: [0, 8] } }, 8), "unsupported dtype toString"],
    [header({ w: { dtype: "F32", shape: "1", data_offsets: [0, 4] } }, 4), "tensor w: shape"],
    [header({ w: { dtype: "F32", shape: [1], data_offsets: [0, 8] } }, 4), "outside the data"],
    [header({ w: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }, 4), "do not match shape"],
  ];
  for (const [b, want] of bad) {
    const named = failure(() => decodeSafetensors(b, "dir/model.safetensors"));
    assert(named.message.startsWith("dir/model.safetensors: "), named.message);
    assert(named.message.includes(want), named.message);
    assertEquals(named.file, "dir/model.safetensors");
    // Without a file (bytes from memory) the message is just what is wrong.
    assertEquals(
      failure(() => decodeSafetensors(b)).message,
      named.message.slice("dir/model.safetensors: ".length),
    );
  }
  const notJson = new Uint8Array([...header({}).subarray(0, 8), ...new TextEncoder().encode("{{")]);
  new DataView(notJson.buffer).setBigUint64(0, 2n, true);
  assert(failure(() => decodeSafetensors(notJson, "x")).message.startsWith("x: header is not valid JSON"));
});

Deno.test("readSafetensors: reads a file; a missing or broken one is an error naming its path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "etude_st_" });
  const good = `${dir}/good.safetensors`, broken = `${dir}/broken.safetensors`;
  await Deno.writeFile(
    good,
    encodeSafetensors({ b: { dtype: "U8", shape: [3], data: new Uint8Array([1, 2, 3]) } }),
  );
  assertEquals([...(await readSafetensors(good)).tensors.b.data], [1, 2, 3]);
  await Deno.writeFile(broken, new Uint8Array([9, 9, 9]));
  for (const [path, want] of [[broken, "file shorter"], [`${dir}/none.safetensors`, "cannot read"]]) {
    let err: unknown;
    try {
      await readSafetensors(path);
    } catch (e) {
      err = e;
    }
    assert(err instanceof SafetensorsError, String(err));
    assert(err.message.startsWith(`${path}: ${want}`), err.message);
  }
});
