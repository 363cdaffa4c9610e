import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { ControlPlane, DELETION_CONTROLLERS } from "../../lab/harness/control-plane";
import { repoRoot } from "../../lab/harness/tools";

describe("the local control plane", { timeout: 300_000 }, () => {
  it("serves the real Kubernetes API: create, conflict on a stale resourceVersion, watch", async () => {
    const cp = await ControlPlane.start();
    try {
      const kc = cp.kubeConfig();
      const core = kc.makeApiClient(k8s.CoreV1Api);
      const created = await core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "a" }, data: { n: "1" } } });
      await core.replaceNamespacedConfigMap({ name: "a", namespace: "default", body: { ...created, data: { n: "2" } } });
      await assert.rejects(
        core.replaceNamespacedConfigMap({ name: "a", namespace: "default", body: { ...created, data: { n: "3" } } }),
        (err: { code?: number }) => err.code === 409,
        "a write with a stale resourceVersion is a conflict",
      );
      const seen: string[] = [];
      const watch = new k8s.Watch(kc);
      const req = await watch.watch(
        "/api/v1/namespaces/default/configmaps",
        { resourceVersion: created.metadata?.resourceVersion },
        (type, obj) => seen.push(`${type}:${obj.data?.n}`),
        () => {},
      );
      await core.deleteNamespacedConfigMap({ name: "a", namespace: "default" });
      for (let i = 0; i < 50 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
      req.abort();
      assert.deepEqual(seen, ["MODIFIED:2", "DELETED:2"]);
    } finally {
      await cp.stop();
    }
  });

  it("deletes as a real cluster does with its controller-manager: owned objects follow their owner, a namespace is finalized", async () => {
    const cp = await ControlPlane.start({ controllers: DELETION_CONTROLLERS });
    try {
      const core = cp.kubeConfig().makeApiClient(k8s.CoreV1Api);
      await core.createNamespace({ body: { metadata: { name: "doomed" } } });
      const owner = await core.createNamespacedConfigMap({ namespace: "doomed", body: { metadata: { name: "owner" } } });
      const ref = { apiVersion: "v1", kind: "ConfigMap", name: "owner", uid: owner.metadata?.uid as string };
      await core.createNamespacedConfigMap({ namespace: "doomed", body: { metadata: { name: "owned", ownerReferences: [ref] } } });
      // Foreground: the owner stays (with a finalizer) until the garbage collector removed what it owns.
      await core.deleteNamespacedConfigMap({ name: "owner", namespace: "doomed", propagationPolicy: "Foreground" });
      const gone = async (read: () => Promise<unknown>) => {
        for (let i = 0; i < 600; i++) {
          try {
            await read();
          } catch (err) {
            if ((err as { code?: number }).code === 404) return true;
            throw err;
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        return false;
      };
      assert.ok(await gone(() => core.readNamespacedConfigMap({ name: "owned", namespace: "doomed" })), "the owned ConfigMap is collected");
      assert.ok(await gone(() => core.readNamespacedConfigMap({ name: "owner", namespace: "doomed" })), "the owner goes once its dependents are gone");
      await core.deleteNamespace({ name: "doomed" });
      assert.ok(await gone(() => core.readNamespace({ name: "doomed" })), "the namespace is finalized, not left Terminating");
    } finally {
      await cp.stop();
    }
  });

  it("runs two instances side by side, isolated from each other", async () => {
    const [a, b] = await Promise.all([ControlPlane.start(), ControlPlane.start()]);
    try {
      assert.notEqual(a.server, b.server);
      const ca = a.kubeConfig().makeApiClient(k8s.CoreV1Api);
      const cb = b.kubeConfig().makeApiClient(k8s.CoreV1Api);
      await ca.createNamespace({ body: { metadata: { name: "only-in-a" } } });
      await assert.rejects(cb.readNamespace({ name: "only-in-a" }), (err: { code?: number }) => err.code === 404);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    assert.ok(!fs.existsSync(a.dir) && !fs.existsSync(b.dir), "working dirs removed");
  });

  it("leaves no server running when the process that started it is killed", async () => {
    const script = path.join(repoRoot, "test", "integration", "fixtures", "start-and-hang.ts");
    const child = spawn(process.execPath, ["--import", "tsx", script], { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] });
    const line = await new Promise<string>((resolve, reject) => {
      let buf = "";
      child.stdout.on("data", (d) => {
        buf += d;
        if (buf.includes("\n")) resolve(buf.split("\n")[0] as string);
      });
      child.on("exit", (code) => reject(new Error(`fixture exited ${code} before starting`)));
    });
    const { pids, server, dir } = JSON.parse(line) as { pids: number[]; server: string; dir: string };
    assert.ok(pids.length === 2 && pids.every(alive), "etcd and kube-apiserver are running");
    child.kill("SIGKILL");
    const deadline = Date.now() + 20_000;
    while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(pids.filter(alive), [], `servers of ${server} outlived their parent`);
    // A killed process cannot clean up after itself; its files are ours to remove.
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
