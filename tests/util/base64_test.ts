import { assertEquals, assertThrows } from "../_assert.ts";
import { decodeBase64, encodeBase64 } from "../../lib/util/base64.ts";

Deno.test("base64: what btoa/atob give, at every length and across the 32 KiB chunking; white space is ignored", () => {
  for (const n of [0, 1, 2, 3, 4, 5, 100, 0x8000 + 7]) {
    const bytes = new Uint8Array(n).map((_, i) => (i * 37 + 11) & 255);
    let bin = "";
    for (const b of bytes) bin += String.fromCharCode(b);
    const b64 = encodeBase64(bytes);
    assertEquals(b64, btoa(bin));
    assertEquals(decodeBase64(b64), bytes);
  }
  assertEquals(encodeBase64(new Uint8Array([77, 84, 104, 100])), "TVRoZA==");
  assertEquals(decodeBase64("TVRo\nZA=="), new Uint8Array([77, 84, 104, 100]));
  assertThrows(() => decodeBase64("abcde"));
  assertThrows(() => decodeBase64("not base64 !!"));
});
