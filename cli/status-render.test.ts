import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { NodeStatusView, RolloutStatusView, StatusDocument } from "./status-model";
import { formatDuration, renderStatus, renderTable, terminalFrame } from "./status-render";

const node = (name: string, over: Partial<NodeStatusView> = {}): NodeStatusView => ({
  name,
  phase: "Idle",
  hasOsNode: true,
  message: null,
  bootedSlot: "A",
  bootedVersion: "1.0.0",
  targetVersion: null,
  targetRollout: null,
  phaseTime: null,
  timeInPhaseSeconds: null,
  lastError: null,
  lastErrorTime: null,
  ready: true,
  cordoned: false,
  ...over,
});

const rollout = (over: Partial<RolloutStatusView> = {}): RolloutStatusView => ({
  name: "to-1-1",
  targetVersion: "1.1.0",
  state: "Progressing",
  reason: "NodesStarted",
  detail: "1 of 3 nodes updated",
  observed: true,
  counts: { total: 3, updated: 1, inProgress: 1, failed: 0, pending: 1, unavailable: 1 },
  conditions: [],
  startTime: null,
  completionTime: null,
  nodes: [],
  ...over,
});

const doc = (over: Partial<StatusDocument> = {}): StatusDocument => ({
  time: "2025-01-01T00:00:00.000Z",
  context: "lab",
  degraded: false,
  rollout: null,
  rollouts: [],
  unassignedNodes: [],
  ...over,
});

describe("formatDuration", () => {
  it("writes seconds, minutes with seconds, hours with minutes and days with hours", () => {
    assert.deepEqual([0, 12, 59, 60, 184, 3599, 3600, 3720, 86399, 86400, 183600].map(formatDuration), [
      "0s",
      "12s",
      "59s",
      "1m00s",
      "3m04s",
      "59m59s",
      "1h00m",
      "1h02m",
      "23h59m",
      "1d00h",
      "2d03h",
    ]);
  });

  it("writes - for an unknown duration", () => {
    assert.equal(formatDuration(null), "-");
    assert.equal(formatDuration(Number.NaN), "-");
  });
});

describe("renderTable", () => {
  it("fits each column to its widest cell and leaves no trailing blanks", () => {
    assert.equal(
      renderTable(
        ["A", "BB", "C"],
        [
          ["long", "x", ""],
          ["y", "wide cell", "z"],
        ],
      ),
      "A     BB         C\nlong  x\ny     wide cell  z",
    );
  });
});

describe("renderStatus", () => {
  it("prints a header per rollout and a table of its nodes", () => {
    const r = rollout({
      nodes: [
        node("node-1", { phase: "Done", bootedSlot: "B", bootedVersion: "1.1.0", targetVersion: "1.1.0", timeInPhaseSeconds: 3720 }),
        node("node-2", { phase: "Draining", targetVersion: "1.1.0", timeInPhaseSeconds: 184, message: "evicting 2 pods:\n  apps/db", cordoned: true }),
        node("node-10", { timeInPhaseSeconds: 12 }),
      ],
    });
    assert.equal(
      renderStatus(doc({ rollouts: [r] })),
      `rollout to-1-1 → 1.1.0  Progressing  updated 1/3  failed 0  in progress 1

NODE     PHASE     SLOT  VERSION  TARGET  IN PHASE  MESSAGE
node-1   Done      B     1.1.0    1.1.0   1h02m
node-2   Draining  A     1.0.0    1.1.0   3m04s     [cordoned] evicting 2 pods: apps/db
node-10  Idle      A     1.0.0    -       12s
`,
    );
  });

  it("says why a Degraded rollout halted, and shows a failed node's last error rather than its message", () => {
    const r = rollout({
      state: "Degraded",
      reason: "FailureBudgetExceeded",
      detail: "2 nodes failed, the failure budget is 1; the rollout is halted",
      counts: { total: 4, updated: 0, inProgress: 0, failed: 2, pending: 2, unavailable: 0 },
      nodes: [
        node("fail-00", {
          phase: "RolledBack",
          targetVersion: "1.1.0",
          message: "booted the old slot",
          lastError: "health check failed",
          timeInPhaseSeconds: 5,
        }),
        node("fail-01", { phase: "Failed", targetVersion: "1.1.0", ready: false, lastError: "new slot never booted" }),
      ],
    });
    assert.equal(
      renderStatus(doc({ degraded: true, rollouts: [r] })),
      `rollout to-1-1 → 1.1.0  Degraded  updated 0/4  failed 2  in progress 0
  FailureBudgetExceeded: 2 nodes failed, the failure budget is 1; the rollout is halted

NODE     PHASE       SLOT  VERSION  TARGET  IN PHASE  MESSAGE
fail-00  RolledBack  A     1.0.0    1.1.0   5s        health check failed
fail-01  Failed      A     1.0.0    1.1.0   -         [NotReady] new slot never booted
`,
    );
  });

  it("flags nodes without a Node or an OsNode, rollouts not yet reported on, and nodes in no rollout", () => {
    const r = rollout({
      name: "new",
      state: "Unknown",
      reason: null,
      detail: null,
      observed: false,
      counts: { total: 0, updated: 0, inProgress: 0, failed: 0, pending: 0, unavailable: 0 },
    });
    const ghost = node("ghost", { cordoned: null, ready: null });
    const bare = node("bare", { phase: null, hasOsNode: false, bootedSlot: null, bootedVersion: null });
    assert.equal(
      renderStatus(doc({ rollouts: [r], unassignedNodes: [bare, ghost] })),
      `rollout new → 1.1.0  Unknown  updated 0/0  failed 0  in progress 0
  the controller has not reported on this rollout yet (is it running?)
  no nodes selected

not in any rollout: 2 nodes

NODE   PHASE  SLOT  VERSION  TARGET  IN PHASE  MESSAGE
bare   -      -     -        -       -         [no OsNode]
ghost  Idle   A     1.0.0    -       -         [no Node]
`,
    );
  });

  it("explains a waiting rollout and one whose latest spec the controller has not seen", () => {
    const r = rollout({ state: "Waiting", reason: "OutsideMaintenanceWindow", detail: "the next window opens Mon 22:00 Europe/Berlin", observed: false });
    assert.equal(
      renderStatus(doc({ rollouts: [r] })),
      `rollout to-1-1 → 1.1.0  Waiting  updated 1/3  failed 0  in progress 1
  OutsideMaintenanceWindow: the next window opens Mon 22:00 Europe/Berlin
  (the controller has not caught up with the latest spec yet)
  no nodes selected
`,
    );
  });

  it("says when there are no rollouts, or the one asked for is gone", () => {
    assert.equal(renderStatus(doc()), "no OsRollouts in the cluster\n");
    assert.equal(renderStatus(doc({ rollout: "gone" })), 'OsRollout "gone" not found\n');
  });
});

describe("terminalFrame", () => {
  it("homes the cursor, cuts long lines, clears each line's end and what is below", () => {
    assert.equal(terminalFrame("abcdefgh\nxy\n", { columns: 5, rows: 10 }), "\x1b[Habcd…\x1b[K\nxy\x1b[K\n\x1b[J");
  });

  it("keeps a frame taller than the terminal to its height and says how much is hidden", () => {
    const text = Array.from({ length: 10 }, (_, i) => `line ${i}`).join("\n");
    const lines = terminalFrame(text, { columns: 80, rows: 5 }).split("\n");
    assert.deepEqual(lines, ["\x1b[Hline 0\x1b[K", "line 1\x1b[K", "line 2\x1b[K", "… 7 more lines (a taller terminal shows them)\x1b[K", "\x1b[J"]);
  });
});
