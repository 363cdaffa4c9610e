// Records every Node change from a watch and the most nodes ever unavailable at once
// (NotReady or cordoned), independent of the controller's own view.

import type { V1Node } from "@kubernetes/client-node";
import { NODES, resourcePath } from "../../../controller/kube/resources";
import type { Kube } from "../../../controller/kube/rest";

/** A running watcher. */
export interface UnavailabilityWatcher {
  readonly max: number;
  readonly changes: number;
  stop(): void;
}

/** Starts watching Nodes from now (after an initial list). */
export async function watchUnavailable(kube: Kube): Promise<UnavailabilityWatcher> {
  const list = await kube.request<{ metadata: { resourceVersion: string }; items: V1Node[] }>("GET", resourcePath(NODES));
  const down = new Set<string>();
  const state = { max: 0, changes: 0 };
  const see = (n: V1Node) => {
    const name = n.metadata?.name ?? "";
    const ready = n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
    if (!ready || n.spec?.unschedulable) down.add(name);
    else down.delete(name);
    state.max = Math.max(state.max, down.size);
    state.changes++;
  };
  for (const n of list.items) see(n);
  const abort = new AbortController();
  void kube
    .watch<V1Node>(
      resourcePath(NODES),
      { resourceVersion: list.metadata.resourceVersion },
      (ev) => ev.type !== "BOOKMARK" && ev.type !== "ERROR" && see(ev.object),
      abort.signal,
    )
    .then(
      () => {
        if (!abort.signal.aborted) state.max = Number.POSITIVE_INFINITY; // a watcher that stopped early proves nothing
      },
      () => {
        state.max = Number.POSITIVE_INFINITY;
      },
    );
  return {
    get max() {
      return state.max;
    },
    get changes() {
      return state.changes;
    },
    stop: () => abort.abort(),
  };
}
