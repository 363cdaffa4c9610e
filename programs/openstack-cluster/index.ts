// A twinroot fleet on OpenStack: per pool, Nova instances in an anti-affinity server
// group, booted from the OS image registered in Glance, with the twinroot node preset
// (A/B layout, node agent, kubelet join) as Ignition user data; the twinroot control
// plane and the rollout in the cluster. `pulumi up` after a bump of osImage.* rolls the
// running machines in place and ends when the rollout is Complete.

import * as pulumi from "@pulumi/pulumi";
import { Fleet, type ignition } from "../../components";
import { ConfigReader, readOsImage, readPolicy } from "../shared/config";
import { loadOpenStack } from "../shared/openstack";

const config = new ConfigReader();
const kubeconfig = config.secret("kubeconfig");
const image = readOsImage(config);
const policy = readPolicy(config);
const apiServer = config.string("cluster.apiServer", undefined, true) as string;
const caCert = config.string("cluster.caCert", undefined, true) as string;
const bootstrapToken = config.secret("cluster.bootstrapToken");
const sshKeys = config.list("cluster.sshAuthorizedKeys");
const networkId = config.string("network.id", undefined, true) as string;
const zones = config.list("availabilityZones");
const keyPair = config.string("keyPair");
const poolNames = config.list("pools", ["workers"]);
const pools = poolNames.map((name) => ({
  name,
  size: config.int(`pool.${name}.size`, 3, 0, 1000),
  flavor: config.string(`pool.${name}.flavor`, undefined, true) as string,
  antiAffinity: config.string(`pool.${name}.antiAffinity`, "anti-affinity") as "anti-affinity" | "soft-anti-affinity" | "none",
  labels: config.labels(`pool.${name}.labels`),
  taints: config.taints(`pool.${name}.taints`),
}));
const controllerImage = config.string("controller.image");
const proxyImage = config.string("controller.proxyImage");
const rolloutTimeout = config.string("rolloutTimeout", "2h");
config.done();

const openstack = loadOpenStack();
const node = (bootstrapToken as pulumi.Output<string>).apply(
  (token): ignition.NodePresetOptions => ({
    spec: "3.4.0",
    disk: { device: "/dev/vda", firmware: "uefi" },
    kubelet: { apiServer, caCert, bootstrapToken: token },
    sshAuthorizedKeys: sshKeys,
  }),
);

const fleet = new Fleet(pulumi.getStack(), {
  kubeconfig: kubeconfig as pulumi.Output<string>,
  image: { ...image, glance: { api: openstack, visibility: "private" } },
  policy,
  pools: Object.fromEntries(
    pools.map((p) => [
      p.name,
      {
        backend: {
          kind: "openstack" as const,
          api: openstack,
          flavor: p.flavor,
          networkId,
          availabilityZones: zones.length ? zones : undefined,
          antiAffinity: p.antiAffinity,
          keyPair,
        },
        size: p.size,
        labels: p.labels,
        taints: p.taints,
        ignition: { node },
      },
    ]),
  ),
  controller: { controllerImage, proxyImage, rolloutTimeout },
});

/** The version the fleet runs. */
export const version = fleet.version;
/** The rollout resource's name. */
export const rollout = fleet.controller.rolloutName;
/** Node names of every pool. */
export const nodes = fleet.nodeNames;
