// NodePool: the machines of one pool, from a backend. `openstack` creates Nova instances
// (flavor, network or port, a server group with anti-affinity, metadata, availability
// zones) booted from the current OsImage with the pool's Ignition as user data; `lab`
// creates lab nodes of the local lab through the engine (./lab-machine.ts).
//
// A change of image or Ignition never replaces a machine: those inputs are in
// `ignoreChanges`, so machines that exist keep what they booted with and are upgraded in
// place by the controller; only machines created afterwards (scale-up) boot the new
// image with the new config. Other inputs do what the provider does: on OpenStack a new
// flavor resizes the server in place (Nova reboots it, outside the rollout's budget),
// while a new network, port, availability zone or key pair replaces the server; change
// those by adding a new pool and removing the old one.

import * as pulumi from "@pulumi/pulumi";
import type { NodeTaint } from "./ignition";
import { taintProblem } from "./ignition";
import { IgnitionConfig, type IgnitionConfigArgs } from "./ignition-config";
import { checkLabels, InputProblems, inputError, isKnown } from "./inputs";
import { LabMachine } from "./lab-machine";
import type { OsImage } from "./os-image";

/** The component's type token. */
export const NODE_POOL_TYPE = "twinroot:nodes:NodePool";

/** The label every machine of a pool carries, with the pool's name. */
export const POOL_LABEL = "twinroot.dev/pool";

/** Inputs of machines that a change must never push to existing machines. */
export const IMMUTABLE_MACHINE_INPUTS = { openstack: ["imageId", "imageName", "userData"], lab: ["version", "digest", "taints"] } as const;

/** The arguments of `openstack.compute.Instance` a pool sets (a subset of `@pulumi/openstack`'s `InstanceArgs`). */
export interface OpenStackInstanceArgs {
  name?: pulumi.Input<string>;
  flavorName?: pulumi.Input<string>;
  imageId?: pulumi.Input<string>;
  userData?: pulumi.Input<string>;
  availabilityZone?: pulumi.Input<string>;
  keyPair?: pulumi.Input<string>;
  securityGroups?: pulumi.Input<pulumi.Input<string>[]>;
  metadata?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  networks?: pulumi.Input<pulumi.Input<{ uuid?: pulumi.Input<string>; port?: pulumi.Input<string> }>[]>;
  schedulerHints?: pulumi.Input<pulumi.Input<{ group?: pulumi.Input<string> }>[]>;
  stopBeforeDestroy?: pulumi.Input<boolean>;
}

/** The part of `@pulumi/openstack` a pool uses (`compute.Instance`, `compute.ServerGroup`). */
export interface OpenStackComputeApi {
  compute: {
    Instance: new (
      name: string,
      args: OpenStackInstanceArgs,
      opts?: pulumi.CustomResourceOptions,
    ) => { readonly id: pulumi.Output<string>; readonly accessIpV4: pulumi.Output<string> };
    ServerGroup: new (
      name: string,
      args: { name?: pulumi.Input<string>; policies?: pulumi.Input<pulumi.Input<string>[]> },
      opts?: pulumi.CustomResourceOptions,
    ) => { readonly id: pulumi.Output<string> };
  };
}

/** The `openstack` backend. */
export interface OpenStackPoolArgs {
  kind: "openstack";
  /** The OpenStack SDK: `await import("@pulumi/openstack")`. twinroot does not depend on it; programs that use this backend do. */
  api: OpenStackComputeApi;
  /** Nova flavor name, e.g. `m1.large`. A change resizes existing servers in place (Nova reboots them). */
  flavor: pulumi.Input<string>;
  /** Neutron network ID to attach to; give this or `portIds`. A change replaces the servers. */
  networkId?: pulumi.Input<string>;
  /** Pre-created Neutron ports, one per machine (index i for machine i); give this or `networkId`. */
  portIds?: pulumi.Input<string>[];
  /** Availability zones, used round-robin by machine index. Default: Nova's choice. A change replaces servers. */
  availabilityZones?: string[];
  /** Server group policy: `anti-affinity` (no two machines on one hypervisor), `soft-anti-affinity`, or `none`. Default `anti-affinity`. */
  antiAffinity?: "anti-affinity" | "soft-anti-affinity" | "none";
  /** Nova key pair name. Default: none (Ignition's SSH keys only). */
  keyPair?: pulumi.Input<string>;
  /** Security group names. Default: the project's default group. */
  securityGroups?: pulumi.Input<string>[];
  /** Extra instance metadata. Default: `twinroot.dev/pool` only. */
  metadata?: Record<string, pulumi.Input<string>>;
}

/** The `lab` backend: lab nodes of the local lab. */
export interface LabPoolArgs {
  kind: "lab";
  /** The lab's node API, `http://127.0.0.1:<port>` (printed by `npm start -- --keep`). */
  endpoint: pulumi.Input<string>;
}

/** Arguments of {@link NodePool}. */
export interface NodePoolArgs {
  /** Where the machines come from. */
  backend: OpenStackPoolArgs | LabPoolArgs;
  /** Number of machines, 0 or more. Scaling down removes the highest-numbered machines first. */
  size: number;
  /** The OS image new machines boot (existing machines are upgraded in place by the controller). */
  image: OsImage;
  /**
   * The machines' Ignition config; the pool adds its node labels to the kubelet join
   * (`node.kubelet.nodeLabels`). Required for `openstack`; the lab boots no Ignition.
   * A change reaches new machines only.
   */
  ignition?: IgnitionConfigArgs;
  /** Pool name: the `twinroot.dev/pool` label and the machines' name prefix. Default: the component's name. */
  poolName?: string;
  /** Node labels of the machines (through the kubelet on OpenStack, through the lab API in the lab). Default: the pool label only. */
  labels?: Record<string, string>;
  /**
   * Taints the machines register with (the kubelet's `--register-with-taints` on
   * OpenStack, the Node's spec in the lab). Like the Ignition config, a change reaches
   * new machines only: the kubelet applies taints when a node first registers; change
   * existing nodes' taints with `kubectl taint`. Default: none.
   */
  taints?: NodeTaint[];
}

/** The plain problems of pool arguments. */
export function checkNodePool(a: NodePoolArgs, poolName: string, p: InputProblems): void {
  if (!(Number.isSafeInteger(a.size) && a.size >= 0 && a.size <= 1000)) p.add("size", `${a.size} is not a pool size: give a whole number from 0 to 1000`);
  if (!/^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$/.test(poolName))
    p.add("poolName", `${JSON.stringify(poolName)} is not usable in node names: use at most 42 lower-case letters, digits and - (set poolName)`);
  checkLabels(a.labels, "labels", p);
  for (const [i, t] of (a.taints ?? []).entries()) {
    const why = taintProblem(t);
    if (why) p.add(`taints[${i}]`, why);
  }
  const b = a.backend;
  if (b.kind === "openstack") {
    if (!a.ignition) p.add("ignition", "OpenStack machines boot with Ignition: give the pool's ignition config");
    if (!a.image.registersInGlance) p.add("image", "OpenStack machines boot from a Glance image: create the OsImage with its glance argument");
    if (b.networkId === undefined && b.portIds === undefined) p.add("backend.networkId", "give networkId (or portIds, one per machine)");
    if (b.networkId !== undefined && b.portIds !== undefined) p.add("backend.portIds", "give networkId or portIds, not both");
    if (b.portIds !== undefined && b.portIds.length < a.size)
      p.add("backend.portIds", `${b.portIds.length} ports for ${a.size} machines: give one port per machine`);
    if (typeof b.flavor === "string" && !b.flavor.trim()) p.add("backend.flavor", "give a Nova flavor name such as m1.large");
    if (b.antiAffinity !== undefined && !["anti-affinity", "soft-anti-affinity", "none"].includes(b.antiAffinity))
      p.add("backend.antiAffinity", "must be anti-affinity, soft-anti-affinity or none");
    if (b.availabilityZones !== undefined && b.availabilityZones.length === 0) p.add("backend.availabilityZones", "give at least one zone, or leave it out");
  } else if (b.kind === "lab") {
    if (isKnown(b.endpoint) && !/^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\]):\d+\/?$/.test(String(b.endpoint)))
      p.add("backend.endpoint", `${JSON.stringify(b.endpoint)} is not the lab's node API: give the loopback http://127.0.0.1:<port> URL the lab prints`);
  } else p.add("backend.kind", `${JSON.stringify((b as { kind: unknown }).kind)} is not a backend: use openstack or lab`);
}

/** Machine names of a pool: `<pool>-0`, `<pool>-1`, … */
export function machineNames(poolName: string, size: number): string[] {
  return Array.from({ length: size }, (_, i) => `${poolName}-${i}`);
}

/** The Ignition args of a pool: the user's, with the pool's labels and taints added to the kubelet join. */
export function poolIgnition(ignition: IgnitionConfigArgs, labels: Record<string, string>, taints: NodeTaint[] = []): IgnitionConfigArgs {
  if (!ignition.node) return ignition;
  const node = pulumi.output(ignition.node).apply((n) =>
    n.kubelet
      ? {
          ...n,
          kubelet: {
            ...n.kubelet,
            nodeLabels: { ...(n.kubelet.nodeLabels ?? {}), ...labels },
            ...(n.kubelet.nodeTaints?.length || taints.length ? { nodeTaints: [...(n.kubelet.nodeTaints ?? []), ...taints] } : {}),
          },
        }
      : n,
  );
  return { ...ignition, node };
}

/**
 * The machines of one pool. Children: `<name>-ignition` (OpenStack), `<name>-group`
 * (the server group), and one `<name>-machine-<i>` per machine.
 */
export class NodePool extends pulumi.ComponentResource {
  /** The pool's name (its `twinroot.dev/pool` label). */
  readonly poolName: string;
  /** Node names of the machines, in index order. */
  readonly nodeNames: pulumi.Output<string[]>;
  /** Backend IDs of the machines (Nova server IDs, lab node names). */
  readonly machineIds: pulumi.Output<string[]>;
  /** The Ignition config, for OpenStack pools. */
  readonly ignition?: IgnitionConfig;

  constructor(name: string, args: NodePoolArgs, opts?: pulumi.ComponentResourceOptions) {
    super(NODE_POOL_TYPE, name, {}, opts);
    const poolName = args.poolName ?? name;
    const p = new InputProblems();
    checkNodePool(args, poolName, p);
    if (p.any) throw inputError(NODE_POOL_TYPE, name, p.list);
    this.poolName = poolName;
    const labels = { ...(args.labels ?? {}), [POOL_LABEL]: poolName };
    const names = machineNames(poolName, args.size);
    const b = args.backend;
    let ids: pulumi.Output<string>[];
    if (b.kind === "openstack") {
      this.ignition = new IgnitionConfig(`${name}-ignition`, poolIgnition(args.ignition as IgnitionConfigArgs, labels, args.taints), { parent: this });
      ids = this.openstack(name, b, names, labels, args.image, this.ignition);
    } else {
      ids = names.map(
        (nodeName, i) =>
          new LabMachine(
            `${name}-machine-${i}`,
            { endpoint: b.endpoint, nodeName, version: args.image.version, digest: args.image.digest, labels, taints: args.taints ?? [] },
            { parent: this, ignoreChanges: [...IMMUTABLE_MACHINE_INPUTS.lab] },
          ).id,
      );
    }
    this.nodeNames = pulumi.output(names);
    this.machineIds = pulumi.all(ids);
    // The pool as policies see it (policies/): what it is and which image its new machines
    // boot. The machines' own image inputs say what they booted with (ignoreChanges), so
    // after a version bump only these outputs still tell the pool's image.
    this.registerOutputs({
      poolName,
      nodeNames: this.nodeNames,
      machineIds: this.machineIds,
      backend: b.kind,
      size: args.size,
      labels,
      image: { version: args.image.version, digest: args.image.digest },
    });
  }

  private openstack(
    name: string,
    b: OpenStackPoolArgs,
    names: string[],
    labels: Record<string, string>,
    image: OsImage,
    ignition: IgnitionConfig,
  ): pulumi.Output<string>[] {
    const policy = b.antiAffinity ?? "anti-affinity";
    const group =
      policy === "none"
        ? undefined
        : new b.api.compute.ServerGroup(`${name}-group`, { name: `twinroot-${this.poolName}`, policies: [policy] }, { parent: this });
    return names.map((nodeName, i) => {
      const zones = b.availabilityZones;
      const instance = new b.api.compute.Instance(
        `${name}-machine-${i}`,
        {
          name: nodeName,
          flavorName: b.flavor,
          imageId: image.glanceImageId.apply((id) => id ?? ""),
          userData: ignition.userData,
          availabilityZone: zones ? zones[i % zones.length] : undefined,
          keyPair: b.keyPair,
          securityGroups: b.securityGroups,
          metadata: { ...(b.metadata ?? {}), [POOL_LABEL]: labels[POOL_LABEL] as string },
          networks: [b.portIds ? { port: b.portIds[i] } : { uuid: b.networkId }],
          schedulerHints: group ? [{ group: group.id }] : undefined,
          stopBeforeDestroy: true,
        },
        // Existing servers keep the image and user data they booted with; the controller upgrades them.
        { parent: this, ignoreChanges: [...IMMUTABLE_MACHINE_INPUTS.openstack] },
      );
      return instance.id;
    });
  }
}
