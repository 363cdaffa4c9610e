// The controller process without its command line: informers (kept warm on standby
// replicas too), leader election on a Lease, and while leading a work queue of rollouts
// fed by every change of a rollout, Node or OsNode.

import os from "node:os";
import type { KubeConfig, V1Node, V1Pod, V1PodDisruptionBudget } from "@kubernetes/client-node";
import type { OsNode, OsRollout } from "./api/types";
import { EventRecorder } from "./kube/events";
import { Informer } from "./kube/informer";
import { LeaseElector } from "./kube/lease";
import { createLogger, type Logger } from "./kube/log";
import { WorkQueue } from "./kube/queue";
import { NODES, OSNODES, PDBS, PODS, ROLLOUTS } from "./kube/resources";
import { Kube } from "./kube/rest";
import { Metrics } from "./metrics/metrics";
import { type HealthServer, startHealthServer } from "./metrics/server";
import { type Caches, RolloutReconciler } from "./rollout/reconciler";

/** Options of a {@link Controller}. */
export interface ControllerOptions {
  kubeConfig: KubeConfig;
  /** Namespace of the Lease (Events about twinroot's cluster-scoped objects go to `default`). Default `default`. */
  namespace?: string;
  /** Identity in the Lease. Default `$POD_NAME` or `hostname_pid`. */
  identity?: string;
  leaseName?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Port of /healthz, /readyz and /metrics; undefined starts no server, 0 picks a free port. */
  healthPort?: number;
  healthHost?: string;
  /** Watch pods and PDBs to order nodes by drain cost. Default true. */
  watchPods?: boolean;
  /** Rollouts reconciled at once. Default 4. */
  concurrency?: number;
  log?: Logger;
  metrics?: Metrics;
  clock?: () => Date;
}

/** Drops what the controller never reads from a Node, to keep 5,000 of them small. */
function trimNode(n: V1Node): V1Node {
  return {
    metadata: { name: n.metadata?.name, labels: n.metadata?.labels, resourceVersion: n.metadata?.resourceVersion, uid: n.metadata?.uid },
    spec: { unschedulable: n.spec?.unschedulable },
    status: { conditions: n.status?.conditions?.filter((c) => c.type === "Ready") },
  };
}

/**
 * Drops an OsNode's managedFields (a list per writer, larger than the rest of the object
 * at scale): the controller never reads them.
 */
function trimOsNode(o: OsNode): OsNode {
  const { managedFields: _, ...metadata } = o.metadata as OsNode["metadata"] & { managedFields?: unknown };
  return { ...o, metadata };
}

/** Keeps what the drain cost needs of a Pod. */
function trimPod(p: V1Pod): V1Pod {
  const m = p.metadata;
  return {
    metadata: {
      name: m?.name,
      namespace: m?.namespace,
      labels: m?.labels,
      resourceVersion: m?.resourceVersion,
      ownerReferences: m?.ownerReferences,
      annotations: m?.annotations?.["kubernetes.io/config.mirror"] ? { "kubernetes.io/config.mirror": "1" } : undefined,
    },
    spec: { nodeName: p.spec?.nodeName, containers: [], volumes: p.spec?.volumes?.filter((v) => v.emptyDir).map((v) => ({ name: v.name, emptyDir: {} })) },
    status: { phase: p.status?.phase },
  };
}

/** The upgrade controller. */
export class Controller {
  readonly kube: Kube;
  readonly metrics: Metrics;
  readonly caches: Caches;
  private readonly log: Logger;
  private readonly elector: LeaseElector;
  private readonly reconciler: RolloutReconciler;
  private queue?: WorkQueue;
  private abort = new AbortController();
  private running?: Promise<void>;
  private health?: HealthServer;

  constructor(private readonly opts: ControllerOptions) {
    this.log = opts.log ?? createLogger({ component: "twinroot-controller" });
    this.metrics = opts.metrics ?? new Metrics();
    this.kube = new Kube(opts.kubeConfig, (verb, _path, code) => this.metrics.apiRequests.inc({ verb, code: String(code) }), "twinroot-controller");
    const log = this.log;
    this.caches = {
      rollouts: new Informer<OsRollout>(this.kube, ROLLOUTS, { log }),
      nodes: new Informer<V1Node>(this.kube, NODES, { log, transform: trimNode }),
      osNodes: new Informer<OsNode>(this.kube, OSNODES, { log, transform: trimOsNode }),
    };
    if (opts.watchPods ?? true) {
      this.caches.pods = new Informer<V1Pod>(this.kube, PODS, { log, transform: trimPod });
      this.caches.pdbs = new Informer<V1PodDisruptionBudget>(this.kube, PDBS, { log });
    }
    const namespace = opts.namespace ?? "default";
    const events = new EventRecorder(this.kube, "twinroot-controller", log);
    this.reconciler = new RolloutReconciler(this.kube, this.caches, events, this.metrics, log, opts.clock);
    this.elector = new LeaseElector(this.kube, {
      namespace,
      name: opts.leaseName ?? "twinroot-controller",
      identity: opts.identity ?? process.env.POD_NAME ?? `${os.hostname()}_${process.pid}`,
      leaseDurationMs: opts.leaseDurationMs,
      renewDeadlineMs: opts.renewDeadlineMs,
      retryPeriodMs: opts.retryPeriodMs,
      log,
    });
    const enqueueAll = () => {
      for (const r of this.caches.rollouts.list()) this.queue?.add(r.metadata.name ?? "");
    };
    this.caches.rollouts.on((_ev, r) => this.queue?.add(r.metadata.name ?? ""));
    // A Node or OsNode change can move any rollout (budget, overlap); the queue collapses
    // a burst of changes into one reconcile per rollout.
    this.caches.nodes.on(enqueueAll);
    this.caches.osNodes.on(enqueueAll);
    this.caches.pdbs?.on(enqueueAll);
  }

  /** The health server's URL, once started with a port. */
  get healthUrl(): string | undefined {
    return this.health?.url;
  }

  /** Whether this instance currently leads. */
  get leading(): boolean {
    return this.elector.isLeader;
  }

  /** Syncs the caches, starts the health server and campaigns for leadership in the background. */
  async start(): Promise<void> {
    const informers = Object.values(this.caches).filter(Boolean) as Informer<never>[];
    if (this.opts.healthPort !== undefined) {
      this.health = await startHealthServer(
        this.metrics,
        () => informers.every((i) => i.synced) || "informer caches not synced",
        this.opts.healthPort,
        this.opts.healthHost,
      );
    }
    await Promise.all(informers.map((i) => i.start()));
    this.abort = new AbortController();
    this.running = this.elector.run((signal) => this.lead(signal), this.abort.signal);
  }

  private async lead(signal: AbortSignal): Promise<void> {
    this.metrics.leader.set(1);
    const queue = new WorkQueue(
      async (name, { queuedAt }) => {
        const end = this.metrics.reconcileSeconds.startTimer({ kind: "OsRollout" });
        try {
          const r = await this.reconciler.reconcile(name, queuedAt);
          this.metrics.reconciles.inc({ kind: "OsRollout", result: "ok" });
          return r;
        } catch (err) {
          this.metrics.reconciles.inc({ kind: "OsRollout", result: "error" });
          throw err;
        } finally {
          end();
        }
      },
      { log: this.log, concurrency: this.opts.concurrency ?? 4 },
    );
    this.queue = queue;
    this.reconciler.onRetry = (name, delayMs) => queue.addAfter(name, delayMs);
    for (const r of this.caches.rollouts.list()) queue.add(r.metadata.name ?? "");
    await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    this.queue = undefined;
    this.reconciler.onRetry = undefined;
    queue.stop();
    await queue.idle();
    // Writes a reconcile started in the background end before leadership is given up.
    await this.reconciler.settle();
    this.metrics.leader.set(0);
  }

  /** Stops leading (releasing the Lease), the informers and the health server. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
    await Promise.all(Object.values(this.caches).map((i) => (i as Informer<never> | undefined)?.stop()));
    await this.health?.close();
    this.kube.close();
  }
}
