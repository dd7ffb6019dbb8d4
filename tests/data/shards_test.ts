import { assertEquals, assertThrows } from "../_assert.ts";
import { BOS_ID, decodeShard, encodeShard, EOS_ID, splitPieces } from "../../lib/data/shards.ts";

Deno.test("shards: encode/decode round trip (uint16, uint32), BOS…EOS framing, split by meta items", () => {
  const pieces = [[10, 11, 12], [], [65535]];
  const bytes = encodeShard(pieces, "uint16");
  assertEquals(bytes.length, (5 + 2 + 3) * 2);
  assertEquals(Array.from(bytes.subarray(0, 4)), [BOS_ID, 0, 10, 0], "little-endian");
  const ids = decodeShard(bytes, "uint16");
  assertEquals(splitPieces(ids).map((p) => Array.from(p)), pieces.map((p) => [BOS_ID, ...p, EOS_ID]));
  const items = [0, 5, 7].map((offset, i) => ({
    source: `f${i}`,
    shift: 0,
    offset,
    length: [5, 2, 3][i],
    notes: 0,
  }));
  assertEquals(splitPieces(ids, items).map((p) => p.length), [5, 2, 3]);
  assertThrows(() => splitPieces(ids, [{ ...items[0], length: 4 }, items[1], items[2]]));
  assertThrows(() => encodeShard([[70000]], "uint16"));
  const big = decodeShard(encodeShard([[70000, 5]], "uint32"), "uint32");
  assertEquals(Array.from(big), [BOS_ID, 70000, 5, EOS_ID]);
  assertThrows(() => decodeShard(new Uint8Array(3), "uint16"));
});
