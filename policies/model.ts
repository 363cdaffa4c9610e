// The fleet as the policies see it, read from the resources twinroot creates: rollouts
// (the OsRollout custom resources, whose spec holds the image and the policy), pools
// (NodePool components, or machines carrying the pool label without one) and their
// machines (lab machines, OpenStack instances). Raw resources made without the
// components are read the same way, so the pack also guards hand-written stacks.

import { NODE_POOL_TYPE, POOL_LABEL } from "../components/node-pool";
import { matchesSelector } from "../controller/api/selector";
import { API_VERSION, type LabelSelector, ROLLOUT } from "../controller/api/types";
import { arr, isUnknown, obj, type StackResource, str, stringMap, UNKNOWN } from "./pack";

/** The type token of the rollout resource (`k8s.apiextensions.CustomResource` of kind OsRollout). */
export const ROLLOUT_TYPE = `kubernetes:${API_VERSION}:${ROLLOUT.kind}`;
/** The type token of a lab machine (components/lab-machine.ts: a dynamic resource of module `twinroot`). */
export const LAB_MACHINE_TYPE = "pulumi-nodejs:dynamic/twinroot:LabMachine";
/** `openstack.compute.Instance`. */
export const INSTANCE_TYPE = "openstack:compute/instance:Instance";
/** `openstack.compute.ServerGroup`. */
export const SERVER_GROUP_TYPE = "openstack:compute/serverGroup:ServerGroup";
/** `openstack.images.Image` (Glance). */
export const GLANCE_IMAGE_TYPE = "openstack:images/image:Image";
/** Floating IP associations, by instance (`compute`) or by port (`networking`). */
export const FLOATING_IP_TYPES = ["openstack:compute/floatingIpAssociate:FloatingIpAssociate", "openstack:networking/floatingIpAssociate:FloatingIpAssociate"];

/** One rollout resource. */
export interface Rollout {
  resource: StackResource;
  /** `metadata.name` (the name `kubectl get osrollout` shows), else the resource's name. */
  name: string;
  /** `spec`, or {@link UNKNOWN}. */
  spec: Record<string, unknown> | typeof UNKNOWN;
  /** `spec.nodeSelector`: undefined selects every node; {@link UNKNOWN} during preview when not known. */
  selector: LabelSelector | undefined | typeof UNKNOWN;
}

/** The image a pool's new machines boot, as far as it is known. */
export interface PoolImage {
  version?: string;
  digest?: string;
  /** Part of it is not known yet (during preview). */
  unknown?: boolean;
  /** Where the image was read from, for messages. */
  from: string;
}

function poolImage(version: unknown, digest: unknown, from: string): PoolImage {
  const image: PoolImage = { version: str(version), digest: str(digest), from };
  if (isUnknown(version) || isUnknown(digest)) image.unknown = true;
  return image;
}

/** One pool of machines. */
export interface Pool {
  name: string;
  /** The NodePool component, or the first machine of a pool without one. */
  resource: StackResource;
  /** Whether the pool is a NodePool component (else machines with the pool label). */
  component: boolean;
  /** `openstack`, `lab` or undefined when not known. */
  backend?: string;
  /** Number of machines: the NodePool's size, else the machines counted. */
  size: number;
  /** The labels its nodes carry (at least the pool label). */
  labels: Record<string, string>;
  /** Some labels are not known yet (during preview): which rollouts select the pool is not known. */
  labelsUnknown?: boolean;
  image?: PoolImage;
  machines: StackResource[];
}

/** How a resource is named in messages: `OsRollout "lab"`, `NodePool "workers"`. */
export function describe(r: StackResource): string {
  if (r.type === ROLLOUT_TYPE) return `OsRollout "${rolloutName(r)}"`;
  if (r.type === NODE_POOL_TYPE) return `NodePool "${r.name}"`;
  const kind = r.type.split(":").pop() ?? r.type;
  return `${kind} "${r.name}"`;
}

function rolloutName(r: StackResource): string {
  return str(obj(r.props.metadata)?.name) ?? r.name;
}

/** The rollout resources of the stack. */
export function rollouts(resources: StackResource[]): Rollout[] {
  return resources
    .filter((r) => r.type === ROLLOUT_TYPE)
    .map((r) => {
      const spec = isUnknown(r.props.spec) ? UNKNOWN : (obj(r.props.spec) ?? {});
      const sel = isUnknown(spec) ? UNKNOWN : spec.nodeSelector;
      const selector = isUnknown(sel) ? UNKNOWN : (obj(sel) as LabelSelector | undefined);
      return { resource: r, name: rolloutName(r), spec, selector };
    });
}

/** Whether the rollout selects the pool's nodes: true, false, or undefined when not known yet. */
export function selects(rollout: Rollout, pool: Pool): boolean | undefined {
  if (isUnknown(rollout.selector) || pool.labelsUnknown) return undefined;
  return matchesSelector(rollout.selector, pool.labels);
}

function byUrn(resources: StackResource[]): Map<string, StackResource> {
  return new Map(resources.map((r) => [r.urn, r]));
}

/** The resources `r`'s property `prop` depends on. */
export function dependencies(r: StackResource, prop: string, index: Map<string, StackResource>): StackResource[] {
  return (r.propertyDependencies?.[prop] ?? []).flatMap((u) => {
    const d = index.get(u);
    return d ? [d] : [];
  });
}

/** The pool label of a machine: lab machines carry it in their labels, instances in their metadata. */
export function machinePool(r: StackResource): string | undefined {
  if (r.type === LAB_MACHINE_TYPE) return stringMap(r.props.labels)[POOL_LABEL];
  if (r.type === INSTANCE_TYPE) return stringMap(r.props.metadata)[POOL_LABEL];
  return undefined;
}

function isMachine(r: StackResource): boolean {
  return r.type === LAB_MACHINE_TYPE || r.type === INSTANCE_TYPE;
}

// The image machines without a NodePool boot: a lab machine's own inputs, or the Glance
// image an instance's imageId comes from (its twinroot properties).
function machineImage(m: StackResource, index: Map<string, StackResource>): PoolImage | undefined {
  if (m.type === LAB_MACHINE_TYPE) return poolImage(m.props.version, m.props.digest, `${describe(m)} version and digest`);
  const glance = dependencies(m, "imageId", index).find((d) => d.type === GLANCE_IMAGE_TYPE);
  if (!glance) return undefined;
  const p = glance.props.properties;
  if (isUnknown(p)) return { unknown: true, from: describe(glance) };
  return poolImage(obj(p)?.twinroot_version, obj(p)?.twinroot_sha256, `${describe(glance)} properties twinroot_version and twinroot_sha256`);
}

/** The pools of the stack: NodePool components, then machines with a pool label outside any NodePool. */
export function pools(resources: StackResource[]): Pool[] {
  const index = byUrn(resources);
  const out: Pool[] = [];
  const inComponent = new Set<string>();
  for (const r of resources.filter((x) => x.type === NODE_POOL_TYPE)) {
    const machines = resources.filter((m) => m.parent === r.urn && isMachine(m));
    for (const m of machines) inComponent.add(m.urn);
    const name = str(r.props.poolName) ?? r.name;
    const image = r.props.image;
    const size = typeof r.props.size === "number" ? r.props.size : machines.length;
    const pool: Pool = {
      name,
      resource: r,
      component: true,
      backend: str(r.props.backend) ?? (machines[0]?.type === INSTANCE_TYPE ? "openstack" : machines[0] ? "lab" : undefined),
      size,
      labels: { ...stringMap(r.props.labels), [POOL_LABEL]: name },
      machines,
    };
    if (isUnknown(r.props.labels) || Object.values(obj(r.props.labels) ?? {}).some(isUnknown)) pool.labelsUnknown = true;
    if (isUnknown(image)) pool.image = { unknown: true, from: `${describe(r)} image` };
    else if (obj(image)) pool.image = poolImage(obj(image)?.version, obj(image)?.digest, `${describe(r)} image`);
    else if (machines[0]) {
      const mi = machineImage(machines[0], index);
      if (mi) pool.image = mi;
    }
    out.push(pool);
  }
  const loose = new Map<string, StackResource[]>();
  for (const m of resources.filter((x) => isMachine(x) && !inComponent.has(x.urn))) {
    const name = machinePool(m);
    if (name === undefined) continue;
    loose.set(name, [...(loose.get(name) ?? []), m]);
  }
  for (const [name, machines] of loose) {
    const first = machines[0] as StackResource;
    const labels = first.type === LAB_MACHINE_TYPE ? stringMap(first.props.labels) : {};
    const pool: Pool = {
      name,
      resource: first,
      component: false,
      backend: first.type === INSTANCE_TYPE ? "openstack" : "lab",
      size: machines.length,
      labels: { ...labels, [POOL_LABEL]: name },
      machines,
    };
    const mi = machineImage(first, index);
    if (mi) pool.image = mi;
    out.push(pool);
  }
  return out;
}

/** How a pool is named in messages. */
export function describePool(p: Pool): string {
  return p.component ? `NodePool "${p.resource.name}" (pool ${p.name})` : `pool "${p.name}" (machines labelled ${POOL_LABEL}=${p.name}, no NodePool)`;
}

/** The rollout's selected pools, those it may select (selector unknown) left out. */
export function selectedPools(rollout: Rollout, all: Pool[]): Pool[] {
  return all.filter((p) => selects(rollout, p) === true);
}

/** `spec.<path>` of a rollout, or undefined (also when the spec is unknown). */
export function specField(rollout: Rollout, ...path: string[]): unknown {
  let v: unknown = rollout.spec;
  for (const k of path) {
    if (isUnknown(v)) return UNKNOWN;
    v = obj(v)?.[k];
  }
  return v;
}

/** The elements of an array field that are objects. */
export function objects(v: unknown): Record<string, unknown>[] {
  return arr(v).flatMap((x) => {
    const o = obj(x);
    return o ? [o] : [];
  });
}
