// A fleet of lab nodes on one control plane.

import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "../../controller/kube/log";
import { LabAgent, type VersionBehaviour } from "./lab-agent";
import { LabNode } from "./lab-node";

/** Options of {@link startFleet}. */
export interface FleetOptions {
  kubeConfig: KubeConfig;
  count: number;
  /** The version every node boots at first. */
  version: string;
  digest: string;
  /** Zones assigned round-robin (`topology.kubernetes.io/zone`). Default a, b, c. */
  zones?: string[];
  /** Behaviour of versions per node index, for failure injection. */
  behaviours?: (index: number) => Record<string, VersionBehaviour>;
  rebootMs?: number;
  proxy?: boolean;
  /** Node name prefix, also the `twinroot.dev/pool` label. Default `lab`. */
  prefix?: string;
  log?: Logger;
}

/** Lab nodes with their agents. */
export interface Fleet {
  nodes: LabNode[];
  agents: LabAgent[];
  stop(): Promise<void>;
}

/** Registers `count` lab nodes and starts their proxies. */
export async function startFleet(o: FleetOptions): Promise<Fleet> {
  const zones = o.zones ?? ["a", "b", "c"];
  const agents: LabAgent[] = [];
  const nodes: LabNode[] = [];
  for (let i = 0; i < o.count; i++) {
    const agent = new LabAgent(o.version, o.digest, o.behaviours?.(i) ?? {});
    agents.push(agent);
    nodes.push(
      new LabNode({
        kubeConfig: o.kubeConfig,
        name: `${o.prefix ?? "lab"}-${String(i).padStart(2, "0")}`,
        agent,
        labels: { "topology.kubernetes.io/zone": zones[i % zones.length] as string, "twinroot.dev/pool": o.prefix ?? "lab" },
        rebootMs: o.rebootMs,
        proxy: o.proxy,
        log: o.log,
      }),
    );
  }
  await Promise.all(nodes.map((n) => n.start()));
  return { nodes, agents, stop: async () => void (await Promise.all(nodes.map((n) => n.stop()))) };
}
