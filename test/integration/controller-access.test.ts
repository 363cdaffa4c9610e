// Least privilege on a real API server: the RBAC and admission policy of controller/rbac,
// applied as the lab applies them, with identities as a cluster issues them (a proxy's
// token is bound to its Pod on its node, so the API server knows the node's name).
// A proxy may write its own Node and OsNode and nothing of another node; the controller
// and proxies need nothing beyond their grants for a whole rollout. (The server refuses a
// policy whose CEL does not compile when it is created; the type-checking warnings in its
// status come from kube-controller-manager, which the lab does not run.)

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { V1Node } from "@kubernetes/client-node";
import { waitForRollout } from "../../components/rollout-wait";
import { API_VERSION, type OsNode } from "../../controller/api/types";
import { sleep } from "../../controller/kube/backoff";
import { installCrds } from "../../controller/kube/install";
import { silentLogger } from "../../controller/kube/log";
import { LEASES, NODES, OSNODES, ROLLOUTS, resourcePath } from "../../controller/kube/resources";
import { Kube, KubeError } from "../../controller/kube/rest";
import { Controller } from "../../controller/manager";
import { Metrics } from "../../controller/metrics/metrics";
import { ControlPlane } from "../../lab/harness/control-plane";
import { startFleet } from "../../lab/nodes/fleet";
import { controllerKubeConfig, installLabAccess, type LabAccess, proxyKubeConfig, unboundProxyKubeConfig } from "../../lab/nodes/identity";

/** Asserts that `p` is refused with `code` and a message matching `message`. */
async function refused(p: Promise<unknown>, code: number, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof KubeError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
}

const cordon = (value: boolean | null) => ({
  body: { spec: { unschedulable: value } },
  contentType: "application/strategic-merge-patch+json",
});
const osNode = (name: string) => ({ apiVersion: API_VERSION, kind: "OsNode", metadata: { name }, spec: { nodeName: name } });
const OWN_NODE_ONLY = /twinroot proxy of node own-a may write only its own node, not (nodes|osnodes) own-b/;

describe("least privilege on a real API server", { timeout: 300_000 }, () => {
  let cp: ControlPlane;
  let admin: Kube;
  let access: LabAccess;
  let proxyA: Kube;
  before(async () => {
    cp = await ControlPlane.start();
    admin = new Kube(cp.kubeConfig());
    await installCrds(admin);
    access = await installLabAccess(admin);
    for (const name of ["own-a", "own-b"]) {
      await admin.request("POST", resourcePath(NODES), { body: { apiVersion: "v1", kind: "Node", metadata: { name } } });
    }
    proxyA = new Kube(await proxyKubeConfig(access, "own-a"));
    // The API server loads admission policies through an informer: wait until this one
    // is in force (a write it must refuse is refused) before testing what it allows.
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await proxyA.request("PATCH", resourcePath(NODES, { name: "own-b" }), cordon(null));
      } catch (err) {
        if (err instanceof KubeError && err.code === 403 && OWN_NODE_ONLY.test(err.message)) break;
        throw err;
      }
      if (Date.now() > deadline) throw new Error("the proxy admission policy did not come into force within 60 s");
      await sleep(250);
    }
  });
  after(async () => {
    proxyA?.close();
    admin?.close();
    await cp?.stop();
  });

  it("refuses a proxy's writes to another node's Node and OsNode with the policy's message", async () => {
    await refused(proxyA.request("PATCH", resourcePath(NODES, { name: "own-b" }), cordon(true)), 403, OWN_NODE_ONLY);
    await refused(proxyA.request("POST", resourcePath(OSNODES), { body: osNode("own-b") }), 403, OWN_NODE_ONLY);
    const theirs = await admin.request<OsNode>("POST", resourcePath(OSNODES), { body: osNode("own-b") });
    await refused(
      proxyA.request("PUT", resourcePath(OSNODES, { name: "own-b", sub: "status" }), {
        body: { ...theirs, status: { phase: "Failed", message: "not yours" } },
      }),
      403,
      OWN_NODE_ONLY,
    );
    assert.ok(!(await admin.request<V1Node>("GET", resourcePath(NODES, { name: "own-b" }))).spec?.unschedulable, "the other Node is untouched");
    assert.equal((await admin.request<OsNode>("GET", resourcePath(OSNODES, { name: "own-b" }))).status, undefined, "the other OsNode is untouched");
  });

  it("lets a proxy create and write its own OsNode and cordon its own Node", async () => {
    const mine = await proxyA.request<OsNode>("POST", resourcePath(OSNODES), { body: osNode("own-a") });
    const written = await proxyA.request<OsNode>("PUT", resourcePath(OSNODES, { name: "own-a", sub: "status" }), {
      body: { ...mine, status: { phase: "Idle", message: "mine" } },
    });
    assert.equal(written.status?.message, "mine");
    const cordoned = await proxyA.request<V1Node>("PATCH", resourcePath(NODES, { name: "own-a" }), cordon(true));
    assert.equal(cordoned.spec?.unschedulable, true);
    const released = await proxyA.request<V1Node>("PATCH", resourcePath(NODES, { name: "own-a" }), cordon(null));
    assert.ok(!released.spec?.unschedulable);
  });

  it("refuses what RBAC does not grant a proxy even on its own node", async () => {
    // The target in the OsNode's spec is the controller's to write.
    await refused(
      proxyA.request("PATCH", resourcePath(OSNODES, { name: "own-a" }), {
        body: { spec: { target: { rollout: "mine", image: { version: "6.6.6", url: "https://127.0.0.1/x", digest: "6".repeat(64) } } } },
        contentType: "application/merge-patch+json",
      }),
      403,
      /cannot patch resource "osnodes"/,
    );
    await refused(proxyA.request("DELETE", resourcePath(NODES, { name: "own-a" })), 403, /cannot delete resource "nodes"/);
    await refused(proxyA.request("GET", resourcePath(ROLLOUTS)), 403, /cannot list resource "osrollouts"/);
  });

  it("refuses every Node and OsNode write by a proxy token bound to no node", async () => {
    const unbound = new Kube(await unboundProxyKubeConfig(access));
    try {
      await refused(unbound.request("PATCH", resourcePath(NODES, { name: "own-a" }), cordon(true)), 403, /bound to no node, so it may write no nodes/);
      await refused(unbound.request("POST", resourcePath(OSNODES), { body: osNode("own-c") }), 403, /bound to no node, so it may write no osnodes/);
    } finally {
      unbound.close();
    }
  });

  it("runs a rollout with the controller and proxies under these identities alone", async () => {
    const fleet = await startFleet({
      kubeConfig: cp.kubeConfig(),
      access,
      count: 2,
      version: "1.0.0",
      digest: "1".repeat(64),
      prefix: "priv",
      log: silentLogger,
    });
    const namespace = access.options.namespace;
    const controller = new Controller({
      kubeConfig: await controllerKubeConfig(access),
      namespace,
      log: silentLogger,
      metrics: new Metrics({ defaultMetrics: false }),
      leaseDurationMs: 4000,
      retryPeriodMs: 500,
    });
    await controller.start();
    try {
      await admin.request("POST", resourcePath(ROLLOUTS), {
        body: {
          apiVersion: API_VERSION,
          kind: "OsRollout",
          metadata: { name: "priv" },
          spec: {
            image: { version: "1.1.0", url: "https://127.0.0.1:1/1.1.0.img", digest: "2".repeat(64) },
            maxUnavailable: 2,
            nodeSelector: { matchLabels: { "twinroot.dev/pool": "priv" } },
          },
        },
      });
      const r = await waitForRollout(admin, { name: "priv", generation: 1, timeoutMs: 120_000, pollMs: 250 });
      assert.equal(r.status?.updated, 2, `the rollout completed: ${JSON.stringify(r.status)}`);
      for (const agent of fleet.agents) assert.equal(agent.slots[agent.booted].version, "1.1.0");
      const lease = await admin.request<{ spec: { holderIdentity?: string } }>("GET", resourcePath(LEASES, { namespace, name: "twinroot-controller" }));
      assert.ok(lease.spec.holderIdentity, "the controller holds its Lease in its own namespace");
      // Events about cluster-scoped objects can only live in `default`; each part's events Role allows just that.
      const events = await admin.request<{ items: { reason: string; source?: { component?: string } }[] }>("GET", "/api/v1/namespaces/default/events");
      for (const [component, reason] of [
        ["twinroot-controller", "NodeStarted"],
        ["twinroot-proxy", "Upgraded"],
      ]) {
        assert.ok(
          events.items.some((e) => e.source?.component === component && e.reason === reason),
          `${component} recorded a ${reason} Event`,
        );
      }
    } finally {
      await controller.stop();
      await fleet.stop();
    }
  });
});
