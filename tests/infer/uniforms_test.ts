/**
 * The uniform builders (lib/infer/_uniforms.ts) against the kernels' own text: every `struct P` in kernels/*.wgsl,
 * parsed here, has the fields of its layout in the same order with the same types; the builders put each named value
 * in its field; the state words sit where the kernels read them.
 */
import { assert, assertEquals, assertThrows } from "../_assert.ts";
import {
  attentionUniforms,
  embedUniforms,
  KERNEL_UNIFORMS,
  MATMUL_FLAGS,
  matmulUniforms,
  packRows,
  packStates,
  packUniforms,
  ropeUniforms,
  ROW_FIELDS,
  ROW_FLAGS,
  ROW_WORDS,
  samplerUniforms,
  STATE_FIELDS,
  STATE_WORDS,
  UNIFORM_WORDS,
  type UniformLayout,
} from "../../lib/infer/_uniforms.ts";

const KERNELS = new URL("../../kernels/", import.meta.url);

function wgslFiles(): string[] {
  return [...Deno.readDirSync(KERNELS)].filter((e) => e.isFile && e.name.endsWith(".wgsl")).map((e) =>
    e.name.slice(0, -5)
  ).sort();
}

/** The fields of `struct P { … }` in WGSL source, in declaration order. */
function parseStruct(src: string, name = "P"): [string, string][] {
  const code = src.replace(/\/\/[^\n]*/g, "");
  const m = new RegExp(`struct\\s+${name}\\s*\\{([^}]*)\\}`).exec(code);
  if (!m) throw new Error(`no struct ${name}`);
  return m[1].split(",").map((f) => f.trim()).filter(Boolean).map((f) => {
    const [field, type] = f.split(":").map((x) => x.trim());
    return [field, type];
  });
}

/** Reads packed bytes back by layout. */
function unpack(layout: UniformLayout, buf: ArrayBuffer): Record<string, number> {
  const dv = new DataView(buf);
  return Object.fromEntries(layout.map(([name, type], i) => [
    name,
    type === "f32"
      ? dv.getFloat32(i * 4, true)
      : type === "i32"
      ? dv.getInt32(i * 4, true)
      : dv.getUint32(i * 4, true),
  ]));
}

Deno.test("uniform layouts: every kernel's struct P, parsed from its .wgsl, has the layout's fields in order", () => {
  const files = wgslFiles();
  assert(files.length >= 11, `kernels found: ${files}`);
  assertEquals(Object.keys(KERNEL_UNIFORMS).sort(), files, "one layout per kernel file, no stale entries");
  for (const f of files) {
    const src = Deno.readTextFileSync(new URL(`${f}.wgsl`, KERNELS));
    const declared = parseStruct(src);
    assertEquals(declared, KERNEL_UNIFORMS[f].map(([n, t]) => [n, t]), `kernels/${f}.wgsl struct P`);
    assert(/var<uniform>\s+p\s*:\s*P\s*;/.test(src), `kernels/${f}.wgsl binds p: P as its uniform`);
    assert(declared.length <= UNIFORM_WORDS);
  }
  assertEquals(UNIFORM_WORDS, 8);
});

Deno.test("uniform builders: each named value lands in its field", () => {
  const mm = unpack(
    KERNEL_UNIFORMS.matmul,
    matmulUniforms({ rows: 3, n: 318, k: 64, fuseRmsNorm: true, addResidual: false, eps: 1e-5, xRow0: 2 }),
  );
  assertEquals(mm, {
    m: 3,
    n4: 80,
    k: 64,
    flags: MATMUL_FLAGS.FUSE_RMSNORM,
    xRow0: 2,
    yRow0: 0,
    eps: Math.fround(1e-5),
    n: 318,
  });
  const res = unpack(
    KERNEL_UNIFORMS.matmul,
    matmulUniforms({ rows: 1, n: 64, k: 96, fuseRmsNorm: false, addResidual: true, eps: 1e-6, yRow0: 5 }),
  );
  assertEquals([res.flags, res.yRow0, res.n4], [MATMUL_FLAGS.ADD_RESIDUAL, 5, 16]);
  const both = unpack(
    KERNEL_UNIFORMS.matmul,
    matmulUniforms({ rows: 1, n: 4, k: 4, fuseRmsNorm: true, addResidual: true, eps: 0 }),
  );
  assertEquals(both.flags, 3);

  const span = { rows: 7, prefill: true, seq: 2, posBase: 9 };
  const shape = { hidden: 48, headDim: 12, maxPos: 256 };
  assertEquals(unpack(KERNEL_UNIFORMS.embed, embedUniforms({ ...span, hidden: 48 })), {
    m: 7,
    d: 48,
    prefill: 1,
    seq: 2,
  });
  assertEquals(unpack(KERNEL_UNIFORMS.rope_kv, ropeUniforms({ ...span, ...shape, sequences: 3 })), {
    m: 7,
    d: 48,
    hd: 12,
    prefill: 1,
    seq: 2,
    posBase: 9,
    maxPos: 256,
    nseq: 3,
  });
  const att = unpack(KERNEL_UNIFORMS.attention, attentionUniforms({ ...span, prefill: false, ...shape }));
  assertEquals(att, {
    m: 7,
    d: 48,
    hd: 12,
    prefill: 0,
    seq: 2,
    posBase: 9,
    maxPos: 256,
    scale: Math.fround(1 / Math.sqrt(12)),
  });

  const s = unpack(
    KERNEL_UNIFORMS.sampler,
    samplerUniforms({
      vocab: 314,
      batch: 4,
      chunkStart: 64,
      debug: false,
      types: 12,
      sharedRow: true,
      seq0: 3,
    }),
  );
  assertEquals(s, { v: 314, b: 4, chunkStart: 64, debug: 0, nTypes: 12, rowStride: 0, seq0: 3 });
});

Deno.test("sampling rows: packRows puts each setting where sampler.wgsl reads it", () => {
  const sampler = Deno.readTextFileSync(new URL("sampler.wgsl", KERNELS)).replace(/\/\/[^\n]*/g, "");
  assertEquals(Number(/const ROW: u32 = (\d+)u;/.exec(sampler)?.[1]), ROW_WORDS);
  const f = ROW_FIELDS;
  for (
    const read of [
      `let flags = rows[ro + ${f.flags}u]`,
      `let invT = bitcast<f32>(rows[ro + ${f.invT}u])`,
      `let topP = bitcast<f32>(rows[ro + ${f.topP}u])`,
      `var k = rows[ro + ${f.topK}u]`,
      `draws - rows[ro + ${f.origin}u], rows[ro + ${f.stream}u]`,
      `vec2<u32>(rows[ro${f.seedLo ? ` + ${f.seedLo}u` : ""}], rows[ro + ${f.seedHi}u])`,
      `(flags & ${ROW_FLAGS.IDLE}u)`,
      `(flags & ${ROW_FLAGS.GRAMMAR}u)`,
    ]
  ) assert(sampler.includes(read), `sampler.wgsl: ${read}`);
  const w = packRows([
    { temperature: 0.8, topK: 50, topP: 0.95, seedWords: [7, 1], stream: 2, origin: 9, grammar: true },
    {
      temperature: 1,
      topK: 0,
      topP: 1,
      seedWords: [0, 0],
      stream: 0,
      origin: -1,
      grammar: false,
      idle: true,
    },
  ]);
  const fl = new Float32Array(w.buffer);
  assertEquals(w.length, 2 * ROW_WORDS);
  assertEquals([w[f.seedLo], w[f.seedHi], w[f.stream], w[f.origin], w[f.topK], w[f.flags]], [
    7,
    1,
    2,
    9,
    50,
    1,
  ]);
  assertEquals([fl[f.invT], fl[f.topP]], [Math.fround(1 / 0.8), Math.fround(0.95)]);
  assertEquals([w[ROW_WORDS + f.origin], w[ROW_WORDS + f.flags]], [0xffffffff, ROW_FLAGS.IDLE]);
});

Deno.test("packUniforms: 16-byte padded sizes, u32 wrap, and a missing field is an error naming it", () => {
  const layout = [["a", "u32"], ["b", "i32"], ["c", "f32"], ["d", "u32"], ["e", "u32"]] as const;
  const buf = packUniforms(layout, { a: -1, b: -2, c: 0.5, d: 2 ** 32 + 3, e: 0 });
  assertEquals(buf.byteLength, 32);
  assertEquals(unpack(layout, buf), { a: 0xffffffff, b: -2, c: 0.5, d: 3, e: 0 });
  assertEquals(packUniforms([["x", "u32"]] as const, { x: 1 }).byteLength, 16);
  assertThrows(
    () => packUniforms(layout, { a: 1, b: 2, c: 3, d: 4 } as never),
    Error,
    "uniform e",
  );
});

Deno.test("state words: packStates puts each field where the kernels read it", () => {
  const sampler = Deno.readTextFileSync(new URL("sampler.wgsl", KERNELS)).replace(/\/\/[^\n]*/g, "");
  assertEquals(Number(/const STATE: u32 = (\d+)u;/.exec(sampler)?.[1]), STATE_WORDS);
  // `let gType = state[st + 2u];`, `let gPos = bitcast<i32>(state[st + 3u]);` …
  const reads = new Map<string, number>();
  for (const m of sampler.matchAll(/let (\w+) = (?:bitcast<i32>\()?state\[st \+ (\d+)u\]/g)) {
    reads.set(m[1], +m[2]);
  }
  for (const name of ["gType", "gPos", "draws", "gBar"] as const) {
    assertEquals(reads.get(name), STATE_FIELDS[name], `sampler.wgsl reads ${name}`);
  }
  assert(sampler.includes(`state[st + ${STATE_FIELDS.gPitch}u]`), "sampler reads the pitch mask");
  for (const f of ["rope_kv", "attention", "attention_gpu"]) {
    const src = Deno.readTextFileSync(new URL(`${f}.wgsl`, KERNELS));
    assert(src.includes(`state[m * ${STATE_WORDS}u + ${STATE_FIELDS.pos}u]`), `${f}.wgsl reads pos`);
  }
  const embed = Deno.readTextFileSync(new URL("embed.wgsl", KERNELS));
  assert(
    embed.includes(`state[m * ${STATE_WORDS}u]`) && STATE_FIELDS.token === 0,
    "embed.wgsl reads the token",
  );

  const w = packStates([
    { token: 5, pos: 3, gType: 2, gPos: -1, draws: 9 },
    { token: 7, pos: 4, gType: 1, gPos: 6, gBar: 32, gPitch: [1, 2, 3, 4], draws: 10 },
  ]);
  assertEquals(w.length, 2 * STATE_WORDS);
  assertEquals([...w.subarray(0, STATE_WORDS)], [
    5,
    3,
    2,
    0xffffffff,
    9,
    0x7fffffff,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
  ]);
  assertEquals([...w.subarray(STATE_WORDS)], [7, 4, 1, 6, 10, 32, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0]);
});
