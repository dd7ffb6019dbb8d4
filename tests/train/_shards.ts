import { encodeShard, type ShardItem } from "../../lib/data/shards.ts";

/** Writes a prepared-dataset directory (meta.json, tokenizer.json, shards) in the format openShards reads. */
export async function writePrepared(
  dir: string,
  splits: { train: Uint16Array[]; validation: Uint16Array[]; test: Uint16Array[] },
  vocabSize: number,
  tokenizerJson?: unknown,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const tok = JSON.stringify(
    tokenizerJson ?? {
      kind: "remi",
      config: {},
      vocab: Array.from(
        { length: vocabSize },
        (_, i) => ["PAD_None", "BOS_None", "EOS_None", "MASK_None"][i] ?? `T_${i}`,
      ),
    },
  );
  await Deno.writeTextFile(`${dir}/tokenizer.json`, tok);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(tok)));
  const meta: Record<string, unknown> = {
    format: "etude-shards",
    version: 1,
    name: "synthetic",
    dtype: "uint16",
    vocabSize,
    specialTokens: { pad: 0, bos: 1, eos: 2, mask: 3 },
    tokenizer: {
      kind: JSON.parse(tok).kind,
      file: "tokenizer.json",
      sha256: [...digest].map((b) => b.toString(16).padStart(2, "0")).join(""),
    },
    splits: {},
  };
  for (const [name, pieces] of Object.entries(splits)) {
    // pieces already hold BOS … EOS: strip them, encodeShard adds them back
    const inner = pieces.map((p) => p.subarray(1, p.length - 1));
    await Deno.writeFile(`${dir}/${name}.bin`, encodeShard(inner, "uint16"));
    let offset = 0;
    const items: ShardItem[] = pieces.map((p, i) => {
      const it = { source: `synthetic/${i}`, shift: 0, offset, length: p.length, notes: 0 };
      offset += p.length;
      return it;
    });
    (meta.splits as Record<string, unknown>)[name] = {
      file: `${name}.bin`,
      pieces: pieces.length,
      sources: pieces.length,
      tokens: offset,
      notes: 0,
      items,
    };
  }
  await Deno.writeTextFile(`${dir}/meta.json`, JSON.stringify(meta));
}
