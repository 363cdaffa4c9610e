// The controller and per-node proxies on a real API server, with lab nodes that are real
// machines as far as this host allows: each node a private copy of the lab disk on a
// loop device (GPT, ext4 boot partition with grubenv, two root slots), the node agent
// as its own process on that disk, its proxy talking to it over the agent's socket, and
// lab reboots that cut the agent's power and boot the slot GRUB's choice picks from the
// disk's grubenv. The images come from an HTTPS image server with its own CA; 1.2.0
// fails the nodes' health check and 1.3.0 panics at boot, as their images say. Also
// real: the API server's watches, conflicts, status subresource, evictions and PDBs,
// and the proxies' least-privilege identities (RBAC and the own-node admission policy).
// The end state is read back from the disks, not only from the API. First, two checks of
// the lab machine itself: a reboot's try is GRUB's save_env to the byte, and a power cut
// ends the agent's calls in flight as it would on a node.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { V1Node } from "@kubernetes/client-node";
import { API_VERSION, type OsNode, type OsRollout } from "../../controller/api/types";
import { silentLogger } from "../../controller/kube/log";
import { NODES, OSNODES, ROLLOUTS, resourcePath } from "../../controller/kube/resources";
import type { Kube } from "../../controller/kube/rest";
import { Controller } from "../../controller/manager";
import { Metrics } from "../../controller/metrics/metrics";
import { AgentCallError } from "../../controller/proxy/agent-client";
import type { ControlPlane } from "../../lab/harness/control-plane";
import { run } from "../../lab/image-builder/loop";
import { type DiskLab, startDiskLab } from "../../lab/nodes/disk-lab";
import type { DiskMachine } from "../../lab/nodes/disk-machine";
import { type Fleet, startFleet } from "../../lab/nodes/fleet";
import { readDisk, slotPartition } from "../../lab/nodes/lab-disk";
import { osImageOf } from "../../lab/nodes/lab-node";
import type { SlotName } from "../../node-agent/slots/layout";
import { hashDevice } from "./agent-harness";
import { startApiServer, stopApiServer } from "./support/api-server";
import { leftovers } from "./support/released";
import { condition, waitFor } from "./support/wait";
import { watchUnavailable } from "./support/watch-unavailable";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-rollout-"));
let disks: DiskLab;
before(async () => {
  disks = await startDiskLab({ dir });
});
after(async () => {
  await disks?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

// The rollouts below rely on the lab machine booting as GRUB would and dying as power
// loss would; these hold it to that.
describe("lab machines on loop disks", { timeout: 300_000 }, () => {
  it("takes a boot try from the activated slot exactly as GRUB's save_env does, byte for byte as grub-editenv writes it", async () => {
    const m = disks.machine("fw-00");
    try {
      assert.equal(await m.powerOn(), "1.0.0");
      const img = disks.image("1.1.0");
      await m.client.stage({ url: img.url, digest: img.digest as string, version: "1.1.0" });
      await m.client.activate({ tries: 3 });
      await m.powerOff();
      const expected = path.join(m.dir, "expected-grubenv");
      fs.writeFileSync(expected, readDisk(m.loop, m.dir).grubenv);
      run("grub-editenv", [expected, "set", "B_LEFT=2"]);
      assert.equal(await m.powerOn(), "1.1.0");
      assert.equal(m.bootedSlot, "B");
      assert.deepEqual(readDisk(m.loop, m.dir).grubenv, fs.readFileSync(expected));
      assert.equal((await m.client.status()).bootedSlot, "B", "the agent found B on its kernel command line");
    } finally {
      await m.dispose();
    }
    assert.deepEqual(await leftovers(m.dir), { loops: [], processes: [] });
  });

  it("ends an agent call in flight with a transport error when the power goes, and the next boot finds the stage interrupted and boots A", async () => {
    const m = disks.machine("fw-01");
    const img = disks.image("1.1.0");
    // A copy of the image behind a server that never answers keeps the stage in flight.
    disks.server.files.set("/stalled/1.1.0.img", disks.images.get("1.1.0")?.path as string);
    disks.server.faults.set("/stalled/1.1.0.img", { stallMs: 120_000 });
    try {
      await m.powerOn();
      const staging = m.client.stage({ url: disks.server.url("/stalled/1.1.0.img"), digest: img.digest as string, version: "1.1.0" });
      staging.catch(() => undefined);
      await waitFor("the stage to be recorded", async () => ((await m.client.status()).slots.B.content === "writing" ? true : undefined));
      await m.powerOff();
      await assert.rejects(staging, (e: unknown) => e instanceof AgentCallError && e.code === "transport");
      assert.equal(await m.powerOn(), "1.0.0");
      const s = await m.client.status();
      assert.equal(s.bootedSlot, "A");
      assert.equal(s.slots.B.content, "bad");
      assert.match(s.slots.B.lastError ?? "", /interrupted/);
      const d = await m.inspect();
      assert.equal(d.nextBoot, "A");
      assert.deepEqual(d.boot.slots.B, { good: false, triesLeft: 0 });
    } finally {
      disks.server.faults.delete("/stalled/1.1.0.img");
      await m.dispose();
    }
  });
});

describe("rolling upgrades on a real API server with lab nodes on loop disks (real agents)", { timeout: 900_000 }, () => {
  let cp: ControlPlane;
  let kube: Kube;
  before(async () => ({ cp, kube } = await startApiServer()));
  after(() => stopApiServer(cp, kube));

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
  const startDiskFleet = (prefix: string, count: number) =>
    startFleet({ kubeConfig: cp.kubeConfig(), agents: "real", disks, count, prefix, log: silentLogger });
  /** Stops the fleet, then checks it left no loop device and no process behind. */
  const stopFleet = async (fleet: Fleet<DiskMachine>) => {
    await fleet.stop();
    for (const m of fleet.agents) {
      const left = await leftovers(m.dir);
      assert.deepEqual(left, { loops: [], processes: [] }, `${m.dir} left nothing behind`);
    }
  };
  const getRollout = (name: string) => kube.request<OsRollout>("GET", resourcePath(ROLLOUTS, { name }));
  const createRollout = (name: string, spec: Partial<OsRollout["spec"]>) =>
    kube.request<OsRollout>("POST", resourcePath(ROLLOUTS), {
      body: { apiVersion: API_VERSION, kind: "OsRollout", metadata: { name }, spec: { image: disks.image("1.1.0"), ...spec } },
    });
  const waitCondition = (name: string, type: string) =>
    waitFor(
      type,
      async () => {
        const r = await getRollout(name);
        return condition(r, type)?.status === "True" ? r : undefined;
      },
      180_000,
    );
  const getOsNode = (name: string) => kube.request<OsNode>("GET", resourcePath(OSNODES, { name }));

  /** What the machine's disk says: `slot` booted and holds `version` (its bytes are that image), committed, and GRUB boots it next. */
  const assertRunsFromDisk = async (m: DiskMachine, version: string, slot: SlotName) => {
    const d = await m.inspect();
    const image = disks.images.get(version);
    assert.equal(m.bootedSlot, slot, `${m.dir}: slot ${slot} booted`);
    assert.equal((await m.client.status()).bootedSlot, slot, `${m.dir}: the agent found slot ${slot} on its kernel command line`);
    assert.equal(d.releases[slot]?.VERSION_ID, version, `${m.dir}: slot ${slot}'s /etc/os-release says ${version}`);
    assert.equal(hashDevice(m.loop.part(slotPartition(slot)), image?.size ?? 0), image?.digest, `${m.dir}: slot ${slot} holds the ${version} image`);
    assert.deepEqual(d.boot.slots[slot], { good: true, triesLeft: 0 }, `${m.dir}: slot ${slot} is committed in grubenv`);
    assert.equal(d.nextBoot, slot, `${m.dir}: GRUB boots slot ${slot} next`);
    assert.equal(d.state.slots[slot].version, version, `${m.dir}: the agent's record of slot ${slot}`);
    return d;
  };

  it("rolls 10 nodes from 1.0.0 to 1.1.0 with at most 2 unavailable at any time, each ending on 1.1.0 in its booted slot", async (t) => {
    const started = Date.now();
    const fleet = await startDiskFleet("roll", 10);
    const controller = await startController();
    const watcher = await watchUnavailable(kube);
    try {
      const booted = Date.now();
      await createRollout("to-1-1", { maxUnavailable: 2, nodeSelector: { matchLabels: { "twinroot.dev/pool": "roll" } } });
      const done = await waitCondition("to-1-1", "Complete");
      t.diagnostic(`fleet up in ${booted - started} ms, rollout done in ${Date.now() - booted} ms`);
      assert.equal(done.status?.updated, 10);
      assert.equal(done.status?.failed, 0);
      for (const m of fleet.agents) {
        const disk = await assertRunsFromDisk(m, "1.1.0", "B");
        assert.equal(disk.boot.order[0], "B", "B is first in ORDER");
        // The old slot stays committed: the fallback a later upgrade needs.
        assert.deepEqual(disk.boot.slots.A, { good: true, triesLeft: 0 });
        assert.equal(disk.releases.A?.VERSION_ID, "1.0.0");
        // Powered on twice: the first boot, and the reboot into the new slot (GRUB took one of its tries).
        assert.deepEqual(
          m.boots.map((b) => b.attempts.map((a) => a.slot)),
          [["A"], ["B"]],
          `${m.dir} booted A, then B once`,
        );
      }
      const nodes = await kube.request<{ items: V1Node[] }>("GET", resourcePath(NODES));
      for (const n of nodes.items.filter((n) => n.metadata?.name?.startsWith("roll-"))) {
        assert.equal(n.status?.nodeInfo?.osImage, osImageOf("1.1.0"));
        assert.ok(!n.spec?.unschedulable, `${n.metadata?.name} is uncordoned`);
      }
      const osNodes = await kube.request<{ items: OsNode[] }>("GET", resourcePath(OSNODES));
      const roll = osNodes.items.filter((o) => o.metadata.name?.startsWith("roll-"));
      assert.equal(roll.length, 10);
      assert.ok(roll.every((o) => o.status?.phase === "Done" && o.status.bootedVersion === "1.1.0" && o.status.bootedSlot === "B"));
      assert.ok(watcher.changes > 20, "the watcher saw the rollout");
      assert.ok(watcher.max <= 2, `at most 2 nodes unavailable at once, saw ${watcher.max}`);
      assert.ok(watcher.max >= 1);
    } finally {
      watcher.stop();
      await controller.stop();
      await stopFleet(fleet);
    }
  });

  it("rolls a node whose new slot fails its health check back to 1.0.0, and halts (Degraded) at the second failure with a budget of 1", async () => {
    const fleet = await startDiskFleet("fail", 3);
    const controller = await startController();
    try {
      await createRollout("fails", {
        image: disks.image("1.2.0"),
        maxUnavailable: 1,
        failure: { maxFailedNodes: 1 },
        nodeSelector: { matchLabels: { "twinroot.dev/pool": "fail" } },
      });
      const r = await waitCondition("fails", "Degraded");
      assert.equal(condition(r, "Degraded")?.reason, "FailureBudgetExceeded");
      assert.equal(condition(r, "Progressing")?.status, "False");
      assert.equal(r.status?.failed, 2);
      // The last failed node finishes giving itself back after the halt.
      const phases = await waitFor("both failed nodes back", async () => {
        const all = await Promise.all(fleet.nodes.map((n) => getOsNode(n.name)));
        return all.filter((o) => o.status?.phase === "RolledBack").length === 2 ? all : undefined;
      });
      for (const [i, m] of fleet.agents.entries()) {
        const o = phases[i] as OsNode;
        const name = fleet.nodes[i]?.name;
        if (o.status?.phase === "RolledBack") {
          assert.match(o.status.lastError ?? "", /health check/, `${name}: the per-node status says why`);
          assert.equal(o.status.bootedVersion, "1.0.0");
          const n = await kube.request<V1Node>("GET", resourcePath(NODES, { name }));
          assert.equal(n.status?.nodeInfo?.osImage, osImageOf("1.0.0"));
          assert.ok(!n.spec?.unschedulable, `${name} is given back (LeaveRolledBack)`);
          const disk = await assertRunsFromDisk(m, "1.0.0", "A");
          // The new slot booted (one try taken) and failed the agent's commit; the agent's rollback put A first again, B without tries.
          assert.equal(disk.boot.order[0], "A");
          assert.deepEqual(disk.boot.slots.B, { good: false, triesLeft: 0 });
          assert.equal(disk.releases.B?.VERSION_ID, "1.2.0");
          assert.deepEqual(
            m.boots.map((b) => b.attempts.map((a) => a.slot)),
            [["A"], ["B"], ["A"]],
            `${name} booted A, B for its trial, then A again`,
          );
        } else {
          // Never started after the halt: nothing written, never rebooted.
          assert.equal(o.status?.operation, undefined, `${name} got no operation`);
          const disk = await assertRunsFromDisk(m, "1.0.0", "A");
          assert.equal(disk.state.slots.B.content, "unknown", `${name}'s slot B was never written`);
          assert.equal(m.boots.length, 1);
        }
      }
    } finally {
      await controller.stop();
      await stopFleet(fleet);
    }
  });

  it("waits for a PodDisruptionBudget until the drain timeout, then gives the node back as the policy says", async () => {
    const fleet = await startDiskFleet("pdb", 2);
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
      const r = await waitCondition("pdb", "Complete");
      assert.equal(condition(r, "Complete")?.reason, "CompletedWithFailures");
      assert.equal(r.status?.updated, 1);
      assert.equal(r.status?.failed, 1);
      const o = await getOsNode("pdb-00");
      assert.equal(o.status?.phase, "Failed");
      assert.match(o.status?.lastError ?? "", /drain timed out with apps\/db still on the node/);
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
      // From the disks: pdb-00 staged 1.1.0 while it served, but a timed-out drain never turns into a switch or a reboot.
      const [held, upgraded] = fleet.agents as [DiskMachine, DiskMachine];
      const disk = await assertRunsFromDisk(held, "1.0.0", "A");
      assert.equal(disk.boot.order[0], "A");
      assert.deepEqual(disk.boot.slots.B, { good: false, triesLeft: 0 }, "the staged slot was never activated");
      assert.equal(disk.state.slots.B.content, "staged");
      assert.equal(disk.releases.B?.VERSION_ID, "1.1.0");
      assert.equal(held.boots.length, 1, "pdb-00 never rebooted");
      await assertRunsFromDisk(upgraded, "1.1.0", "B");
    } finally {
      watcher.stop();
      await controller.stop();
      await stopFleet(fleet);
    }
  });

  it("falls back to the committed slot by itself when the new one does not boot, and reports the node rolled back", async () => {
    const fleet = await startDiskFleet("noboot", 1);
    const controller = await startController();
    try {
      await createRollout("noboot", { image: disks.image("1.3.0"), nodeSelector: { matchLabels: { "twinroot.dev/pool": "noboot" } } });
      const r = await waitCondition("noboot", "Degraded");
      assert.equal(r.status?.failed, 1);
      const o = await waitFor("the node rolled back", async () => {
        const o = await getOsNode("noboot-00");
        return o.status?.phase === "RolledBack" ? o : undefined;
      });
      assert.match(o.status?.lastError ?? "", /did not come up/);
      const m = fleet.agents[0] as DiskMachine;
      // GRUB gave the panicking slot its 3 tries, one per reset, then booted A, whose grubenv entry never changed.
      const reboot = m.boots[1];
      assert.deepEqual(
        reboot?.attempts.map((a) => [a.slot, a.up]),
        [
          ["B", false],
          ["B", false],
          ["B", false],
          ["A", true],
        ],
      );
      // Whatever ORDER says now, A is what boots: B has no tries left and was never committed.
      const disk = await assertRunsFromDisk(m, "1.0.0", "A");
      assert.deepEqual(disk.boot.slots.B, { good: false, triesLeft: 0 }, "the broken slot has no tries left");
      assert.equal(disk.releases.B?.TWINROOT_VARIANT, "panic");
      assert.equal((await kube.request<V1Node>("GET", resourcePath(NODES, { name: "noboot-00" }))).status?.nodeInfo?.osImage, osImageOf("1.0.0"));
    } finally {
      await controller.stop();
      await stopFleet(fleet);
    }
  });

  it("upgrades a node someone else had cordoned and leaves it cordoned", async () => {
    const fleet = await startDiskFleet("pre", 1);
    await kube.request("PATCH", resourcePath(NODES, { name: "pre-00" }), {
      body: { spec: { unschedulable: true } },
      contentType: "application/merge-patch+json",
    });
    const controller = await startController();
    try {
      await createRollout("pre", { nodeSelector: { matchLabels: { "twinroot.dev/pool": "pre" } } });
      await waitCondition("pre", "Complete");
      await assertRunsFromDisk(fleet.agents[0] as DiskMachine, "1.1.0", "B");
      assert.equal((await kube.request<V1Node>("GET", resourcePath(NODES, { name: "pre-00" }))).spec?.unschedulable, true, "still cordoned by its owner");
    } finally {
      await controller.stop();
      await stopFleet(fleet);
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
