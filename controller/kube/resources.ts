// Paths of the resources the controller and proxy use, and the shape every object shares.

import { GROUP, OSNODE, ROLLOUT, VERSION } from "../api/types";

/** Any Kubernetes object, as plain JSON. */
export interface KObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

/** A list as the API server returns it. */
export interface KList<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** Where a resource lives in the REST API. */
export interface ResourceRef {
  /** "" for the core group. */
  group: string;
  version: string;
  plural: string;
  namespaced: boolean;
}

/** The REST path of a collection or of one object (`sub` e.g. `status`, `eviction`). */
export function resourcePath(r: ResourceRef, opts: { namespace?: string; name?: string; sub?: string } = {}): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  const ns = r.namespaced && opts.namespace ? `/namespaces/${encodeURIComponent(opts.namespace)}` : "";
  const name = opts.name ? `/${encodeURIComponent(opts.name)}` : "";
  const sub = opts.name && opts.sub ? `/${opts.sub}` : "";
  return `${base}${ns}/${r.plural}${name}${sub}`;
}

export const NODES: ResourceRef = { group: "", version: "v1", plural: "nodes", namespaced: false };
export const PODS: ResourceRef = { group: "", version: "v1", plural: "pods", namespaced: true };
export const EVENTS: ResourceRef = { group: "", version: "v1", plural: "events", namespaced: true };
export const PDBS: ResourceRef = { group: "policy", version: "v1", plural: "poddisruptionbudgets", namespaced: true };
export const LEASES: ResourceRef = { group: "coordination.k8s.io", version: "v1", plural: "leases", namespaced: true };
export const DEPLOYMENTS: ResourceRef = { group: "apps", version: "v1", plural: "deployments", namespaced: true };
export const CRDS: ResourceRef = { group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions", namespaced: false };
export const ROLLOUTS: ResourceRef = { group: GROUP, version: VERSION, plural: ROLLOUT.plural, namespaced: false };
export const OSNODES: ResourceRef = { group: GROUP, version: VERSION, plural: OSNODE.plural, namespaced: false };

/** `namespace/name`, or `name` for a cluster-scoped object: the cache and queue key. */
export function keyOf(o: KObject): string {
  const ns = o.metadata?.namespace;
  return ns ? `${ns}/${o.metadata?.name}` : (o.metadata?.name ?? "");
}
