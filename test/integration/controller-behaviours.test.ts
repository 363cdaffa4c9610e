// How a rollout behaves when the world changes under it, on a real API server with lab
// nodes (simulated agents, real proxies): an overlapping younger rollout, a pause, a
// maintenance window that closes mid-rollout (on a fake clock given to the controller)
// and a new version while a rollout is in progress.
//
// What the controller decided is read from the API at points where it must have decided:
// after it observed a spec generation, or after its status names the reason it holds.
// Sets of started nodes are taken at those points, so no assertion depends on timing.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { API_VERSION, type OsNode, type OsRollout } from "../../controller/api/types";
import { silentLogger } from "../../controller/kube/log";
import { OSNODES, ROLLOUTS, resourcePath } from "../../controller/kube/resources";
import type { Kube } from "../../controller/kube/rest";
import { Controller } from "../../controller/manager";
import { Metrics } from "../../controller/metrics/metrics";
import type { ControlPlane } from "../../lab/harness/control-plane";
import { type Fleet, startFleet } from "../../lab/nodes/fleet";
import { startApiServer, stopApiServer } from "./support/api-server";
import { condition, waitFor } from "./support/wait";
import { watchUnavailable } from "./support/watch-unavailable";

const digest = (d: string) => d.repeat(64);
const image = (version: string, d: string) => ({ version, url: `https://127.0.0.1:1/${version}.img`, digest: digest(d) });
const pool = (name: string) => ({ matchLabels: { "twinroot.dev/pool": name } });
const bootedVersions = (fleet: Fleet) => fleet.agents.map((a) => a.slots[a.booted].version);

/** A clock that runs with real time from wherever the test sets it. */
class FakeClock {
  private offset = 0;
  readonly now = () => new Date(Date.now() + this.offset);
  set(at: Date): void {
    this.offset = at.getTime() - Date.now();
  }
}

describe("rollout behaviours on a real API server", { timeout: 600_000 }, () => {
  let cp: ControlPlane;
  let kube: Kube;
  before(async () => ({ cp, kube } = await startApiServer()));
  after(() => stopApiServer(cp, kube));

  const startController = async (clock?: () => Date) => {
    const c = new Controller({
      kubeConfig: cp.kubeConfig(),
      log: silentLogger,
      metrics: new Metrics({ defaultMetrics: false }),
      leaseDurationMs: 4000,
      retryPeriodMs: 500,
      clock,
    });
    await c.start();
    return c;
  };
  const fleetOf = (prefix: string, count: number, rebootMs = 1000) =>
    startFleet({ kubeConfig: cp.kubeConfig(), count, version: "1.0.0", digest: digest("1"), prefix, rebootMs, log: silentLogger });
  const getRollout = (name: string) => kube.request<OsRollout>("GET", resourcePath(ROLLOUTS, { name }));
  const createRollout = (name: string, spec: OsRollout["spec"]) =>
    kube.request<OsRollout>("POST", resourcePath(ROLLOUTS), { body: { apiVersion: API_VERSION, kind: "OsRollout", metadata: { name }, spec } });
  const patchRollout = (name: string, patch: object) =>
    kube.request<OsRollout>("PATCH", resourcePath(ROLLOUTS, { name }), { body: patch, contentType: "application/merge-patch+json" });
  /** The pool's OsNodes that carry a target, by name. */
  const targeted = async (prefix: string) => {
    const list = await kube.request<{ items: OsNode[] }>("GET", resourcePath(OSNODES));
    return new Map(list.items.filter((o) => o.metadata.name?.startsWith(`${prefix}-`) && o.spec.target).map((o) => [o.metadata.name ?? "", o]));
  };
  /** Waits until the controller has acted on the rollout's current spec generation. */
  const observed = (name: string) =>
    waitFor(`${name}'s generation observed`, async () => {
      const r = await getRollout(name);
      return r.status?.observedGeneration === r.metadata.generation ? r : undefined;
    });
  const completes = (name: string, version: string) =>
    waitFor(`${name} complete on ${version}`, async () => {
      const r = await getRollout(name);
      return r.status?.targetVersion === version && condition(r, "Complete")?.status === "True" ? r : undefined;
    });

  it("holds the younger of two overlapping rollouts with a condition, and runs it once the older is gone", async () => {
    const fleet = await fleetOf("ovl", 2, 300);
    const controller = await startController();
    try {
      const older = await createRollout("b-older", { image: image("1.1.0", "2"), maxUnavailable: 1, nodeSelector: pool("ovl") });
      // Creation times have one-second resolution: the younger must be created a second later to be younger.
      // Its name sorts first, so only the creation time can make it the younger.
      const born = Date.parse(String(older.metadata.creationTimestamp));
      await waitFor("the next second", async () => (Date.now() - born >= 1000 ? true : undefined));
      await createRollout("a-younger", {
        image: image("1.2.0", "3"),
        maxUnavailable: 2,
        nodeSelector: { matchExpressions: [{ key: "twinroot.dev/pool", operator: "In", values: ["ovl"] }] },
      });
      const held = await waitFor("the younger held", async () => {
        const r = await getRollout("a-younger");
        return condition(r, "Progressing")?.reason === "SelectorOverlap" ? r : undefined;
      });
      assert.equal(condition(held, "Progressing")?.status, "False");
      assert.equal(condition(held, "Degraded")?.status, "True");
      assert.match(condition(held, "Progressing")?.message ?? "", /rollout b-older already selects 2 of these nodes/);

      await completes("b-older", "1.1.0");
      const still = await observed("a-younger");
      assert.equal(condition(still, "Progressing")?.reason, "SelectorOverlap", "still held after the older one completed");
      assert.deepEqual(
        [...(await targeted("ovl")).values()].map((o) => o.spec.target?.rollout),
        ["b-older", "b-older"],
        "only the older rollout ever targeted the nodes",
      );
      assert.ok(!fleet.agents.some((a) => a.calls.includes("stage 1.2.0")), "the younger rollout staged nothing");

      await kube.request("DELETE", resourcePath(ROLLOUTS, { name: "b-older" }));
      await completes("a-younger", "1.2.0");
      assert.deepEqual(bootedVersions(fleet), ["1.2.0", "1.2.0"]);
    } finally {
      await controller.stop();
      await fleet.stop();
    }
  });

  it("takes back a target write the API server refuses: the node is not started, the budget holds, and it starts once allowed", async () => {
    // An admission policy refuses any spec write to deny-01's OsNode (its status stays
    // writable for its proxy): the controller's target write fails after the plan counted it.
    const policy = {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicy",
      metadata: { name: "deny-target-write" },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: { resourceRules: [{ apiGroups: ["twinroot.dev"], apiVersions: ["*"], operations: ["UPDATE"], resources: ["osnodes"] }] },
        validations: [{ expression: "object.metadata.name != 'deny-01'", message: "deny-01 is frozen", reason: "Forbidden" }],
      },
    };
    const binding = {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name: "deny-target-write" },
      spec: { policyName: "deny-target-write", validationActions: ["Deny"] },
    };
    const vap = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies";
    const vapb = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings";
    await kube.request("POST", vap, { body: policy });
    await kube.request("POST", vapb, { body: binding });
    const fleet = await fleetOf("deny", 3, 300);
    // The policy takes effect once the API server has loaded it: probe with a write of our own.
    await waitFor("the policy in force", async () => {
      try {
        await kube.request("PATCH", resourcePath(OSNODES, { name: "deny-01" }), {
          body: { metadata: { labels: { probe: "1" } } },
          contentType: "application/merge-patch+json",
        });
        return undefined;
      } catch (err) {
        return /deny-01 is frozen/.test((err as Error).message) ? true : undefined;
      }
    });
    const controller = await startController();
    const watcher = await watchUnavailable(kube);
    try {
      await createRollout("deny", { image: image("1.1.0", "2"), maxUnavailable: 1, nodeSelector: pool("deny") });
      const held = await waitFor("the other two updated", async () => {
        const r = await getRollout("deny");
        return r.status?.updated === 2 ? r : undefined;
      });
      assert.equal(held.status?.pending, 1, "deny-01 is pending, not counted in progress");
      assert.equal((await targeted("deny")).has("deny-01"), false, "deny-01 never got a target");
      assert.equal(condition(held, "Complete")?.status, "False");
      await kube.request("DELETE", `${vapb}/deny-target-write`);
      await kube.request("DELETE", `${vap}/deny-target-write`);
      const done = await completes("deny", "1.1.0");
      assert.equal(done.status?.updated, 3);
      assert.deepEqual(bootedVersions(fleet), ["1.1.0", "1.1.0", "1.1.0"]);
      assert.ok(watcher.max <= 1, `at most 1 node unavailable, saw ${watcher.max}`);
    } finally {
      watcher.stop();
      await controller.stop();
      await fleet.stop();
      await kube.request("DELETE", `${vapb}/deny-target-write`).catch(() => undefined);
      await kube.request("DELETE", `${vap}/deny-target-write`).catch(() => undefined);
    }
  });

  it("pauses: nodes in flight finish, none starts even with budget to spare, and resuming finishes the rollout", async () => {
    const fleet = await fleetOf("pause", 3);
    const controller = await startController();
    const watcher = await watchUnavailable(kube);
    try {
      await createRollout("pause", { image: image("1.1.0", "2"), maxUnavailable: 1, nodeSelector: pool("pause") });
      await waitFor("a node started", async () => ((await targeted("pause")).size > 0 ? true : undefined));
      await patchRollout("pause", { spec: { paused: true } });
      const seen = await observed("pause");
      assert.equal(condition(seen, "Paused")?.status, "True");
      const started = [...(await targeted("pause")).keys()];
      assert.ok(started.length < 3, `the pause came before the last node started (${started})`);

      const quiet = await waitFor("the nodes in flight finished", async () => {
        const r = await getRollout("pause");
        return r.status?.inProgress === 0 ? r : undefined;
      });
      assert.equal(quiet.status?.updated, started.length, "every node in flight finished");
      assert.equal(condition(quiet, "Progressing")?.reason, "Paused");
      assert.equal(condition(quiet, "Progressing")?.status, "False");

      // More budget while paused: the controller acts on the new generation and still starts nothing.
      await patchRollout("pause", { spec: { maxUnavailable: 3 } });
      await observed("pause");
      assert.deepEqual([...(await targeted("pause")).keys()], started);

      await patchRollout("pause", { spec: { paused: false } });
      const done = await completes("pause", "1.1.0");
      assert.equal(done.status?.updated, 3);
      assert.equal(condition(done, "Paused")?.status, "False");
      assert.ok(watcher.max <= 3, `within the budget, saw ${watcher.max}`);
    } finally {
      watcher.stop();
      await controller.stop();
      await fleet.stop();
    }
  });

  it("finishes the nodes in flight when its maintenance window closes, starts none until the next one opens, then resumes", async () => {
    const clock = new FakeClock();
    // Mondays 10:00-11:00 UTC; the test starts half-way through one.
    clock.set(new Date("2030-01-07T10:30:00Z"));
    const fleet = await fleetOf("win", 4, 2500);
    const controller = await startController(clock.now);
    const watcher = await watchUnavailable(kube);
    try {
      await createRollout("win", {
        image: image("1.1.0", "2"),
        maxUnavailable: 2,
        nodeSelector: pool("win"),
        maintenanceWindows: [{ days: ["Mon"], start: "10:00", duration: "1h", timeZone: "UTC" }],
      });
      await waitFor("nodes started in the window", async () => ((await targeted("win")).size > 0 ? true : undefined));
      clock.set(new Date("2030-01-07T11:00:05Z"));
      await waitFor("the closed window noticed", async () =>
        condition(await getRollout("win"), "Progressing")?.reason === "OutsideMaintenanceWindow" ? true : undefined,
      );
      const inFlight = [...(await targeted("win")).keys()];
      assert.ok(inFlight.length > 0 && inFlight.length < 4, `some nodes were in flight when the window closed (${inFlight})`);

      const closed = await waitFor("the nodes in flight finished", async () => {
        const r = await getRollout("win");
        return r.status?.inProgress === 0 ? r : undefined;
      });
      assert.equal(closed.status?.updated, inFlight.length, "the nodes in flight finished after the window closed");
      assert.equal(condition(closed, "Progressing")?.status, "False");
      assert.equal(condition(closed, "Progressing")?.reason, "OutsideMaintenanceWindow");
      assert.match(condition(closed, "Progressing")?.message ?? "", /no maintenance window is open; the next opens in 100\d\d min/);
      assert.deepEqual([...(await targeted("win")).keys()], inFlight, "no node started outside the window");

      // Three seconds before next Monday's window. The controller reads the clock when it
      // reconciles; an annotation makes it reconcile now (nothing else changes), and its
      // own requeue for the window's opening has to do the rest.
      clock.set(new Date("2030-01-14T09:59:57Z"));
      await patchRollout("win", { metadata: { annotations: { "test.twinroot.dev/nudge": "1" } } });
      const done = await completes("win", "1.1.0");
      assert.equal(done.status?.updated, 4);
      assert.deepEqual(bootedVersions(fleet), ["1.1.0", "1.1.0", "1.1.0", "1.1.0"]);
      assert.ok(watcher.max <= 2, `within the budget, saw ${watcher.max}`);
    } finally {
      watcher.stop();
      await controller.stop();
      await fleet.stop();
    }
  });

  it("supersedes a rollout in progress with a new version: a rebooting node finishes, pending nodes never get the old one", async () => {
    const fleet = await fleetOf("sup", 4);
    const controller = await startController();
    const watcher = await watchUnavailable(kube);
    try {
      await createRollout("sup", { image: image("1.1.0", "2"), maxUnavailable: 1, nodeSelector: pool("sup") });
      // Wait for the second node to be rebooting into 1.1.0 (the first one done), so the
      // switch finds a node past its drain.
      const rebooting = await waitFor("a second node rebooting", async () => {
        const nodes = [...(await targeted("sup")).values()];
        const done = nodes.filter((o) => o.status?.phase === "Done" && o.status.bootedVersion === "1.1.0");
        const reb = nodes.find((o) => o.status?.phase === "Rebooting" && o.status.operation?.version === "1.1.0");
        return done.length === 1 && reb ? (reb.metadata.name ?? "") : undefined;
      });
      await patchRollout("sup", { spec: { image: image("1.2.0", "3") } });
      await observed("sup");
      // Every node the old version reached by now: targeted, operating on it or booted on it.
      const hadOld = new Set(
        [...(await targeted("sup")).values()]
          .filter((o) => o.spec.target?.image.version === "1.1.0" || o.status?.operation?.version === "1.1.0" || o.status?.bootedVersion === "1.1.0")
          .map((o) => o.metadata.name ?? ""),
      );
      assert.ok(hadOld.has(rebooting) && hadOld.size < 4, `the old version reached only some nodes (${[...hadOld]})`);

      const done = await completes("sup", "1.2.0");
      assert.equal(done.status?.updated, 4);
      assert.deepEqual(bootedVersions(fleet), ["1.2.0", "1.2.0", "1.2.0", "1.2.0"]);
      for (const [i, node] of fleet.nodes.entries()) {
        if (hadOld.has(node.name)) continue;
        assert.ok(!fleet.agents[i]?.calls.includes("stage 1.1.0"), `${node.name} never got the superseded version`);
      }
      const calls = fleet.agents[fleet.nodes.findIndex((n) => n.name === rebooting)]?.calls ?? [];
      const firstReboot = calls.indexOf("reboot", calls.indexOf("stage 1.1.0"));
      assert.ok(
        calls.indexOf("stage 1.1.0") < firstReboot && firstReboot < calls.indexOf("stage 1.2.0") && calls.indexOf("stage 1.2.0") < calls.lastIndexOf("reboot"),
        `${rebooting} finished 1.1.0, then went to 1.2.0: ${calls.filter((c) => c !== "status").join(", ")}`,
      );
      const events = await kube.request<{ items: { reason: string; message: string; involvedObject: { name: string } }[] }>(
        "GET",
        "/api/v1/namespaces/default/events",
      );
      assert.ok(
        events.items.some((e) => e.reason === "Superseded" && e.involvedObject.name === "sup" && /1\.1\.0 superseded by 1\.2\.0/.test(e.message)),
        "an Event says the rollout was superseded",
      );
      assert.ok(watcher.max <= 1, `within the budget, saw ${watcher.max}`);
    } finally {
      watcher.stop();
      await controller.stop();
      await fleet.stop();
    }
  });
});
