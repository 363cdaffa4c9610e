// The controller and per-node proxies on a real API server, with lab nodes whose agents
// are simulated (LabAgent: slot state and boot counting in memory, no disk). What is
// real: the API server's watches, conflicts, status subresource, evictions and PDBs, and
// the proxies' least-privilege identities (RBAC and the own-node admission policy).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { V1Node } from "@kubernetes/client-node";
import { API_VERSION, type OsNode, type OsRollout } from "../../controller/api/types";
import { sleep } from "../../controller/kube/backoff";
import { installCrds } from "../../controller/kube/install";
import { silentLogger } from "../../controller/kube/log";
import { NODES, OSNODES, ROLLOUTS, resourcePath } from "../../controller/kube/resources";
import { Kube } from "../../controller/kube/rest";
import { Controller } from "../../controller/manager";
import { Metrics } from "../../controller/metrics/metrics";
import { ControlPlane } from "../../lab/harness/control-plane";
import { type Fleet, startFleet } from "../../lab/nodes/fleet";
import type { VersionBehaviour } from "../../lab/nodes/lab-agent";
import { osImageOf } from "../../lab/nodes/lab-node";
import { condition, waitFor } from "./support/wait";
import { watchUnavailable } from "./support/watch-unavailable";

const D1 = "1".repeat(64);
const D2 = "2".repeat(64);
const image = (version: string, digest: string) => ({ version, url: `https://127.0.0.1:1/${version}.img`, digest });

describe("rolling upgrades on a real API server with lab nodes (simulated agents)", { timeout: 600_000 }, () => {
  let cp: ControlPlane;
  let kube: Kube;
  before(async () => {
    cp = await ControlPlane.start();
    kube = new Kube(cp.kubeConfig());
    await installCrds(kube);
  });
  after(async () => {
    kube?.close();
    await cp?.stop();
  });

  const startController = async () => {
    const c = new Controller({
      kubeConfig: cp.kubeConfig(),
      log: silentLogger,
      metrics: new Metrics({ defaultMetrics: false }),
      healthPort: 0,
      leaseDurationMs: 4000,
      retryPeriodMs: 500,
    });
    await c.start();
    return c;
  };
  const getRollout = (name: string) => kube.request<OsRollout>("GET", resourcePath(ROLLOUTS, { name }));
  const createRollout = (name: string, spec: Partial<OsRollout["spec"]>) =>
    kube.request<OsRollout>("POST", resourcePath(ROLLOUTS), {
      body: { apiVersion: API_VERSION, kind: "OsRollout", metadata: { name }, spec: { image: image("1.1.0", D2), ...spec } },
    });

  it("rolls 10 nodes from 1.0.0 to 1.1.0 with at most 2 unavailable at any time", async () => {
    const fleet: Fleet = await startFleet({ kubeConfig: cp.kubeConfig(), count: 10, version: "1.0.0", digest: D1, prefix: "roll", log: silentLogger });
    const controller = await startController();
    const watcher = await watchUnavailable(kube);
    try {
      await createRollout("to-1-1", { maxUnavailable: 2, nodeSelector: { matchLabels: { "twinroot.dev/pool": "roll" } } });
      const done = await waitFor("Complete", async () => {
        const r = await getRollout("to-1-1");
        return condition(r, "Complete")?.status === "True" ? r : undefined;
      });
      assert.equal(done.status?.updated, 10);
      assert.equal(done.status?.failed, 0);
      for (const [i, agent] of fleet.agents.entries()) {
        assert.equal(agent.slots[agent.booted].version, "1.1.0", `node ${i} boots 1.1.0`);
        assert.equal(agent.slots[agent.booted].good, true, `node ${i} committed its slot`);
        assert.ok(agent.calls.indexOf("stage 1.1.0") < agent.calls.indexOf("reboot"), "staged before the reboot");
      }
      const nodes = await kube.request<{ items: V1Node[] }>("GET", resourcePath(NODES));
      for (const n of nodes.items.filter((n) => n.metadata?.name?.startsWith("roll-"))) {
        assert.equal(n.status?.nodeInfo?.osImage, osImageOf("1.1.0"));
        assert.ok(!n.spec?.unschedulable, `${n.metadata?.name} is uncordoned`);
      }
      const osNodes = await kube.request<{ items: OsNode[] }>("GET", resourcePath(OSNODES));
      assert.ok(osNodes.items.every((o) => o.status?.phase === "Done" && o.status.bootedVersion === "1.1.0"));
      assert.ok(watcher.changes > 20, "the watcher saw the rollout");
      assert.ok(watcher.max <= 2, `at most 2 nodes unavailable at once, saw ${watcher.max}`);
      assert.ok(watcher.max >= 1);
    } finally {
      watcher.stop();
      await controller.stop();
      await fleet.stop();
    }
  });

  it("rolls back a node whose new slot fails, and halts (Degraded) at the second failure with a budget of 1", async () => {
    // fail-00's 1.1.0 boots but fails the agent's health check; fail-01's never boots (the boot loader falls back).
    const fleet = await startFleet({
      kubeConfig: cp.kubeConfig(),
      count: 4,
      version: "1.0.0",
      digest: D1,
      prefix: "fail",
      behaviours: (i): Record<string, VersionBehaviour> => (i === 0 ? { "1.1.0": { unhealthy: true } } : i === 1 ? { "1.1.0": { noBoot: true } } : {}),
      log: silentLogger,
    });
    const controller = await startController();
    try {
      await createRollout("fails", { maxUnavailable: 1, failure: { maxFailedNodes: 1 }, nodeSelector: { matchLabels: { "twinroot.dev/pool": "fail" } } });
      const r = await waitFor("Degraded", async () => {
        const r = await getRollout("fails");
        return condition(r, "Degraded")?.status === "True" ? r : undefined;
      });
      assert.equal(condition(r, "Degraded")?.reason, "FailureBudgetExceeded");
      assert.equal(condition(r, "Progressing")?.status, "False");
      assert.equal(r.status?.failed, 2);
      await sleep(2000);
      for (const i of [0, 1]) {
        const agent = fleet.agents[i];
        assert.equal(agent?.slots[agent.booted].version, "1.0.0", `fail-0${i} runs 1.0.0 again`);
        const o = await kube.request<OsNode>("GET", resourcePath(OSNODES, { name: `fail-0${i}` }));
        assert.equal(o.status?.phase, "RolledBack");
        assert.ok(o.status?.lastError, "the per-node status says why");
        const n = await kube.request<V1Node>("GET", resourcePath(NODES, { name: `fail-0${i}` }));
        assert.ok(!n.spec?.unschedulable, "a rolled-back node is given back (LeaveRolledBack)");
      }
      assert.match((await kube.request<OsNode>("GET", resourcePath(OSNODES, { name: "fail-00" }))).status?.lastError ?? "", /health-check|health check/);
      for (const i of [2, 3]) assert.ok(!fleet.agents[i]?.calls.some((c) => c.startsWith("stage")), `fail-0${i} was never started after the halt`);
    } finally {
      await controller.stop();
      await fleet.stop();
    }
  });

  it("waits for a PodDisruptionBudget until the drain timeout, then gives the node back as the policy says", async () => {
    const fleet = await startFleet({ kubeConfig: cp.kubeConfig(), count: 2, version: "1.0.0", digest: D1, prefix: "pdb", log: silentLogger });
    await kube.request("POST", "/api/v1/namespaces", { body: { metadata: { name: "apps" } } });
    await kube.request("POST", "/api/v1/namespaces/apps/serviceaccounts", { body: { metadata: { name: "default" } } });
    const pod = (name: string, app: string) => ({
      metadata: { name, labels: { app } },
      spec: { nodeName: "pdb-00", automountServiceAccountToken: false, containers: [{ name: "c", image: "lab" }] },
    });
    await kube.request("POST", "/api/v1/namespaces/apps/pods", { body: pod("db", "db") });
    await kube.request("POST", "/api/v1/namespaces/apps/pods", { body: pod("web", "web") });
    const pdb = await kube.request<{ metadata: { generation: number } }>("POST", "/apis/policy/v1/namespaces/apps/poddisruptionbudgets", {
      body: { metadata: { name: "db" }, spec: { maxUnavailable: 0, selector: { matchLabels: { app: "db" } } } },
    });
    // No disruption controller runs in the lab; write the status it would: nothing may go.
    const cur = await kube.request<object>("GET", "/apis/policy/v1/namespaces/apps/poddisruptionbudgets/db");
    await kube.request("PUT", "/apis/policy/v1/namespaces/apps/poddisruptionbudgets/db/status", {
      body: { ...cur, status: { observedGeneration: pdb.metadata.generation, disruptionsAllowed: 0, currentHealthy: 1, desiredHealthy: 1, expectedPods: 1 } },
    });
    const watcher = await watchUnavailable(kube);
    const controller = await startController();
    try {
      await createRollout("pdb", {
        maxUnavailable: 1,
        drain: { timeout: "3s", onTimeout: "GiveBack" },
        failure: { maxFailedNodes: 1 },
        nodeSelector: { matchLabels: { "twinroot.dev/pool": "pdb" } },
      });
      const r = await waitFor("Complete", async () => {
        const r = await getRollout("pdb");
        return condition(r, "Complete")?.status === "True" ? r : undefined;
      });
      assert.equal(condition(r, "Complete")?.reason, "CompletedWithFailures");
      assert.equal(r.status?.updated, 1);
      assert.equal(r.status?.failed, 1);
      const o = await kube.request<OsNode>("GET", resourcePath(OSNODES, { name: "pdb-00" }));
      assert.equal(o.status?.phase, "Failed");
      assert.match(o.status?.lastError ?? "", /drain timed out with apps\/db still on the node/);
      assert.equal(fleet.agents[0]?.slots[fleet.agents[0].booted].version, "1.0.0", "a timed-out drain never turns into a reboot");
      assert.ok(!fleet.agents[0]?.calls.includes("reboot"));
      assert.ok(!(await kube.request<V1Node>("GET", resourcePath(NODES, { name: "pdb-00" }))).spec?.unschedulable, "given back");
      await kube.request("GET", "/api/v1/namespaces/apps/pods/db"); // still there: its budget held
      await assert.rejects(
        kube.request("GET", "/api/v1/namespaces/apps/pods/web"),
        (e: { code?: number }) => e.code === 404,
        "the unprotected pod was evicted",
      );
      const events = await kube.request<{ items: { reason: string; message: string }[] }>("GET", "/api/v1/namespaces/default/events");
      assert.ok(
        events.items.some((e) => e.reason === "DrainTimedOut" && /given back/.test(e.message)),
        "an Event says what the policy did",
      );
      assert.ok(watcher.max <= 1, `at most 1 node unavailable, saw ${watcher.max}`);
    } finally {
      watcher.stop();
      await controller.stop();
      await fleet.stop();
    }
  });

  it("upgrades a node someone else had cordoned and leaves it cordoned", async () => {
    const fleet = await startFleet({ kubeConfig: cp.kubeConfig(), count: 1, version: "1.0.0", digest: D1, prefix: "pre", log: silentLogger });
    await kube.request("PATCH", resourcePath(NODES, { name: "pre-00" }), {
      body: { spec: { unschedulable: true } },
      contentType: "application/merge-patch+json",
    });
    const controller = await startController();
    try {
      await createRollout("pre", { nodeSelector: { matchLabels: { "twinroot.dev/pool": "pre" } } });
      await waitFor("Complete", async () => (condition(await getRollout("pre"), "Complete")?.status === "True" ? true : undefined));
      assert.equal(fleet.agents[0]?.slots[fleet.agents[0].booted].version, "1.1.0");
      assert.equal((await kube.request<V1Node>("GET", resourcePath(NODES, { name: "pre-00" }))).spec?.unschedulable, true, "still cordoned by its owner");
    } finally {
      await controller.stop();
      await fleet.stop();
    }
  });

  it("reports a rollout whose selector matches no node in a condition", async () => {
    const controller = await startController();
    try {
      await createRollout("nobody", { nodeSelector: { matchLabels: { "twinroot.dev/pool": "none" } } });
      const r = await waitFor("a condition", async () => {
        const r = await getRollout("nobody");
        return condition(r, "Progressing") ? r : undefined;
      });
      assert.equal(condition(r, "Progressing")?.status, "False");
      assert.equal(condition(r, "Progressing")?.reason, "NoNodesSelected");
      assert.equal(r.status?.observedGeneration, 1);
    } finally {
      await controller.stop();
    }
  });
});
