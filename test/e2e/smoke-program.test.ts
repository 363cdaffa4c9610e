import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { ControlPlane, DELETION_CONTROLLERS } from "../../lab/harness/control-plane";
import { PulumiStack } from "../../lab/harness/pulumi";
import { repoRoot } from "../../lab/harness/tools";

async function gone(read: () => Promise<unknown>): Promise<boolean> {
  try {
    await read();
    return false;
  } catch (err) {
    return (err as { code?: number }).code === 404;
  }
}

describe("the smoke program through the real Pulumi engine", { timeout: 900_000 }, () => {
  let cp: ControlPlane;
  let stack: PulumiStack;
  let core: k8s.CoreV1Api;
  const namespace = "smoke-e2e";

  before(async () => {
    cp = await ControlPlane.start({ controllers: DELETION_CONTROLLERS });
    core = cp.kubeConfig().makeApiClient(k8s.CoreV1Api);
    stack = await PulumiStack.create({
      projectDir: path.join(repoRoot, "programs", "smoke"),
      stack: `e2e-${process.pid}`,
      config: { namespace },
      secrets: { kubeconfig: cp.kubeconfig() },
    });
  });

  after(async () => {
    await stack?.remove();
    await cp?.stop();
  });

  it("creates the Namespace and the ConfigMap in the API server", async () => {
    const up = await stack.up();
    assert.equal(up.changes.create, 4, `expected stack, provider, namespace and configmap created: ${JSON.stringify(up.changes)}`);
    const ns = await core.readNamespace({ name: namespace });
    assert.equal(ns.metadata?.labels?.["app.kubernetes.io/managed-by"], "twinroot");
    const cm = await core.readNamespacedConfigMap({ name: "twinroot-smoke", namespace });
    assert.equal(cm.data?.greeting, "hello from twinroot");
    const outputs = await stack.outputs();
    assert.equal(outputs.namespace, namespace);
  });

  it("reports no changes on a second up", async () => {
    const again = await stack.up();
    assert.deepEqual(
      Object.keys(again.changes).filter((k) => k !== "same"),
      [],
      JSON.stringify(again.changes),
    );
    assert.equal(again.changes.same, 4);
  });

  it("previews and applies an in-place update of the ConfigMap", async () => {
    await stack.setConfig("version", "2");
    const preview = await stack.preview();
    assert.equal(preview.changes.update, 1, JSON.stringify(preview.changes));
    await stack.up();
    const cm = await core.readNamespacedConfigMap({ name: "twinroot-smoke", namespace });
    assert.equal(cm.data?.version, "2");
  });

  it("notices drift on refresh after the ConfigMap is changed behind its back", async () => {
    await core.patchNamespacedConfigMap(
      { name: "twinroot-smoke", namespace, body: [{ op: "replace", path: "/data/version", value: "edited" }] },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
    );
    const refresh = await stack.refresh();
    assert.equal(refresh.changes.update, 1, JSON.stringify(refresh.changes));
    await stack.up();
    const cm = await core.readNamespacedConfigMap({ name: "twinroot-smoke", namespace });
    assert.equal(cm.data?.version, "2", "up after refresh puts the desired value back");
  });

  it("removes both objects on destroy", async () => {
    const destroyed = await stack.destroy();
    assert.equal(destroyed.changes.delete, 4, JSON.stringify(destroyed.changes));
    assert.ok(await gone(() => core.readNamespacedConfigMap({ name: "twinroot-smoke", namespace })), "configmap is gone");
    // The provider deletes in the foreground and waits for the namespace to be finalized,
    // which the control plane's garbage collector and namespace controller do.
    assert.ok(await gone(() => core.readNamespace({ name: namespace })), "namespace is gone");
  });
});
