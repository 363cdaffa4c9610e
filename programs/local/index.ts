// The local lab's fleet: the twinroot control plane and the rollout in the lab's API
// server, plus a pool of lab nodes when the lab's node API is given. The lab runs the
// controller and the proxies as processes (it has no kubelet that runs containers), so
// the Deployment and DaemonSet are applied without waiting for pods.

import { Fleet, POOL_LABEL } from "../../components";
import { ConfigReader, readOsImage, readPolicy } from "../shared/config";

const config = new ConfigReader();
const kubeconfig = config.secret("kubeconfig");
const image = readOsImage(config);
const policy = readPolicy(config);
const endpoint = config.string("lab.endpoint");
const size = config.int("lab.nodes", 3, 0, 100);
const pool = config.string("lab.pool", "lab") as string;
const waitForRollout = config.bool("waitForRollout", true);
const rolloutTimeout = config.string("rolloutTimeout", "10m");
const namespace = config.string("namespace", "twinroot-system");
config.done();

const fleet = new Fleet("lab", {
  kubeconfig: kubeconfig as NonNullable<typeof kubeconfig>,
  image,
  policy,
  // Without the lab's node API the rollout selects the lab nodes the lab started itself.
  pools: endpoint ? { [pool]: { backend: { kind: "lab", endpoint }, size } } : undefined,
  nodeSelector: endpoint ? undefined : { matchLabels: { [POOL_LABEL]: pool } },
  controller: { namespace, awaitWorkloads: false, waitForRollout, rolloutTimeout },
});

/** The version the fleet runs. */
export const version = fleet.version;
/** The rollout resource's name (`kubectl get osrollout <name>`). */
export const rollout = fleet.controller.rolloutName;
/** The controller's namespace. */
export const controllerNamespace = fleet.controller.namespace;
/** The lab nodes this stack created. */
export const nodes = fleet.nodeNames;
