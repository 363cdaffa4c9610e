// How expensive a node is to drain, from the pods on it: each pod that must move costs 1,
// a pod whose disruption budget allows no disruption costs much more (its node would wait
// for the drain timeout), and a pod with emptyDir data a little more.

import type { V1Pod, V1PodDisruptionBudget } from "@kubernetes/client-node";
import { matchesSelector } from "../api/selector";
import type { LabelSelector } from "../api/types";

/** Cost added by a pod that a PodDisruptionBudget currently forbids evicting. */
export const BLOCKED_POD_COST = 100;

/** Whether a pod is left alone by a drain: DaemonSet pods, mirror pods and finished pods. */
export function isDrainExempt(pod: V1Pod): boolean {
  if (pod.metadata?.annotations?.["kubernetes.io/config.mirror"]) return true;
  if (pod.metadata?.ownerReferences?.some((o) => o.kind === "DaemonSet" && o.controller)) return true;
  const phase = pod.status?.phase;
  return phase === "Succeeded" || phase === "Failed";
}

/** Whether any budget that selects `pod` allows no disruption right now. */
export function blockedByBudget(pod: V1Pod, pdbs: V1PodDisruptionBudget[]): boolean {
  return pdbs.some(
    (b) =>
      b.metadata?.namespace === pod.metadata?.namespace &&
      b.spec?.selector !== undefined &&
      matchesSelector(b.spec.selector as LabelSelector, pod.metadata?.labels) &&
      (b.status?.disruptionsAllowed ?? 0) <= 0,
  );
}

/** The drain cost of the pods on one node. */
export function podCost(pods: V1Pod[], pdbs: V1PodDisruptionBudget[]): number {
  let cost = 0;
  for (const p of pods) {
    if (isDrainExempt(p)) continue;
    cost += 1;
    if (p.spec?.volumes?.some((v) => v.emptyDir)) cost += 1;
    if (blockedByBudget(p, pdbs)) cost += BLOCKED_POD_COST;
  }
  return cost;
}
