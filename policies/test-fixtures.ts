// Resources as the engine hands them to the policies, built the way the components
// build them, for the unit tests of each policy group (and SSH keys for the e2e test).

import crypto from "node:crypto";
import { POOL_LABEL } from "../components/node-pool";
import { GLANCE_IMAGE_TYPE, INSTANCE_TYPE, LAB_MACHINE_TYPE, ROLLOUT_TYPE, SERVER_GROUP_TYPE } from "./model";
import type { StackResource } from "./pack";

/** The digests of two test images. */
export const V1 = {
  version: "1.0.0",
  digest: "eff77103687b7c7db8e99ddba9a5e0730122178a008da564928be8dcb0b4bafc",
  url: "https://images.test/twinroot-1.0.0.img",
};
/** The second test image. */
export const V2 = {
  version: "1.1.0",
  digest: "e224b3d2ecf8368952c116ee501e730298d8d3abc09fce4df390fcd314f5cd21",
  url: "https://images.test/twinroot-1.1.0.img",
};

const urn = (type: string, name: string, parentType = "") => `urn:pulumi:test::fleet::${parentType ? `${parentType}$` : ""}${type}::${name}`;

/** A resource of any type. */
export function resource(type: string, name: string, props: Record<string, unknown>, extra: Partial<StackResource> = {}): StackResource {
  return { type, name, urn: urn(type, name), props, ...extra };
}

/** The policy spec UpgradePolicy writes with its defaults. */
export function policySpec(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    maxUnavailable: 1,
    paused: false,
    drain: { timeout: "10m", deleteEmptyDirData: false, onTimeout: "GiveBack" },
    healthCheck: { timeout: "10m" },
    failure: { maxFailedNodes: 1, failedNodePolicy: "LeaveRolledBack" },
    ...over,
  };
}

/** An OsRollout custom resource as UpgradeController creates it. */
export function rollout(name: string, spec: Record<string, unknown> = {}, image: Record<string, unknown> = V1): StackResource {
  return resource(ROLLOUT_TYPE, `${name}-rollout`, {
    apiVersion: "twinroot.dev/v1alpha1",
    kind: "OsRollout",
    metadata: { name, labels: {} },
    spec: { image: { version: image.version, url: image.url, digest: image.digest, ...image }, ...policySpec(spec) },
  });
}

/** A rollout selecting the given pools, as Fleet writes its selector. */
export function poolSelector(...pools: string[]): Record<string, unknown> {
  return { nodeSelector: { matchExpressions: [{ key: POOL_LABEL, operator: "In", values: pools }] } };
}

/** A NodePool component with its registered outputs. */
export function nodePool(
  name: string,
  o: { size: number; backend?: string; image?: { version: string; digest: string }; labels?: Record<string, string> },
): StackResource {
  return resource("twinroot:nodes:NodePool", name, {
    poolName: name,
    nodeNames: [],
    backend: o.backend ?? "lab",
    size: o.size,
    labels: { ...(o.labels ?? {}), [POOL_LABEL]: name },
    image: o.image ?? { version: V1.version, digest: V1.digest },
  });
}

/** Lab machines of a pool, children of `pool` when given. */
export function labMachines(poolName: string, n: number, image = V1, pool?: StackResource): StackResource[] {
  return Array.from({ length: n }, (_, i) =>
    resource(
      LAB_MACHINE_TYPE,
      `${poolName}-machine-${i}`,
      { endpoint: "http://127.0.0.1:9", nodeName: `${poolName}-${i}`, version: image.version, digest: image.digest, labels: { [POOL_LABEL]: poolName } },
      pool ? { parent: pool.urn } : {},
    ),
  );
}

/** An OpenStack pool as NodePool creates it: the component, its server group and instances. */
export function openstackPool(
  name: string,
  o: { size: number; antiAffinity?: string; networkId?: string; userData?: string; image?: typeof V1 } = { size: 3 },
): StackResource[] {
  const pool = nodePool(name, { size: o.size, backend: "openstack", image: o.image ?? V1 });
  const image = o.image ?? V1;
  const glance = resource(GLANCE_IMAGE_TYPE, `${name}-image-glance`, {
    name: `twinroot-${image.version}`,
    imageSourceUrl: image.url,
    properties: { twinroot_version: image.version, twinroot_sha256: image.digest },
    tags: ["twinroot"],
  });
  const out = [pool, glance];
  const policy = o.antiAffinity ?? "anti-affinity";
  const group =
    policy === "none" ? undefined : resource(SERVER_GROUP_TYPE, `${name}-group`, { name: `twinroot-${name}`, policies: [policy] }, { parent: pool.urn });
  if (group) out.push(group);
  for (let i = 0; i < o.size; i++)
    out.push(
      resource(
        INSTANCE_TYPE,
        `${name}-machine-${i}`,
        {
          name: `${name}-${i}`,
          flavorName: "m1.large",
          imageId: "glance-id",
          userData: o.userData ?? "",
          metadata: { [POOL_LABEL]: name },
          networks: [{ uuid: o.networkId ?? "private-net" }],
          ...(group ? { schedulerHints: [{ group: "group-id" }] } : {}),
          stopBeforeDestroy: true,
        },
        { parent: pool.urn, propertyDependencies: { imageId: [glance.urn], ...(group ? { schedulerHints: [group.urn] } : {}) } },
      ),
    );
  return out;
}

function sshString(b: Buffer | string): Buffer {
  const body = typeof b === "string" ? Buffer.from(b) : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

function mpint(b: Buffer): Buffer {
  return sshString((b[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

/** A freshly generated SSH public key line: `ed25519`, `rsa-<bits>` or a `dss` look-alike. */
export function sshPublicKey(kind: "ed25519" | `rsa-${number}` | "dss", comment = "admin@test"): string {
  if (kind === "ed25519") {
    const jwk = crypto.generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" });
    return `ssh-ed25519 ${Buffer.concat([sshString("ssh-ed25519"), sshString(Buffer.from(jwk.x as string, "base64url"))]).toString("base64")} ${comment}`;
  }
  if (kind === "dss")
    return `ssh-dss ${Buffer.concat([sshString("ssh-dss"), ...[1, 2, 3, 4].map(() => mpint(crypto.randomBytes(64)))]).toString("base64")} ${comment}`;
  const modulusLength = Number(kind.slice(4));
  const jwk = crypto.generateKeyPairSync("rsa", { modulusLength }).publicKey.export({ format: "jwk" });
  const blob = Buffer.concat([sshString("ssh-rsa"), mpint(Buffer.from(jwk.e as string, "base64url")), mpint(Buffer.from(jwk.n as string, "base64url"))]);
  return `ssh-rsa ${blob.toString("base64")} ${comment}`;
}
