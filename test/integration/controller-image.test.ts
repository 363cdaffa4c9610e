// The controller's and the proxy's container images, as `npm run build:images` writes
// them: umoci (an OCI tool of its own, from Debian) unpacks each layout, which checks
// every blob against its digest, and the unpacked filesystem alone (chroot, nothing of
// the host) runs the controller against a real API server as the image's unprivileged
// user, with the command the UpgradeController's Deployment gives it.

import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { controllerDeployment, proxyDaemonSet } from "../../components/controller-manifests";
import { DEFAULT_CONTROLLER_IMAGE, DEFAULT_PROXY_IMAGE } from "../../components/upgrade-controller";
import { buildImages, IMAGES } from "../../controller/build-images";
import { sleep } from "../../controller/kube/backoff";
import type { Kube } from "../../controller/kube/rest";
import type { ControlPlane } from "../../lab/harness/control-plane";
import { startApiServer, stopApiServer } from "./support/api-server";

interface RuntimeConfig {
  process: { args: string[]; env: string[]; cwd: string; user: { uid: number; gid: number } };
}

const workloads = {
  controllerImage: DEFAULT_CONTROLLER_IMAGE,
  proxyImage: DEFAULT_PROXY_IMAGE,
  imagePullPolicy: "IfNotPresent",
  replicas: 1,
  namespace: "twinroot-system",
  controllerServiceAccount: "c",
  proxyServiceAccount: "p",
};
const commandOf = (spec: { template: unknown }) => (spec.template as { spec: { containers: { command: string[] }[] } }).spec.containers[0]?.command;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

/** Runs `args` inside `rootfs` with only `env` (`NAME=value`), as `user`; collects what it prints. */
function inImage(rootfs: string, user: string, env: string[], args: string[]): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const vars = Object.fromEntries(env.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
  const child = spawn("/usr/sbin/chroot", [`--userspec=${user}`, rootfs, ...args], { env: vars, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d) => {
    out += d;
  });
  child.stderr?.on("data", (d) => {
    out += d;
  });
  return { child, out: () => out, exited: new Promise((resolve) => child.on("close", resolve)) };
}

describe("the controller and proxy images", { timeout: 600_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-image-test-"));
  const layouts = path.join(dir, "images");
  let cp: ControlPlane;
  let kube: Kube;

  before(async () => {
    await buildImages(layouts);
    ({ cp, kube } = await startApiServer());
  });

  after(async () => {
    await stopApiServer(cp, kube);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** umoci's unpacked bundle of one image: its root filesystem and runtime config. */
  function unpack(name: "controller" | "proxy"): { rootfs: string; config: RuntimeConfig } {
    const bundle = path.join(dir, `${name}-bundle`);
    const tag = tagOf(name === "controller" ? DEFAULT_CONTROLLER_IMAGE : DEFAULT_PROXY_IMAGE);
    if (!fs.existsSync(bundle)) execFileSync("umoci", ["unpack", "--image", `${path.join(layouts, name)}:${tag}`, bundle], { stdio: "pipe" });
    return { rootfs: path.join(bundle, "rootfs"), config: JSON.parse(fs.readFileSync(path.join(bundle, "config.json"), "utf8")) as RuntimeConfig };
  }
  const tagOf = (ref: string) => ref.slice(ref.lastIndexOf(":") + 1);
  const env = (c: RuntimeConfig, extra: Record<string, string>) => [...c.process.env, ...Object.entries(extra).map(([k, v]) => `${k}=${v}`)];

  it("are OCI layouts tagged as the components' default images, running the commands the Deployment and DaemonSet give", () => {
    assert.deepEqual(
      IMAGES.map((i) => i.name),
      ["controller", "proxy"],
    );
    for (const [name, ref] of [
      ["controller", DEFAULT_CONTROLLER_IMAGE],
      ["proxy", DEFAULT_PROXY_IMAGE],
    ] as const) {
      const index = JSON.parse(fs.readFileSync(path.join(layouts, name, "index.json"), "utf8")) as { manifests: { annotations: Record<string, string> }[] };
      assert.equal(index.manifests[0]?.annotations["org.opencontainers.image.ref.name"], tagOf(ref), `${name} is tagged as ${ref}`);
      assert.ok(ref.includes(`/${name}:`), ref);
    }
    const controller = unpack("controller").config;
    assert.deepEqual(controller.process.args, commandOf(controllerDeployment(workloads)));
    assert.deepEqual(controller.process.user, { uid: 65532, gid: 65532 });
    assert.deepEqual(unpack("proxy").config.process.args, commandOf(proxyDaemonSet(workloads)));
  });

  it("the controller image alone runs the controller against the API server as its unprivileged user, and it becomes leader and ready", async () => {
    const { rootfs, config } = unpack("controller");
    fs.writeFileSync(path.join(rootfs, "tmp", "kubeconfig"), cp.kubeconfig(), { mode: 0o644 });
    const port = await freePort();
    const run = inImage(
      rootfs,
      `${config.process.user.uid}:${config.process.user.gid}`,
      env(config, { KUBECONFIG: "/tmp/kubeconfig", POD_NAMESPACE: "default", POD_NAME: "from-the-image", HEALTH_HOST: "127.0.0.1", HEALTH_PORT: String(port) }),
      config.process.args,
    );
    try {
      let ready = false;
      for (let i = 0; i < 300 && !ready && run.child.exitCode === null; i++) {
        ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
          (r) => r.status === 200,
          () => false,
        );
        if (!ready) await sleep(200);
      }
      assert.ok(ready, `the controller became ready; it printed:\n${run.out()}`);
      const lease = await kube.request<{ spec: { holderIdentity?: string } }>(
        "GET",
        "/apis/coordination.k8s.io/v1/namespaces/default/leases/twinroot-controller",
      );
      assert.equal(lease.spec.holderIdentity, "from-the-image");
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      // Its informers watch through TLS from inside the image.
      assert.match(metrics, /^twinroot_api_requests_total\{verb="WATCH",code="200"\} [1-9]/m, metrics);
    } finally {
      run.child.kill("SIGTERM");
      await run.exited;
    }
    assert.doesNotMatch(run.out(), /"level":"error"/, run.out());
  });

  it("the controller image with no cluster configuration stops at once and says what to set", async () => {
    const { rootfs, config } = unpack("controller");
    const run = inImage(rootfs, `${config.process.user.uid}:${config.process.user.gid}`, env(config, {}), config.process.args);
    assert.equal(await run.exited, 1, run.out());
    assert.match(
      run.out(),
      /twinroot-controller: no Kubernetes configuration: in a pod it uses the service account token at \/var\/run\/secrets\/kubernetes\.io\/serviceaccount\/token/,
    );
  });

  it("the proxy image loads the proxy and names what its pod must set", async () => {
    const { rootfs, config } = unpack("proxy");
    // The DaemonSet runs it as root, for the agent's root-only socket.
    const run = inImage(rootfs, "0:0", env(config, {}), config.process.args);
    assert.equal(await run.exited, 1, run.out());
    assert.match(run.out(), /NODE_NAME is not set \(set it from spec\.nodeName with the downward API\)/);
  });
});
