// The rollout's decision: which nodes start now, and what the status says. Pure: the
// same inputs always give the same plan, so the controller can run it from its caches
// after any restart and pick up exactly where the API says the rollout is.

import type { OsRollout } from "../api/types";
import { classify, isUnavailable, type NodeState, type NodeView } from "./classify";
import { windowState } from "./windows";

/** Resolves `maxUnavailable` against the number of selected nodes; a percent rounds down but never below 1. */
export function resolveMaxUnavailable(value: number | string | undefined, total: number): number {
  if (value === undefined) return 1;
  if (typeof value === "number") return value;
  const m = /^(\d+)%$/.exec(value);
  if (!m) throw new Error(`invalid maxUnavailable ${JSON.stringify(value)}`);
  return Math.max(1, Math.floor((total * Number(m[1])) / 100));
}

/** Everything outside the rollout object that gates new starts. */
export interface PlanContext {
  now: Date;
  /** Reasons the spec cannot be acted on (from validation); any blocks the rollout. */
  invalid?: string[];
  /** Another, older rollout selects some of the same nodes. */
  overlap?: { rollout: string; nodes: string[] };
  /** Cluster health checks that must hold before another batch (`undefined` = none configured). */
  healthChecks?: { ok: boolean; message: string };
  /**
   * Pending nodes not to start now (their target write was just refused): others go
   * first, so one node the API server will not let the controller write does not stall
   * the rollout. They still count as pending.
   */
  deferred?: ReadonlySet<string>;
}

/** Counts for the status. */
export interface PlanCounts {
  total: number;
  updated: number;
  inProgress: number;
  failed: number;
  pending: number;
  unavailable: number;
  budget: number;
}

/** Why no new node starts, when none does. */
export type HoldReason =
  | "InvalidSpec"
  | "SelectorOverlap"
  | "NoNodesSelected"
  | "Paused"
  | "FailureBudgetExceeded"
  | "OutsideMaintenanceWindow"
  | "WaitingForHealthChecks"
  | "WaitingForBudget"
  | "WaitingForNodes"
  | "Finished";

/** What to do now. */
export interface Plan {
  /** Nodes to give the target image, in order. */
  start: string[];
  /** Nodes holding an older target of this rollout that has not begun to disrupt them. */
  retarget: string[];
  counts: PlanCounts;
  /** The state of every selected node. */
  states: Map<string, NodeState>;
  /** The failed nodes and why each failed (their OsNode's last error), in node order. */
  failures: { node: string; error: string }[];
  /** Set when nothing new may start; the Progressing/Paused/Degraded conditions say it. */
  hold?: { reason: HoldReason; message: string };
  /** Every selected node is updated (or failed within the budget with nothing left to do). */
  complete: boolean;
  /** Seconds until a maintenance window opens, when that is what holds the rollout. */
  requeueAfterS?: number;
}

/**
 * Plans one step of `rollout` over `nodes` (the nodes its selector picks). Never lets
 * the unavailable nodes (NotReady, cordoned or upgrading, for any reason) exceed the
 * budget; keeps a Ready node in every zone when waiting can achieve that; prefers
 * spreading a batch over zones, then the nodes cheapest to drain.
 */
export function plan(rollout: OsRollout, nodes: NodeView[], ctx: PlanContext): Plan {
  const name = rollout.metadata.name ?? "";
  const image = rollout.spec.image;
  const states = new Map<string, NodeState>();
  const counts: PlanCounts = { total: nodes.length, updated: 0, inProgress: 0, failed: 0, pending: 0, unavailable: 0, budget: 0 };
  for (const n of nodes) {
    const s = classify(n, name, image);
    states.set(n.name, s);
    if (s === "updated") counts.updated++;
    else if (s === "failed") counts.failed++;
    else if (s === "pending") counts.pending++;
    else counts.inProgress++;
    if (isUnavailable(n, s)) counts.unavailable++;
  }
  counts.budget = resolveMaxUnavailable(rollout.spec.maxUnavailable, nodes.length);
  const retarget = ctx.invalid?.length || ctx.overlap ? [] : nodes.filter((n) => states.get(n.name) === "retarget").map((n) => n.name);
  const maxFailed = rollout.spec.failure?.maxFailedNodes ?? 0;
  const complete = nodes.length > 0 && counts.pending === 0 && counts.inProgress === 0 && counts.failed <= maxFailed;
  const failures = nodes
    .filter((n) => states.get(n.name) === "failed")
    .map((n) => ({ node: n.name, error: n.osNode?.status?.lastError ?? n.osNode?.status?.message ?? "no error recorded" }));
  const out = (hold: Plan["hold"], extra: Partial<Plan> = {}): Plan => ({ start: [], retarget, counts, states, failures, hold, complete, ...extra });

  if (ctx.invalid?.length) return out({ reason: "InvalidSpec", message: ctx.invalid.join("; ") });
  if (ctx.overlap) {
    return out({
      reason: "SelectorOverlap",
      message: `rollout ${ctx.overlap.rollout} already selects ${ctx.overlap.nodes.length} of these nodes (${ctx.overlap.nodes.slice(0, 5).join(", ")}${ctx.overlap.nodes.length > 5 ? ", …" : ""})`,
    });
  }
  if (nodes.length === 0) return out({ reason: "NoNodesSelected", message: "the node selector matches no node" });
  if (complete) return out({ reason: "Finished", message: `${counts.updated} of ${counts.total} nodes run ${image.version}` });
  if (counts.failed > maxFailed) {
    return out({ reason: "FailureBudgetExceeded", message: `${counts.failed} nodes failed, more than the ${maxFailed} the failure budget allows` });
  }
  if (rollout.spec.paused) return out({ reason: "Paused", message: "spec.paused is set; nodes in flight finish" });
  const win = windowState(rollout.spec.maintenanceWindows, ctx.now);
  if (!win.open) {
    return out(
      { reason: "OutsideMaintenanceWindow", message: `no maintenance window is open; the next opens in ${Math.ceil((win.opensInS ?? 0) / 60)} min` },
      { requeueAfterS: win.opensInS },
    );
  }
  if (ctx.healthChecks && !ctx.healthChecks.ok) return out({ reason: "WaitingForHealthChecks", message: ctx.healthChecks.message });

  const start = pickBatch(ctx.deferred?.size ? nodes.filter((n) => !ctx.deferred?.has(n.name)) : nodes, states, counts.budget - counts.unavailable);
  if (start.length === 0) {
    const anyReady = nodes.some((n) => states.get(n.name) === "pending" && n.ready);
    return out(
      anyReady
        ? { reason: "WaitingForBudget", message: `${counts.unavailable} of at most ${counts.budget} nodes are unavailable` }
        : { reason: "WaitingForNodes", message: "no pending node is Ready" },
    );
  }
  return out(undefined, { start, requeueAfterS: win.closesInS });
}

/**
 * Greedy batch selection within `free` budget. A node already unavailable (cordoned by
 * someone) costs nothing; a Ready schedulable one costs 1. A node whose zone would be
 * left with no available node is taken only when nothing of that zone is in flight,
 * since waiting for the in-flight node would avoid emptying the zone.
 */
function pickBatch(nodes: NodeView[], states: Map<string, NodeState>, free: number): string[] {
  const available = new Map<string, number>();
  const inFlight = new Map<string, number>();
  const add = (m: Map<string, number>, z: string, d: number) => m.set(z, (m.get(z) ?? 0) + d);
  for (const n of nodes) {
    const s = states.get(n.name) as NodeState;
    if (!isUnavailable(n, s)) add(available, n.zone, 1);
    if (s === "inProgress" || s === "retarget" || s === "foreign") add(inFlight, n.zone, 1);
  }
  const candidates = nodes.filter((n) => states.get(n.name) === "pending" && n.ready);
  const picked: string[] = [];
  const taken = new Set<string>();
  let budget = free;
  for (;;) {
    let best: NodeView | undefined;
    let bestKey: [number, number, number, string] | undefined;
    for (const n of candidates) {
      if (taken.has(n.name)) continue;
      const cost = n.unschedulable ? 0 : 1;
      if (cost > budget) continue;
      const avail = available.get(n.zone) ?? 0;
      const flying = inFlight.get(n.zone) ?? 0;
      if (cost === 1 && avail - 1 < 1 && flying > 0) continue;
      // Free nodes first, then the zone with the fewest nodes in flight, then the cheapest pods.
      const key: [number, number, number, string] = [cost, flying, n.podCost, n.name];
      if (!bestKey || compareKeys(key, bestKey) < 0) {
        best = n;
        bestKey = key;
      }
    }
    if (!best || !bestKey) return picked;
    picked.push(best.name);
    taken.add(best.name);
    budget -= bestKey[0];
    if (bestKey[0] === 1) add(available, best.zone, -1);
    add(inFlight, best.zone, 1);
  }
}

function compareKeys(a: [number, number, number, string], b: [number, number, number, string]): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return a[3] < b[3] ? -1 : a[3] > b[3] ? 1 : 0;
}
