// Fleet: the common composition in one component: an OsImage, an UpgradePolicy, node
// pools booting that image, and the UpgradeController with the rollout binding them,
// selecting the fleet's pools. Bumping `image.version` (with url and digest) rolls
// every pool's machines in place; `pulumi up` ends when the rollout is Complete.

import * as pulumi from "@pulumi/pulumi";
import type { LabelSelector } from "../controller/api/types";
import { NodePool, type NodePoolArgs, POOL_LABEL } from "./node-pool";
import { OsImage, type OsImageArgs } from "./os-image";
import { UpgradeController, type UpgradeControllerArgs } from "./upgrade-controller";
import { UpgradePolicy, type UpgradePolicyArgs } from "./upgrade-policy";

/** The component's type token. */
export const FLEET_TYPE = "twinroot:index:Fleet";

/** Arguments of {@link Fleet}. */
export interface FleetArgs {
  /** Kubeconfig (YAML) of the cluster, as a secret; see `UpgradeControllerArgs.kubeconfig`. */
  kubeconfig: pulumi.Input<string>;
  /** The OS release the fleet runs; see {@link OsImageArgs}. */
  image: OsImageArgs;
  /** How rollouts proceed; see {@link UpgradePolicyArgs}. Default: the policy's safe defaults. */
  policy?: UpgradePolicyArgs;
  /** Node pools by pool name; see {@link NodePoolArgs}. Default: none (nodes come from elsewhere). */
  pools?: Record<string, Omit<NodePoolArgs, "image" | "poolName">>;
  /**
   * Nodes the rollout owns. Default: the nodes of `pools` (`twinroot.dev/pool In [...]`),
   * or every node when there are no pools.
   */
  nodeSelector?: pulumi.Input<LabelSelector>;
  /** Controller settings; see {@link UpgradeControllerArgs}. Default: its defaults, waiting for the rollout. */
  controller?: Omit<UpgradeControllerArgs, "kubeconfig" | "rollout"> & {
    /** Name of the `OsRollout`. Default: the component's name. */
    rolloutName?: string;
  };
}

/** The rollout's node selector for a fleet: the given one, else its pools, else every node. */
export function fleetSelector(pools: string[], given: pulumi.Input<LabelSelector> | undefined): pulumi.Input<LabelSelector> | undefined {
  if (given !== undefined) return given;
  if (!pools.length) return undefined;
  return { matchExpressions: [{ key: POOL_LABEL, operator: "In", values: [...pools].sort() }] };
}

/** An OS-image-based Kubernetes fleet. Children: `<name>-image`, `<name>-policy`, `<name>-pool-<pool>`, `<name>-controller`. */
export class Fleet extends pulumi.ComponentResource {
  /** The OS image. */
  readonly image: OsImage;
  /** The rollout policy. */
  readonly policy: UpgradePolicy;
  /** The pools, by pool name. */
  readonly pools: Record<string, NodePool>;
  /** The control plane and rollout. */
  readonly controller: UpgradeController;
  /** The version the fleet runs (once `up` has waited for the rollout). */
  readonly version: pulumi.Output<string>;
  /** Node names of every pool. */
  readonly nodeNames: pulumi.Output<string[]>;

  constructor(name: string, args: FleetArgs, opts?: pulumi.ComponentResourceOptions) {
    super(FLEET_TYPE, name, {}, opts);
    this.image = new OsImage(`${name}-image`, args.image, { parent: this });
    this.policy = new UpgradePolicy(`${name}-policy`, args.policy ?? {}, { parent: this });
    const { rolloutName, ...controller } = args.controller ?? {};
    this.controller = new UpgradeController(
      `${name}-controller`,
      {
        ...controller,
        kubeconfig: args.kubeconfig,
        rollout: {
          name: rolloutName ?? name,
          image: this.image,
          policy: this.policy,
          nodeSelector: fleetSelector(Object.keys(args.pools ?? {}), args.nodeSelector),
        },
      },
      { parent: this },
    );
    this.pools = {};
    for (const [pool, poolArgs] of Object.entries(args.pools ?? {}))
      this.pools[pool] = new NodePool(
        `${name}-pool-${pool}`,
        { ...poolArgs, image: this.image, poolName: pool },
        // A machine's proxy writes its OsNode at boot: the CRDs come first.
        { parent: this, dependsOn: this.controller.crds },
      );
    this.version = pulumi.all([this.image.version, this.controller.rolloutStatus]).apply(([v]) => v);
    this.nodeNames = pulumi.all(Object.values(this.pools).map((p) => p.nodeNames)).apply((lists) => lists.flat());
    this.registerOutputs({ version: this.version, nodeNames: this.nodeNames, rolloutName: this.controller.rolloutName });
  }
}
