// One reconcile of one OsRollout: read everything from the informer caches, plan, then
// write the few things the plan asks for (targets on OsNodes, the status) with the
// resourceVersion that was read, so a stale cache turns into a conflict and a retry,
// never into a second decision.

import type { V1Deployment, V1Node, V1Pod, V1PodDisruptionBudget } from "@kubernetes/client-node";
import { matchesSelector } from "../api/selector";
import { API_VERSION, type OsNode, type OsNodeTarget, type OsRollout, type OsRolloutStatus } from "../api/types";
import { Backoff, sleep } from "../kube/backoff";
import type { EventRecorder } from "../kube/events";
import type { Informer } from "../kube/informer";
import type { Logger } from "../kube/log";
import type { WorkResult } from "../kube/queue";
import { DEPLOYMENTS, OSNODES, ROLLOUTS, resourcePath } from "../kube/resources";
import { isStatus, type Kube } from "../kube/rest";
import type { Metrics } from "../metrics/metrics";
import type { NodeView } from "./classify";
import { getCondition, rolloutStatus } from "./conditions";
import { podCost } from "./cost";
import { findOverlaps } from "./overlap";
import { type Plan, plan, resolveMaxUnavailable } from "./plan";
import { validateWindows } from "./windows";

/** The caches a reconcile reads. */
export interface Caches {
  rollouts: Informer<OsRollout>;
  nodes: Informer<V1Node>;
  osNodes: Informer<OsNode>;
  pods?: Informer<V1Pod>;
  pdbs?: Informer<V1PodDisruptionBudget>;
}

/** Label of a node's zone. */
export const ZONE_LABEL = "topology.kubernetes.io/zone";

/** How often a rollout is reconciled with nothing happening, to catch what no event shows (a window opening). */
const RESYNC_MS = 60_000;

/** The longest pause between two reconciles of one rollout (see `reconcile`). */
const MAX_PACE_MS = 250;

/** Target writes in flight at once. */
const WRITE_CONCURRENCY = 16;

/**
 * A status change of counts alone is written at most this often; a change of a
 * condition, the generation or the target version at once. Every status write is a round
 * trip the next reconcile waits for, and at thousands of nodes the counts change with
 * almost every event.
 */
const COUNTS_INTERVAL_MS = 1000;

/** When the change a reconcile answers arrived, when the reconcile began, and how long its plan took (ms). */
interface StartTiming {
  queuedAt: number;
  startedAt: number;
  planMs: number;
}

/** Whether a Node's Ready condition is True. */
export function nodeReady(n: V1Node): boolean {
  return n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** Reconciles OsRollouts. */
export class RolloutReconciler {
  constructor(
    private readonly kube: Kube,
    private readonly caches: Caches,
    private readonly events: EventRecorder,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** When each rollout's status was last written (real time, for {@link COUNTS_INTERVAL_MS}). */
  private readonly statusWritten = new Map<string, number>();

  /**
   * Reconciles the rollout named `name`; `queuedAt` is when the change it answers reached
   * the controller (`WorkInfo.queuedAt` of the work queue), the start of every node start's latency.
   */
  async reconcile(name: string, queuedAt = Date.now()): Promise<WorkResult | undefined> {
    const rollout = this.caches.rollouts.get(name);
    if (!rollout || rollout.metadata.deletionTimestamp) return undefined;
    const startedAt = Date.now();
    const now = this.clock();
    const allNodes = this.caches.nodes.list();
    const selected = allNodes.filter((n) => matchesSelector(rollout.spec.nodeSelector, n.metadata?.labels));
    const overlap = findOverlaps(
      this.caches.rollouts.list(),
      allNodes.map((n) => ({ name: n.metadata?.name ?? "", labels: n.metadata?.labels ?? {} })),
    ).get(name);
    const invalid = validateWindows(rollout.spec.maintenanceWindows);
    try {
      resolveMaxUnavailable(rollout.spec.maxUnavailable, selected.length);
    } catch (err) {
      invalid.push(`spec.maxUnavailable: ${(err as Error).message}`);
    }
    const views = this.views(selected);
    const deferred = this.deferredNodes();
    let p = plan(rollout, views, { now, invalid, overlap, deferred });
    if (p.start.length && rollout.spec.healthCheck?.deployments?.length) {
      p = plan(rollout, views, { now, invalid, overlap, deferred, healthChecks: await this.clusterChecks(rollout) });
    }
    const planMs = Date.now() - startedAt;
    this.apply(rollout, p, { queuedAt, startedAt, planMs });
    const status = rolloutStatus(rollout, p, now);
    const deferredMs = this.scheduleStatus(rollout, status);
    this.observe(rollout, p);
    let requeue = p.requeueAfterS !== undefined ? Math.min(RESYNC_MS, p.requeueAfterS * 1000 + 1000) : RESYNC_MS;
    // Pace: the rollout's next reconcile (the changes that arrive meanwhile, together) comes
    // no sooner than this plan took, so planning takes at most half the CPU. Without writes
    // to wait for, back-to-back plans over 5,000 nodes kept a core busy and slowed every
    // watch and write with it; at lab sizes a plan takes a millisecond.
    await sleep(Math.min(planMs, MAX_PACE_MS));
    // Try a refused node again as soon as its wait is over.
    for (const name of deferred) requeue = Math.min(requeue, Math.max(0, (this.refused.get(name)?.until ?? 0) - Date.now()) + 10);
    return { requeueAfterMs: Math.min(requeue, deferredMs ?? requeue) };
  }

  private views(selected: V1Node[]): NodeView[] {
    const podsByNode = new Map<string, V1Pod[]>();
    for (const pod of this.caches.pods?.list() ?? []) {
      const n = pod.spec?.nodeName;
      if (!n) continue;
      const list = podsByNode.get(n);
      if (list) list.push(pod);
      else podsByNode.set(n, [pod]);
    }
    const pdbs = this.caches.pdbs?.list() ?? [];
    return selected.map((n) => {
      const name = n.metadata?.name ?? "";
      return {
        name,
        labels: n.metadata?.labels ?? {},
        zone: n.metadata?.labels?.[ZONE_LABEL] ?? "",
        ready: nodeReady(n),
        unschedulable: n.spec?.unschedulable === true,
        osNode: this.caches.osNodes.get(name),
        podCost: podCost(podsByNode.get(name) ?? [], pdbs),
      };
    });
  }

  private async clusterChecks(rollout: OsRollout): Promise<{ ok: boolean; message: string }> {
    const bad: string[] = [];
    for (const d of rollout.spec.healthCheck?.deployments ?? []) {
      try {
        const dep = await this.kube.request<V1Deployment>("GET", resourcePath(DEPLOYMENTS, { namespace: d.namespace, name: d.name }));
        const want = d.minAvailable ?? dep.spec?.replicas ?? 1;
        const have = dep.status?.availableReplicas ?? 0;
        if (have < want) bad.push(`deployment ${d.namespace}/${d.name} has ${have} of ${want} replicas available`);
      } catch (err) {
        bad.push(`deployment ${d.namespace}/${d.name}: ${isStatus(err, 404) ? "not found" : (err as Error).message}`);
      }
    }
    return bad.length ? { ok: false, message: bad.join("; ") } : { ok: true, message: "all health checks hold" };
  }

  private target(rollout: OsRollout): OsNodeTarget {
    const t: OsNodeTarget = { rollout: rollout.metadata.name ?? "", image: rollout.spec.image };
    if (rollout.spec.drain) t.drain = rollout.spec.drain;
    if (rollout.spec.healthCheck) t.healthCheck = rollout.spec.healthCheck;
    if (rollout.spec.failure?.failedNodePolicy) t.failedNodePolicy = rollout.spec.failure.failedNodePolicy;
    return t;
  }

  /**
   * Starts the target writes of every node the plan starts or retargets, and returns
   * without waiting for them. Each node's new target goes into the cache first, so the
   * next reconcile (which may run at once, for the next change) counts it against the
   * budget as if written; a write that fails puts the node back as it was and requeues
   * the rollout. Each write is conditional on the state the plan saw, so a conflict fails
   * only that node. Waiting for the writes held every change that arrived meanwhile (the
   * next node's start among them) for a round trip: at 5,000 nodes most of the time the
   * controller added between one node finishing and the next starting.
   */
  private apply(rollout: OsRollout, p: Plan, timing: StartTiming): void {
    const target = this.target(rollout);
    const retarget = new Set(p.retarget);
    const names = [...p.retarget, ...p.start];
    const rname = rollout.metadata.name ?? "";
    const writes = names.map((name) => {
      const existing = this.caches.osNodes.get(name);
      const intended: OsNode = existing
        ? { ...existing, spec: { ...existing.spec, target } }
        : { apiVersion: API_VERSION, kind: "OsNode", metadata: { name }, spec: { nodeName: name, target } };
      this.caches.osNodes.update(intended);
      return { name, existing };
    });
    let next = 0;
    const worker = async () => {
      while (next < writes.length) {
        const w = writes[next++] as (typeof writes)[number];
        try {
          await this.writeTarget(rollout, target, w.name, w.existing, retarget.has(w.name), timing);
        } catch (err) {
          // Back to what the plan saw (a newer object from the watch wins over it).
          if (w.existing) this.caches.osNodes.update(w.existing);
          else this.caches.osNodes.drop(w.name, (cached) => !cached.metadata.resourceVersion);
          this.log.warn("target write failed; the rollout is reconciled again", { rollout: rname, node: w.name, err: (err as Error).message });
          // A conflict only means the plan saw an older object: the next plan decides again.
          if (!isStatus(err, 409)) this.refusedWrite(w.name);
          this.retry(rname);
        }
      }
    };
    const done = Promise.all(Array.from({ length: Math.min(WRITE_CONCURRENCY, writes.length) }, worker)).then(() => undefined);
    this.track(done);
  }

  /** Called when a write in the background failed: reconcile the rollout again after `delayMs`. */
  onRetry?: (rollout: string, delayMs: number) => void;

  /** Per rollout, the backoff of retries after failed background writes; reset by a write that succeeds. */
  private readonly retryBackoff = new Map<string, Backoff>();

  private retry(name: string): void {
    let b = this.retryBackoff.get(name);
    if (!b) {
      b = new Backoff(200, 60_000);
      this.retryBackoff.set(name, b);
    }
    this.onRetry?.(name, b.next());
  }

  private readonly inFlight = new Set<Promise<void>>();

  /**
   * Nodes whose target write was refused, and until when (ms since the epoch) they wait;
   * in memory only: after a restart they are simply tried again.
   */
  private readonly refused = new Map<string, { until: number; backoff: Backoff }>();

  private deferredNodes(): Set<string> {
    const now = Date.now();
    const out = new Set<string>();
    for (const [name, r] of this.refused) if (r.until > now) out.add(name);
    return out;
  }

  private refusedWrite(node: string): void {
    const r = this.refused.get(node) ?? { until: 0, backoff: new Backoff(1000, 5 * 60_000) };
    r.until = Date.now() + r.backoff.next();
    this.refused.set(node, r);
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** Resolves when every write started so far has finished (before another leader takes over). */
  async settle(): Promise<void> {
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
  }

  private async writeTarget(
    rollout: OsRollout,
    target: OsNodeTarget,
    name: string,
    existing: OsNode | undefined,
    retarget: boolean,
    timing: StartTiming,
  ): Promise<void> {
    const rname = rollout.metadata.name ?? "";
    const writeStart = Date.now();
    let written: OsNode;
    if (existing) {
      written = await this.kube.request<OsNode>("PATCH", resourcePath(OSNODES, { name }), {
        // The resourceVersion makes the patch conditional on the state the plan saw.
        body: { metadata: { resourceVersion: existing.metadata.resourceVersion }, spec: { target } },
        contentType: "application/merge-patch+json",
      });
    } else {
      written = await this.kube.request<OsNode>("POST", resourcePath(OSNODES), {
        body: { apiVersion: API_VERSION, kind: "OsNode", metadata: { name }, spec: { nodeName: name, target } },
      });
    }
    this.caches.osNodes.update(written);
    this.retryBackoff.delete(rname);
    this.refused.delete(name);
    const latency = Date.now() - timing.queuedAt;
    this.metrics.nodesStarted.inc({ rollout: rname });
    this.metrics.startLatency.observe({ rollout: rname }, latency / 1000);
    // The latency's parts: waiting for the reconcile, planning, and the write's round trip.
    this.log.info(retarget ? "node retargeted" : "node started", {
      rollout: rname,
      node: name,
      version: target.image.version,
      latencyMs: latency,
      waitMs: timing.startedAt - timing.queuedAt,
      planMs: timing.planMs,
      writeMs: Date.now() - writeStart,
    });
    void this.events.record(
      { apiVersion: API_VERSION, kind: "OsRollout", name: rname, uid: rollout.metadata.uid },
      "Normal",
      retarget ? "NodeRetargeted" : "NodeStarted",
      `${retarget ? "retargeted" : "started"} node ${name} to ${target.image.version}`,
    );
  }

  /**
   * Has the status written when it changed, in the background; returns in how many ms a
   * deferred count-only change is due. One write per rollout at a time, the newest status
   * wins: a reconcile never waits for a status round trip.
   */
  private scheduleStatus(rollout: OsRollout, status: OsRolloutStatus): number | undefined {
    const prev = rollout.status ?? {};
    if (sameStatus(prev, status)) return undefined;
    const name = rollout.metadata.name ?? "";
    const since = Date.now() - (this.statusWritten.get(name) ?? 0);
    if (since < COUNTS_INTERVAL_MS && JSON.stringify(shape(prev)) === JSON.stringify(shape(status))) return COUNTS_INTERVAL_MS - since;
    const w = this.statusWriters.get(name) ?? { running: false };
    w.pending = status;
    this.statusWriters.set(name, w);
    if (!w.running) this.track(this.runStatusWriter(name, w));
    return undefined;
  }

  private readonly statusWriters = new Map<string, { pending?: OsRolloutStatus; running: boolean }>();

  private async runStatusWriter(name: string, w: { pending?: OsRolloutStatus; running: boolean }): Promise<void> {
    w.running = true;
    try {
      while (w.pending) {
        const status = w.pending;
        w.pending = undefined;
        const rollout = this.caches.rollouts.get(name);
        if (!rollout || sameStatus(rollout.status ?? {}, status)) continue;
        try {
          await this.writeStatus(rollout, status);
        } catch (err) {
          this.log.warn("status write failed; the rollout is reconciled again", { rollout: name, err: (err as Error).message });
          this.retry(name);
          return;
        }
      }
    } finally {
      w.running = false;
    }
  }

  /** Writes `status` over the cached rollout and records the Events its conditions call for. */
  private async writeStatus(rollout: OsRollout, status: OsRolloutStatus): Promise<void> {
    const prev = rollout.status ?? {};
    const name = rollout.metadata.name ?? "";
    const written = await this.kube.request<OsRollout>("PUT", resourcePath(ROLLOUTS, { name, sub: "status" }), {
      body: { ...rollout, apiVersion: API_VERSION, kind: "OsRollout", status },
    });
    this.caches.rollouts.update(written);
    this.statusWritten.set(name, Date.now());
    const ref = { apiVersion: API_VERSION, kind: "OsRollout", name, uid: rollout.metadata.uid };
    for (const type of ["Complete", "Degraded"]) {
      const before = getCondition(prev.conditions, type);
      const after = getCondition(status.conditions, type);
      if (after && (before?.status !== after.status || before?.reason !== after.reason) && (after.status === "True" || before?.status === "True")) {
        void this.events.record(ref, type === "Degraded" && after.status === "True" ? "Warning" : "Normal", after.reason, after.message);
      }
    }
    if (prev.targetVersion && prev.targetVersion !== status.targetVersion) {
      void this.events.record(ref, "Normal", "Superseded", `rollout to ${prev.targetVersion} superseded by ${status.targetVersion}`);
    }
  }

  private observe(rollout: OsRollout, p: Plan): void {
    const r = rollout.metadata.name ?? "";
    const c = p.counts;
    for (const [state, v] of Object.entries({
      updated: c.updated,
      inProgress: c.inProgress,
      failed: c.failed,
      pending: c.pending,
      unavailable: c.unavailable,
    })) {
      this.metrics.rolloutNodes.set({ rollout: r, state }, v);
    }
  }
}

/** What of a status is more than counts: generation, version, times and each condition's status and reason. */
function shape(s: OsRolloutStatus): unknown {
  const conditions = [...(s.conditions ?? [])].sort((a, b) => a.type.localeCompare(b.type)).map((c) => [c.type, c.status, c.reason, c.observedGeneration]);
  return [s.observedGeneration, s.targetVersion, s.startTime, s.completionTime, conditions];
}

/** The status without fields that do not change its meaning, for comparison. */
function normalize(s: OsRolloutStatus): OsRolloutStatus {
  return { ...s, conditions: [...(s.conditions ?? [])].sort((a, b) => a.type.localeCompare(b.type)) };
}

/** Whether two statuses say the same (conditions in any order). */
function sameStatus(a: OsRolloutStatus, b: OsRolloutStatus): boolean {
  return JSON.stringify(normalize(a)) === JSON.stringify(normalize(b));
}
