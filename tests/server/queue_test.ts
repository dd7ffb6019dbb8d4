import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { GenerationQueue, QueueFullError, QueueTimeoutError } from "../../lib/server/queue.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves when `signal` aborts (or after `ms`, whichever first); reports which. */
function waitAbort(signal: AbortSignal, ms: number): Promise<"aborted" | "finished"> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve("finished"), ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve("aborted");
    }, { once: true });
  });
}

Deno.test("GenerationQueue: with maxBatch 1, runs jobs one at a time, first in first out", async () => {
  const q = new GenerationQueue({ maxBatch: 1, maxWaiting: 10 });
  const log: string[] = [];
  let running = 0, maxRunning = 0;
  const job = (name: string) => async () => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    log.push(`start ${name}`);
    await sleep(5);
    log.push(`end ${name}`);
    running--;
    return name;
  };
  const results = await Promise.all(["a", "b", "c", "d"].map((n) => q.run(job(n))));
  assertEquals(results, ["a", "b", "c", "d"]);
  assertEquals(maxRunning, 1);
  assertEquals(log, ["start a", "end a", "start b", "end b", "start c", "end c", "start d", "end d"]);
  assertEquals(q.stats(), {
    running: 0,
    waiting: 0,
    maxBatch: 1,
    maxWaiting: 10,
    completed: 4,
    failed: 0,
    cancelled: 0,
  });
});

Deno.test("GenerationQueue: refuses a job beyond the bound with QueueFullError and a Retry-After estimate", async () => {
  const q = new GenerationQueue({ maxBatch: 1, maxWaiting: 2 });
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const jobs = [q.run(() => gate), q.run(() => gate), q.run(() => gate)]; // 1 running + 2 waiting
  await sleep(0);
  assertEquals(q.stats().running, 1);
  assertEquals(q.stats().waiting, 2);
  const err = await q.run(() => Promise.resolve()).catch((e) => e);
  assert(err instanceof QueueFullError, String(err));
  assert(err.retryAfterSeconds >= 1);
  release();
  await Promise.all(jobs);
  // Room again once the queue drains.
  assertEquals(await q.run(() => Promise.resolve(7)), 7);
});

Deno.test("GenerationQueue: a waiting job cancelled by its caller never starts; a running one sees its signal fire", async () => {
  const q = new GenerationQueue({ maxBatch: 1, maxWaiting: 4 });
  const runningCtl = new AbortController();
  let sawAbort: string | undefined;
  const first = q.run(async (signal) => {
    sawAbort = await waitAbort(signal, 2000);
    return sawAbort;
  }, { signal: runningCtl.signal });
  const waitingCtl = new AbortController();
  let secondStarted = false;
  const second = q.run(() => {
    secondStarted = true;
    return Promise.resolve();
  }, { signal: waitingCtl.signal });
  await sleep(0);
  assertEquals(q.stats().waiting, 1);
  waitingCtl.abort(new Error("gone"));
  await assertRejects(() => second, /gone/);
  assertEquals(q.stats().waiting, 0);
  runningCtl.abort(new Error("client left"));
  await assertRejects(() => first, /client left/);
  assertEquals(sawAbort, "aborted");
  assertEquals(secondStarted, false);
  assertEquals(q.stats().cancelled, 2);
  assertEquals(q.stats().running, 0);
});

Deno.test("GenerationQueue: a job past its time limit rejects with QueueTimeoutError and its signal fires", async () => {
  const q = new GenerationQueue({ timeoutMs: 30 });
  let seen: string | undefined;
  const err = await q.run(async (signal) => {
    seen = await waitAbort(signal, 5000);
  }).catch((e) => e);
  assert(err instanceof QueueTimeoutError, String(err));
  assertEquals(seen, "aborted");
  // The slot is free again.
  assertEquals(await q.run(() => Promise.resolve("ok")), "ok");
});

Deno.test("GenerationQueue: a failing job frees its slot and is counted as failed", async () => {
  const q = new GenerationQueue();
  await assertRejects(() => q.run(() => Promise.reject(new Error("boom"))), /boom/);
  assertEquals(await q.run(() => Promise.resolve(1)), 1);
  assertEquals(q.stats().failed, 1);
  assertEquals(q.stats().completed, 1);
});

Deno.test("GenerationQueue: maxBatch jobs run at once, the rest wait in order and hear their place in line", async () => {
  const q = new GenerationQueue({ maxBatch: 3, maxWaiting: 4 });
  const gates: (() => void)[] = [];
  let running = 0, maxRunning = 0;
  const job = () => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    return new Promise<void>((resolve) =>
      gates.push(() => {
        running--;
        resolve();
      })
    );
  };
  const heard: number[][] = [];
  const jobs = Array.from({ length: 7 }, (_, i) => {
    heard.push([]);
    return q.run(job, { onPosition: (p) => heard[i].push(p) });
  });
  // Told synchronously: the first three run, the others are numbers 1–4 in line.
  assertEquals(heard, [[0], [0], [0], [1], [2], [3], [4]]);
  await sleep(0);
  assertEquals([q.stats().running, q.stats().waiting], [3, 4]);
  assert(q.full);
  await assertRejects(() => q.run(job), QueueFullError);
  gates.shift()!(); // one row frees: number 1 starts, the others move up
  await sleep(0);
  assertEquals(heard.slice(3), [[1, 0], [2, 1], [3, 2], [4, 3]]);
  while (gates.length) {
    gates.shift()!();
    await sleep(0);
  }
  await Promise.all(jobs);
  assertEquals(maxRunning, 3);
  assertEquals(heard.slice(3), [[1, 0], [2, 1, 0], [3, 2, 1, 0], [4, 3, 2, 1, 0]]);
  assertEquals(q.stats().completed, 7);
});

Deno.test("GenerationQueue: cancelling one waiting job moves up only those behind it; one running leaves the others running", async () => {
  const q = new GenerationQueue({ maxBatch: 2, maxWaiting: 4 });
  const heard: number[][] = [[], [], [], [], []];
  const ctls = heard.map(() => new AbortController());
  const seen: string[] = [];
  const jobs = heard.map((h, i) =>
    q.run(async (signal) => {
      const r = await waitAbort(signal, 60);
      seen.push(`${i} ${r}`);
    }, { signal: ctls[i].signal, onPosition: (p) => h.push(p) }).catch((e) => `rejected ${e.message}`)
  );
  assertEquals(heard, [[0], [0], [1], [2], [3]]);
  ctls[3].abort(new Error("left the line"));
  assertEquals(heard, [[0], [0], [1], [2], [3, 2]]);
  ctls[0].abort(new Error("closed the tab"));
  const out = await Promise.all(jobs);
  assertEquals(out[0], "rejected closed the tab");
  assertEquals(out[3], "rejected left the line");
  assertEquals(out[1], undefined, "the job beside the cancelled one ran to its end");
  assert(
    seen.includes("1 finished") && seen.includes("2 finished") && seen.includes("4 finished"),
    seen.join(),
  );
  assertEquals(heard[2], [1, 0]);
  assertEquals(q.stats().cancelled, 2);
});

Deno.test("GenerationQueue: the defaults serve 16 at once with 64 waiting", () => {
  const q = new GenerationQueue();
  assertEquals([q.maxBatch, q.maxWaiting, q.timeoutMs], [16, 64, 120_000]);
});
