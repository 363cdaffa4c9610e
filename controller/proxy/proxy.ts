// The per-node proxy process without its command line: watches its own Node and OsNode
// (nothing else), and runs the step machine of steps.ts through a one-key work queue
// whenever either changes, until the node's operation is done.

import type { KubeConfig, V1Node } from "@kubernetes/client-node";
import { API_VERSION, type OsNode, type OsNodeStatus } from "../api/types";
import { EventRecorder } from "../kube/events";
import { Informer } from "../kube/informer";
import { createLogger, type Logger } from "../kube/log";
import { WorkQueue } from "../kube/queue";
import { NODES, OSNODES, resourcePath } from "../kube/resources";
import { isConflictOn, isStatus, Kube } from "../kube/rest";
import { Metrics } from "../metrics/metrics";
import type { AgentClient } from "./agent-client";
import { step } from "./steps";

/** Options of a {@link NodeProxy}. */
export interface NodeProxyOptions {
  kubeConfig: KubeConfig;
  nodeName: string;
  agent: AgentClient;
  log?: Logger;
  metrics?: Metrics;
  clock?: () => Date;
  /** Re-run the step this often with nothing happening (agent state is not watched). Default 30 s. */
  resyncMs?: number;
}

/** The proxy of one node. */
export class NodeProxy {
  readonly kube: Kube;
  readonly metrics: Metrics;
  private readonly log: Logger;
  private readonly osNodes: Informer<OsNode>;
  private readonly nodes: Informer<V1Node>;
  private readonly queue: WorkQueue;
  private readonly events: EventRecorder;

  constructor(private readonly opts: NodeProxyOptions) {
    this.log = opts.log ?? createLogger({ component: "twinroot-proxy", node: opts.nodeName });
    this.metrics = opts.metrics ?? new Metrics({ defaultMetrics: false });
    this.kube = new Kube(opts.kubeConfig, (verb, _p, code) => this.metrics.apiRequests.inc({ verb, code: String(code) }), `twinroot-proxy/${opts.nodeName}`);
    const own = { log: this.log, fieldSelector: `metadata.name=${opts.nodeName}` };
    this.osNodes = new Informer<OsNode>(this.kube, OSNODES, own);
    this.nodes = new Informer<V1Node>(this.kube, NODES, own);
    this.events = new EventRecorder(this.kube, "twinroot-proxy", this.log);
    this.queue = new WorkQueue(() => this.reconcile(), { log: this.log, concurrency: 1 });
    const kick = () => this.queue.add(opts.nodeName);
    this.osNodes.on(kick);
    this.nodes.on(kick);
  }

  /** Starts watching and stepping. */
  async start(): Promise<void> {
    await Promise.all([this.osNodes.start(), this.nodes.start()]);
    this.queue.add(this.opts.nodeName);
  }

  /** Stops (a step in progress finishes first). */
  async stop(): Promise<void> {
    this.queue.stop();
    await this.queue.idle();
    await Promise.all([this.osNodes.stop(), this.nodes.stop()]);
    this.kube.close();
  }

  /** Resolves when no step is queued or running. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  private async ensureOsNode(): Promise<OsNode> {
    const name = this.opts.nodeName;
    const cached = this.osNodes.get(name);
    if (cached) return cached;
    try {
      const created = await this.kube.request<OsNode>("POST", resourcePath(OSNODES), {
        body: { apiVersion: API_VERSION, kind: "OsNode", metadata: { name }, spec: { nodeName: name } },
      });
      this.osNodes.update(created);
      return created;
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
      const existing = await this.kube.request<OsNode>("GET", resourcePath(OSNODES, { name }));
      this.osNodes.update(existing);
      return existing;
    }
  }

  private async reconcile(): Promise<{ requeueAfterMs?: number }> {
    const node = this.nodes.get(this.opts.nodeName);
    if (!node) return { requeueAfterMs: 2000 };
    const osNode = await this.ensureOsNode();
    let r: Awaited<ReturnType<typeof step>>;
    try {
      r = await this.runStep(osNode, node);
    } catch (err) {
      if (!isConflictOn(err, OSNODES)) throw err;
      // The OsNode changed since the cache had it (most often the controller's new target
      // landed while this step wrote status): read it now and run the step again at once,
      // rather than wait out the queue's backoff (which the rollout would wait for too).
      this.osNodes.update(await this.kube.request<OsNode>("GET", resourcePath(OSNODES, { name: this.opts.nodeName })));
      this.log.debug("status write conflicted; stepping again with the stored object");
      return { requeueAfterMs: 0 };
    }
    if (r.again) return { requeueAfterMs: 0 };
    return { requeueAfterMs: r.requeueAfterMs ?? this.opts.resyncMs ?? 30_000 };
  }

  /**
   * One step for the node. Its status writes carry the resourceVersion the step decided
   * on, so a concurrent change of the OsNode (a new target) turns into a conflict and a
   * fresh step.
   */
  private runStep(osNode: OsNode, node: V1Node): ReturnType<typeof step> {
    const ref = { apiVersion: API_VERSION, kind: "OsNode", name: this.opts.nodeName, uid: osNode.metadata.uid };
    let current = osNode;
    return step({
      kube: this.kube,
      agent: this.opts.agent,
      osNode,
      node,
      now: (this.opts.clock ?? (() => new Date()))(),
      writeStatus: async (status: OsNodeStatus) => {
        const cur = current;
        const written = await this.kube.request<OsNode>("PUT", resourcePath(OSNODES, { name: this.opts.nodeName, sub: "status" }), {
          body: { ...cur, apiVersion: API_VERSION, kind: "OsNode", status },
        });
        current = written;
        this.osNodes.update(written);
        if (status.phase !== cur.status?.phase) {
          this.metrics.phaseTransitions.inc({ phase: status.phase ?? "Idle" });
          this.log.info("phase", { phase: status.phase, message: status.message });
        }
        return written;
      },
      event: (type, reason, message) => void this.events.record(ref, type, reason, message),
    });
  }
}
