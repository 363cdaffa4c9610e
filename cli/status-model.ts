// What `twinroot status` reports, computed from the objects the API server holds. Pure:
// plain objects and a clock in, one plain document out; the renderer, `--json` and the
// exit code all read that document, so the three never disagree.

import type { V1Node } from "@kubernetes/client-node";
import { matchesSelector } from "../controller/api/selector";
import type { Condition, OsNode, OsNodePhase, OsRollout } from "../controller/api/types";

/**
 * The state a rollout is summed up as, from its conditions: `Degraded` wins over
 * `Paused`, `Paused` over `Complete`, `Complete` over `Progressing`. `Waiting` means the
 * controller holds it without a failure (outside a maintenance window, no node selected,
 * …); `Unknown` means the controller has not written a status yet.
 */
export type RolloutState = "Degraded" | "Paused" | "Complete" | "Progressing" | "Waiting" | "Unknown";

/** One node as `twinroot status` shows it. */
export interface NodeStatusView {
  name: string;
  /** The OsNode's phase; null when it has no status (or there is no OsNode). */
  phase: OsNodePhase | null;
  /** Whether the node has an OsNode at all (its proxy or the controller creates it). */
  hasOsNode: boolean;
  /** The OsNode's human-readable detail of the phase. */
  message: string | null;
  bootedSlot: "A" | "B" | null;
  bootedVersion: string | null;
  /** The version the controller asked this node to install (`spec.target`); null when it has none. */
  targetVersion: string | null;
  /** The rollout that set the target. */
  targetRollout: string | null;
  /** When the phase last changed (`status.phaseTime`). */
  phaseTime: string | null;
  /** Whole seconds since `phaseTime`, never negative (the client's clock may lag the node's). */
  timeInPhaseSeconds: number | null;
  lastError: string | null;
  lastErrorTime: string | null;
  /** The Node's Ready condition is True; null when the Node is missing or reports no Ready condition. */
  ready: boolean | null;
  /** The Node is unschedulable (by anyone); null when there is no Node object. */
  cordoned: boolean | null;
}

/** The counts of a rollout's status (0 where the controller has not written them). */
export interface RolloutCounts {
  total: number;
  updated: number;
  inProgress: number;
  failed: number;
  pending: number;
  unavailable: number;
}

/** One rollout as `twinroot status` shows it. */
export interface RolloutStatusView {
  name: string;
  /** The version the rollout asks for (`spec.image.version`). */
  targetVersion: string;
  state: RolloutState;
  /** Reason and message of the condition that decided `state`, when there is one. */
  reason: string | null;
  detail: string | null;
  /** The controller's status is about the current spec (`observedGeneration` ≥ `generation`). */
  observed: boolean;
  counts: RolloutCounts;
  conditions: Condition[];
  startTime: string | null;
  completionTime: string | null;
  /** The nodes its selector picks, and nodes it still targets; sorted by name. */
  nodes: NodeStatusView[];
}

/** The whole answer of `twinroot status`. */
export interface StatusDocument {
  /** When the status was taken (times in phase are relative to it). */
  time: string;
  /** The kubeconfig context it was read through. */
  context: string;
  /** Some rollout shown is Degraded (the command then exits 1). */
  degraded: boolean;
  /** Set when one rollout was asked for (`--rollout`). */
  rollout: string | null;
  rollouts: RolloutStatusView[];
  /** Nodes no rollout selects or targets; only when all rollouts are shown. */
  unassignedNodes: NodeStatusView[];
}

/** What {@link buildStatus} reads. */
export interface StatusInput {
  rollouts: readonly OsRollout[];
  osNodes: readonly OsNode[];
  nodes: readonly V1Node[];
  now: Date;
  context: string;
  /** Show only this rollout (and no unassigned nodes). */
  only?: string;
}

// Numeric-aware, so node-2 sorts before node-10 as a person expects.
const natural = (a: string, b: string) => a.localeCompare(b, "en", { numeric: true });
const byName = (a: { name: string }, b: { name: string }) => natural(a.name, b.name);

/** The Node fields status reads: the rest of a Node (images, addresses, managed fields) is dropped from the cache. */
export function trimNode(n: V1Node): V1Node {
  return {
    metadata: { name: n.metadata?.name, labels: n.metadata?.labels, resourceVersion: n.metadata?.resourceVersion },
    spec: { unschedulable: n.spec?.unschedulable },
    status: { conditions: n.status?.conditions?.filter((c) => c.type === "Ready") },
  };
}

/** An OsNode without its managed fields (large and never read). */
export function trimOsNode(o: OsNode): OsNode {
  const { managedFields: _, ...metadata } = o.metadata as OsNode["metadata"] & { managedFields?: unknown };
  return { ...o, metadata };
}

function cond(r: OsRollout, type: string): Condition | undefined {
  return r.status?.conditions?.find((c) => c.type === type);
}

/** The state of `r` and the condition that decided it. */
export function rolloutState(r: OsRollout): { state: RolloutState; condition?: Condition } {
  for (const type of ["Degraded", "Paused", "Complete", "Progressing"] as const) {
    const c = cond(r, type);
    if (c?.status === "True") return { state: type, condition: c };
  }
  // spec.paused counts before the controller has confirmed it: the user asked for it.
  if (r.spec.paused) return { state: "Paused" };
  const progressing = cond(r, "Progressing");
  if (progressing) return { state: "Waiting", condition: progressing };
  return { state: "Unknown" };
}

function nodeView(name: string, node: V1Node | undefined, osNode: OsNode | undefined, now: Date): NodeStatusView {
  const s = osNode?.status;
  const readyCond = node?.status?.conditions?.find((c) => c.type === "Ready");
  const since = s?.phaseTime ? Date.parse(s.phaseTime) : Number.NaN;
  return {
    name,
    phase: s?.phase ?? null,
    hasOsNode: !!osNode,
    message: s?.message || null,
    bootedSlot: s?.bootedSlot ?? null,
    bootedVersion: s?.bootedVersion ?? null,
    targetVersion: osNode?.spec.target?.image.version ?? null,
    targetRollout: osNode?.spec.target?.rollout ?? null,
    phaseTime: s?.phaseTime ?? null,
    timeInPhaseSeconds: Number.isNaN(since) ? null : Math.max(0, Math.floor((now.getTime() - since) / 1000)),
    lastError: s?.lastError || null,
    lastErrorTime: s?.lastErrorTime ?? null,
    ready: readyCond ? readyCond.status === "True" : null,
    cordoned: node ? !!node.spec?.unschedulable : null,
  };
}

/** Builds the status document from the cluster's rollouts, per-node objects and Nodes. */
export function buildStatus(input: StatusInput): StatusDocument {
  const nodes = new Map(input.nodes.map((n) => [n.metadata?.name ?? "", n]));
  const osNodes = new Map(input.osNodes.map((o) => [o.metadata.name ?? "", o]));
  const names = [...new Set([...nodes.keys(), ...osNodes.keys()])].filter((n) => n);
  const assigned = new Set<string>();
  const rollouts: RolloutStatusView[] = [];
  for (const r of [...input.rollouts].sort((a, b) => natural(a.metadata.name ?? "", b.metadata.name ?? ""))) {
    const name = r.metadata.name ?? "";
    // A node belongs to a rollout when the rollout selects its Node, or when the
    // rollout's target is still on it (a node mid-upgrade whose labels changed).
    const members = names.filter((n) => {
      const node = nodes.get(n);
      return (node && matchesSelector(r.spec.nodeSelector, node.metadata?.labels)) || osNodes.get(n)?.spec.target?.rollout === name;
    });
    for (const m of members) assigned.add(m);
    if (input.only !== undefined && input.only !== name) continue;
    const { state, condition } = rolloutState(r);
    const s = r.status ?? {};
    rollouts.push({
      name,
      targetVersion: r.spec.image.version,
      state,
      reason: condition?.reason ?? null,
      detail: condition?.message ?? null,
      observed: r.status !== undefined && (s.observedGeneration ?? 0) >= (r.metadata.generation ?? 0),
      counts: {
        total: s.total ?? 0,
        updated: s.updated ?? 0,
        inProgress: s.inProgress ?? 0,
        failed: s.failed ?? 0,
        pending: s.pending ?? 0,
        unavailable: s.unavailable ?? 0,
      },
      conditions: s.conditions ?? [],
      startTime: s.startTime ?? null,
      completionTime: s.completionTime ?? null,
      nodes: members.map((n) => nodeView(n, nodes.get(n), osNodes.get(n), input.now)).sort(byName),
    });
  }
  const unassigned =
    input.only === undefined
      ? names
          .filter((n) => !assigned.has(n))
          .map((n) => nodeView(n, nodes.get(n), osNodes.get(n), input.now))
          .sort(byName)
      : [];
  return {
    time: input.now.toISOString(),
    context: input.context,
    degraded: rollouts.some((r) => r.state === "Degraded"),
    rollout: input.only ?? null,
    rollouts,
    unassignedNodes: unassigned,
  };
}

/** The exit code a status leads to: 1 when a rollout shown is Degraded, else 0. */
export function statusExitCode(doc: StatusDocument): 0 | 1 {
  return doc.degraded ? 1 : 0;
}

/**
 * The document with everything that changes by the clock alone removed: two snapshots
 * with the same key show the same cluster state, so a non-TTY watch prints nothing new.
 */
export function changeKey(doc: StatusDocument): string {
  const still = (n: NodeStatusView) => ({ ...n, timeInPhaseSeconds: null });
  return JSON.stringify({
    ...doc,
    time: "",
    rollouts: doc.rollouts.map((r) => ({ ...r, nodes: r.nodes.map(still) })),
    unassignedNodes: doc.unassignedNodes.map(still),
  });
}
