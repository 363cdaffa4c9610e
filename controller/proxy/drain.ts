// Cordon and drain with the Eviction API, as `kubectl drain` does: DaemonSet, mirror and
// finished pods stay; pods with emptyDir data move only when the policy allows it; a pod
// whose PodDisruptionBudget forbids eviction (429) is retried on the next pass. Every
// helper is idempotent, so the proxy can run them again after any crash.

import type { V1Node, V1Pod } from "@kubernetes/client-node";
import { matchesSelector } from "../api/selector";
import type { DrainSpec, LabelSelector } from "../api/types";
import { NODES, PODS, resourcePath } from "../kube/resources";
import { isStatus, type Kube } from "../kube/rest";
import { isDrainExempt } from "../rollout/cost";

/** Sets `spec.unschedulable`; does nothing when it already has that value. Returns the Node. */
export async function setUnschedulable(kube: Kube, node: string, value: boolean, current?: V1Node): Promise<V1Node> {
  if (current && (current.spec?.unschedulable === true) === value) return current;
  return kube.request<V1Node>("PATCH", resourcePath(NODES, { name: node }), {
    body: { spec: { unschedulable: value ? true : null } },
    contentType: "application/strategic-merge-patch+json",
  });
}

/** Pods on `node` that a drain must move (the rest stay). */
export async function podsToEvict(kube: Kube, node: string, skip?: LabelSelector): Promise<V1Pod[]> {
  const list = await kube.request<{ items: V1Pod[] }>("GET", resourcePath(PODS), { query: { fieldSelector: `spec.nodeName=${node}` } });
  return list.items.filter((p) => !isDrainExempt(p) && !(skip && matchesSelector(skip, p.metadata?.labels)));
}

/** Outcome of one drain pass. */
export interface DrainPass {
  /** Pods still on the node (being deleted or not yet evictable). */
  remaining: string[];
  /** Pods a PodDisruptionBudget kept this pass. */
  blockedByBudget: string[];
  /** Pods that block the drain by policy (emptyDir data without `deleteEmptyDirData`). */
  refused: string[];
}

const podName = (p: V1Pod) => `${p.metadata?.namespace}/${p.metadata?.name}`;

/** Evicts every pod that must move and is not already terminating; one pass, no waiting. */
export async function drainPass(kube: Kube, node: string, spec: DrainSpec = {}): Promise<DrainPass> {
  const pods = await podsToEvict(kube, node, spec.skipPodSelector);
  const out: DrainPass = { remaining: pods.map(podName), blockedByBudget: [], refused: [] };
  for (const p of pods) {
    if (p.metadata?.deletionTimestamp) continue;
    if (!spec.deleteEmptyDirData && p.spec?.volumes?.some((v) => v.emptyDir)) {
      out.refused.push(podName(p));
      continue;
    }
    const name = p.metadata?.name ?? "";
    const namespace = p.metadata?.namespace ?? "";
    try {
      await kube.request("POST", resourcePath(PODS, { namespace, name, sub: "eviction" }), {
        body: {
          apiVersion: "policy/v1",
          kind: "Eviction",
          metadata: { name, namespace },
          ...(spec.gracePeriodSeconds !== undefined ? { deleteOptions: { gracePeriodSeconds: spec.gracePeriodSeconds } } : {}),
        },
      });
    } catch (err) {
      // 429: a disruption budget says not now. 404: already gone.
      if (isStatus(err, 429)) out.blockedByBudget.push(podName(p));
      else if (!isStatus(err, 404)) throw new Error(`drain ${node}: evict ${podName(p)}: ${(err as Error).message}`, { cause: err });
    }
  }
  return out;
}

/** Deletes the given pods (`namespace/name`), ignoring their budgets: the policy's answer to a drain timeout. */
export async function deletePods(kube: Kube, pods: string[], gracePeriodSeconds?: number): Promise<void> {
  for (const p of pods) {
    const [namespace, name] = p.split("/") as [string, string];
    try {
      await kube.request("DELETE", resourcePath(PODS, { namespace, name }), {
        body: gracePeriodSeconds !== undefined ? { gracePeriodSeconds } : undefined,
      });
    } catch (err) {
      if (!isStatus(err, 404)) throw new Error(`delete pod ${p}: ${(err as Error).message}`, { cause: err });
    }
  }
}
