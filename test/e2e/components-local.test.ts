// programs/local through the real Pulumi engine and providers (kubernetes, and the lab
// machines' dynamic provider) into the local lab: a real API server with its garbage
// collector, lab machines with real agents on loop-backed A/B disks and their proxies,
// and the controller as its own process (lab/lab.ts). The only thing not real is what a
// kubelet would add: no container of the controller Deployment or proxy DaemonSet runs;
// the lab runs those programs itself under the identities Pulumi created.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { OsNode, OsRollout } from "../../controller/api/types";
import { CRDS, NODES, OSNODES, ROLLOUTS, resourcePath } from "../../controller/kube/resources";
import { isStatus, Kube } from "../../controller/kube/rest";
import { type PulumiResult, PulumiStack } from "../../lab/harness/pulumi";
import { repoRoot } from "../../lab/harness/tools";
import { Lab } from "../../lab/lab";
import { RolloutObserver } from "../../lab/observe";

async function gone(read: () => Promise<unknown>): Promise<boolean> {
  try {
    await read();
    return false;
  } catch (err) {
    return isStatus(err, 404);
  }
}

const nonSame = (changes: Record<string, number>) => Object.fromEntries(Object.entries(changes).filter(([k]) => k !== "same"));

/** The steps a preview plans, without the ones that change nothing. */
const planned = (r: PulumiResult) =>
  r.events
    .flatMap((e) => (e.resourcePreEvent ? [e.resourcePreEvent.metadata] : []))
    .filter((m) => m.op !== "same" && !m.type.startsWith("pulumi:providers:"))
    .map((m) => [m.op, m.type, m.urn.split("::").at(-1)]);

const errorsOf = (r: PulumiResult) =>
  r.diagnostics
    .filter((d) => d.severity === "error")
    .map((d) => d.message)
    .join("\n");

describe("programs/local through the real engine into the local lab", { timeout: 1_800_000 }, () => {
  let dir: string;
  let lab: Lab;
  let kube: Kube;
  let stack: PulumiStack;
  let observer: RolloutObserver;

  const setImage = async (version: string) => {
    const i = lab.image(version);
    await stack.setConfig("osImage.version", i.version);
    await stack.setConfig("osImage.url", i.url);
    await stack.setConfig("osImage.digest", i.digest ?? "");
  };

  /** What each lab machine's disk says: the slot GRUB boots next and that slot's OS version. */
  const disks = async () => {
    const out: Record<string, string> = {};
    for (const [name, m] of lab.machines()) {
      const d = await m.inspect();
      out[name] = `${d.nextBoot}:${d.releases[d.nextBoot]?.VERSION_ID}`;
    }
    return out;
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-e2e-local-"));
    lab = await Lab.start({ dir, controllerEnv: { LEASE_DURATION: "4s", RENEW_DEADLINE: "3s", RETRY_PERIOD: "500ms" } });
    kube = new Kube(lab.kubeConfig(), undefined, "e2e");
    stack = await PulumiStack.create({
      projectDir: path.join(repoRoot, "programs", "local"),
      // Not `local`: that name is the lab's committed Pulumi.local.yaml.
      stack: "e2e",
      stateDir: path.join(dir, "pulumi"),
      config: {
        "lab.endpoint": lab.nodeApi.endpoint,
        "lab.nodes": "3",
        "policy.maxUnavailable": "1",
        "policy.failureBudget": "1",
        "policy.drainTimeout": "1m",
        "policy.healthTimeout": "1m",
        rolloutTimeout: "10m",
      },
      secrets: { kubeconfig: lab.kubeconfig() },
    });
    await setImage("1.0.0");
    observer = new RolloutObserver(kube);
  });

  after(async () => {
    await observer?.stop();
    await stack?.remove();
    kube?.close();
    await lab?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("creates the CRDs, access objects, controller workloads, rollout and lab machines, and ends when the rollout is Complete", async () => {
    const up = await stack.up();
    assert.ok((up.changes.create ?? 0) > 20, JSON.stringify(up.changes));
    for (const crd of ["osrollouts.twinroot.dev", "osnodes.twinroot.dev"]) await kube.request("GET", resourcePath(CRDS, { name: crd }));
    await kube.request("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/twinroot-controller");
    await kube.request("GET", "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/twinroot-proxy-own-node");
    await kube.request("GET", "/apis/apps/v1/namespaces/twinroot-system/daemonsets/twinroot-proxy");
    const rollout = await kube.request<OsRollout>("GET", resourcePath(ROLLOUTS, { name: "lab" }));
    assert.equal(rollout.spec.image.version, "1.0.0");
    assert.equal(rollout.spec.image.digest, lab.image("1.0.0").digest);
    // `up` returned only after the controller reported Complete for this generation.
    assert.equal(rollout.status?.conditions?.find((c) => c.type === "Complete")?.status, "True", JSON.stringify(rollout.status));
    assert.equal(rollout.status?.observedGeneration, rollout.metadata.generation);
    assert.equal(rollout.status?.total, 3);
    assert.deepEqual([...lab.machines().keys()].sort(), ["lab-0", "lab-1", "lab-2"]);
    assert.deepEqual(await disks(), { "lab-0": "A:1.0.0", "lab-1": "A:1.0.0", "lab-2": "A:1.0.0" });
    const outputs = await stack.outputs();
    assert.equal(outputs.version, "1.0.0");
    assert.deepEqual(outputs.nodes, ["lab-0", "lab-1", "lab-2"]);
    await observer.start();
  });

  it("shows no changes on a second up", async () => {
    const again = await stack.up();
    assert.deepEqual(nonSame(again.changes), {}, JSON.stringify(again.changes));
  });

  it("fails preview on a bad digest in stack config, naming the key and the fix, with nothing changed", async () => {
    await stack.setConfig("osImage.digest", "not-a-sha256");
    const preview = await stack.engine("preview", [], { allowFailure: true });
    assert.notEqual(preview.exitCode, 0);
    assert.match(errorsOf(preview), /twinroot-local:osImage\.digest: "not-a-sha256" is not a SHA-256: give the 64 hex characters/);
    assert.deepEqual(nonSame(preview.changes), {});
    await setImage("1.0.0");
  });

  it("previews a version bump as one update of the rollout resource, no machine touched or replaced", async () => {
    await setImage("1.1.0");
    const preview = await stack.preview();
    assert.deepEqual(nonSame(preview.changes), { update: 1 }, JSON.stringify(preview.changes));
    assert.deepEqual(planned(preview), [["update", "kubernetes:twinroot.dev/v1alpha1:OsRollout", "lab-controller-rollout"]]);
  });

  it("rolls every lab machine to the new version within max unavailable before up returns", async () => {
    observer.resetMax();
    const up = await stack.up();
    assert.deepEqual(nonSame(up.changes), { update: 1 }, JSON.stringify(up.changes));
    // When `up` returned every node had booted 1.1.0 from slot B: nothing left to wait for.
    assert.deepEqual(await disks(), { "lab-0": "B:1.1.0", "lab-1": "B:1.1.0", "lab-2": "B:1.1.0" });
    for (const name of lab.machines().keys()) {
      const osn = await kube.request<OsNode>("GET", resourcePath(OSNODES, { name }));
      assert.equal(osn.status?.bootedVersion, "1.1.0");
      assert.equal(osn.status?.phase, "Done");
    }
    const seen = observer.observation;
    assert.equal(seen.maxUnavailable, 1, `never more than maxUnavailable 1 (saw ${seen.maxUnavailable}):\n${observer.timeline()}`);
    assert.ok(seen.nodeChanges >= 6, `each of 3 nodes went down and came back: ${seen.nodeChanges} Node changes`);
    assert.equal((await stack.outputs()).version, "1.1.0");
  });

  it("scales the pool up with a machine that boots the current version directly, and down again", async () => {
    await stack.setConfig("lab.nodes", "4");
    const preview = await stack.preview();
    assert.deepEqual(planned(preview), [["create", "pulumi-nodejs:dynamic/twinroot:LabMachine", "lab-pool-lab-machine-3"]]);
    await stack.up();
    assert.equal((await disks())["lab-3"], "A:1.1.0", "the new machine's disk holds 1.1.0 from the start");
    await stack.setConfig("lab.nodes", "3");
    const down = await stack.up();
    assert.deepEqual(nonSame(down.changes), { delete: 1 }, JSON.stringify(down.changes));
    assert.ok(await gone(() => kube.request("GET", resourcePath(NODES, { name: "lab-3" }))), "the removed machine's Node is gone");
  });

  it("fails up with the controller's reason when the rollout halts, and recovers on the next good version", async () => {
    // 1.2.0 boots but fails every node's health check: the first two nodes roll back and
    // the second failure spends the budget of 1.
    await setImage("1.2.0");
    observer.resetMax();
    const up = await stack.engine("up", ["--yes", "--skip-preview"], { allowFailure: true });
    assert.notEqual(up.exitCode, 0, "up fails");
    // The controller's reason as it wrote it, naming the failed nodes and their checks.
    assert.match(
      errorsOf(up),
      /^OsRollout lab is Degraded \(FailureBudgetExceeded\): 2 nodes failed, the failure budget is 1; the rollout is halted: lab-\d: .*health/m,
    );
    assert.doesNotMatch(errorsOf(up), /serializing/);
    assert.ok(observer.observation.maxUnavailable <= 1);
    const rolledBack = Object.values(await disks()).filter((d) => d === "B:1.1.0").length;
    assert.equal(rolledBack, 3, `every node boots 1.1.0 again: ${JSON.stringify(await disks())}`);
    await setImage("1.1.0");
    const back = await stack.up();
    assert.deepEqual(nonSame(back.changes), { update: 1 }, JSON.stringify(back.changes));
    const r = await kube.request<OsRollout>("GET", resourcePath(ROLLOUTS, { name: "lab" }));
    assert.equal(r.status?.conditions?.find((c) => c.type === "Complete")?.status, "True", JSON.stringify(r.status));
  });

  it("removes everything on destroy", async () => {
    const destroyed = await stack.destroy();
    assert.ok((destroyed.changes.delete ?? 0) > 20, JSON.stringify(destroyed.changes));
    assert.ok(await gone(() => kube.request("GET", resourcePath(CRDS, { name: "osrollouts.twinroot.dev" }))), "rollout CRD gone");
    assert.ok(await gone(() => kube.request("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/twinroot-controller")), "ClusterRole gone");
    assert.ok(await gone(() => kube.request("GET", "/apis/apps/v1/namespaces/twinroot-system/deployments/twinroot-controller")), "Deployment gone");
    assert.equal(lab.machines().size, 0, "the lab machines were removed through the lab's node API");
    for (const n of ["lab-0", "lab-1", "lab-2"]) assert.ok(await gone(() => kube.request("GET", resourcePath(NODES, { name: n }))), `Node ${n} gone`);
  });
});
