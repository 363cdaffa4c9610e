// Applies the twinroot CRDs and waits until the API server serves them.

import { type CustomResourceDefinition, crds } from "../api/crds";
import { sleep } from "./backoff";
import { CRDS, resourcePath } from "./resources";
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
