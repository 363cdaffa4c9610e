// A fleet of lab nodes on one control plane.

import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "../../controller/kube/log";
import { Kube } from "../../controller/kube/rest";
import { installLabAccess, type LabAccess, proxyKubeConfig } from "./identity";
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
  /**
   * Run the proxies with their least-privilege identities (RBAC and the own-node
   * admission policy, see identity.ts), installing them when needed; `false` runs them
   * as `kubeConfig`'s user. Default: installed here.
   */
  access?: LabAccess | false;
  /** Node name prefix, also the `twinroot.dev/pool` label. Default `lab`. */
  prefix?: string;
  log?: Logger;
}

/** Lab nodes with their agents. */
export interface Fleet {
  nodes: LabNode[];
  agents: LabAgent[];
  /** The identities the proxies run with, unless the fleet runs them as admin. */
  access?: LabAccess;
  stop(): Promise<void>;
}

/** Registers `count` lab nodes and starts their proxies. */
export async function startFleet(o: FleetOptions): Promise<Fleet> {
  const zones = o.zones ?? ["a", "b", "c"];
  let admin: Kube | undefined;
  let access: LabAccess | undefined;
  if (o.access) access = o.access;
  else if (o.access === undefined && o.proxy !== false) {
    admin = new Kube(o.kubeConfig, undefined, "lab-fleet");
    access = await installLabAccess(admin);
  }
  const agents: LabAgent[] = [];
  const nodes: LabNode[] = [];
  for (let i = 0; i < o.count; i++) {
    const agent = new LabAgent(o.version, o.digest, o.behaviours?.(i) ?? {});
    const name = `${o.prefix ?? "lab"}-${String(i).padStart(2, "0")}`;
    agents.push(agent);
    nodes.push(
      new LabNode({
        kubeConfig: o.kubeConfig,
        name,
        agent,
        labels: { "topology.kubernetes.io/zone": zones[i % zones.length] as string, "twinroot.dev/pool": o.prefix ?? "lab" },
        rebootMs: o.rebootMs,
        proxy: o.proxy,
        proxyKubeConfig: access ? () => proxyKubeConfig(access, name) : undefined,
        log: o.log,
      }),
    );
  }
  await Promise.all(nodes.map((n) => n.start()));
  return {
    nodes,
    agents,
    access,
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
      admin?.close();
    },
  };
}
