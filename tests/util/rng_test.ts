import { assertEquals } from "../_assert.ts";
import { mixSeed, mulberry32, Rng, shuffleInPlace } from "../../lib/util/rng.ts";

// Values from the three copies this module replaced (lib/util/rng.ts's Rng, lib/data/_random.ts's mulberry32 and
// mixSeed, tests/infer/_fixtures.ts's rng): every seeded stream must stay bit-identical.
Deno.test("Rng (scrambled seed): the same stream as before the merge", () => {
  const r = new Rng(42);
  assertEquals(
    [r.next(), r.next(), r.next(), r.normal(), r.normal(), r.int(1000)],
    [0.3359855841845274, 0.351981483399868, 0.7685735300183296, -1.8710817943404745, 0.4205929170061075, 326],
  );
  assertEquals(r.state, 4294383903);
  assertEquals(new Rng(5).shuffle([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), [7, 6, 8, 1, 0, 2, 5, 4, 3, 9]);
});

Deno.test("mulberry32 (plain seed) and mixSeed: the same streams as before the merge", () => {
  const m = mulberry32(42);
  assertEquals([m(), m(), m()], [0.6011037519201636, 0.44829055899754167, 0.8524657934904099]);
  const m2 = mulberry32(0xdeadbeef);
  assertEquals([m2(), m2()], [0.9413696140982211, 0.26719574979506433]);
  assertEquals([mixSeed(7, "epoch", 3), mixSeed(0, "windows", 0), mixSeed(1, "shift", "a.mid")], [
    4128693307,
    3786870918,
    1835973939,
  ]);
  assertEquals(
    shuffleInPlace([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], mulberry32(mixSeed(3, "split"))),
    [9, 5, 4, 7, 6, 0, 3, 2, 1, 8],
  );
});

Deno.test("Rng.fromState is mulberry32; a restored state continues the stream", () => {
  const a = Rng.fromState(123), b = mulberry32(123);
  for (let i = 0; i < 100; i++) assertEquals(a.next(), b());
  const r = new Rng(9);
  r.next();
  const saved = r.state;
  const want = [r.next(), r.next()];
  const back = new Rng(0);
  back.state = saved;
  assertEquals([back.next(), back.next()], want);
});
