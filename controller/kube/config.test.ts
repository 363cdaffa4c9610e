import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { loadClusterConfig } from "./config";

describe("the controller's and proxy's cluster configuration", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-kube-config-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const none = { env: {}, home: dir, tokenFile: path.join(dir, "token") };

  it("stops with what to set when there is neither a service account, KUBECONFIG nor ~/.kube/config", () => {
    assert.throws(
      () => loadClusterConfig("twinroot-controller", none),
      (e: Error) =>
        e.message ===
        `twinroot-controller: no Kubernetes configuration: in a pod it uses the service account token at ${none.tokenFile} (keep automountServiceAccountToken on); elsewhere set KUBECONFIG or create ${path.join(dir, ".kube", "config")}`,
    );
  });

  it("names a KUBECONFIG file that does not exist", () => {
    const missing = path.join(dir, "nope.yaml");
    assert.throws(
      () => loadClusterConfig("twinroot-proxy", { ...none, env: { KUBECONFIG: missing } }),
      new RegExp(`^Error: twinroot-proxy: KUBECONFIG names ${missing}, which does not exist$`),
    );
  });

  it("loads the kubeconfig KUBECONFIG names", (t) => {
    const file = path.join(dir, "kubeconfig");
    fs.writeFileSync(
      file,
      "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://10.0.0.1:6443'}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n",
    );
    const before = process.env.KUBECONFIG;
    process.env.KUBECONFIG = file;
    t.after(() => {
      if (before === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = before;
    });
    assert.equal(loadClusterConfig("twinroot-controller", { ...none, env: process.env }).getCurrentCluster()?.server, "https://10.0.0.1:6443");
  });
});
