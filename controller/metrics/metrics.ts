// Prometheus metrics of the controller and proxy, in a registry per instance so tests
// can run several side by side.

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** The metrics one controller or proxy process exports. */
export class Metrics {
  readonly registry = new Registry();
  readonly apiRequests = new Counter({
    name: "twinroot_api_requests_total",
    help: "Kubernetes API requests by verb and status code.",
    labelNames: ["verb", "code"] as const,
    registers: [this.registry],
  });
  readonly reconciles = new Counter({
    name: "twinroot_reconcile_total",
    help: "Reconciles by kind and result.",
    labelNames: ["kind", "result"] as const,
    registers: [this.registry],
  });
  readonly reconcileSeconds = new Histogram({
    name: "twinroot_reconcile_duration_seconds",
    help: "Time one reconcile took.",
    labelNames: ["kind"] as const,
    buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10],
    registers: [this.registry],
  });
  readonly nodesStarted = new Counter({
    name: "twinroot_rollout_nodes_started_total",
    help: "Nodes the controller started upgrading.",
    labelNames: ["rollout"] as const,
    registers: [this.registry],
  });
  readonly startLatency = new Histogram({
    name: "twinroot_rollout_node_start_latency_seconds",
    help: "Time from the change that let a node start reaching the controller to its target being written: what the controller adds between one node finishing and the next starting.",
    labelNames: ["rollout"] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly rolloutNodes = new Gauge({
    name: "twinroot_rollout_nodes",
    help: "Selected nodes of a rollout by state.",
    labelNames: ["rollout", "state"] as const,
    registers: [this.registry],
  });
  readonly leader = new Gauge({ name: "twinroot_leader", help: "1 while this instance holds the leader Lease.", registers: [this.registry] });
  readonly phaseTransitions = new Counter({
    name: "twinroot_node_phase_transitions_total",
    help: "Per-node phase changes written by the proxy.",
    labelNames: ["phase"] as const,
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: "twinroot_" });
  }
}
