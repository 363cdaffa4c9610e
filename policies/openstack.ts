// OpenStack placement and exposure: the machines of a pool larger than one sit in a
// server group with anti-affinity (one hypervisor failure takes one node, not several),
// and workers get no public address unless the stack allows it. Read from the Nova
// instances of each pool, the server groups and ports they depend on, and floating IPs.

import type { StackValidationPolicy } from "@pulumi/policy";
import { dependencies, describe, describePool, FLOATING_IP_TYPES, INSTANCE_TYPE, pools, SERVER_GROUP_TYPE } from "./model";
import { arr, isUnknown, obj, type StackResource, stackPolicy, str, type Violation } from "./pack";

const PORT_TYPE = "openstack:networking/port:Port";

/** Config of {@link checkAntiAffinity}. */
export interface AntiAffinityConfig {
  /** Whether `soft-anti-affinity` (best effort) is enough. Default true; production stacks may set false. */
  allowSoftAntiAffinity: boolean;
}

/** The defaults of {@link AntiAffinityConfig}. */
export const ANTI_AFFINITY_DEFAULTS: AntiAffinityConfig = { allowSoftAntiAffinity: true };

// The server groups an instance is scheduled into: through its schedulerHints, or (when
// the engine gives no property dependencies) the groups beside it in its NodePool.
function serverGroupsOf(m: StackResource, index: Map<string, StackResource>, resources: StackResource[]): StackResource[] {
  const hinted = dependencies(m, "schedulerHints", index).filter((d) => d.type === SERVER_GROUP_TYPE);
  if (hinted.length) return hinted;
  const hints = arr(m.props.schedulerHints);
  if (!hints.some((h) => obj(h)?.group !== undefined)) return [];
  return resources.filter((r) => r.type === SERVER_GROUP_TYPE && r.parent !== undefined && r.parent === m.parent);
}

/** Every OpenStack pool of more than one machine schedules them into a server group with anti-affinity. */
export function checkAntiAffinity(resources: StackResource[], config: AntiAffinityConfig): Violation[] {
  const index = new Map(resources.map((r) => [r.urn, r]));
  const accepted = config.allowSoftAntiAffinity ? ["anti-affinity", "soft-anti-affinity"] : ["anti-affinity"];
  const out: Violation[] = [];
  for (const p of pools(resources)) {
    const machines = p.machines.filter((m) => m.type === INSTANCE_TYPE);
    if (p.size <= 1 || !machines.length) continue;
    const fix = `Fix: set the NodePool backend.antiAffinity to ${accepted.join(" or ")} (programs: pool.${p.name}.antiAffinity)`;
    const ungrouped = machines.filter((m) => !isUnknown(m.props.schedulerHints) && !serverGroupsOf(m, index, resources).length);
    if (ungrouped.length) {
      out.push({
        urn: p.resource.urn,
        message:
          `${describePool(p)}: ${ungrouped.length} of its ${p.size} machines (${ungrouped.map((m) => m.name).join(", ")}) have no server group in schedulerHints, ` +
          `so several may share a hypervisor and fail together. ${fix}.`,
      });
      continue;
    }
    const groups = [...new Map(machines.flatMap((m) => serverGroupsOf(m, index, resources)).map((g) => [g.urn, g])).values()];
    for (const g of groups) {
      if (isUnknown(g.props.policies)) continue;
      const policies = arr(g.props.policies).map(String);
      if (policies.some((x) => accepted.includes(x))) continue;
      out.push({
        urn: p.resource.urn,
        message:
          `${describePool(p)}: ${describe(g)} policies ${JSON.stringify(policies)} do not keep its ${p.size} machines on different hypervisors` +
          `${config.allowSoftAntiAffinity ? "" : " (this stack does not accept soft-anti-affinity: allowSoftAntiAffinity is false)"}. ${fix}.`,
      });
    }
  }
  return out;
}

/** Config of {@link checkNoPublicIps}. */
export interface PublicIpConfig {
  /** Whether workers may have public addresses. Default false. */
  allowPublicIps: boolean;
  /** IDs or names of the networks whose addresses are public (external networks). Default none. */
  publicNetworks: string[];
}

/** The defaults of {@link PublicIpConfig}. */
export const PUBLIC_IP_DEFAULTS: PublicIpConfig = { allowPublicIps: false, publicNetworks: [] };

/** No pool machine is attached to a public network or gets a floating IP, unless `allowPublicIps`. */
export function checkNoPublicIps(resources: StackResource[], config: PublicIpConfig): Violation[] {
  if (config.allowPublicIps) return [];
  const index = new Map(resources.map((r) => [r.urn, r]));
  const publicNets = new Set(config.publicNetworks);
  const fix =
    "Fix: attach workers to a private network (NodePool backend.networkId, programs: network.id) and reach them through a bastion or load balancer, or set allowPublicIps for this stack";
  const out: Violation[] = [];
  const workers = new Map<string, string>();
  for (const p of pools(resources)) for (const m of p.machines) if (m.type === INSTANCE_TYPE) workers.set(m.urn, p.name);
  for (const [urn, pool] of workers) {
    const m = index.get(urn) as StackResource;
    const ports = dependencies(m, "networks", index).filter((d) => d.type === PORT_TYPE);
    arr(m.props.networks).forEach((n, i) => {
      for (const field of ["uuid", "name"]) {
        const net = str(obj(n)?.[field]);
        if (net !== undefined && publicNets.has(net))
          out.push({
            urn,
            message: `${describe(m)} (pool ${pool}): networks[${i}].${field} ${net} is one of this stack's publicNetworks: the worker gets a public address. ${fix}.`,
          });
      }
    });
    for (const port of ports) {
      const net = str(port.props.networkId);
      if (net !== undefined && publicNets.has(net))
        out.push({ urn, message: `${describe(m)} (pool ${pool}): its ${describe(port)} is on ${net}, one of this stack's publicNetworks. ${fix}.` });
    }
    for (const fip of resources.filter((r) => FLOATING_IP_TYPES.includes(r.type))) {
      const deps = Object.values(fip.propertyDependencies ?? {}).flat();
      if (deps.includes(urn) || ports.some((p) => deps.includes(p.urn)))
        out.push({ urn: fip.urn, message: `${describe(fip)} gives ${describe(m)} (pool ${pool}) a floating IP: the worker gets a public address. ${fix}.` });
    }
  }
  return out;
}

/** The OpenStack policies. */
export const openstackPolicies: StackValidationPolicy[] = [
  stackPolicy<AntiAffinityConfig>(
    {
      name: "twinroot-openstack-anti-affinity",
      description: "The machines of every OpenStack pool larger than one are in a server group with anti-affinity.",
      enforcementLevel: "mandatory",
      configSchema: {
        properties: { allowSoftAntiAffinity: { type: "boolean", default: true, description: "Accept soft-anti-affinity (best effort)." } },
      },
      defaults: ANTI_AFFINITY_DEFAULTS,
      remediationSteps: "Set the NodePool backend.antiAffinity to anti-affinity.",
    },
    checkAntiAffinity,
  ),
  stackPolicy<PublicIpConfig>(
    {
      name: "twinroot-openstack-no-public-ips",
      description: "Workers get no public address (public network, floating IP) unless the stack allows it.",
      enforcementLevel: "mandatory",
      configSchema: {
        properties: {
          allowPublicIps: { type: "boolean", default: false, description: "Allow workers to have public addresses." },
          publicNetworks: { type: "array", items: { type: "string" }, default: [], description: "IDs or names of external networks." },
        },
      },
      defaults: PUBLIC_IP_DEFAULTS,
      remediationSteps: "Attach workers to a private network only, and drop floating IPs from them.",
    },
    checkNoPublicIps,
  ),
];
