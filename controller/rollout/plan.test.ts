import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { ImageSpec, OsNode, OsNodePhase, OsRollout } from "../api/types";
import { classify, isUnavailable, type NodeView } from "./classify";
import { rolloutStatus } from "./conditions";
import { podCost } from "./cost";
import { findOverlaps } from "./overlap";
import { plan, resolveMaxUnavailable } from "./plan";

const V1: ImageSpec = { version: "1.0.0", url: "https://127.0.0.1/1.0.0.img", digest: "1".repeat(64) };
const V2: ImageSpec = { version: "1.1.0", url: "https://127.0.0.1/1.1.0.img", digest: "2".repeat(64) };
const V3: ImageSpec = { version: "1.2.0", url: "https://127.0.0.1/1.2.0.img", digest: "3".repeat(64) };
const NOW = new Date("2025-01-06T12:00:00Z");

function rollout(spec: Partial<OsRollout["spec"]> = {}, name = "r"): OsRollout {
  return { metadata: { name, generation: 1, creationTimestamp: "2025-01-01T00:00:00Z" }, spec: { image: V2, maxUnavailable: 2, ...spec } };
}

function osNode(name: string, booted: ImageSpec, phase: OsNodePhase = "Idle", target?: ImageSpec, op?: ImageSpec, rolloutName = "r"): OsNode {
  return {
    // As stored: the API server's generation, seen by the node's proxy.
    metadata: { name, generation: 1 },
    spec: { nodeName: name, ...(target ? { target: { rollout: rolloutName, image: target } } : {}) },
    status: {
      observedGeneration: 1,
      phase,
      bootedVersion: booted.version,
      bootedDigest: booted.digest,
      ...(op ? { operation: { rollout: rolloutName, version: op.version, digest: op.digest, startedAt: NOW.toISOString() } } : {}),
    },
  };
}

function node(name: string, extra: Partial<NodeView> = {}): NodeView {
  return { name, labels: {}, zone: "", ready: true, unschedulable: false, osNode: osNode(name, V1), podCost: 0, ...extra };
}

describe("maxUnavailable", () => {
  it("is a count, or a percent of the selected nodes rounded down but at least 1", () => {
    assert.equal(resolveMaxUnavailable(undefined, 10), 1);
    assert.equal(resolveMaxUnavailable(3, 10), 3);
    assert.equal(resolveMaxUnavailable("25%", 10), 2);
    assert.equal(resolveMaxUnavailable("5%", 10), 1);
    assert.equal(resolveMaxUnavailable("100%", 7), 7);
  });
});

describe("node classification", () => {
  it("tells updated, failed, in-progress and pending nodes apart", () => {
    assert.equal(classify(node("a", { osNode: osNode("a", V2, "Done", V2, V2) }), "r", V2), "updated");
    assert.equal(classify(node("a", { osNode: osNode("a", V2) }), "r", V2), "updated", "a node already on the version needs nothing");
    assert.equal(classify(node("a", { osNode: osNode("a", V1, "RolledBack", V2, V2) }), "r", V2), "failed");
    assert.equal(classify(node("a", { osNode: osNode("a", V1, "Idle", V2) }), "r", V2), "inProgress", "assigned but not yet picked up");
    assert.equal(classify(node("a", { osNode: osNode("a", V2, "Verifying", V2, V2) }), "r", V2), "inProgress");
    assert.equal(classify(node("a"), "r", V2), "pending");
    assert.equal(classify(node("a", { osNode: undefined }), "r", V2), "pending");
  });

  it("lets a superseded node finish a disruptive step, and retargets one that has only staged", () => {
    assert.equal(classify(node("a", { osNode: osNode("a", V1, "Rebooting", V2, V2) }), "r", V3), "inProgress");
    assert.equal(classify(node("a", { osNode: osNode("a", V1, "Staging", V2, V2) }), "r", V3), "retarget");
    assert.equal(classify(node("a", { osNode: osNode("a", V2, "Done", V2, V2) }), "r", V3), "pending");
    assert.equal(classify(node("a", { osNode: osNode("a", V1, "RolledBack", V2, V2) }), "r", V3), "pending", "failures of the old version do not count");
  });

  it("leaves a node mid-operation for another rollout alone", () => {
    assert.equal(classify(node("a", { osNode: osNode("a", V1, "Draining", V2, V2, "other") }), "r", V2), "foreign");
  });
});

describe("batch selection", () => {
  it("starts at most maxUnavailable nodes, counting NotReady and cordoned nodes against it", () => {
    const nodes = ["a", "b", "c", "d", "e"].map((n) => node(n));
    assert.deepEqual(plan(rollout(), nodes, { now: NOW }).start, ["a", "b"]);
    nodes[4] = node("e", { ready: false });
    assert.deepEqual(plan(rollout(), nodes, { now: NOW }).start, ["a"], "one NotReady node leaves room for one");
    nodes[3] = node("d", { ready: false });
    const p = plan(rollout(), nodes, { now: NOW });
    assert.deepEqual(p.start, []);
    assert.equal(p.hold?.reason, "WaitingForBudget");
  });

  it("takes a node someone else cordoned for free, since it is unavailable already", () => {
    const nodes = [node("a"), node("b"), node("c", { unschedulable: true })];
    assert.deepEqual(plan(rollout({ maxUnavailable: 1 }), nodes, { now: NOW }).start, ["c"]);
  });

  it("prefers the nodes whose pods are cheapest to move", () => {
    const nodes = [node("a", { podCost: 5 }), node("b", { podCost: 0 }), node("c", { podCost: 101 }), node("d", { podCost: 1 })];
    assert.deepEqual(plan(rollout(), nodes, { now: NOW }).start, ["b", "d"]);
  });

  it("spreads a batch over zones and never empties a zone while waiting would avoid it", () => {
    const nodes = [node("a1", { zone: "a" }), node("a2", { zone: "a" }), node("b1", { zone: "b", podCost: 9 }), node("b2", { zone: "b", podCost: 9 })];
    assert.deepEqual(plan(rollout(), nodes, { now: NOW }).start, ["a1", "b1"]);
    assert.deepEqual(plan(rollout({ maxUnavailable: 4 }), nodes, { now: NOW }).start, ["a1", "b1"], "the second node of each zone waits");
    const single = [node("a1", { zone: "a" }), node("b1", { zone: "b" })];
    assert.deepEqual(plan(rollout(), single, { now: NOW }).start, ["a1", "b1"], "a zone of one node must go some time");
  });

  it("starts nothing while paused, outside a window, past the failure budget or failing health checks, and says why", () => {
    const nodes = [node("a"), node("b")];
    const hold = (spec: Partial<OsRollout["spec"]>, ctx = {}) => plan(rollout(spec), nodes, { now: NOW, ...ctx }).hold?.reason;
    assert.equal(hold({ paused: true }), "Paused");
    assert.equal(hold({ maintenanceWindows: [{ days: ["Tue"], start: "00:00", duration: "1h" }] }), "OutsideMaintenanceWindow");
    assert.equal(hold({}, { healthChecks: { ok: false, message: "web: 1 of 3 available" } }), "WaitingForHealthChecks");
    assert.equal(hold({}, { invalid: ["bad zone"] }), "InvalidSpec");
    assert.equal(hold({}, { overlap: { rollout: "old", nodes: ["a"] } }), "SelectorOverlap");
    assert.equal(plan(rollout(), [], { now: NOW }).hold?.reason, "NoNodesSelected");
    const failed = [node("a", { osNode: osNode("a", V1, "RolledBack", V2, V2) }), node("b", { osNode: osNode("b", V1, "Failed", V2, V2) }), node("c")];
    assert.equal(plan(rollout({ failure: { maxFailedNodes: 1 } }), failed, { now: NOW }).hold?.reason, "FailureBudgetExceeded");
    assert.deepEqual(plan(rollout({ failure: { maxFailedNodes: 2 } }), failed, { now: NOW }).start, ["c"]);
  });

  it("starts nodes that finished an older target without an operation (they already ran it) only within the budget", () => {
    // The first generation of a rollout targets nodes that already run its version: their
    // proxies report Done without an operation. A version bump must not retarget them all.
    const done = (name: string) => {
      const o = osNode(name, V1, "Done", V1);
      return node(name, { osNode: o });
    };
    const p = plan(rollout({ image: V2, maxUnavailable: 1 }), [done("a"), done("b"), done("c")], { now: NOW });
    assert.deepEqual(p.retarget, []);
    assert.equal(p.start.length, 1, "one node at a time, as maxUnavailable 1 says");
    assert.equal(p.counts.pending, 3);
  });

  it("retargets a node given an older target that its proxy has not seen yet, within the budget it holds", () => {
    const o = osNode("a", V1, "Done", V2);
    const unseen = node("a", { osNode: { ...o, metadata: { name: "a", generation: 2 }, status: { ...o.status, observedGeneration: 1 } } });
    const p = plan(rollout({ image: V3, maxUnavailable: 1 }), [unseen, node("b")], { now: NOW });
    assert.deepEqual(p.retarget, ["a"]);
    assert.deepEqual(p.start, [], "the retargeted node uses the budget of 1");
  });

  it("starts other nodes first while a node's target write is deferred, and still counts it pending", () => {
    const nodes = [node("a"), node("b"), node("c")];
    const r = rollout({ image: V2, maxUnavailable: 1 });
    assert.deepEqual(plan(r, nodes, { now: NOW }).start, ["a"]);
    const p = plan(r, nodes, { now: NOW, deferred: new Set(["a"]) });
    assert.deepEqual(p.start, ["b"]);
    assert.equal(p.counts.pending, 3);
  });

  it("retargets superseded nodes that have not begun to disrupt, and keeps counting them", () => {
    const nodes = [node("a", { osNode: osNode("a", V1, "Staging", V2, V2) }), node("b", { osNode: osNode("b", V1, "Rebooting", V2, V2) }), node("c")];
    const p = plan(rollout({ image: V3 }), nodes, { now: NOW });
    assert.deepEqual(p.retarget, ["a"]);
    assert.deepEqual(p.start, [], "both in-flight nodes use the budget of 2");
  });
});

describe("rollout status", () => {
  it("reports Complete once every node runs the target, keeping the completion time", () => {
    const nodes = [node("a", { osNode: osNode("a", V2, "Done", V2, V2) })];
    const r = rollout();
    const s = rolloutStatus(r, plan(r, nodes, { now: NOW }), NOW);
    assert.equal(s.conditions?.find((c) => c.type === "Complete")?.status, "True");
    assert.equal(s.completionTime, NOW.toISOString());
    const later = rolloutStatus({ ...r, status: s }, plan(r, nodes, { now: NOW }), new Date(NOW.getTime() + 60_000));
    assert.equal(later.completionTime, NOW.toISOString());
    assert.equal(later.conditions?.find((c) => c.type === "Complete")?.lastTransitionTime, NOW.toISOString());
  });

  it("reports Degraded with the reason when the failure budget is spent", () => {
    const nodes = [node("a", { osNode: osNode("a", V1, "RolledBack", V2, V2) }), node("b")];
    const r = rollout();
    const s = rolloutStatus(r, plan(r, nodes, { now: NOW }), NOW);
    const d = s.conditions?.find((c) => c.type === "Degraded");
    assert.equal(d?.status, "True");
    assert.equal(d?.reason, "FailureBudgetExceeded");
    assert.equal(s.conditions?.find((c) => c.type === "Progressing")?.status, "False");
  });

  it("names the failed nodes and why in the Degraded message, a few of them, each error cut short", () => {
    const failed = (name: string, lastError: string) => {
      const o = osNode(name, V1, "RolledBack", V2, V2);
      return node(name, { osNode: { ...o, status: { ...o.status, lastError } } });
    };
    const nodes = [failed("a", "health check kubelet failed"), failed("b", "x".repeat(500)), failed("c", "did not come up"), failed("d", "stage: bad digest")];
    const r = rollout();
    const d = rolloutStatus(r, plan(r, nodes, { now: NOW }), NOW).conditions?.find((c) => c.type === "Degraded");
    assert.match(
      d?.message ?? "",
      /^4 nodes failed, the failure budget is 0; the rollout is halted: a: health check kubelet failed; b: x{199}…; c: did not come up; and 1 more$/,
    );
  });
});

describe("overlapping rollouts", () => {
  it("hold the younger rollout and name the older one", () => {
    const older = { ...rollout({ nodeSelector: { matchLabels: { pool: "a" } } }, "older") };
    const younger = { ...rollout({}, "younger"), metadata: { name: "younger", creationTimestamp: "2025-02-01T00:00:00Z" } };
    const disjoint = {
      ...rollout({ nodeSelector: { matchLabels: { pool: "b" } } }, "disjoint"),
      metadata: { name: "disjoint", creationTimestamp: "2025-03-01T00:00:00Z" },
    };
    const nodes = [
      { name: "n1", labels: { pool: "a" } },
      { name: "n2", labels: { pool: "c" } },
    ];
    const o = findOverlaps([younger, older, disjoint], nodes);
    assert.deepEqual([...o.entries()], [["younger", { rollout: "older", nodes: ["n1"] }]]);
  });
});

describe("drain cost", () => {
  it("skips DaemonSet, mirror and finished pods and weighs pods a budget protects", () => {
    const pod = (labels: Record<string, string>, extra: object = {}) => ({ metadata: { namespace: "ns", labels, ...extra }, spec: { containers: [] } });
    const pdb = { metadata: { namespace: "ns" }, spec: { selector: { matchLabels: { app: "db" } } }, status: { disruptionsAllowed: 0 } };
    const ds = pod({}, { ownerReferences: [{ kind: "DaemonSet", controller: true, name: "x", uid: "u", apiVersion: "apps/v1" }] });
    const mirror = pod({}, { annotations: { "kubernetes.io/config.mirror": "x" } });
    // biome-ignore lint/suspicious/noExplicitAny: test fixtures are partial pods
    const cost = (pods: any[]) => podCost(pods, [pdb as any]);
    assert.equal(cost([ds, mirror]), 0);
    assert.equal(cost([pod({ app: "web" })]), 1);
    assert.equal(cost([pod({ app: "db" })]), 101);
  });
});

// A simulated fleet: each step the planner runs, started nodes advance through their
// phases, and other actors cordon nodes or take them NotReady at random.
describe("the planner over a whole rollout (property)", () => {
  it("never starts a node that takes unavailability past the budget, and finishes when nothing fails", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 24 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.record({ node: fc.nat(), kind: fc.constantFrom("notReady", "cordon", "heal") }), { maxLength: 30 }),
        fc.integer({ min: 1, max: 4 }),
        (size, maxUnavailable, disturbances, zones) => {
          const nodes: NodeView[] = Array.from({ length: size }, (_, i) =>
            node(`n${String(i).padStart(2, "0")}`, { zone: `z${i % zones}`, podCost: (i * 7) % 5 }),
          );
          const r = rollout({ maxUnavailable });
          const progress = new Map<string, number>();
          for (let step = 0; step < 400; step++) {
            const d = disturbances[step];
            if (d) {
              const n = nodes[d.node % size] as NodeView;
              if (d.kind === "notReady") n.ready = false;
              else if (d.kind === "cordon") n.unschedulable = true;
              else Object.assign(n, { ready: true, unschedulable: false });
            } else if (step === disturbances.length) for (const n of nodes) Object.assign(n, { ready: true, unschedulable: false });
            const before = nodes.filter((n) => isUnavailable(n, classify(n, "r", V2))).length;
            const p = plan(r, nodes, { now: NOW });
            for (const name of p.start) {
              const n = nodes.find((x) => x.name === name) as NodeView;
              assert.ok(n.ready, "only Ready nodes start");
              n.osNode = osNode(name, V1, "Idle", V2);
              progress.set(name, 0);
            }
            const after = nodes.filter((n) => isUnavailable(n, classify(n, "r", V2))).length;
            if (p.start.length) assert.ok(after <= Math.max(maxUnavailable, before), `unavailable ${after} > budget ${maxUnavailable} (was ${before})`);
            assert.ok(after - before <= Math.max(0, maxUnavailable - before), "starts never add unavailability past the budget");
            // Advance every started node one phase per step.
            for (const [name, k] of progress) {
              const n = nodes.find((x) => x.name === name) as NodeView;
              const phases: OsNodePhase[] = ["Staging", "Draining", "Rebooting", "Verifying", "Done"];
              const phase = phases[Math.min(k, 4)] as OsNodePhase;
              n.osNode = osNode(name, phase === "Verifying" || phase === "Done" ? V2 : V1, phase, V2, V2);
              if (phase === "Done") progress.delete(name);
              else progress.set(name, k + 1);
            }
            if (p.complete) return;
          }
          assert.fail("the rollout did not complete in 400 steps");
        },
      ),
      { numRuns: 200 },
    );
  });
});
