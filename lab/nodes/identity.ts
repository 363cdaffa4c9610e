// The identities the lab's controller and proxies run with: the least-privilege RBAC and
// admission policy of controller/rbac, service accounts in the lab's namespace, and per
// node a proxy Pod bound to that node (owned by a DaemonSet object, as a real proxy pod
// is, so drains skip it) whose bound service-account token carries the node's name, as
// the kubelet's projected token does in a real cluster.

import fs from "node:fs";
import { KubeConfig, type V1DaemonSet, type V1Pod } from "@kubernetes/client-node";
import { applyObjects } from "../../controller/kube/install";
import { PODS, type ResourceRef, resourcePath } from "../../controller/kube/resources";
import { isStatus, type Kube } from "../../controller/kube/rest";
import { type AccessOptions, accessObjects } from "../../controller/rbac/access";

/** Namespace the lab's parts run in. */
export const LAB_NAMESPACE = "twinroot-system";

/** How long minted tokens live; longer than any lab run (a kubelet would refresh them). */
const TOKEN_SECONDS = 24 * 3600;

const SERVICE_ACCOUNTS: ResourceRef = { group: "", version: "v1", plural: "serviceaccounts", namespaced: true };

/** The lab's access objects, applied, and what minting identities needs. */
export interface LabAccess {
  /** The admin client that applied them and mints tokens. */
  admin: Kube;
  options: Required<Pick<AccessOptions, "namespace" | "controllerServiceAccount" | "proxyServiceAccount">>;
  /** The proxies' DaemonSet, owner of every proxy Pod. */
  daemonSet: V1DaemonSet;
}

/**
 * Applies the namespace, the two service accounts, the proxy DaemonSet object and every
 * RBAC and admission-policy object of controller/rbac (idempotent: a second fleet on
 * the same control plane reuses them).
 */
export async function installLabAccess(admin: Kube, namespace = LAB_NAMESPACE): Promise<LabAccess> {
  const options = { namespace, controllerServiceAccount: "twinroot-controller", proxyServiceAccount: "twinroot-proxy" };
  const labels = { "app.kubernetes.io/name": "twinroot-proxy" };
  const daemonSet: V1DaemonSet = {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: "twinroot-proxy", namespace },
    spec: {
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { serviceAccountName: options.proxyServiceAccount, containers: [{ name: "proxy", image: "twinroot/proxy:lab" }] },
      },
    },
  };
  const applied = await applyObjects(admin, [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } },
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: options.controllerServiceAccount, namespace } },
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: options.proxyServiceAccount, namespace } },
    daemonSet,
  ]);
  await applyObjects(admin, accessObjects(options));
  return { admin, options, daemonSet: applied[3] as V1DaemonSet };
}

/** A kubeconfig for the admin's server that authenticates with `token`. */
function tokenKubeConfig(admin: Kube, user: string, token: string): KubeConfig {
  const cluster = admin.kc.getCurrentCluster();
  if (!cluster) throw new Error("lab identity: the admin kubeconfig has no current cluster");
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "lab", server: cluster.server, caData: cluster.caData, caFile: cluster.caFile, skipTLSVerify: false }],
    users: [{ name: user, token }],
    contexts: [{ name: "lab", cluster: "lab", user }],
    currentContext: "lab",
  });
  return kc;
}

async function mintToken(access: LabAccess, serviceAccount: string, boundPod?: V1Pod): Promise<string> {
  const path = `${resourcePath(SERVICE_ACCOUNTS, { namespace: access.options.namespace, name: serviceAccount })}/token`;
  try {
    const tr = await access.admin.request<{ status: { token: string } }>("POST", path, {
      body: {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: {
          expirationSeconds: TOKEN_SECONDS,
          ...(boundPod ? { boundObjectRef: { apiVersion: "v1", kind: "Pod", name: boundPod.metadata?.name, uid: boundPod.metadata?.uid } } : {}),
        },
      },
    });
    return tr.status.token;
  } catch (err) {
    throw new Error(`lab identity: token for ${serviceAccount}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The proxy Pod of `node` (created bound to the node when missing) and a kubeconfig with
 * a token bound to that Pod: the API server authenticates it as the proxy's service
 * account with the node's name in the user's extra info. The Node must exist.
 */
export async function proxyKubeConfig(access: LabAccess, node: string): Promise<KubeConfig> {
  const namespace = access.options.namespace;
  const name = `twinroot-proxy-${node}`;
  const ds = access.daemonSet.metadata;
  let pod: V1Pod;
  try {
    pod = await access.admin.request<V1Pod>("POST", resourcePath(PODS, { namespace }), {
      body: {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name,
          namespace,
          labels: { "app.kubernetes.io/name": "twinroot-proxy" },
          ownerReferences: [{ apiVersion: "apps/v1", kind: "DaemonSet", name: ds?.name ?? "", uid: ds?.uid ?? "", controller: true }],
        },
        spec: {
          nodeName: node,
          serviceAccountName: access.options.proxyServiceAccount,
          automountServiceAccountToken: false,
          containers: [{ name: "proxy", image: "twinroot/proxy:lab" }],
        },
      },
    });
  } catch (err) {
    if (!isStatus(err, 409)) throw new Error(`lab identity: proxy pod for ${node}: ${(err as Error).message}`, { cause: err });
    pod = await access.admin.request<V1Pod>("GET", resourcePath(PODS, { namespace, name }));
  }
  return tokenKubeConfig(access.admin, `proxy-${node}`, await mintToken(access, access.options.proxyServiceAccount, pod));
}

/**
 * A kubeconfig of a proxy service-account token bound to no pod, hence to no node: the
 * identity of a proxy that lost its node binding, which the admission policy refuses.
 */
export async function unboundProxyKubeConfig(access: LabAccess): Promise<KubeConfig> {
  return tokenKubeConfig(access.admin, "proxy-unbound", await mintToken(access, access.options.proxyServiceAccount));
}

/** A kubeconfig with a token of the controller's service account. */
export async function controllerKubeConfig(access: LabAccess): Promise<KubeConfig> {
  return tokenKubeConfig(access.admin, "controller", await mintToken(access, access.options.controllerServiceAccount));
}

/** Writes `kc` to `path` (mode 0600), for a child process's KUBECONFIG. */
export function writeKubeConfig(kc: KubeConfig, path: string): void {
  // exportConfig() gives JSON, which is YAML too.
  fs.writeFileSync(path, kc.exportConfig(), { mode: 0o600 });
}
