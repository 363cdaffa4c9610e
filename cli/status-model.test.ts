import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Node } from "@kubernetes/client-node";
import type { Condition, OsNode, OsNodeStatus, OsRollout } from "../controller/api/types";
import { parseStatusArgs } from "./status";
import { buildStatus, changeKey, rolloutState, statusExitCode } from "./status-model";

const NOW = new Date("2025-01-01T12:00:00Z");
const t = (secondsAgo: number) => new Date(NOW.getTime() - secondsAgo * 1000).toISOString();
const cond = (type: string, status: Condition["status"], reason = "R", message = "m"): Condition => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: t(0),
});

const rollout = (name: string, pool: string | undefined, conditions: Condition[] = [], extra: Partial<OsRollout["spec"]> = {}): OsRollout => ({
  metadata: { name, generation: 1 },
  spec: { image: { version: "1.1.0", url: "https://x/1.1.0.img" }, nodeSelector: pool ? { matchLabels: { pool } } : undefined, ...extra },
  status: { observedGeneration: 1, conditions, targetVersion: "1.1.0", total: 2, updated: 1, inProgress: 1, failed: 0 },
});
const kubeNode = (name: string, pool: string, ready = true, unschedulable = false): V1Node => ({
  metadata: { name, labels: { pool } },
  spec: { unschedulable },
  status: { conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
});
const osNode = (name: string, status: OsNodeStatus, targetRollout?: string): OsNode => ({
  metadata: { name },
  spec: { nodeName: name, target: targetRollout ? { rollout: targetRollout, image: { version: "1.1.0", url: "https://x/1.1.0.img" } } : undefined },
  status,
});

describe("buildStatus", () => {
  const input = {
    now: NOW,
    context: "lab",
    rollouts: [rollout("web", "web", [cond("Progressing", "True")]), rollout("db", "db", [cond("Complete", "True")])],
    nodes: [kubeNode("web-2", "web", false, true), kubeNode("web-10", "web"), kubeNode("db-1", "db"), kubeNode("cp-1", "control")],
    osNodes: [
      osNode("web-2", { phase: "Draining", phaseTime: t(184), bootedSlot: "A", bootedVersion: "1.0.0", message: "evicting" }, "web"),
      osNode("web-10", { phase: "Idle", bootedSlot: "B", bootedVersion: "1.1.0", lastError: "an old one", lastErrorTime: t(900) }),
      // Relabelled away from the db pool mid-upgrade: its target still ties it to db.
      osNode("moved", { phase: "Rebooting", phaseTime: t(-5) }, "db"),
    ],
  };

  it("lists the nodes each rollout selects or still targets, sorted by name, and the rest as unassigned", () => {
    const doc = buildStatus(input);
    assert.deepEqual(
      doc.rollouts.map((r) => [r.name, r.nodes.map((n) => n.name)]),
      [
        ["db", ["db-1", "moved"]],
        ["web", ["web-2", "web-10"]],
      ],
    );
    assert.deepEqual(
      doc.unassignedNodes.map((n) => n.name),
      ["cp-1"],
    );
  });

  it("reports phase, slot, versions, time in phase, last error and the Node's readiness and cordon", () => {
    const web = buildStatus(input).rollouts.find((r) => r.name === "web");
    assert.deepEqual(web?.nodes[0], {
      name: "web-2",
      phase: "Draining",
      hasOsNode: true,
      message: "evicting",
      bootedSlot: "A",
      bootedVersion: "1.0.0",
      targetVersion: "1.1.0",
      targetRollout: "web",
      phaseTime: t(184),
      timeInPhaseSeconds: 184,
      lastError: null,
      lastErrorTime: null,
      ready: false,
      cordoned: true,
    });
    assert.equal(web?.nodes[1]?.lastError, "an old one");
    assert.equal(web?.nodes[1]?.timeInPhaseSeconds, null, "no phaseTime, no duration");
    const moved = buildStatus(input).rollouts[0]?.nodes[1];
    assert.equal(moved?.timeInPhaseSeconds, 0, "a phase time ahead of the local clock counts as 0, not negative");
    assert.equal(moved?.ready, null);
    assert.equal(moved?.cordoned, null, "no Node object");
  });

  it("shows only the rollout asked for, and then no unassigned nodes", () => {
    const doc = buildStatus({ ...input, only: "web" });
    assert.deepEqual(
      doc.rollouts.map((r) => r.name),
      ["web"],
    );
    assert.deepEqual(doc.unassignedNodes, []);
    assert.equal(doc.rollout, "web");
  });

  it("is degraded, and exits 1, when a shown rollout is Degraded", () => {
    const bad = { ...input, rollouts: [...input.rollouts, rollout("bad", "none", [cond("Degraded", "True"), cond("Progressing", "False")])] };
    assert.equal(statusExitCode(buildStatus(bad)), 1);
    assert.equal(statusExitCode(buildStatus({ ...bad, only: "web" })), 0, "a Degraded rollout not shown does not count");
    assert.equal(statusExitCode(buildStatus(input)), 0);
  });

  it("keeps the same change key when only the clock moved, and a new one when a phase changed", () => {
    const later = buildStatus({ ...input, now: new Date(NOW.getTime() + 30_000) });
    assert.equal(changeKey(later), changeKey(buildStatus(input)));
    const changed = { ...input, osNodes: [osNode("web-2", { phase: "Rebooting", phaseTime: t(1) }, "web"), ...input.osNodes.slice(1)] };
    assert.notEqual(changeKey(buildStatus(changed)), changeKey(buildStatus(input)));
  });
});

describe("rolloutState", () => {
  it("ranks Degraded over Paused over Complete over Progressing", () => {
    const all = [cond("Progressing", "True"), cond("Complete", "True"), cond("Paused", "True"), cond("Degraded", "True")];
    assert.equal(rolloutState(rollout("r", undefined, all)).state, "Degraded");
    assert.equal(rolloutState(rollout("r", undefined, all.slice(0, 3))).state, "Paused");
    assert.equal(rolloutState(rollout("r", undefined, all.slice(0, 2))).state, "Complete");
    assert.equal(rolloutState(rollout("r", undefined, all.slice(0, 1))).state, "Progressing");
  });

  it("is Waiting when held without failure, Paused when the spec asks before the controller confirms, Unknown without status", () => {
    const held = rolloutState(rollout("r", undefined, [cond("Progressing", "False", "OutsideMaintenanceWindow"), cond("Degraded", "False")]));
    assert.equal(held.state, "Waiting");
    assert.equal(held.condition?.reason, "OutsideMaintenanceWindow");
    assert.equal(rolloutState({ ...rollout("r", undefined, [], { paused: true }), status: undefined }).state, "Paused");
    assert.equal(rolloutState({ ...rollout("r", undefined), status: undefined }).state, "Unknown");
  });
});

describe("parseStatusArgs", () => {
  it("reads values after the flag or after =", () => {
    assert.deepEqual(parseStatusArgs(["--kubeconfig", "k", "--context=c", "--rollout", "r", "--json"]), {
      kubeconfig: "k",
      context: "c",
      rollout: "r",
      json: true,
      watch: false,
    });
    assert.deepEqual(parseStatusArgs(["-w"]), { json: false, watch: true });
    assert.deepEqual(parseStatusArgs(["--once"]), { json: false, watch: false });
  });

  it("refuses unknown options, missing values and contradictions", () => {
    assert.equal(parseStatusArgs(["--nope"]), "unknown option --nope");
    assert.equal(parseStatusArgs(["--rollout"]), "--rollout needs a value");
    assert.equal(parseStatusArgs(["extra"]), "unexpected argument extra");
    assert.match(String(parseStatusArgs(["--watch", "--once"])), /exclude each other/);
    assert.match(String(parseStatusArgs(["--watch", "--json"])), /cannot be combined/);
    assert.equal(parseStatusArgs(["-h"]), "help");
  });
});
