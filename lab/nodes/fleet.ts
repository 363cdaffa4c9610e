// A fleet of lab nodes on one control plane, with real agents on loop disks or simulated
// ones in memory under the same LabNode (Node object, kubelet loop, proxy).

import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "../../controller/kube/log";
import { Kube } from "../../controller/kube/rest";
import type { DiskLab } from "./disk-lab";
import type { DiskMachine } from "./disk-machine";
import { installLabAccess, type LabAccess, proxyKubeConfig } from "./identity";
import { LabAgent, type VersionBehaviour } from "./lab-agent";
import { LabNode, type LabNodeAgent } from "./lab-node";

/** Options every fleet takes. */
export interface FleetBaseOptions {
  kubeConfig: KubeConfig;
  count: number;
  /** Zones assigned round-robin (`topology.kubernetes.io/zone`). Default a, b, c. */
  zones?: string[];
  /** How long a reboot keeps the node down besides the boot itself. Default 300 ms. */
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

/** A fleet of real agents: each node a loop-backed copy of the lab disk with its own agent process and boot. */
export interface RealFleetOptions extends FleetBaseOptions {
  /** Real agents, what the lab (`npm start`) runs. Root only (loop devices). */
  agents: "real";
  /**
   * The images, disk, image server and agent bundle the machines share; every node boots
   * the version its disk holds (`startDiskLab`'s `initial`), and versions behave as their
   * images say (a `panic` image does not boot, an `unhealthy` one fails the health check).
   */
  disks: DiskLab;
}

/** A fleet of simulated agents (lab-agent.ts): no disks, no processes; for tests and benchmarks that need many nodes. */
export interface SimulatedFleetOptions extends FleetBaseOptions {
  /** Simulated agents. The default, so controller tests that need no disks stay small. */
  agents?: "simulated";
  /** The version every node boots at first. */
  version: string;
  digest: string;
  /** Behaviour of versions per node index, for failure injection. */
  behaviours?: (index: number) => Record<string, VersionBehaviour>;
}

/** Options of {@link startFleet}: real agents (`agents: "real"`) or simulated ones (the default). */
export type FleetOptions = RealFleetOptions | SimulatedFleetOptions;

/** Lab nodes with their agents. */
export interface Fleet<A extends LabNodeAgent = LabAgent> {
  nodes: LabNode[];
  /** The machine and agent of each node, in the order of `nodes`. */
  agents: A[];
  /** The identities the proxies run with, unless the fleet runs them as admin. */
  access?: LabAccess;
  /** Stops every node and disposes of its machine (agent processes, loop devices); the Node objects stay. */
  stop(): Promise<void>;
}

/**
 * Registers `count` lab nodes and starts their proxies. With `agents: "real"` every node
 * is a {@link DiskMachine}: its own loop disk and agent process, rebooted by the lab
 * through the boot loader's choice; by default the agents are simulated
 * ({@link LabAgent}).
 */
export function startFleet(o: SimulatedFleetOptions): Promise<Fleet<LabAgent>>;
// Last, so `ReturnType<typeof startFleet>` is the fleet the lab runs.
export function startFleet(o: RealFleetOptions): Promise<Fleet<DiskMachine>>;
export async function startFleet(o: FleetOptions): Promise<Fleet<LabNodeAgent>> {
  const zones = o.zones ?? ["a", "b", "c"];
  const prefix = o.prefix ?? "lab";
  let admin: Kube | undefined;
  let access: LabAccess | undefined;
  if (o.access) access = o.access;
  else if (o.access === undefined && o.proxy !== false) {
    admin = new Kube(o.kubeConfig, undefined, "lab-fleet");
    access = await installLabAccess(admin);
  }
  const agents: LabNodeAgent[] = [];
  const nodes: LabNode[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    admin?.close();
  };
  try {
    for (let i = 0; i < o.count; i++) {
      const name = `${prefix}-${String(i).padStart(2, "0")}`;
      const agent = o.agents === "real" ? o.disks.machine(name) : new LabAgent(o.version, o.digest, o.behaviours?.(i) ?? {});
      agents.push(agent);
      nodes.push(
        new LabNode({
          kubeConfig: o.kubeConfig,
          name,
          agent,
          labels: { "topology.kubernetes.io/zone": zones[i % zones.length] as string, "twinroot.dev/pool": prefix },
          rebootMs: o.rebootMs,
          proxy: o.proxy,
          proxyKubeConfig: access ? () => proxyKubeConfig(access, name) : undefined,
          log: o.log,
        }),
      );
    }
    await Promise.all(nodes.map((n) => n.start()));
  } catch (err) {
    // Machines already made hold loop devices and processes: give them back.
    await stop().catch(() => {});
    throw err;
  }
  return { nodes, agents, access, stop };
}
