import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Condition, OsRollout } from "../controller/api/types";
import { RolloutFailedError, rolloutState, waitForRollout } from "./rollout-wait";

const t = "2025-01-01T00:00:00Z";
const c = (type: string, status: "True" | "False", reason: string, observedGeneration: number, message = `${type} ${reason}`): Condition => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: t,
  observedGeneration,
});
function rollout(generation: number, observed: number, conditions: Condition[]): OsRollout {
  return {
    metadata: { name: "r", generation },
    spec: { image: { version: "1.1.0", url: "https://x/y" } },
    status: { observedGeneration: observed, conditions, total: 3, updated: 1, inProgress: 1, failed: 0 },
  };
}

/** A fake API answering GET with each object in turn (the last one repeats). */
function fakeKube(objects: OsRollout[]) {
  let i = 0;
  const paths: string[] = [];
  return {
    paths,
    request: async <T>(method: string, path: string): Promise<T> => {
      assert.equal(method, "GET");
      paths.push(path);
      const o = objects[Math.min(i++, objects.length - 1)];
      return o as T;
    },
  };
}

describe("waiting for a rollout", () => {
  it("ignores conditions written for an older generation", () => {
    assert.equal(rolloutState(rollout(2, 1, [c("Complete", "True", "AllNodesUpdated", 1)]), 2).phase, "waiting");
    assert.equal(rolloutState(rollout(2, 2, [c("Complete", "True", "AllNodesUpdated", 1)]), 2).phase, "waiting");
    assert.equal(rolloutState(rollout(2, 2, [c("Complete", "True", "AllNodesUpdated", 2)]), 2).phase, "complete");
  });

  it("reports Degraded with the controller's reason before anything else", () => {
    const s = rolloutState(
      rollout(3, 3, [c("Complete", "False", "FailureBudgetExceeded", 3), c("Degraded", "True", "FailureBudgetExceeded", 3, "2 nodes failed")]),
      3,
    );
    assert.deepEqual(s, { phase: "degraded", reason: "FailureBudgetExceeded", message: "2 nodes failed" });
  });

  it("says how far a rollout in progress is", () => {
    const s = rolloutState(rollout(1, 1, [c("Progressing", "True", "NodesStarted", 1, "1 of 3 nodes updated")]), 1);
    assert.equal(s.phase, "waiting");
    assert.match(s.message, /1\/3 updated, 1 in progress, 0 failed: NodesStarted: 1 of 3 nodes updated/);
  });

  it("polls the rollout until it completes, telling each new state once", async () => {
    const kube = fakeKube([
      rollout(2, 1, []),
      rollout(2, 2, [c("Progressing", "True", "NodesStarted", 2)]),
      rollout(2, 2, [c("Progressing", "True", "NodesStarted", 2)]),
      rollout(2, 2, [c("Complete", "True", "AllNodesUpdated", 2)]),
    ]);
    const seen: string[] = [];
    const done = await waitForRollout(kube, { name: "r", generation: 2, timeoutMs: 10_000, pollMs: 1, onProgress: (m) => seen.push(m) });
    assert.equal(done.status?.observedGeneration, 2);
    assert.equal(kube.paths.length, 4);
    assert.equal(kube.paths[0], "/apis/twinroot.dev/v1alpha1/osrollouts/r");
    assert.equal(seen.length, 2, JSON.stringify(seen));
  });

  it("fails at once on Degraded with the reason and message", async () => {
    const kube = fakeKube([rollout(1, 1, [c("Degraded", "True", "FailureBudgetExceeded", 1, "2 nodes failed, the failure budget is 1")])]);
    await assert.rejects(
      waitForRollout(kube, { name: "r", generation: 1, timeoutMs: 60_000, pollMs: 1 }),
      (err: unknown) =>
        err instanceof RolloutFailedError &&
        err.kind === "Degraded" &&
        err.message === "OsRollout r is Degraded (FailureBudgetExceeded): 2 nodes failed, the failure budget is 1",
    );
    assert.equal(kube.paths.length, 1);
  });

  it("gives up at the timeout with the last state", async () => {
    const kube = fakeKube([rollout(1, 0, [])]);
    await assert.rejects(waitForRollout(kube, { name: "r", generation: 1, timeoutMs: 30, pollMs: 5 }), (err: unknown) => {
      return (
        err instanceof RolloutFailedError &&
        err.kind === "Timeout" &&
        /did not complete within 0s: the controller has not observed generation 1/.test(err.message)
      );
    });
  });
});
