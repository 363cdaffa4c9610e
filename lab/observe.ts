// Watches a rollout from outside the controller: every OsNode phase change as it
// happens (for `npm start`'s progress lines and the rollout benchmark's per-node steps)
// and the most nodes ever unavailable at once from every Node change (NotReady or
// cordoned), independent of the controller's own view of its budget.

import type { V1Node } from "@kubernetes/client-node";
import type { OsNode, OsNodePhase } from "../controller/api/types";
import { Informer } from "../controller/kube/informer";
import { type Logger, silentLogger } from "../controller/kube/log";
import { NODES, OSNODES } from "../controller/kube/resources";
import type { Kube } from "../controller/kube/rest";

/** One phase change of one node, as the observer saw it. */
export interface PhaseChange {
  node: string;
  from?: OsNodePhase;
  to: OsNodePhase;
  /** When the observer saw it (ms since the epoch). */
  at: number;
  bootedVersion?: string;
  targetVersion?: string;
  message?: string;
}

/** A node becoming unavailable or available again, as the observer saw it. */
export interface AvailabilityChange {
  node: string;
  /** Why it is unavailable now (`NotReady`, `cordoned`, both), or undefined when available again. */
  down?: string;
  at: number;
  /** How many nodes were unavailable after this change. */
  unavailable: number;
}

/** What an {@link RolloutObserver} has seen so far. */
export interface Observation {
  /** The most nodes unavailable at the same time. */
  maxUnavailable: number;
  /** Node changes seen (a watcher that saw none proves nothing). */
  nodeChanges: number;
  /** Every phase change, in the order seen. */
  phases: PhaseChange[];
  /** Every change of a node's availability, in the order seen. */
  availability: AvailabilityChange[];
  /** Every new target version the controller gave a node, in the order seen. */
  targets: { node: string; version: string; at: number }[];
}

/** Watches Nodes and OsNodes; {@link start} lists both before it resolves. */
export class RolloutObserver {
  private readonly nodes: Informer<V1Node>;
  private readonly osNodes: Informer<OsNode>;
  private readonly down = new Set<string>();
  private readonly why = new Map<string, string>();
  private readonly state: Observation = { maxUnavailable: 0, nodeChanges: 0, phases: [], availability: [], targets: [] };
  /** Called on every phase change. */
  onPhase?: (c: PhaseChange) => void;

  constructor(kube: Kube, log: Logger = silentLogger) {
    this.nodes = new Informer<V1Node>(kube, NODES, { log });
    this.osNodes = new Informer<OsNode>(kube, OSNODES, { log });
    this.nodes.on((ev, n) => this.seeNode(ev === "delete" ? undefined : n, n.metadata?.name ?? ""));
    this.osNodes.on((ev, o, old) => {
      if (ev === "delete") return;
      const target = o.spec.target?.image.version;
      if (target && target !== old?.spec.target?.image.version) this.state.targets.push({ node: o.metadata.name ?? "", version: target, at: Date.now() });
      const to = o.status?.phase;
      const from = old?.status?.phase;
      if (!to || to === from) return;
      const c: PhaseChange = {
        node: o.metadata.name ?? "",
        from,
        to,
        at: Date.now(),
        bootedVersion: o.status?.bootedVersion,
        targetVersion: o.spec.target?.image.version,
        message: o.status?.message ?? o.status?.lastError,
      };
      this.state.phases.push(c);
      this.onPhase?.(c);
    });
  }

  private seeNode(n: V1Node | undefined, name: string): void {
    const ready = n?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
    const why = n ? [...(ready ? [] : ["NotReady"]), ...(n.spec?.unschedulable ? ["cordoned"] : [])].join("+") || undefined : undefined;
    const was = this.why.get(name);
    if (why) {
      this.down.add(name);
      this.why.set(name, why);
    } else {
      this.down.delete(name);
      this.why.delete(name);
    }
    if (why !== was) this.state.availability.push({ node: name, down: why, at: Date.now(), unavailable: this.down.size });
    this.state.maxUnavailable = Math.max(this.state.maxUnavailable, this.down.size);
    this.state.nodeChanges++;
  }

  /** Lists and starts watching; nodes already down count from now. */
  async start(): Promise<void> {
    await Promise.all([this.nodes.start(), this.osNodes.start()]);
  }

  /** Forgets the maximum so far: the next rollout is measured on its own (nodes down now still count). */
  resetMax(): void {
    this.state.maxUnavailable = this.down.size;
    this.state.nodeChanges = 0;
    this.state.phases = [];
    this.state.availability = [];
    this.state.targets = [];
  }

  /** The phase and availability changes merged in time order, one line each, for a person or a failed test. */
  timeline(since = 0): string {
    const lines = [
      ...this.state.phases.map((c) => ({ at: c.at, text: `${c.node} ${c.from ?? "-"} -> ${c.to}${c.message ? ` (${c.message})` : ""}` })),
      ...this.state.availability.map((c) => ({ at: c.at, text: `${c.node} ${c.down ? `down: ${c.down}` : "available"} [${c.unavailable} unavailable]` })),
      ...this.state.targets.map((c) => ({ at: c.at, text: `${c.node} target ${c.version}` })),
    ].filter((l) => l.at >= since);
    const t0 = lines.reduce((m, l) => Math.min(m, l.at), Number.POSITIVE_INFINITY);
    return lines
      .sort((a, b) => a.at - b.at)
      .map((l) => `+${((l.at - t0) / 1000).toFixed(3)}s ${l.text}`)
      .join("\n");
  }

  /** Nodes unavailable now. */
  get unavailable(): ReadonlySet<string> {
    return this.down;
  }

  /** What was seen; `maxUnavailable` is Infinity once the Node watch broke (it could have missed a change). */
  get observation(): Observation {
    return { ...this.state, maxUnavailable: this.nodes.restarts > 0 ? Number.POSITIVE_INFINITY : this.state.maxUnavailable };
  }

  /** The OsNodes as last seen. */
  osNode(name: string): OsNode | undefined {
    return this.osNodes.get(name);
  }

  /** Stops both watches. */
  async stop(): Promise<void> {
    await Promise.all([this.nodes.stop(), this.osNodes.stop()]);
  }
}
