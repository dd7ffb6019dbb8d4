import { assert, assertEquals, assertThrows } from "../_assert.ts";
import {
  decodeBase64,
  encodeBase64,
  ParamError,
  parseGenerateParams,
  SERVER_PARAMS,
  toParamError,
} from "../../lib/server/params.ts";
import { GENERATE_PARAMS } from "../../lib/infer/params.ts";
import { GenerateParamError } from "../../lib/infer/param_error.ts";

const seed = () => 1234;

function fails(raw: Record<string, unknown>, field: string, allowed?: RegExp) {
  let e: unknown;
  try {
    parseGenerateParams(raw, seed);
  } catch (err) {
    e = err;
  }
  if (!(e instanceof ParamError)) throw new Error(`expected ParamError for ${JSON.stringify(raw)}, got ${e}`);
  assertEquals(e.field, field, `field for ${JSON.stringify(raw)}`);
  if (allowed && !allowed.test(e.allowed)) {
    throw new Error(`allowed "${e.allowed}" does not match ${allowed}`);
  }
}

Deno.test("parseGenerateParams: defaults are the documented ones", () => {
  assertEquals(parseGenerateParams({}, seed), {
    model: "default",
    temperature: 0.8,
    topK: 50,
    topP: 0.95,
    guidanceScale: 1,
    keyGuidanceScale: 1,
    densityGuidanceScale: 1,
    seed: 1234,
    grammar: true,
    maxTokens: 512,
    // left out: the app sets them from the model's generation_config.json when it has one
    defaulted: ["temperature", "topK", "topP", "guidanceScale", "keyGuidanceScale", "densityGuidanceScale"],
  });
  assertEquals(parseGenerateParams({ top_k: 5 }, seed).defaulted, [
    "temperature",
    "topP",
    "guidanceScale",
    "keyGuidanceScale",
    "densityGuidanceScale",
  ]);
  assertEquals(
    parseGenerateParams(
      {
        temperature: 1,
        topK: 5,
        top_p: 0.5,
        guidance_scale: "2.5",
        key_guidance_scale: 4,
        density_guidance_scale: 2,
      },
      seed,
    ).defaulted,
    undefined,
  );
});

Deno.test("parseGenerateParams: accepts JSON numbers, query strings and snake_case aliases", () => {
  const a = parseGenerateParams(
    {
      model: "v7.small",
      temperature: 2,
      top_k: "0",
      top_p: "0.01",
      seed: "42",
      grammar: "false",
      bars: "16",
      guidance_scale: "3",
      key_guidance_scale: "1",
      densityGuidanceScale: 6,
    },
    seed,
  );
  assertEquals(a, {
    model: "v7.small",
    temperature: 2,
    topK: 0,
    topP: 0.01,
    guidanceScale: 3,
    keyGuidanceScale: 1,
    densityGuidanceScale: 6,
    seed: 42,
    grammar: false,
    bars: 16,
  });
  assertEquals(parseGenerateParams({ seconds: 12.5 }, seed).seconds, 12.5);
  assertEquals(parseGenerateParams({ tokens: 100 }, seed).maxTokens, 100);
  assertEquals(parseGenerateParams({ maxTokens: 4096 }, seed).maxTokens, 4096);
});

Deno.test("parseGenerateParams: every field outside its range names the field and the allowed range", () => {
  fails({ temperature: 0.05 }, "temperature", /\[0\.1, 2\]/);
  fails({ temperature: 2.01 }, "temperature");
  fails({ temperature: "hot" }, "temperature");
  fails({ temperature: null }, "temperature");
  fails({ topK: 501 }, "topK", /integer in \[0, 500\]/);
  fails({ topK: 2.5 }, "topK");
  fails({ top_k: -1 }, "top_k");
  fails({ topP: 0 }, "topP", /\[0\.01, 1\]/);
  fails({ topP: 1.5 }, "topP");
  fails({ guidanceScale: 0.5 }, "guidanceScale", /\[1, 10\]/);
  fails({ guidance_scale: "strong" }, "guidance_scale");
  fails({ seed: -1 }, "seed");
  fails({ seed: 2 ** 32 }, "seed");
  fails({ seed: "1e400" }, "seed");
  fails({ tokens: 0 }, "tokens", /\[1, 4096\]/);
  fails({ tokens: 5000 }, "tokens");
  fails({ bars: 129 }, "bars");
  fails({ bars: 1.5 }, "bars");
  fails({ seconds: 0.5 }, "seconds");
  fails({ seconds: 601 }, "seconds");
  fails({ grammar: "maybe" }, "grammar", /true or false/);
  fails({ model: "../etc" }, "model");
  fails({ model: 7 }, "model");
  fails({ model: "" }, "model");
  fails({ prompt: 12 }, "prompt");
  fails({ prompt: "not base64 !!" }, "prompt");
  fails({ tokens: 10, bars: 2 }, "bars", /one of/);
  fails({ temprature: 1 }, "temprature");
  // Issue 11, F6: an empty value is no default, and numbers as text are decimal only.
  for (
    const f of [
      "tokens",
      "bars",
      "seconds",
      "temperature",
      "topK",
      "top_p",
      "seed",
      "grammar",
      "model",
      "prompt",
    ]
  ) {
    fails({ [f]: "" }, f);
  }
  fails({ prompt: null }, "prompt");
  fails({ prompt: "  " }, "prompt");
  fails({ model: null }, "model");
  fails({ topK: "0x10" }, "topK", /^an integer in \[0, 500\]$/);
  fails({ seed: "1e3" }, "seed");
  fails({ tokens: " 5" }, "tokens");
  fails({ temperature: "5abc" }, "temperature");
  fails({ temperature: "Infinity" }, "temperature");
  fails({ topP: "NaN" }, "topP");
  fails({ ["x".repeat(1000)]: 1 }, `${"x".repeat(63)}…`);
  // The server's narrowing (SERVER_PARAMS): one sequence per request; chunk is not an HTTP parameter.
  assertEquals(parseGenerateParams({ batch: 1 }, seed).maxTokens, 512);
  fails({ batch: 2 }, "batch", /^an integer in \[1, 1\]$/);
  fails({ chunk: 4 }, "chunk");
  // Named as the client spelled it.
  fails({ maxTokens: 5000 }, "maxTokens", /\[1, 4096\]/);
  fails({ maxTokens: 10, seconds: 2 }, "seconds", /^one of maxTokens, bars, seconds$/);
});

Deno.test("parseGenerateParams: messages name the field and quote what was given", () => {
  const msg = (raw: Record<string, unknown>) => {
    try {
      parseGenerateParams(raw, seed);
    } catch (e) {
      if (e instanceof ParamError) return e.message;
    }
    return "accepted";
  };
  assertEquals(msg({ temperature: 0.05 }), "temperature: expected a number in [0.1, 2], got 0.05");
  assertEquals(msg({ top_k: "2.5" }), 'top_k: expected an integer in [0, 500], got "2.5"');
  assertEquals(msg({ tokens: 5, bars: 2 }), "bars: give only one of tokens, bars, seconds");
  assertEquals(msg({ grammar: "maybe" }), 'grammar: expected true or false, got "maybe"');
});

Deno.test("toParamError: an engine-side GenerateParamError becomes the HTTP field's 400", () => {
  const e = toParamError(new GenerateParamError("maxTokens", "an integer in [1, 4096]", 0));
  assertEquals([e.field, e.allowed, e.message], [
    "tokens",
    "an integer in [1, 4096]",
    "tokens: expected an integer in [1, 4096], got 0",
  ]);
  assertEquals(toParamError(new GenerateParamError("topK", "x", 1), { topK: "top_k" }).field, "top_k");
});

Deno.test("SERVER_PARAMS: GENERATE_PARAMS narrowed (tokens, bars, seconds, batch), nothing widened", () => {
  for (const [name, s] of Object.entries(GENERATE_PARAMS)) {
    const n = SERVER_PARAMS[name as keyof typeof SERVER_PARAMS];
    if (s.kind === "bool" || n.kind === "bool" || s.kind === "text" || n.kind === "text") {
      assertEquals(n.kind, s.kind, name);
      continue;
    }
    assert(n.min >= s.min && n.max <= s.max, name);
  }
  assertEquals(
    [SERVER_PARAMS.maxTokens.max, SERVER_PARAMS.bars.max, SERVER_PARAMS.seconds.max, SERVER_PARAMS.batch.max],
    [4096, 128, 600, 1],
  );
});

Deno.test("decodeBase64 / encodeBase64 round-trip; bad base64 is a ParamError", () => {
  const bytes = new Uint8Array(70000).map((_, i) => (i * 31) & 255);
  assertEquals(decodeBase64(encodeBase64(bytes), "prompt"), bytes);
  assertThrows(
    () => decodeBase64("abcde", "prompt"),
    (e: unknown) => e instanceof ParamError && e.field === "prompt",
  );
});
