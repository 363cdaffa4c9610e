// Two rollouts whose selectors pick the same node must not both drive it. The older
// rollout (by creation time, then name) keeps its nodes; a younger one that selects any
// of them is held with a SelectorOverlap condition instead of racing it.

import { matchesSelector } from "../api/selector";
import type { OsRollout } from "../api/types";

/** For each held rollout: the older rollout it overlaps and the shared nodes. */
export function findOverlaps(
  rollouts: OsRollout[],
  nodes: { name: string; labels: Record<string, string> }[],
): Map<string, { rollout: string; nodes: string[] }> {
  const ts = (r: OsRollout) => new Date(r.metadata.creationTimestamp ?? 0).getTime();
  const ordered = [...rollouts].sort((a, b) => ts(a) - ts(b) || (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""));
  const owner = new Map<string, string>();
  const out = new Map<string, { rollout: string; nodes: string[] }>();
  for (const r of ordered) {
    const name = r.metadata.name ?? "";
    const mine = nodes.filter((n) => matchesSelector(r.spec.nodeSelector, n.labels)).map((n) => n.name);
    const shared = mine.filter((n) => owner.has(n));
    if (shared.length) {
      out.set(name, { rollout: owner.get(shared[0] as string) as string, nodes: shared });
      continue;
    }
    for (const n of mine) owner.set(n, name);
  }
  return out;
}
