// The controller as a real process, SIGKILLed at random points of a rollout and started
// again, 20 times, against a real API server and lab nodes (simulated agents, real
// proxies), everything running with its least-privilege identity. All the controller
// knows must come back from the API after each kill: the rollout completes, no node
// fails, and a watcher that sees every Node change never sees more nodes unavailable
// than the budget.
//
// The process is controller/main.ts bundled into one file (see
// lab/nodes/controller-process.ts for why not tsx; TWINROOT_CONTROLLER_TSX=1 runs it
// under tsx instead, at 10-25 s per start on a busy two-core machine). Kill points come from a seeded
// generator (TWINROOT_TEST_SEED repeats a run): every fourth falls during start-up
// (module loading, informer sync, the Lease), the others at a random time after the
// process became leader, while it decides and writes targets or status. Most restarts
// keep the Lease identity (a container restarted in its pod, which takes the Lease back
// at once); every fourth comes with a new one (a replacement pod, which must wait for
// the dead holder's Lease to expire).

import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { V1Node } from "@kubernetes/client-node";
import { API_VERSION, type OsRollout } from "../../controller/api/types";
import { sleep } from "../../controller/kube/backoff";
import { installCrds } from "../../controller/kube/install";
import { silentLogger } from "../../controller/kube/log";
import { NODES, ROLLOUTS, resourcePath } from "../../controller/kube/resources";
import { Kube } from "../../controller/kube/rest";
import { ControlPlane } from "../../lab/harness/control-plane";
import { bundleController, type ControllerProcess, startControllerProcess } from "../../lab/nodes/controller-process";
import { type Fleet, startFleet } from "../../lab/nodes/fleet";
import { controllerKubeConfig, writeKubeConfig } from "../../lab/nodes/identity";
import { osImageOf } from "../../lab/nodes/lab-node";
import { watchUnavailable } from "./support/watch-unavailable";

const KILLS = 20;
const NODES_IN_FLEET = 6;
const MAX_UNAVAILABLE = 2;
const POOL = "kill";

/** A small seeded generator (mulberry32), so a failing sequence of kill points can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const image = (n: number) => ({ version: `1.${n}.0`, url: `https://127.0.0.1:1/1.${n}.0.img`, digest: String(n % 10).repeat(64) });

describe("the controller process killed at random points of a rollout", { timeout: 600_000 }, () => {
  let cp: ControlPlane;
  let kube: Kube;
  let bundle: string | undefined;
  let fleet: Fleet | undefined;
  let current: ControllerProcess | undefined;
  before(async () => {
    cp = await ControlPlane.start();
    kube = new Kube(cp.kubeConfig());
    await installCrds(kube);
    if (!process.env.TWINROOT_CONTROLLER_TSX) bundle = await bundleController(cp.dir);
  });
  after(async () => {
    await current?.kill();
    await fleet?.stop();
    kube?.close();
    await cp?.stop();
  });

  const getRollout = () => kube.request<OsRollout>("GET", resourcePath(ROLLOUTS, { name: "survive" }));
  const complete = (r: OsRollout, version: string) =>
    r.status?.targetVersion === version &&
    r.status.observedGeneration === r.metadata.generation &&
    r.status.conditions?.some((c) => c.type === "Complete" && c.status === "True");

  it("completes the rollout within the budget after 20 SIGKILLs and restarts", async (t) => {
    const seed = Number(process.env.TWINROOT_TEST_SEED ?? Date.now() % 1_000_000);
    t.diagnostic(`seed ${seed} (set TWINROOT_TEST_SEED to repeat)`);
    const random = rng(seed);
    fleet = await startFleet({
      kubeConfig: cp.kubeConfig(),
      count: NODES_IN_FLEET,
      version: "1.0.0",
      digest: "0".repeat(64),
      prefix: POOL,
      rebootMs: 1000,
      log: silentLogger,
    });
    // The controller runs as its service account, with only the RBAC of controller/rbac.
    const access = fleet.access as NonNullable<Fleet["access"]>;
    const kubeconfigPath = path.join(cp.dir, "controller.kubeconfig");
    writeKubeConfig(await controllerKubeConfig(access), kubeconfigPath);
    let started = 0;
    const spawn = (identity: string) =>
      startControllerProcess({
        bundle,
        kubeconfigPath,
        identity,
        namespace: access.options.namespace,
        logFile: path.join(cp.dir, `controller-${started++}.log`),
        env: { LEASE_DURATION: "2s", RENEW_DEADLINE: "1500ms", RETRY_PERIOD: "250ms" },
      });

    const watcher = await watchUnavailable(kube);
    let version = 1;
    await kube.request("POST", resourcePath(ROLLOUTS), {
      body: {
        apiVersion: API_VERSION,
        kind: "OsRollout",
        metadata: { name: "survive" },
        spec: { image: image(version), maxUnavailable: MAX_UNAVAILABLE, nodeSelector: { matchLabels: { "twinroot.dev/pool": POOL } } },
      },
    });
    const completedVersions: string[] = [];
    const kills: { at: "startup" | "leading"; afterMs: number; version?: string; updated: number }[] = [];
    try {
      for (let i = 0; i < KILLS; i++) {
        // A kill series that outlasts one rollout goes on with the next version, so every
        // kill lands on a rollout in progress however fast this machine is.
        if (complete(await getRollout(), image(version).version)) {
          completedVersions.push(image(version).version);
          version++;
          await kube.request("PATCH", resourcePath(ROLLOUTS, { name: "survive" }), {
            body: { spec: { image: image(version) } },
            contentType: "application/merge-patch+json",
          });
        }
        current = await spawn(i % 4 === 1 ? `controller-${i}` : "controller-0");
        const at = i % 4 === 3 ? "startup" : "leading";
        const afterMs = Math.round(random() * (at === "startup" ? 1500 : 2500));
        if (at === "leading") await current.waitForLog("became leader");
        await sleep(afterMs);
        await current.kill();
        current = undefined;
        const s = (await getRollout()).status;
        kills.push({ at, afterMs, version: s?.targetVersion, updated: s?.updated ?? 0 });
      }
      t.diagnostic(`kills: ${JSON.stringify(kills)}; versions completed during the kills: ${completedVersions.join(", ") || "none"}`);
      assert.ok(completedVersions.length > 0 || kills.some((k) => k.updated > 0), "the killed controllers moved the rollout");

      current = await spawn("controller-final");
      const target = image(version).version;
      const deadline = Date.now() + 180_000;
      let done: OsRollout | undefined;
      while (!done && Date.now() < deadline) {
        const r = await getRollout();
        if (complete(r, target)) done = r;
        else await sleep(250);
      }
      assert.ok(done, `rollout to ${target} did not complete:\n${current.managed.tail()}`);
      assert.equal(done.status?.updated, NODES_IN_FLEET);
      assert.equal(done.status?.failed, 0, "no node failed because of a controller crash");
      for (const [i, agent] of fleet.agents.entries()) {
        assert.equal(agent.slots[agent.booted].version, target, `node ${i} boots ${target}`);
        assert.equal(agent.slots[agent.booted].good, true, `node ${i} committed its slot`);
      }
      const nodes = await kube.request<{ items: V1Node[] }>("GET", resourcePath(NODES));
      for (const n of nodes.items) {
        assert.equal(n.status?.nodeInfo?.osImage, osImageOf(target));
        assert.ok(!n.spec?.unschedulable, `${n.metadata?.name} is uncordoned`);
      }
      assert.ok(watcher.changes > NODES_IN_FLEET * 2, "the watcher saw the rollout");
      assert.ok(watcher.max <= MAX_UNAVAILABLE, `at most ${MAX_UNAVAILABLE} nodes unavailable at once, saw ${watcher.max}`);
    } finally {
      watcher.stop();
    }
  });
});
