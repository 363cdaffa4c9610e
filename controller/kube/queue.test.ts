import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { silentLogger } from "./log";
import { WorkQueue } from "./queue";

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe("the work queue", () => {
  it("never works on one key twice at once, and reruns a key added during its work", async () => {
    const log: string[] = [];
    let inFlight = 0;
    let maxInFlightA = 0;
    const q = new WorkQueue(
      async (key) => {
        if (key === "a") maxInFlightA = Math.max(maxInFlightA, ++inFlight);
        log.push(`start ${key}`);
        await tick(20);
        log.push(`end ${key}`);
        if (key === "a") inFlight--;
        return undefined;
      },
      { log: silentLogger, concurrency: 4 },
    );
    q.add("a");
    await tick();
    q.add("a");
    q.add("a");
    q.add("b");
    await tick(100);
    await q.idle();
    assert.equal(maxInFlightA, 1);
    assert.equal(log.filter((l) => l === "start a").length, 2, "the two adds during work collapse into one rerun");
    assert.ok(log.indexOf("start b") < log.indexOf("end a"), "other keys run in parallel");
  });

  it("retries a failing key with backoff until it succeeds", async () => {
    let attempts = 0;
    const q = new WorkQueue(
      async () => {
        if (++attempts < 3) throw new Error("boom");
        return undefined;
      },
      { log: silentLogger },
    );
    q.add("x");
    for (let i = 0; i < 100 && attempts < 3; i++) await tick(20);
    assert.equal(attempts, 3);
    q.stop();
  });

  it("runs a key again when the worker asks to be requeued", async () => {
    let runs = 0;
    const q = new WorkQueue(
      async () => {
        runs++;
        return runs < 2 ? { requeueAfterMs: 10 } : undefined;
      },
      { log: silentLogger },
    );
    q.add("k");
    for (let i = 0; i < 50 && runs < 2; i++) await tick(10);
    assert.equal(runs, 2);
    q.stop();
  });

  it("tells the worker when the earliest add it answers arrived, an add during its work included", async () => {
    const seen: number[] = [];
    const q = new WorkQueue(
      async (_key, { queuedAt }) => {
        seen.push(queuedAt);
        await tick(30);
        return undefined;
      },
      { log: silentLogger, concurrency: 1 },
    );
    const t0 = Date.now();
    q.add("a");
    await tick();
    const t1 = Date.now();
    q.add("a");
    await tick();
    const t2 = Date.now();
    q.add("a");
    await tick(100);
    await q.idle();
    assert.equal(seen.length, 2, "two runs: the first add, then the adds made during it");
    assert.ok((seen[0] as number) >= t0 && (seen[0] as number) <= t1);
    assert.ok((seen[1] as number) >= t1 && (seen[1] as number) <= t2, "the second run answers the earliest add made during the first");
  });
});
