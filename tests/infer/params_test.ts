/**
 * lib/infer/params.ts, the one table of generation parameters, and the faces derived from it: the table is
 * consistent, `checkGenerateParams` fills defaults and names every bad field, narrowing only narrows, and the CLI
 * (usage, parsing, messages) and the server (`/api/params`, validation) agree with it and with each other.
 */
import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { allowedText, checkNumber, parseDecimal } from "../../lib/infer/param_parse.ts";
import { checkGenerateParams, controlError } from "../../lib/infer/param_check.ts";
import { clipText, GenerateParamError, showValue } from "../../lib/infer/param_error.ts";
import {
  CONTROL_PARAMS,
  LENGTH_PARAMS,
  type NumberParam,
  type ParamName,
  type ParamSpec,
} from "../../lib/infer/param_spec.ts";
import { GENERATE_PARAMS, narrowParams, randomSeed } from "../../lib/infer/params.ts";
import { GenerateParamError as FromGenerate } from "../../lib/infer/generate.ts";
import { GenerateParamError as FromInferMod } from "../../lib/infer/mod.ts";
import { cliParamMessage, paramOptions, paramsFromCli, paramUsage, UsageError } from "../../lib/cli/args.ts";
import { CONTROL_RANGES, controlBias, KEY_TONIC_DEFAULT, keyPitchClasses } from "../../lib/infer/controls.ts";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import { GENERATE_USAGE } from "../../lib/cli/generate.ts";
import { PARAM_LIMITS, ParamError, parseGenerateParams, SERVER_PARAMS } from "../../lib/server/params.ts";
import { createApp } from "../../lib/server/app.ts";
import { emptyScore } from "../../lib/score.ts";

const entries = Object.entries(GENERATE_PARAMS) as [ParamName, ParamSpec][];
const numeric = entries.filter((e): e is [ParamName, NumberParam] =>
  e[1].kind === "int" || e[1].kind === "float"
);
const isLength = (n: string) => (LENGTH_PARAMS as readonly string[]).includes(n);
const isControl = (n: string) => CONTROL_PARAMS.includes(n as ParamName);
/** The rows off unless given that are not controls: the learned condition and the infill range. */
const isOptional = (n: string) => n === "style" || n === "infill";

/** What must be given beside `name` for it to apply (keyStrength: a key), by parameter name. */
function needs(name: ParamName): Record<string, unknown> {
  const s = GENERATE_PARAMS[name];
  return (s.kind === "int" || s.kind === "float") && s.requires
    ? { [s.requires]: GENERATE_PARAMS[s.requires].default }
    : {};
}

/** The same, by CLI flag. */
function needsFlags(name: ParamName): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(needs(name)).map(([k, v]) => [GENERATE_PARAMS[k as ParamName].cli!.flag, v]),
  );
}

/** A checked parameter's value: top-level, or in `controls` for a control. */
function valueOf(p: unknown, name: ParamName): unknown {
  const r = p as Record<string, unknown> & { controls?: Record<string, unknown> };
  return isControl(name) ? r.controls?.[name] : r[name];
}

/** What `checkGenerateParams` throws for `input`, or undefined. */
function errorOf(input: Record<string, unknown>, table = GENERATE_PARAMS): GenerateParamError | undefined {
  try {
    checkGenerateParams(input, table);
  } catch (e) {
    if (e instanceof GenerateParamError) return e;
    throw e;
  }
  return undefined;
}

Deno.test("GENERATE_PARAMS: every entry is complete and its default lies within its range", () => {
  const names = [
    "maxTokens",
    "bars",
    "seconds",
    "temperature",
    "topK",
    "topP",
    "guidanceScale",
    "keyGuidanceScale",
    "densityGuidanceScale",
    "seed",
    "batch",
    "grammar",
    "chunk",
    "style",
    "infill",
    ...CONTROL_PARAMS,
  ];
  assertEquals(Object.keys(GENERATE_PARAMS).sort(), [...names].sort());
  for (const n of LENGTH_PARAMS) assert(n in GENERATE_PARAMS, n);
  const flags = new Set<string>(), fields = new Set<string>();
  for (const [name, s] of entries) {
    assert(["int", "float", "bool", "text", "range"].includes(s.kind), name);
    assert(typeof s.doc === "string" && s.doc.length > 0 && !s.doc.includes("\n"), `${name}: one-line doc`);
    assert(Array.isArray(s.http), `${name}: http`);
    for (const f of s.http) {
      assert(!fields.has(f), `${name}: field ${f} used twice`);
      fields.add(f);
    }
    if (s.cli) {
      assert(/^[a-z][a-z-]*$/.test(s.cli.flag), `${name}: flag ${s.cli.flag}`);
      assert(!flags.has(s.cli.flag), `${name}: flag used twice`);
      flags.add(s.cli.flag);
    }
    assertEquals(!!s.control, isControl(name), `${name}: a control exactly when listed in CONTROL_PARAMS`);
    if (s.kind === "bool") {
      assertEquals(typeof s.default, "boolean", name);
      continue;
    }
    if (s.kind === "text") {
      // Every choice (and the default) is allowed and already canonical.
      for (const c of [s.default, ...s.choices]) assertEquals(s.normalize(c), c, `${name}: ${c}`);
      assert(s.choices.length > 0 && s.allowed.length > 0 && s.cli?.metavar, name);
      continue;
    }
    if (s.kind === "range") {
      const [lo, hi] = s.default;
      assert(Number.isInteger(lo) && Number.isInteger(hi) && s.min <= lo && lo <= hi && hi <= s.max, name);
      continue;
    }
    if (s.requires) assert(isControl(s.requires) && GENERATE_PARAMS[s.requires].http.length, name);
    for (const k of ["min", "max", "default", "step"] as const) {
      assert(Number.isFinite(s[k]), `${name}.${k}`);
    }
    assert(s.min <= s.default && s.default <= s.max, `${name}: default ${s.default} in [${s.min}, ${s.max}]`);
    assert(s.step > 0 && s.step <= s.max - s.min, `${name}: step`);
    if (s.kind === "int") {
      for (const k of ["min", "max", "default", "step"] as const) {
        assert(Number.isInteger(s[k]), `${name}.${k}`);
      }
    }
    if (s.cli) assert(s.cli.metavar.length > 0, `${name}: metavar`);
  }
  // The seed range is 32 bits on every face.
  assertEquals([GENERATE_PARAMS.seed.min, GENERATE_PARAMS.seed.max], [0, 2 ** 32 - 1]);
  assert(Object.isFrozen(GENERATE_PARAMS) && Object.isFrozen(GENERATE_PARAMS.temperature));
});

Deno.test("GenerateParamError is one class wherever imported from", () => {
  assert(FromGenerate === GenerateParamError);
  assert(FromInferMod === GenerateParamError);
  assert(FromInferMod === GenerateParamError);
});

Deno.test("checkGenerateParams: nothing given → every default, maxTokens as the length", () => {
  const expected: Record<string, unknown> = {};
  for (const [name, s] of entries) {
    if ((!isLength(name) || name === "maxTokens") && !isControl(name) && !isOptional(name)) {
      expected[name] = s.default;
    }
  }
  assertEquals(checkGenerateParams({}), expected);
  // Unknown keys (the rest of GenerateOptions) are ignored.
  assertEquals(checkGenerateParams({ model: {} } as Record<string, unknown>), expected);
  // "" is a value, not "absent" (issue 11, F6: an empty field silently took the default): only undefined is.
  assertEquals(errorOf({ temperature: "" })?.message, 'temperature: expected a number in [0.1, 2], got ""');
  // Each default, given explicitly, is accepted and kept.
  const given = Object.fromEntries(
    entries.filter(([n]) => !isLength(n) && !isControl(n) && !isOptional(n)).map(([n, s]) => [n, s.default]),
  );
  assertEquals(checkGenerateParams({ ...given, maxTokens: GENERATE_PARAMS.maxTokens.default }), expected);
});

Deno.test("checkGenerateParams: a length unit replaces maxTokens; numeric strings and bool words are read", () => {
  const p = checkGenerateParams({ bars: "4", temperature: "1.25", topK: 7, grammar: "off" });
  assertEquals([p.bars, p.maxTokens, p.seconds, p.temperature, p.topK, p.grammar], [
    4,
    undefined,
    undefined,
    1.25,
    7,
    false,
  ]);
  assert(!("maxTokens" in p));
  assertEquals(checkGenerateParams({ seconds: 2.5 }).seconds, 2.5);
  assertEquals(checkGenerateParams({ maxTokens: 40 }).maxTokens, 40);
});

Deno.test("checkGenerateParams: every bound is accepted; just outside it, a non-integer, text or null names the field", () => {
  for (const [name, s] of numeric) {
    for (const v of [s.min, s.max, String(s.max)]) {
      const p = checkGenerateParams({ ...needs(name), [name]: v });
      assertEquals(valueOf(p, name), Number(v), `${name} = ${v}`);
    }
    const eps = s.kind === "int" ? 1 : Math.min(s.step, 0.01);
    const bad: unknown[] = [s.min - eps, s.max + eps, "warm", null, NaN, Infinity, true, [1]];
    if (s.kind === "int") bad.push(s.min + 0.5);
    for (const v of bad) {
      const e = errorOf({ ...needs(name), [name]: v });
      assert(e, `${name} = ${String(v)} is rejected`);
      assertEquals(e.field, name);
      assertEquals(e.allowed, allowedText(s));
      assert(e.message.startsWith(`${name}: expected ${allowedText(s)}, got `), e.message);
      assert(!e.message.includes("\n"));
    }
  }
  const g = errorOf({ grammar: "maybe" });
  assertEquals([g?.field, g?.allowed, g?.message], [
    "grammar",
    "true or false",
    'grammar: expected true or false, got "maybe"',
  ]);
});

Deno.test("parseDecimal / checkNumber: numbers typed as text are decimal only, on every face", () => {
  for (
    const [text, int, float] of [
      ["42", 42, 42],
      ["-3", -3, -3],
      ["+5", 5, 5],
      ["007", 7, 7],
      ["0.5", NaN, 0.5],
      [".5", NaN, 0.5],
      ["5.", NaN, 5],
      ["2e-3", NaN, 0.002],
      ["1e3", NaN, 1000],
      ["5.0", NaN, 5],
    ] as const
  ) {
    assertEquals(parseDecimal(text, "int"), int, `int ${text}`);
    assertEquals(parseDecimal(text, "float"), float, `float ${text}`);
  }
  for (
    const text of [
      "0x10",
      "0X1",
      "0b1",
      "0o7",
      " 5",
      "5 ",
      "5abc",
      "Infinity",
      "-Infinity",
      "NaN",
      "",
      "1_000",
      "e3",
      ".",
    ]
  ) {
    assertEquals(parseDecimal(text, "int"), NaN, JSON.stringify(text));
    assertEquals(parseDecimal(text, "float"), NaN, JSON.stringify(text));
  }
  // Every numeric parameter refuses them, naming its range; text JavaScript would read gets a decimal hint.
  for (const [name, s] of numeric) {
    for (const text of ["0x10", " 5", "5abc", "Infinity", "NaN", ""]) {
      const e = errorOf({ ...needs(name), [name]: text });
      assert(e, `${name} = ${JSON.stringify(text)} is rejected`);
      assert(
        e.message.startsWith(`${name}: expected ${allowedText(s)}, got ${JSON.stringify(text)}`),
        e.message,
      );
    }
    if (s.kind === "int") {
      assert(errorOf({ ...needs(name), [name]: `${s.min}e0` }), `${name}: no exponent for an integer`);
    }
  }
  assertEquals(
    errorOf({ topK: "0x10" })?.message,
    'topK: expected an integer in [0, 500], got "0x10" (decimal digits only, e.g. 16)',
  );
  assertEquals(
    errorOf({ topK: "1e1" })?.message,
    'topK: expected an integer in [0, 500], got "1e1" (decimal digits only, e.g. 10)',
  );
  assertEquals(
    errorOf({ temperature: "5abc" })?.message,
    'temperature: expected a number in [0.1, 2], got "5abc"',
  );
  assertEquals(checkGenerateParams({ temperature: "1e0" }).temperature, 1, "a float may have an exponent");
  assertEquals(checkNumber("port", { kind: "int", min: 0, max: 65535 }, "8080"), 8080);
  assertThrows(
    () => checkNumber("port", { kind: "int", min: 0, max: 65535 }, "0x1f90"),
    GenerateParamError,
    "port: ",
  );
});

Deno.test("error messages echo at most 64 characters of a value", () => {
  const e = errorOf({ temperature: "x".repeat(1_000_000) });
  assert(e && e.message.length < 150, `${e?.message.length} characters`);
  assert(e.message.endsWith(`got "${"x".repeat(62)}…`), e.message.slice(-80));
  assertEquals(clipText("a".repeat(64)), "a".repeat(64));
  assertEquals(clipText("a".repeat(65)), `${"a".repeat(63)}…`);
  assertEquals(clipText(`${"a".repeat(62)}😀😀`), `${"a".repeat(62)}…`, "a surrogate pair is never cut");
  assertEquals(showValue({ k: "v".repeat(100) }).length, 64);
});

Deno.test("checkGenerateParams: more than one of maxTokens, bars, seconds is an error naming the second", () => {
  const one = { maxTokens: 10, bars: 2, seconds: 3 };
  for (const [a, b] of [["maxTokens", "bars"], ["maxTokens", "seconds"], ["bars", "seconds"]] as const) {
    const e = errorOf({ [a]: one[a], [b]: one[b] });
    assert(e);
    assertEquals(e.field, b);
    assertEquals(e.conflicts, LENGTH_PARAMS);
    assertEquals(e.message, `${b}: give only one of maxTokens, bars, seconds`);
    // A face names them its own way.
    assertEquals(
      e.describe((f) => `--${f}`).message,
      `--${b}: give only one of --maxTokens, --bars, --seconds`,
    );
  }
  // Out of range and conflicting: the conflict is reported.
  assertEquals(errorOf({ maxTokens: 0, bars: 0 })?.field, "bars");
});

Deno.test("narrowParams: narrows ranges and defaults explicitly; widening or a stray default is an error", () => {
  const t = narrowParams({
    maxTokens: { max: 4096 },
    batch: { max: 1 },
    temperature: { min: 0.5, default: 1 },
  });
  assertEquals([t.maxTokens.min, t.maxTokens.max, t.maxTokens.default], [1, 4096, 512]);
  assertEquals([t.batch.max, t.temperature.min, t.temperature.max, t.temperature.default], [1, 0.5, 2, 1]);
  assert(t.topP === GENERATE_PARAMS.topP, "untouched parameters are shared");
  assertEquals(GENERATE_PARAMS.maxTokens.max, 65536, "the base table is not changed");
  assert(Object.isFrozen(t) && Object.isFrozen(t.maxTokens));
  assertEquals(checkGenerateParams({}, t).temperature, 1);
  assertEquals(checkGenerateParams({ maxTokens: 4096 }, t).maxTokens, 4096);
  const e = errorOf({ maxTokens: 4097 }, t);
  assertEquals([e?.field, e?.allowed], ["maxTokens", "an integer in [1, 4096]"]);
  assertEquals(errorOf({ batch: 2 }, t)?.field, "batch");
  assertEquals(errorOf({ batch: 2 }), undefined, "the library still takes a batch of 2");
  // Narrowing a narrowed table.
  assertEquals(narrowParams({ maxTokens: { max: 1000 } }, t).maxTokens.max, 1000);
  assertThrows(() => narrowParams({ maxTokens: { max: 100000 } }), Error, "narrow only");
  assertThrows(() => narrowParams({ topP: { min: 0 } }), Error, "narrow only");
  assertThrows(() => narrowParams({ bars: { min: 10, max: 5 } }), Error);
  assertThrows(() => narrowParams({ maxTokens: { max: 100 } }), Error, "default 512");
  assertThrows(() => narrowParams({ grammar: { max: 1 } }), Error);
  assertThrows(
    () => narrowParams({ nope: { max: 1 } } as unknown as Parameters<typeof narrowParams>[0]),
    Error,
  );
});

Deno.test("randomSeed: integers within the seed range", () => {
  for (let i = 0; i < 200; i++) {
    const s = randomSeed();
    assert(Number.isInteger(s) && s >= 0 && s <= GENERATE_PARAMS.seed.max, String(s));
  }
  for (let i = 0; i < 50; i++) assert([3, 4, 5].includes(randomSeed({ min: 3, max: 5 })));
});

Deno.test("CLI: --help lists every flag with the table's range and default", () => {
  assert(GENERATE_USAGE.includes(paramUsage()));
  for (const [name, s] of entries) {
    if (!s.cli) {
      assert(!GENERATE_USAGE.includes(`--${name}`), `${name} is not a CLI option`);
      continue;
    }
    const line = GENERATE_USAGE.split("\n").find((l) =>
      l.trimStart().startsWith(`--${s.cli!.flag} `) ||
      l.trim() === `--${s.cli!.flag}` || l.trimStart().startsWith(`--${s.cli!.flag}  `)
    );
    assert(line, `--${s.cli.flag} in usage`);
    assert(line.includes(s.cli.doc ?? s.doc), line);
    if (s.kind === "bool") continue;
    if (s.kind === "text") {
      assert(line.includes("(default: off)"), line);
      if (s.exhaustive) assert(line.includes(s.choices.join(" | ")), line);
      continue;
    }
    assert(line.includes(`${s.min}–${s.max}`), line);
    if (s.kind === "range") assert(line.includes("(default: off)"), line);
    else if (s.random) assert(line.includes("default: random"), line);
    else if (s.requires) {
      assert(line.includes(`(default ${s.default}, with --${GENERATE_PARAMS[s.requires].cli!.flag})`), line);
    } else if (s.control) assert(line.includes("(default: off)"), line);
    else if (!isLength(name) || name === "maxTokens") assert(line.includes(`(default ${s.default})`), line);
  }
  assert(GENERATE_USAGE.includes("give at most one of --tokens, --bars, --seconds"));
  // A task can offer a subset, with its own defaults (tasks/eval.ts: a fixed seed).
  const sub = { table: narrowParams({ seed: { default: 1 } }), only: ["seed", "topP"] as const, draw: false };
  assertEquals(Object.keys(paramOptions(sub)), ["top-p", "seed"]);
  const u = paramUsage(sub);
  assertEquals(u.split("\n").length, 2);
  assert(u.includes("0–4294967295 (default 1)"), u);
  assertEquals(paramsFromCli({ temperature: "9" }, sub).seed, 1, "flags outside `only` are not read");
  // A narrowed table's usage shows the narrowed numbers.
  assert(
    paramUsage({ table: narrowParams({ temperature: { max: 1.5 } }) }).includes("0.1–1.5 (default 0.8)"),
  );
});

Deno.test("CLI: options are read through the table; messages name the flag", () => {
  const p = paramsFromCli({ "top-k": "10", "no-grammar": true, bars: "3", seed: "7" });
  assertEquals([p.topK, p.grammar, p.bars, p.maxTokens, p.seed], [10, false, 3, undefined, 7]);
  const d = paramsFromCli({});
  assertEquals([d.temperature, d.grammar, d.maxTokens], [
    GENERATE_PARAMS.temperature.default,
    true,
    GENERATE_PARAMS.maxTokens.default,
  ]);
  assert(Number.isInteger(d.seed) && d.seed <= GENERATE_PARAMS.seed.max, "a random seed is drawn");
  assertEquals(paramsFromCli({}, { draw: false }).seed, GENERATE_PARAMS.seed.default);
  const msg = (values: Record<string, unknown>) => {
    try {
      paramsFromCli(values);
    } catch (e) {
      assert(e instanceof UsageError, String(e));
      return e.message;
    }
    throw new Error(`accepted ${JSON.stringify(values)}`);
  };
  assertEquals(msg({ "top-p": "2" }), '--top-p: expected a number in [0.01, 1], got "2"');
  assertEquals(msg({ "top-k": "9999" }), '--top-k: expected an integer in [0, 500], got "9999"');
  assertEquals(msg({ tokens: "5", seconds: "2" }), "--seconds: give only one of --tokens, --bars, --seconds");
  // Decimal only (issue 11, F5): JavaScript's Number() would have read all of these.
  assertEquals(
    msg({ temperature: "0x1" }),
    '--temperature: expected a number in [0.1, 2], got "0x1" (decimal digits only, e.g. 1)',
  );
  assertEquals(
    msg({ seed: "1e3" }),
    '--seed: expected an integer in [0, 4294967295], got "1e3" (decimal digits only, e.g. 1000)',
  );
  assertEquals(
    msg({ "top-k": " 5" }),
    '--top-k: expected an integer in [0, 500], got " 5" (decimal digits only, e.g. 5)',
  );
  assertEquals(msg({ seed: "" }), '--seed: expected an integer in [0, 4294967295], got ""');
  assertEquals(msg({ tokens: "Infinity" }), '--tokens: expected an integer in [1, 65536], got "Infinity"');
  for (const [name, s] of numeric) {
    if (!s.cli) continue;
    assertEquals(
      msg({ ...needsFlags(name), [s.cli.flag]: String(s.max + 1) }),
      `--${s.cli.flag}: expected ${allowedText(s)}, got "${s.max + 1}"`,
      name,
    );
  }
});

/** A test app: the routes that do not generate need no model. */
function app() {
  return createApp({
    modelsDir: "/nonexistent",
    loadModel: () => Promise.resolve({}),
    generate: () => Promise.reject(new Error("not used")),
    readMidi: () => emptyScore(),
    writeMidi: () => new Uint8Array(),
  }).app;
}

Deno.test("server: /api/params is the table, narrowed only where SERVER_PARAMS says so", async () => {
  const served = await (await app().request("/api/params")).json();
  assertEquals(served, JSON.parse(JSON.stringify(PARAM_LIMITS)));
  const narrowed: string[] = [];
  for (const [name, s] of entries) {
    if (!s.http.length) {
      assert(!(name in served), `${name} is not over HTTP`);
      continue;
    }
    const l = served[s.http[0]], srv = SERVER_PARAMS[name];
    assert(l, `${name} served as ${s.http[0]}`);
    assertEquals([l.kind, l.fields, l.doc, l.allowed], [s.kind, s.http, s.doc, allowedText(srv)], name);
    if (s.kind === "bool" || srv.kind === "bool" || s.kind === "text" || srv.kind === "text") {
      assertEquals(l.default, s.default);
      if (s.kind === "text") {
        assertEquals([l.choices, l.exhaustive, l.control, l.condition], [
          s.choices,
          s.exhaustive,
          s.control,
          s.condition,
        ]);
      }
      continue;
    }
    assertEquals(l.control, s.control, name);
    assertEquals([l.min, l.max, l.step], [srv.min, srv.max, srv.step], name);
    if (s.kind !== "range" && s.random) assertEquals([l.random, "default" in l], [true, false], name);
    else assertEquals(l.default, srv.default, name);
    if (s.kind !== "range" && s.requires) assertEquals(l.requires, GENERATE_PARAMS[s.requires].http[0], name);
    if (srv.min !== s.min || srv.max !== s.max) narrowed.push(name);
    else assertEquals([l.min, l.max], [s.min, s.max], `${name}: the table's own range`);
  }
  // The server's limits, stated once, in lib/server/params.ts.
  assertEquals(narrowed.sort(), ["bars", "batch", "maxTokens", "seconds"]);
  assertEquals([served.tokens.max, served.bars.max, served.seconds.max, served.batch.max], [
    4096,
    128,
    600,
    1,
  ]);
});

Deno.test("server and CLI accept the same values where the server does not narrow, and the server a subset elsewhere", () => {
  const cliOk = (flag: string, v: string, beside: Record<string, unknown> = {}) => {
    try {
      paramsFromCli({ ...beside, [flag]: v });
      return true;
    } catch (e) {
      if (e instanceof UsageError) return false;
      throw e;
    }
  };
  const httpOk = (field: string, v: unknown, beside: Record<string, unknown> = {}) => {
    try {
      parseGenerateParams({ ...beside, [field]: v }, () => 1);
      return true;
    } catch (e) {
      if (e instanceof ParamError) {
        assertEquals(e.field, field);
        return false;
      }
      throw e;
    }
  };
  for (const [name, s] of numeric) {
    if (!s.cli || !s.http.length) continue;
    const srv = SERVER_PARAMS[name] as NumberParam;
    const eps = s.kind === "int" ? 1 : 0.001;
    const probes = [s.min, s.max, s.min - eps, s.max + eps, (s.min + s.max) / 2, srv.max, srv.max + eps];
    if (s.kind === "int") probes.push(s.min + 0.5);
    for (const v of probes) {
      const lib = errorOf({ ...needs(name), [name]: v }) === undefined;
      const cli = cliOk(s.cli.flag, String(v), needsFlags(name));
      assertEquals(cli, lib, `--${s.cli.flag} ${v}: CLI and generate() agree`);
      for (const field of s.http) {
        const http = httpOk(field, v, needs(name));
        if (srv.min === s.min && srv.max === s.max) {
          assertEquals(http, cli, `${field}=${v}: server and CLI agree`);
        } else assert(!http || cli, `${field}=${v}: the server accepts only what the CLI does`);
        assertEquals(
          httpOk(field, String(v), needs(name)),
          http,
          `${field}="${v}": a query string reads the same`,
        );
      }
    }
  }
  // The same messages, but named the face's way.
  let e: unknown;
  try {
    parseGenerateParams({ top_p: 2 });
  } catch (x) {
    e = x;
  }
  assert(e instanceof ParamError);
  assertEquals([e.field, e.allowed, e.message], [
    "top_p",
    "a number in [0.01, 1]",
    "top_p: expected a number in [0.01, 1], got 2",
  ]);
});

Deno.test("controls: each is off unless given; given ones are checked, normalised and returned as `controls`", () => {
  assert(!("controls" in checkGenerateParams({})), "none given: no controls");
  const p = checkGenerateParams({
    noRepeatNgram: "8",
    key: " e MIN",
    pitchRange: "48-84",
    timeSignature: " 6 / 8",
    density: "HIGH",
    tempo: "96",
    maxNoteBeats: "2.5",
    maxPolyphony: 4,
  });
  // In table order; a key brings its strength's and its tonic weight's defaults.
  assertEquals(
    JSON.stringify(p.controls),
    JSON.stringify({
      key: "E minor",
      keyStrength: 1,
      keyTonic: KEY_TONIC_DEFAULT,
      pitchRange: [48, 84],
      maxNoteBeats: 2.5,
      tempo: 96,
      timeSignature: "6/8",
      density: "high",
      maxPolyphony: 4,
      noRepeatNgram: 8,
    }),
  );
  assertEquals(checkGenerateParams({ key: "Bb major", keyStrength: "0.5", keyTonic: 0 }).controls, {
    key: "Bb major",
    keyStrength: 0.5,
    keyTonic: 0,
  });
  assertEquals(checkGenerateParams({ pitchRange: [60, 60] }).controls, { pitchRange: [60, 60] });
  const bad: [string, unknown][] = [
    ["key", "H minor"],
    ["key", "C dorian"],
    ["key", ""],
    ["key", 5],
    ["key", `C major${" ".repeat(100)}`],
    ["density", "loud"],
    ["density", 1.5],
    ["timeSignature", "3/5"],
    ["timeSignature", "0/4"],
    ["timeSignature", "33/4"],
    ["timeSignature", "3/4/4"],
    ["pitchRange", "84-48"],
    ["pitchRange", "48-128"],
    ["pitchRange", "48..84"],
    ["pitchRange", "-1-5"],
    ["pitchRange", "0x30-84"],
    ["pitchRange", ""],
    ["pitchRange", [48]],
    ["pitchRange", [48, 84.5]],
    ["pitchRange", ["48", "84"]],
    ["pitchRange", { lo: 48, hi: 84 }],
  ];
  for (const [name, v] of bad) {
    const e = errorOf({ [name]: v });
    assert(e, `${name} = ${JSON.stringify(v)} is rejected`);
    assertEquals([e.field, e.allowed], [name, allowedText(GENERATE_PARAMS[name as ParamName])]);
    assert(e.message.startsWith(`${name}: expected ${e.allowed}, got `), e.message);
  }
  // A strength or a tonic weight alone is an error, named on every face; so is a weight out of range.
  const lone = errorOf({ keyStrength: 0.5 });
  assertEquals([lone?.field, lone?.requires, lone?.message], [
    "keyStrength",
    "key",
    "keyStrength: applies only with key, got 0.5 without it",
  ]);
  assertEquals(errorOf({ keyTonic: 1 })?.message, "keyTonic: applies only with key, got 1 without it");
  assertEquals(
    errorOf({ key: "C major", keyTonic: 6 })?.message,
    "keyTonic: expected a number in [0, 5], got 6",
  );
});

Deno.test("controls: the CLI's flags and the server's fields give the same controls", () => {
  const cli = paramsFromCli({
    key: "E minor",
    "key-strength": "0.8",
    "key-tonic": "1.25",
    "pitch-range": "48-84",
    "max-note-beats": "4",
    tempo: "96",
    "time-signature": "3/4",
    density: "high",
    "max-polyphony": "4",
    "no-repeat-ngram": "8",
  });
  const http = parseGenerateParams({
    key: "E minor",
    key_strength: 0.8,
    key_tonic: 1.25,
    pitch_range: [48, 84],
    max_note_beats: 4,
    tempo: 96,
    time_signature: "3/4",
    density: "high",
    max_polyphony: 4,
    no_repeat_ngram: 8,
  });
  assertEquals(cli.controls, http.controls);
  assertEquals(cli.controls, {
    key: "E minor",
    keyStrength: 0.8,
    keyTonic: 1.25,
    pitchRange: [48, 84],
    maxNoteBeats: 4,
    tempo: 96,
    timeSignature: "3/4",
    density: "high",
    maxPolyphony: 4,
    noRepeatNgram: 8,
  });
  let message = "";
  try {
    paramsFromCli({ "key-strength": "0.5" });
  } catch (e) {
    message = (e as Error).message;
  }
  assertEquals(message, '--key-strength: applies only with --key, got "0.5" without it');
});

Deno.test("controls: every choice a face offers is one the library's own control code takes on the default REMI vocabulary", () => {
  const vocab = new RemiTokenizer().vocab;
  for (const name of ["key", "timeSignature", "density"] as const) {
    const s = GENERATE_PARAMS[name];
    for (const c of s.choices) {
      const bias = controlBias(vocab, checkGenerateParams({ [name]: c }).controls);
      assert(bias, `${name} ${c} is taken`);
      if (name !== "density") assert(bias.some((b) => b === -Infinity), `${name} ${c} masks some tokens`);
    }
  }
  // The key's canonical name and the library's key reading agree on every spelling the table accepts.
  for (const k of ["c# MAJ", "Db major", " a min ", "Bb minor"]) {
    const norm = GENERATE_PARAMS.key.normalize(k)!;
    assertEquals(keyPitchClasses(norm), keyPitchClasses(k), k);
  }
});

Deno.test("controlError: a library RangeError about a given control becomes a GenerateParamError naming it", () => {
  const given = { timeSignature: "13/16" };
  const e = controlError(new RangeError("timeSignature: 13/16 is not in this tokenizer's vocabulary"), given);
  assertEquals([e?.field, e?.value, e?.hint], [
    "timeSignature",
    "13/16",
    "13/16 is not in this tokenizer's vocabulary",
  ]);
  assertEquals(
    cliParamMessage(e!),
    '--time-signature: expected a time signature like 3/4 or 6/8, got "13/16" (13/16 is not in this tokenizer\'s vocabulary)',
  );
  assertEquals(controlError(new RangeError("topK: x"), given), undefined, "not a control");
  assertEquals(controlError(new Error("timeSignature: x"), given), undefined, "not a RangeError");
  assertEquals(controlError(new RangeError("timeSignature: x"), undefined), undefined, "no controls given");
  // The real library's error, through the real check.
  let thrown: unknown;
  try {
    controlBias(new RemiTokenizer().vocab, { timeSignature: "13/16" });
  } catch (x) {
    thrown = x;
  }
  assertEquals(controlError(thrown, given)?.field, "timeSignature");
});

Deno.test("controls: the table's ranges are the library's (CONTROL_RANGES), and README's 'Steer it' table is this table", async () => {
  for (const [name, r] of Object.entries(CONTROL_RANGES)) {
    if (name === "density") continue; // faces take its words only
    const s = GENERATE_PARAMS[(name === "pitch" ? "pitchRange" : name) as ParamName];
    assert(s.kind !== "bool" && s.kind !== "text", name);
    assertEquals([s.min, s.max], [r.min, r.max], name);
    if (s.kind !== "range") assertEquals(s.kind === "int", r.integer, name);
  }
  // README's rows as cells (deno fmt pads a table's columns), in order.
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const rows = readme.split("\n").filter((l) => l.startsWith("| `--")).map((l) =>
    l.slice(1, -1).split(" | ").map((c) => c.trim()).join(" | ")
  );
  const want = CONTROL_PARAMS.map((name) => {
    const s = GENERATE_PARAMS[name] as ParamSpec & { cli: { flag: string; metavar: string } };
    return `\`--${s.cli.flag} ${s.cli.metavar}\` | \`${s.http[0]}\` | ${allowedText(s)} | ${s.doc}`;
  });
  assertEquals(
    rows.filter((r) => want.includes(r) || CONTROL_PARAMS.some((n) => r.includes(`\`${n}\``))),
    want,
  );
});

Deno.test("style and infill: off unless given; style in `conditions`, infill as {from, to}; infill is the length", () => {
  const none = checkGenerateParams({});
  assert(!("conditions" in none) && !("infill" in none));
  const p = checkGenerateParams({ style: " POP ", infill: " 5 : 8 " });
  assertEquals([p.conditions, p.infill, p.maxTokens, p.bars], [
    { style: "pop" },
    { from: 5, to: 8 },
    undefined,
    undefined,
  ]);
  assertEquals(checkGenerateParams({ infill: { from: 3, to: 3 }, maxTokens: 100 }).infill, {
    from: 3,
    to: 3,
  });
  assertEquals(checkGenerateParams({ infill: "7" }).infill, { from: 7, to: 7 });
  assertEquals(checkGenerateParams({ infill: "2:3", maxTokens: 100 }).maxTokens, 100);
  const allowed = "bars FROM:TO of the prompt, 1 <= FROM <= TO <= 4096 (like 5:8)";
  for (const bad of ["8:5", "0:2", "1:5000", "", "5-8", "a"]) {
    assertEquals(
      errorOf({ infill: bad })?.message,
      `infill: expected ${allowed}, got ${JSON.stringify(bad)}`,
    );
  }
  assertEquals(errorOf({ infill: { from: 1.5, to: 2 } })?.field, "infill");
  assertEquals(errorOf({ infill: "2:3", bars: 4 })?.message, "bars: give only one of infill, bars");
  assertEquals(errorOf({ infill: "2:3", seconds: 4 })?.message, "seconds: give only one of infill, seconds");
  assertEquals(errorOf({ style: "jazz" })?.message, 'style: expected one of classical, pop, got "jazz"');
  // a reason instead of a range: what a model that cannot honour it says
  const e = new GenerateParamError(
    "style",
    "x",
    "pop",
    undefined,
    undefined,
    undefined,
    "not trained with it",
  );
  assertEquals(e.message, "style: not trained with it");
});
