/**
 * lib/cli/args.ts, the one argument seam of every task: numbers are decimal text only and a bad one names its
 * option and range (issue 11, F5), and a negative number is a value, so its own check says what is allowed instead
 * of `parseArgs`' "argument is ambiguous".
 */
import { assert, assertEquals } from "../_assert.ts";
import { numberOpt, paramOptions, paramsFromCli, parseCli, UsageError } from "../../lib/cli/args.ts";

function usageError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert(e instanceof UsageError, String(e));
    assert(!e.message.includes("\n"), "one line");
    return e.message;
  }
  throw new Error("accepted");
}

Deno.test("numberOpt: decimal text within the range; anything else names the option and the range", () => {
  assertEquals(numberOpt({ port: "8080" }, "port", 8000, 0, 65535, true), 8080);
  assertEquals(numberOpt({}, "port", 8000, 0, 65535, true), 8000);
  assertEquals(numberOpt({ timeout: "2.5" }, "timeout", 120, 1, 3600), 2.5);
  assertEquals(numberOpt({ lr: "3e-4" }, "lr", 0, 0, 1), 0.0003);
  const port = (v: string) => usageError(() => numberOpt({ port: v }, "port", 8000, 0, 65535, true));
  assertEquals(
    port("0x1f90"),
    '--port: expected an integer in [0, 65535], got "0x1f90" (decimal digits only, e.g. 8080)',
  );
  assertEquals(
    port("1e3"),
    '--port: expected an integer in [0, 65535], got "1e3" (decimal digits only, e.g. 1000)',
  );
  assertEquals(
    port(" 5"),
    '--port: expected an integer in [0, 65535], got " 5" (decimal digits only, e.g. 5)',
  );
  assertEquals(port("5abc"), '--port: expected an integer in [0, 65535], got "5abc"');
  assertEquals(port("Infinity"), '--port: expected an integer in [0, 65535], got "Infinity"');
  assertEquals(port("NaN"), '--port: expected an integer in [0, 65535], got "NaN"');
  assertEquals(port(""), '--port: expected an integer in [0, 65535], got ""');
  assertEquals(port("-1"), '--port: expected an integer in [0, 65535], got "-1"');
  assertEquals(port("70000"), '--port: expected an integer in [0, 65535], got "70000"');
  const t = (v: string) => usageError(() => numberOpt({ timeout: v }, "timeout", 120, 1, 3600));
  assertEquals(
    t("0x10"),
    '--timeout: expected a number in [1, 3600], got "0x10" (decimal digits only, e.g. 16)',
  );
  assertEquals(t("Infinity"), '--timeout: expected a number in [1, 3600], got "Infinity"');
  // A long value is clipped in the message.
  assert(t("9".repeat(10_000)).length < 150);
});

Deno.test("parseCli: a negative number after a string option is its value, so the range is named", () => {
  const opts = {
    temperature: { type: "string" as const },
    seed: { type: "string" as const },
    v: { type: "boolean" as const },
  };
  assertEquals(parseCli(["--temperature", "-1"], opts).values.temperature, "-1");
  assertEquals(parseCli(["--seed", "-.5", "--temperature", "-1e3"], opts).values, {
    seed: "-.5",
    temperature: "-1e3",
  });
  assertEquals(parseCli(["--temperature=-2"], opts).values.temperature, "-2");
  // After "--" everything is positional; a dash that is no number is still an option (and an error).
  assertEquals(parseCli(["--", "--temperature", "-1"], opts).positionals, ["--temperature", "-1"]);
  assert(usageError(() => parseCli(["--temperature", "-x"], opts)).includes("ambiguous"));
  // A boolean option does not take a following negative number as its value: "-1" stays an (unknown) option.
  assert(usageError(() => parseCli(["--v", "-1"], opts)).startsWith("Unknown option '-1'"));
  // Through the generation parameters: the allowed range, not Node's "argument is ambiguous".
  const all = paramOptions();
  for (
    const [args, want] of [
      [["--temperature", "-1"], '--temperature: expected a number in [0.1, 2], got "-1"'],
      [["--top-k", "-5"], '--top-k: expected an integer in [0, 500], got "-5"'],
      [["--seed", "-1"], '--seed: expected an integer in [0, 4294967295], got "-1"'],
      [
        ["--temperature", "0x1"],
        '--temperature: expected a number in [0.1, 2], got "0x1" (decimal digits only, e.g. 1)',
      ],
    ] as const
  ) {
    assertEquals(usageError(() => paramsFromCli(parseCli([...args], all).values)), want, args.join(" "));
  }
});
