// The local lab: what `npm start`, the end-to-end tests and the rollout benchmark run
// the product on. A real control plane (etcd + kube-apiserver), an HTTPS image server
// with the lab's OS versions, a node API through which `pulumi up` creates lab machines
// (each a loop-backed A/B disk with a real agent, a proxy and a Node kept as a kubelet
// keeps it), and the controller as its own process.
//
// Pulumi deploys the twinroot control plane into the lab (CRDs, RBAC, the controller
// Deployment and proxy DaemonSet); no kubelet runs their pods, so the lab runs the
// controller and the proxies itself, under the identities Pulumi created: the
// controller with a token of its service account, each proxy with a token bound to a
// proxy Pod on its node, as the DaemonSet's pods would have.

import fs from "node:fs";
import path from "node:path";
import type { KubeConfig, V1DaemonSet } from "@kubernetes/client-node";
import type { ImageSpec } from "../controller/api/types";
import { sleep } from "../controller/kube/backoff";
import { type Logger, silentLogger } from "../controller/kube/log";
import type { ResourceRef } from "../controller/kube/resources";
import { resourcePath } from "../controller/kube/resources";
import { isStatus, Kube } from "../controller/kube/rest";
import { ControlPlane, DELETION_CONTROLLERS } from "./harness/control-plane";
import type { OsVariant } from "./image-builder/os-image";
import { BadMachineRequest, type NodeApi, startNodeApi } from "./node-api";
import { bundleController, type ControllerProcess, startControllerProcess } from "./nodes/controller-process";
import { type DiskLab, LAB_VERSIONS, startDiskLab } from "./nodes/disk-lab";
import type { DiskMachine } from "./nodes/disk-machine";
import { controllerKubeConfig, type LabAccess, proxyKubeConfig, writeKubeConfig } from "./nodes/identity";
import { LabNode } from "./nodes/lab-node";

/** Namespace the `local` program deploys the controller into (its default). */
export const LAB_CONTROLLER_NAMESPACE = "twinroot-system";

const DAEMONSETS: ResourceRef = { group: "apps", version: "v1", plural: "daemonsets", namespaced: true };

/** Options of {@link Lab.start}. */
export interface LabOptions {
  /** Everything the lab writes: control plane, disks, machines, logs. Created. */
  dir: string;
  /** OS versions the image server offers and how each behaves. Default: disk-lab.ts `LAB_VERSIONS`. */
  versions?: Readonly<Record<string, OsVariant>>;
  /** Loopback port of the image server. Default: any free one. */
  imagePort?: number;
  /** Loopback port of the node API. Default: any free one. */
  nodeApiPort?: number;
  /** Namespace of the controller and proxies' service accounts. Default {@link LAB_CONTROLLER_NAMESPACE}. */
  namespace?: string;
  /** How long a lab reboot keeps a node down besides the boot itself. Default: LabNode's. */
  rebootMs?: number;
  /** Environment of the controller process (LEASE_DURATION, …). */
  controllerEnv?: Record<string, string>;
  log?: Logger;
}

/** A running local lab. */
export class Lab {
  private stopped = false;

  private constructor(
    readonly dir: string,
    readonly controlPlane: ControlPlane,
    readonly disks: DiskLab,
    readonly nodeApi: NodeApi,
    private readonly admin: Kube,
    private readonly controller: Promise<ControllerProcess>,
    private readonly abort: AbortController,
  ) {}

  /** Starts the control plane, builds and serves the images, and starts the node API and the controller. */
  static async start(o: LabOptions): Promise<Lab> {
    const log = o.log ?? silentLogger;
    const namespace = o.namespace ?? LAB_CONTROLLER_NAMESPACE;
    fs.mkdirSync(o.dir, { recursive: true });
    const cp = await ControlPlane.start({ dir: path.join(o.dir, "control-plane"), keepDir: true, controllers: DELETION_CONTROLLERS });
    const cleanup: (() => Promise<unknown>)[] = [() => cp.stop()];
    try {
      const disks = await startDiskLab({ dir: path.join(o.dir, "disks"), versions: o.versions ?? LAB_VERSIONS, imagePort: o.imagePort });
      cleanup.unshift(() => disks.stop());
      const admin = new Kube(cp.kubeConfig(), undefined, "lab");
      const abort = new AbortController();
      const access = waitForAccess(admin, namespace, abort.signal);
      // Never an unhandled rejection when the lab stops before Pulumi created the identities.
      access.catch(() => undefined);
      const kubeConfig = cp.kubeConfig();
      const nodeApi = await startNodeApi({
        kubeConfig,
        port: o.nodeApiPort,
        log,
        create: async (name, req) => {
          const image = disks.images.get(req.version);
          if (!image) throw new BadMachineRequest(`version ${req.version} is not one the lab serves: use one of ${[...disks.images.keys()].join(", ")}`);
          if (image.digest !== req.digest)
            throw new BadMachineRequest(`digest ${req.digest} is not the lab's image of ${req.version} (${image.digest}): set osImage.digest to that`);
          const machine = disks.machine(name, req.version);
          const node = new LabNode({
            kubeConfig,
            name,
            agent: machine,
            labels: req.labels,
            taints: req.taints,
            rebootMs: o.rebootMs,
            proxyKubeConfig: async () => proxyKubeConfig(await access, name),
            log,
          });
          try {
            await node.start();
          } catch (err) {
            await node.stop();
            throw err;
          }
          return { node, machine };
        },
      });
      cleanup.unshift(() => nodeApi.close());
      const controller = startController(o, access, path.join(o.dir, "controller"), abort.signal);
      controller.catch(() => undefined);
      return new Lab(o.dir, cp, disks, nodeApi, admin, controller, abort);
    } catch (err) {
      for (const c of cleanup) await c().catch(() => undefined);
      throw err;
    }
  }

  /** The admin kubeconfig (YAML) of the lab's API server. */
  kubeconfig(): string {
    return this.controlPlane.kubeconfig();
  }

  /** The admin kubeconfig as a client-node object. */
  kubeConfig(): KubeConfig {
    return this.controlPlane.kubeConfig();
  }

  /** The machine of each lab node the node API created, by node name. */
  machines(): Map<string, DiskMachine> {
    return new Map([...this.nodeApi.nodes].map(([name, n]) => [name, n.machine as DiskMachine]));
  }

  /** The image spec (URL, digest, size) of one of the lab's versions. */
  image(version: string): ImageSpec {
    return this.disks.image(version);
  }

  /** The controller process, once Pulumi has created its identity and it runs. */
  controllerProcess(): Promise<ControllerProcess> {
    return this.controller;
  }

  /** Stops the controller, every lab machine, the image server and the control plane. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    // Aborted, it either never starts or is stopped here once it has.
    const c = await this.controller.catch(() => undefined);
    await c?.stop().catch(() => undefined);
    await this.nodeApi.close().catch(() => undefined);
    await this.disks.stop().catch(() => undefined);
    this.admin.close();
    await this.controlPlane.stop();
  }
}

/**
 * The identities Pulumi created for the controller and the proxies (the service accounts
 * and the proxy DaemonSet in `namespace`), once they exist.
 */
async function waitForAccess(admin: Kube, namespace: string, signal: AbortSignal): Promise<LabAccess> {
  for (;;) {
    if (signal.aborted) throw new Error("lab stopped");
    try {
      const daemonSet = await admin.request<V1DaemonSet>("GET", resourcePath(DAEMONSETS, { namespace, name: "twinroot-proxy" }));
      const sa = daemonSet.spec?.template.spec?.serviceAccountName ?? "twinroot-proxy";
      await admin.request("GET", `/api/v1/namespaces/${namespace}/serviceaccounts/${sa}`);
      await admin.request("GET", `/api/v1/namespaces/${namespace}/serviceaccounts/twinroot-controller`);
      return { admin, options: { namespace, controllerServiceAccount: "twinroot-controller", proxyServiceAccount: sa }, daemonSet };
    } catch (err) {
      if (!isStatus(err, 404)) throw err;
    }
    await sleep(250);
  }
}

/** Bundles the controller and starts it with its service account's token once that exists. */
async function startController(o: LabOptions, access: Promise<LabAccess>, dir: string, signal: AbortSignal): Promise<ControllerProcess> {
  fs.mkdirSync(dir, { recursive: true });
  const bundle = await bundleController(dir);
  const kubeconfigPath = path.join(dir, "kubeconfig");
  writeKubeConfig(await controllerKubeConfig(await access), kubeconfigPath);
  if (signal.aborted) throw new Error("lab stopped");
  return startControllerProcess({
    bundle,
    kubeconfigPath,
    identity: "twinroot-controller-lab",
    namespace: o.namespace ?? LAB_CONTROLLER_NAMESPACE,
    logFile: path.join(dir, "controller.log"),
    env: o.controllerEnv,
  });
}
