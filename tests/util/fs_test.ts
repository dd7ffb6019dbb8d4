import { assertEquals } from "../_assert.ts";
import { join } from "node:path";
import { exists, existsSync, listMidiFiles } from "../../lib/util/fs.ts";
import { esc } from "../../lib/util/svg.ts";
import { sha256Hex } from "../../lib/util/hash.ts";

Deno.test("exists / existsSync / listMidiFiles", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "etude_fs_" });
  try {
    await Deno.mkdir(join(tmp, "b", "c"), { recursive: true });
    for (const f of ["b/c/z.MID", "a.midi", "b/x.mid", "notes.txt", "b/y.mid.bak"]) {
      await Deno.writeFile(join(tmp, f), new Uint8Array());
    }
    await Deno.mkdir(join(tmp, "d.mid")); // a folder named like a MIDI file is not one
    assertEquals([await exists(join(tmp, "a.midi")), await exists(join(tmp, "nope"))], [true, false]);
    assertEquals([existsSync(join(tmp, "b")), existsSync(join(tmp, "nope"))], [true, false]);
    assertEquals(listMidiFiles(tmp), ["a.midi", "b/c/z.MID", "b/x.mid"].map((f) => join(tmp, f)));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("esc and sha256Hex", async () => {
  assertEquals(esc('a <b> & "c"'), "a &lt;b&gt; &amp; &quot;c&quot;");
  assertEquals(
    await sha256Hex(new TextEncoder().encode("")),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
});
