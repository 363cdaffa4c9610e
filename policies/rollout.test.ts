import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UNKNOWN } from "./pack";
import {
  allowedUnavailable,
  checkDrainRespectsPdbs,
  checkFailureBudget,
  checkForceTimeout,
  checkMaxUnavailable,
  checkMinNodes,
  FORCE_TIMEOUT_DEFAULTS,
  MAX_UNAVAILABLE_DEFAULTS,
  MIN_NODES_DEFAULTS,
} from "./rollout";
import { labMachines, nodePool, openstackPool, poolSelector, rollout } from "./test-fixtures";

const messages = (vs: { message: string }[]) => vs.map((v) => v.message);

/** A Fleet with lab pools of the given sizes and one rollout selecting them. */
function fleet(spec: Record<string, unknown>, sizes: Record<string, number>) {
  const pools = Object.entries(sizes).flatMap(([name, n]) => {
    const p = nodePool(name, { size: n });
    return [p, ...labMachines(name, n, undefined, p)];
  });
  return [rollout("fleet", { ...poolSelector(...Object.keys(sizes)), ...spec }), ...pools];
}

describe("twinroot-rollout-max-unavailable", () => {
  it("lets at least one node of any pool go down, and the share of larger ones", () => {
    assert.deepEqual(
      [1, 2, 3, 4, 8, 12].map((n) => allowedUnavailable(n, 0.25)),
      [1, 1, 1, 1, 2, 3],
    );
  });

  it("accepts the programs' stacks: 1 of 3, 1 of 2, and 10% of a 12 + 3 node fleet", () => {
    assert.deepEqual(checkMaxUnavailable(fleet({ maxUnavailable: 1 }, { lab: 3 }), MAX_UNAVAILABLE_DEFAULTS), []);
    assert.deepEqual(checkMaxUnavailable(fleet({ maxUnavailable: 1 }, { workers: 2 }), MAX_UNAVAILABLE_DEFAULTS), []);
    assert.deepEqual(checkMaxUnavailable(fleet({ maxUnavailable: "10%" }, { workers: 12, infra: 3 }), MAX_UNAVAILABLE_DEFAULTS), []);
  });

  it("refuses a count that could take more than the share of a pool, naming the pool and the count to use", () => {
    const [m] = messages(checkMaxUnavailable(fleet({ maxUnavailable: 3 }, { workers: 12, infra: 3 }), MAX_UNAVAILABLE_DEFAULTS));
    assert.match(m ?? "", /^OsRollout "fleet": spec\.maxUnavailable 3 lets 3 nodes of the 15 selected be unavailable at once/);
    assert.match(m ?? "", /NodePool "infra" \(pool infra\) of 3 nodes allows 1/);
    assert.doesNotMatch(m ?? "", /NodePool "workers"/);
    assert.match(m ?? "", /Fix: lower UpgradePolicy maxUnavailable \(programs: policy\.maxUnavailable\) to at most 1/);
  });

  it("refuses a percent above the share whatever the pool sizes, and follows the configured share", () => {
    const [m] = messages(checkMaxUnavailable(fleet({ maxUnavailable: "50%" }, { lab: 3 }), MAX_UNAVAILABLE_DEFAULTS));
    assert.match(m ?? "", /spec\.maxUnavailable "50%" is above this stack's share of 25% of each pool \(maxUnavailableShare\)/);
    assert.deepEqual(checkMaxUnavailable(fleet({ maxUnavailable: "50%" }, { lab: 3 }), { maxUnavailableShare: 0.5 }), []);
    assert.equal(checkMaxUnavailable(fleet({ maxUnavailable: 2 }, { lab: 4 }), { maxUnavailableShare: 0.25 }).length, 1);
    assert.deepEqual(checkMaxUnavailable(fleet({ maxUnavailable: 2 }, { lab: 4 }), { maxUnavailableShare: 0.5 }), []);
  });

  it("refuses a malformed value and skips one unknown during preview", () => {
    assert.match(
      messages(checkMaxUnavailable(fleet({ maxUnavailable: 0 }, { lab: 3 }), MAX_UNAVAILABLE_DEFAULTS))[0] ?? "",
      /neither a count of at least 1 nor a percent/,
    );
    assert.deepEqual(checkMaxUnavailable(fleet({ maxUnavailable: UNKNOWN }, { lab: 3 }), MAX_UNAVAILABLE_DEFAULTS), []);
  });

  it("counts only the pools the rollout selects", () => {
    const resources = [...fleet({ maxUnavailable: 1 }, { lab: 3 }), nodePool("other", { size: 1 })];
    assert.deepEqual(checkMaxUnavailable(resources, MAX_UNAVAILABLE_DEFAULTS), []);
  });
});

describe("twinroot-rollout-failure-budget", () => {
  it("accepts a budget below the selected nodes", () => {
    assert.deepEqual(checkFailureBudget(fleet({}, { lab: 3 }), {}), []);
  });

  it("refuses a rollout without a budget, and one as large as its nodes", () => {
    const none = messages(checkFailureBudget(fleet({ failure: { failedNodePolicy: "LeaveRolledBack" } }, { lab: 3 }), {}));
    assert.match(
      none[0] ?? "",
      /^OsRollout "fleet": spec\.failure\.maxFailedNodes is not set: .*Fix: set UpgradePolicy failureBudget \(programs: policy\.failureBudget\)/,
    );
    const all = messages(checkFailureBudget(fleet({ failure: { maxFailedNodes: 3 } }, { lab: 3 }), {}));
    assert.match(all[0] ?? "", /spec\.failure\.maxFailedNodes 3 is not below the 3 nodes the rollout selects: .* to at most 2\./);
  });

  it("holds the budget to maxFailedNodes when the stack sets it", () => {
    assert.equal(checkFailureBudget(fleet({ failure: { maxFailedNodes: 2 } }, { lab: 12 }), { maxFailedNodes: 1 }).length, 1);
    assert.deepEqual(checkFailureBudget(fleet({ failure: { maxFailedNodes: 2 } }, { lab: 12 }), {}), []);
  });
});

describe("twinroot-rollout-drain-respects-pdbs", () => {
  it("accepts drains that give the node back, and refuses DeletePods naming the fix", () => {
    assert.deepEqual(checkDrainRespectsPdbs(rollout("lab")), []);
    const [m] = messages(checkDrainRespectsPdbs(rollout("lab", { drain: { timeout: "10m", onTimeout: "DeletePods" } })));
    assert.match(
      m ?? "",
      /^OsRollout "lab": spec\.drain\.onTimeout is DeletePods: .*Fix: set UpgradePolicy drain\.respectPodDisruptionBudgets to true \(programs: policy\.respectPodDisruptionBudgets\)/,
    );
  });

  it("ignores resources other than rollouts", () => {
    assert.deepEqual(checkDrainRespectsPdbs(nodePool("lab", { size: 3 })), []);
  });
});

describe("twinroot-rollout-force-needs-timeout", () => {
  const force = (timeout?: string) => rollout("lab", { drain: { onTimeout: "DeletePods", ...(timeout ? { timeout } : {}) } });

  it("accepts forcing after a timeout of at least minForceTimeout, and drains that never force", () => {
    assert.deepEqual(checkForceTimeout(force("10m"), FORCE_TIMEOUT_DEFAULTS), []);
    assert.deepEqual(checkForceTimeout(rollout("lab", { drain: { timeout: "5s", onTimeout: "GiveBack" } }), FORCE_TIMEOUT_DEFAULTS), []);
  });

  it("refuses forcing without a timeout or after a short one", () => {
    assert.match(
      messages(checkForceTimeout(force(), FORCE_TIMEOUT_DEFAULTS))[0] ?? "",
      /spec\.drain\.onTimeout is DeletePods \(force\) and spec\.drain\.timeout is not set/,
    );
    const [m] = messages(checkForceTimeout(force("30s"), FORCE_TIMEOUT_DEFAULTS));
    assert.match(
      m ?? "",
      /after spec\.drain\.timeout 30s, shorter than this stack's minForceTimeout 5m.*Fix: set UpgradePolicy drain\.timeout \(programs: policy\.drainTimeout\) to at least 5m/,
    );
    assert.deepEqual(checkForceTimeout(force("30s"), { minForceTimeout: "30s" }), []);
  });
});

describe("twinroot-pool-min-nodes", () => {
  it("accepts pools of at least minNodesPerPool, and empty pools", () => {
    assert.deepEqual(checkMinNodes(fleet({}, { lab: 2, gone: 0 }), MIN_NODES_DEFAULTS), []);
  });

  it("refuses a smaller pool, from a NodePool or from labelled machines alone", () => {
    const [m] = messages(checkMinNodes(fleet({}, { lab: 1 }), MIN_NODES_DEFAULTS));
    assert.match(
      m ?? "",
      /^NodePool "lab" \(pool lab\): size 1 is below this stack's minNodesPerPool 2: .*Fix: set the NodePool size to at least 2 \(programs: pool\.lab\.size or lab\.nodes\)/,
    );
    const loose = messages(checkMinNodes(labMachines("edge", 2), { minNodesPerPool: 3 }));
    assert.match(loose[0] ?? "", /^pool "edge" \(machines labelled twinroot\.dev\/pool=edge, no NodePool\): size 2/);
  });

  it("counts OpenStack pools by their NodePool size", () => {
    assert.equal(checkMinNodes(openstackPool("workers", { size: 1 }), MIN_NODES_DEFAULTS).length, 1);
  });
});
