// The Lease elector against a real API server: one leader among concurrent candidates,
// takeover only after the lease expires, immediate takeover after a release.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sleep } from "../../controller/kube/backoff";
import { LeaseElector } from "../../controller/kube/lease";
import { silentLogger } from "../../controller/kube/log";
import { LEASES, resourcePath } from "../../controller/kube/resources";
import { Kube } from "../../controller/kube/rest";
import { ControlPlane } from "../../lab/harness/control-plane";

describe("Lease leader election on a real API server", { timeout: 300_000 }, () => {
  let cp: ControlPlane;
  let kube: Kube;
  before(async () => {
    cp = await ControlPlane.start();
    kube = new Kube(cp.kubeConfig());
  });
  after(async () => {
    kube?.close();
    await cp?.stop();
  });

  const elector = (name: string, identity: string, leaseDurationMs = 2000) =>
    new LeaseElector(new Kube(cp.kubeConfig()), {
      namespace: "default",
      name,
      identity,
      leaseDurationMs,
      renewDeadlineMs: 1500,
      retryPeriodMs: 200,
      log: silentLogger,
    });

  it("lets exactly one of many racing candidates win each round", async () => {
    const candidates = Array.from({ length: 8 }, (_, i) => elector("race", `c${i}`));
    for (let round = 0; round < 5; round++) {
      const won = await Promise.all(candidates.map((c) => c.tryAcquireOrRenew()));
      assert.equal(won.filter(Boolean).length, 1, `round ${round}: ${won}`);
    }
    const lease = await kube.request<{ spec: { holderIdentity: string } }>("GET", resourcePath(LEASES, { namespace: "default", name: "race" }));
    assert.equal(lease.spec.holderIdentity, `c${candidates.findIndex((c) => c.isLeader)}`, "the Lease names the winner");
  });

  it("takes over a lease only after its holder stopped renewing for a lease duration", async () => {
    const a = elector("expiry", "a");
    const b = elector("expiry", "b");
    assert.ok(await a.tryAcquireOrRenew());
    assert.equal(await b.tryAcquireOrRenew(), false);
    await sleep(1000);
    assert.ok(await a.tryAcquireOrRenew(), "the holder renews");
    assert.equal(await b.tryAcquireOrRenew(), false, "a renewed lease is not free");
    await sleep(2300);
    assert.ok(await b.tryAcquireOrRenew(), "the lease expired on b's clock");
    assert.equal(await a.tryAcquireOrRenew(), false, "the old holder lost it");
  });

  it("runs the leader's work in one candidate at a time, and hands over at once on release", async () => {
    let active = 0;
    let maxActive = 0;
    const leaders: string[] = [];
    const work = (id: string) => async (signal: AbortSignal) => {
      leaders.push(id);
      maxActive = Math.max(maxActive, ++active);
      await new Promise<void>((r) => signal.addEventListener("abort", () => r(), { once: true }));
      active--;
    };
    const stopA = new AbortController();
    const stopB = new AbortController();
    // A lease far longer than the test: b can only get it through a's release.
    const a = elector("run", "a", 60_000);
    const b = elector("run", "b", 60_000);
    const ra = a.run(work("a"), stopA.signal);
    await sleep(500);
    const rb = b.run(work("b"), stopB.signal);
    await sleep(1000);
    assert.deepEqual(leaders, ["a"]);
    stopA.abort();
    await ra;
    for (let i = 0; i < 50 && leaders.length < 2; i++) await sleep(100);
    assert.deepEqual(leaders, ["a", "b"]);
    stopB.abort();
    await rb;
    assert.equal(maxActive, 1);
  });
});
