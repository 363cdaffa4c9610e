// The informer that feeds the controller, recovering from 410 Gone on a real API
// server: it resumes its watch from the resourceVersion it last saw, the server says that
// version is gone (etcd compacted it), and the informer relists, so its cache and its
// handlers catch up with every change it missed.
//
// The API server here runs without its watch cache, so watches are served from etcd and
// a compacted revision is answered with 410 as soon as the server's compactor (every 2 s
// here) has passed it; with the watch cache, it would take minutes of history to age out.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { V1ConfigMap } from "@kubernetes/client-node";
import { Informer, type InformerEvent } from "../../controller/kube/informer";
import { silentLogger } from "../../controller/kube/log";
import { type ResourceRef, resourcePath } from "../../controller/kube/resources";
import { Kube, KubeError } from "../../controller/kube/rest";
import { ControlPlane } from "../../lab/harness/control-plane";
import { waitFor } from "./support/wait";

const CONFIGMAPS: ResourceRef = { group: "", version: "v1", plural: "configmaps", namespaced: true };
const NS = "default";

/** Whether a watch from `resourceVersion` is answered with 410 Gone, as a refusal or as an ERROR event. */
async function expired(kube: Kube, resourceVersion: string): Promise<boolean> {
  const abort = new AbortController();
  let gone = false;
  const timer = setTimeout(() => abort.abort(), 2000);
  try {
    await kube.watch<{ code?: number }>(
      resourcePath(CONFIGMAPS, { namespace: NS }),
      { resourceVersion, timeoutSeconds: 1 },
      (ev) => {
        if (ev.type === "ERROR" && ev.object.code === 410) {
          gone = true;
          abort.abort();
        }
      },
      abort.signal,
    );
  } catch (err) {
    if (!(err instanceof KubeError && err.code === 410)) throw err;
    gone = true;
  } finally {
    clearTimeout(timer);
  }
  return gone;
}

describe("the informer after 410 Gone on a real API server", { timeout: 300_000 }, () => {
  let cp: ControlPlane;
  let kube: Kube;
  before(async () => {
    cp = await ControlPlane.start({ apiserverArgs: ["--watch-cache=false", "--etcd-compaction-interval=2s"] });
    kube = new Kube(cp.kubeConfig());
  });
  after(async () => {
    kube?.close();
    await cp?.stop();
  });

  const cm = (name: string, value: string) => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace: NS, labels: { t: "410" } },
    data: { value },
  });
  const put = (name: string, value: string) =>
    kube.request<V1ConfigMap>("PATCH", resourcePath(CONFIGMAPS, { namespace: NS, name }), {
      body: { data: { value } },
      contentType: "application/merge-patch+json",
    });

  it("relists when its resourceVersion is gone, and reports what it missed to its handlers", async () => {
    for (const name of ["kept", "changed", "deleted"]) await kube.request("POST", resourcePath(CONFIGMAPS, { namespace: NS }), { body: cm(name, "1") });
    const informer = new Informer<V1ConfigMap>(kube, CONFIGMAPS, { log: silentLogger, labelSelector: "t=410" });
    const seen: [InformerEvent, string, string | undefined][] = [];
    informer.on((ev, o) => seen.push([ev, `${o.metadata?.namespace}/${o.metadata?.name}`, o.data?.value]));
    await informer.start();
    assert.equal(informer.lists, 1);
    // A change while watching proves the watch runs, and moves the informer's resourceVersion to it.
    const last = await put("kept", "2");
    await waitFor("the watch to deliver a change", async () => (informer.get(`${NS}/kept`)?.data?.value === "2" ? true : undefined));
    await informer.stop();

    // Missed while disconnected.
    await put("changed", "3");
    await kube.request("DELETE", resourcePath(CONFIGMAPS, { namespace: NS, name: "deleted" }));
    await kube.request("POST", resourcePath(CONFIGMAPS, { namespace: NS }), { body: cm("added", "1") });
    await waitFor(
      "etcd to compact the informer's resourceVersion",
      async () => ((await expired(kube, String(last.metadata?.resourceVersion))) ? true : undefined),
      60_000,
    );

    seen.length = 0;
    await informer.start();
    await waitFor("the cache to catch up", async () => (informer.get(`${NS}/added`) ? true : undefined), 60_000);
    assert.equal(informer.lists, 2, "one relist, after the 410");
    assert.equal(informer.get(`${NS}/changed`)?.data?.value, "3");
    assert.equal(informer.get(`${NS}/deleted`), undefined);
    assert.deepEqual(
      seen.filter(([, name]) => name !== `${NS}/kept`).sort(),
      [
        ["add", `${NS}/added`, "1"],
        ["delete", `${NS}/deleted`, "1"],
        ["update", `${NS}/changed`, "3"],
      ],
      "the handlers heard of every missed change, once",
    );
    // And the informer watches again from the fresh list.
    await put("kept", "4");
    await waitFor("a change after the relist", async () => (informer.get(`${NS}/kept`)?.data?.value === "4" ? true : undefined));
    await informer.stop();
  });
});
