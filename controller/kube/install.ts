// Applies the twinroot CRDs and waits until the API server serves them; applies other
// objects (RBAC, admission policies, the lab's namespaces) by create-or-replace.

import { type CustomResourceDefinition, crds } from "../api/crds";
import { sleep } from "./backoff";
import { CRDS, type ResourceRef, resourcePath } from "./resources";
import { isStatus, type Kube } from "./rest";

interface CrdStatus {
  metadata: { resourceVersion?: string };
  status?: { conditions?: { type: string; status: string; message?: string }[] };
}

/** Creates or replaces each CRD, then waits (up to `timeoutMs`) for every one to be Established. */
export async function installCrds(kube: Kube, list: readonly CustomResourceDefinition[] = crds, timeoutMs = 60_000): Promise<void> {
  for (const crd of list) {
    try {
      await kube.request("POST", resourcePath(CRDS), { body: crd });
    } catch (err) {
      if (!isStatus(err, 409)) throw new Error(`install CRD ${crd.metadata.name}: ${(err as Error).message}`, { cause: err });
      const cur = await kube.request<CrdStatus>("GET", resourcePath(CRDS, { name: crd.metadata.name }));
      await kube.request("PUT", resourcePath(CRDS, { name: crd.metadata.name }), {
        body: { ...crd, metadata: { ...crd.metadata, resourceVersion: cur.metadata.resourceVersion } },
      });
    }
  }
  const deadline = Date.now() + timeoutMs;
  for (const crd of list) {
    for (;;) {
      const cur = await kube.request<CrdStatus>("GET", resourcePath(CRDS, { name: crd.metadata.name }));
      const est = cur.status?.conditions?.find((c) => c.type === "Established");
      if (est?.status === "True") break;
      if (Date.now() > deadline) throw new Error(`CRD ${crd.metadata.name} not Established after ${timeoutMs} ms: ${JSON.stringify(cur.status?.conditions)}`);
      await sleep(100);
    }
  }
}

/** The REST location of the kinds {@link applyObjects} handles, by `apiVersion/kind`. */
const KINDS: Record<string, ResourceRef> = {
  "v1/Namespace": { group: "", version: "v1", plural: "namespaces", namespaced: false },
  "v1/ServiceAccount": { group: "", version: "v1", plural: "serviceaccounts", namespaced: true },
  "apps/v1/DaemonSet": { group: "apps", version: "v1", plural: "daemonsets", namespaced: true },
  "rbac.authorization.k8s.io/v1/ClusterRole": { group: "rbac.authorization.k8s.io", version: "v1", plural: "clusterroles", namespaced: false },
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": { group: "rbac.authorization.k8s.io", version: "v1", plural: "clusterrolebindings", namespaced: false },
  "rbac.authorization.k8s.io/v1/Role": { group: "rbac.authorization.k8s.io", version: "v1", plural: "roles", namespaced: true },
  "rbac.authorization.k8s.io/v1/RoleBinding": { group: "rbac.authorization.k8s.io", version: "v1", plural: "rolebindings", namespaced: true },
  "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy": {
    group: "admissionregistration.k8s.io",
    version: "v1",
    plural: "validatingadmissionpolicies",
    namespaced: false,
  },
  "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding": {
    group: "admissionregistration.k8s.io",
    version: "v1",
    plural: "validatingadmissionpolicybindings",
    namespaced: false,
  },
};

/** An object {@link applyObjects} can apply. */
export interface Manifest {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string };
}

/**
 * Creates each object, or replaces it when it exists (the order of `objects` is kept, so
 * a namespace goes before what lives in it). Returns the objects as the server stored them.
 */
export async function applyObjects<T extends Manifest>(kube: Kube, objects: readonly T[]): Promise<T[]> {
  const out: T[] = [];
  for (const o of objects) {
    const ref = KINDS[`${o.apiVersion}/${o.kind}`];
    const name = o.metadata?.name;
    if (!ref || !name) throw new Error(`apply: cannot apply ${o.apiVersion}/${o.kind} ${name ?? "(no name)"}`);
    const namespace = o.metadata?.namespace;
    try {
      out.push(await kube.request<T>("POST", resourcePath(ref, { namespace }), { body: o }));
    } catch (err) {
      if (!isStatus(err, 409)) throw new Error(`apply ${o.kind} ${name}: ${(err as Error).message}`, { cause: err });
      try {
        const cur = await kube.request<Manifest & { metadata: { resourceVersion?: string } }>("GET", resourcePath(ref, { namespace, name }));
        const body = { ...o, metadata: { ...o.metadata, resourceVersion: cur.metadata.resourceVersion } };
        out.push(await kube.request<T>("PUT", resourcePath(ref, { namespace, name }), { body }));
      } catch (err2) {
        throw new Error(`apply ${o.kind} ${name}: replace: ${(err2 as Error).message}`, { cause: err2 });
      }
    }
  }
  return out;
}
