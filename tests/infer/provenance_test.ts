/**
 * lib/infer/provenance.ts without a model: the record's canonical form, its text event and sidecar, reading it back
 * from either, and one-line errors naming the file and the field.
 */
import { assert, assertEquals } from "../_assert.ts";
import {
  fileSha256,
  makeProvenance,
  modelSha256,
  nextSeed,
  parseProvenance,
  type Provenance,
  ProvenanceError,
  provenanceText,
  readProvenance,
  replayParams,
  sidecarPath,
  sidecarText,
} from "../../lib/infer/provenance.ts";
import { checkGenerateParams } from "../../lib/infer/param_check.ts";
import { KEY_TONIC_DEFAULT } from "../../lib/infer/controls.ts";
import { writeMidi } from "../../lib/midi/mod.ts";
import { emptyScore } from "../../lib/score.ts";
import { ETUDE_VERSION } from "../../lib/util/version.ts";
import { sha256Hex } from "../../lib/util/hash.ts";

const SHA = "ab".repeat(32);

/** The ProvenanceError `f` throws (anything else fails the test). */
function errorOf(f: () => unknown): ProvenanceError {
  try {
    f();
  } catch (e) {
    assert(e instanceof ProvenanceError, String(e));
    assert(!e.message.includes("\n"), "one line");
    return e;
  }
  throw new Error("no error");
}
const model = { path: "models/maestro-2m", sha256: SHA };

Deno.test("provenance: the canonical record holds the normalised settings, in a fixed order, without chunk", () => {
  const p = makeProvenance({
    model,
    prompt: { path: "ö.mid", sha256: "cd".repeat(32) },
    params: { seed: "12", temperature: 1.1, bars: 4, batch: 3, chunk: 7 },
    index: 2,
  });
  assertEquals(p, {
    v: 1,
    version: ETUDE_VERSION,
    model,
    prompt: { path: "ö.mid", sha256: "cd".repeat(32) },
    params: { seed: 12, temperature: 1.1, topK: 50, topP: 0.95, bars: 4, batch: 3, grammar: true },
    index: 2,
  });
  assertEquals(Object.keys(p), ["v", "version", "model", "prompt", "params", "index"]);
  // The text event: one line of ASCII JSON after "etude:".
  const text = provenanceText(p);
  assert(text.startsWith('etude:{"v":1,"version":'), text);
  assert(/^[\x20-\x7e]+$/.test(text), "ASCII only");
  assert(text.includes('"path":"\\u00f6.mid"'), text);
  assertEquals(JSON.parse(text.slice(6)), p);
  // The defaults: maxTokens when no length is given; a replay's parameters are generate()'s.
  const d = makeProvenance({ model, params: {} });
  assertEquals(d.params, {
    seed: 0,
    temperature: 0.8,
    topK: 50,
    topP: 0.95,
    maxTokens: 512,
    batch: 1,
    grammar: true,
  });
  assertEquals(d.index, 0);
  assertEquals(replayParams(p), checkGenerateParams({ ...p.params }));
  assertEquals(replayParams(p).chunk, 32);
  // Made from checkGenerateParams' output (what the CLI has), the same record.
  const v = checkGenerateParams({ seed: 12, temperature: 1.1, bars: 4, batch: 3 });
  assertEquals(makeProvenance({ model, prompt: p.prompt, params: v, index: 2 }), p);
  assertEquals(makeProvenance({ model: { embedded: "default", sha256: SHA }, params: {} }).model, {
    embedded: "default",
    sha256: SHA,
  });
});

Deno.test("provenance: the controls are recorded after the settings, normalised, in table order; none: no field", () => {
  const v = checkGenerateParams({
    seed: 3,
    bars: 2,
    noRepeatNgram: 8,
    density: "HIGH",
    pitchRange: "48-84",
    key: "e min",
    keyStrength: "0.8",
    tempo: 96,
    timeSignature: "3/4",
    maxNoteBeats: 4,
    maxPolyphony: 4,
  });
  const p = makeProvenance({ model, params: v });
  assertEquals(Object.keys(p.params), [
    "seed",
    "temperature",
    "topK",
    "topP",
    "bars",
    "batch",
    "grammar",
    "key",
    "keyStrength",
    "keyTonic",
    "pitchRange",
    "maxNoteBeats",
    "tempo",
    "timeSignature",
    "density",
    "maxPolyphony",
    "noRepeatNgram",
  ]);
  assertEquals(
    [p.params.key, p.params.keyStrength, p.params.pitchRange, p.params.density],
    ["E minor", 0.8, [48, 84], "high"],
  );
  // Through the .mid's text event and the sidecar, back to the same controls for generate().
  const mid = writeMidi(emptyScore(480), { text: [provenanceText(p)] });
  const back = readProvenance(mid, "take.mid");
  assertEquals(back, p);
  assertEquals(readProvenance(new TextEncoder().encode(sidecarText(p)), "take.json"), p);
  assertEquals(replayParams(back).controls, v.controls);
  // Made from the flat record (a replay) or from checkGenerateParams' nested output (the CLI): one record.
  assertEquals(makeProvenance({ model, params: { ...p.params } }), p);
  // A key alone records its strength's and its tonic weight's defaults.
  const keyed = makeProvenance({ model, params: { key: "C major" } }).params;
  assertEquals([keyed.keyStrength, keyed.keyTonic], [1, KEY_TONIC_DEFAULT]);
  // A record written before the tonic weight existed (a key, no keyTonic) replays as it was made: weight 0, not
  // today's default; one that has it keeps it.
  const { keyTonic: _, ...old } = keyed;
  const oldRecord = { ...makeProvenance({ model, params: { key: "C major" } }), params: old };
  assertEquals(replayParams(parseProvenance(oldRecord, "old.json")).controls?.keyTonic, 0);
  assertEquals(parseProvenance(oldRecord, "old.json").params.keyTonic, 0);
  const newRecord = makeProvenance({ model, params: { key: "C major", keyTonic: 1.5 } });
  assertEquals(replayParams(parseProvenance(newRecord, "new.json")).controls?.keyTonic, 1.5);
  assert(!("key" in makeProvenance({ model, params: {} }).params));
});

Deno.test("provenance: read back from a .mid's text event and from its sidecar", () => {
  const p = makeProvenance({
    model,
    params: { seed: 4294967295, seconds: 2.5, topP: 0.123456789, grammar: false },
  });
  const mid = writeMidi(emptyScore(480), { text: ["something else", provenanceText(p)] });
  assertEquals(readProvenance(mid, "take.mid"), p);
  const side = sidecarText(p, "deno task generate --replay take.json");
  assert(side.endsWith("}\n") && side.includes('\n  "params": {\n    "seed": 4294967295,'), side);
  assertEquals(JSON.parse(side).replay, "deno task generate --replay take.json");
  assertEquals(readProvenance(new TextEncoder().encode(side), "take.json"), p);
  assertEquals(sidecarPath("out/a-2.mid"), "out/a-2.json");
  assertEquals(sidecarPath("A.MIDI"), "A.json");
  assertEquals([nextSeed(7), nextSeed(4294967295)], [8, 0]);
});

Deno.test("provenance: a bad record is one line naming the file and the field", () => {
  const good = JSON.parse(JSON.stringify(makeProvenance({ model, params: { seed: 1 } }))) as Provenance;
  // A record as JSON, edited field by field.
  // deno-lint-ignore no-explicit-any
  type Json = Record<string, any>;
  const edit = (f: (r: Json) => void) => {
    const r = structuredClone(good) as unknown as Json;
    f(r);
    return r;
  };
  const cases: [unknown, string][] = [
    [[], "t.json: expected a provenance record (a JSON object), got []"],
    [edit((r) => r.v = 2), "t.json: v: record format 2 is newer than this etude reads (1): update etude"],
    [edit((r) => delete r.v), "t.json: v: expected 1, got undefined"],
    [edit((r) => r.extra = 1), "t.json: extra: not a field of a record"],
    [edit((r) => r.version = 3), "t.json: version: expected a version, got 3"],
    [edit((r) => r.model.sha256 = "AB"), 't.json: model.sha256: expected 64 lowercase hex digits, got "AB"'],
    [edit((r) => r.model.embedded = "x"), "t.json: model: expected exactly one of path, embedded"],
    [edit((r) => r.prompt = { path: "" }), 't.json: prompt.path: expected a non-empty string, got ""'],
    [edit((r) => r.params.topK = 9999), "t.json: params.topK: expected an integer in [0, 500], got 9999"],
    [edit((r) => r.params.topK = "5"), 't.json: params.topK: expected an integer in [0, 500], got "5"'],
    [edit((r) => delete r.params.seed), "t.json: params.seed: missing"],
    [
      edit((r) => delete r.params.maxTokens),
      "t.json: params: missing a length (one of maxTokens, bars, seconds)",
    ],
    [
      edit((r) => r.params.bars = 2),
      "t.json: params.bars: give only one of params.maxTokens, params.bars, params.seconds",
    ],
    [edit((r) => r.params.chunk = 2), "t.json: params.chunk: not a field of a record"],
    [edit((r) => r.params.grammar = "yes"), 't.json: params.grammar: expected true or false, got "yes"'],
    [edit((r) => r.index = 1), "t.json: index: expected an integer in [0, 0], got 1"],
    [
      edit((r) => r.params.key = "H minor"),
      't.json: params.key: expected a key like "C major" or "F# minor" (natural minor), got "H minor"',
    ],
    [
      edit((r) => r.params.keyStrength = 0.5),
      "t.json: params.keyStrength: applies only with params.key, got 0.5 without it",
    ],
    [
      edit((r) => Object.assign(r.params, { key: "C major", keyStrength: "0.5" })),
      't.json: params.keyStrength: expected a number in [0, 1], got "0.5"',
    ],
    [
      edit((r) => r.params.pitchRange = "48-84"),
      't.json: params.pitchRange: expected [lo, hi], LO-HI, two integers in [0, 127] with LO <= HI, got "48-84"',
    ],
    [
      edit((r) => r.params.pitchRange = [84, 48]),
      "t.json: params.pitchRange: expected LO-HI, two integers in [0, 127] with LO <= HI, got [84,48]",
    ],
    [edit((r) => r.params.density = 1), "t.json: params.density: expected one of low, medium, high, got 1"],
    [
      edit((r) => r.params.maxPolyphony = 0),
      "t.json: params.maxPolyphony: expected an integer in [1, 16], got 0",
    ],
  ];
  for (const [value, message] of cases) {
    assertEquals(errorOf(() => parseProvenance(value, "t.json")).message, message);
  }
  const enc = new TextEncoder();
  const starts = (f: () => unknown, prefix: string) => {
    const m = errorOf(f).message;
    assert(m.startsWith(prefix), m);
  };
  starts(() => readProvenance(enc.encode("{oops"), "t.json"), "t.json: neither a MIDI file nor valid JSON (");
  starts(
    () => readProvenance(writeMidi(emptyScore(480)), "t.mid"),
    "t.mid: no etude provenance record in this MIDI file (written with --no-provenance, or not by etude)",
  );
  starts(
    () => readProvenance(writeMidi(emptyScore(480), { text: ["etude:{"] }), "t.mid"),
    "t.mid: its etude provenance text is not valid JSON (",
  );
});

Deno.test("provenance: a model's sha256 is its model.safetensors', computed once per loaded model", async () => {
  const dir = await Deno.makeTempDir({ prefix: "etude_prov_" });
  try {
    const bytes = new TextEncoder().encode("weights");
    await Deno.writeFile(`${dir}/model.safetensors`, bytes);
    const want = await sha256Hex(bytes);
    assertEquals(await fileSha256(`${dir}/model.safetensors`), want);
    const loaded = { dir };
    assertEquals(await modelSha256(loaded), want);
    await Deno.writeFile(`${dir}/model.safetensors`, new Uint8Array([1]));
    assertEquals(await modelSha256(loaded), want, "cached for that load");
    assertEquals(await modelSha256({ dir }), await sha256Hex(new Uint8Array([1])), "a new load hashes again");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
