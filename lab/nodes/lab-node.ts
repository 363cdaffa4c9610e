// Lab nodes: Node objects kept as a kubelet keeps them (Ready, nodeInfo.osImage and
// bootID of the booted slot), pods bound to them set Running and finalized after a
// graceful delete, and per node a proxy talking to that node's agent. What runs under
// the node is pluggable (LabNodeAgent): a real agent on a loop disk (disk-machine.ts) or
// one simulated in memory (lab-agent.ts). A lab reboot takes the Node NotReady, cuts the
// machine's power, stops the proxy (its memory is lost, as on a real reboot), powers the
// machine on again (the boot loader picks a slot), and once an OS is up reports it Ready
// with a new bootID and starts a fresh proxy.

import { randomUUID } from "node:crypto";
import type { KubeConfig, V1Node, V1Pod } from "@kubernetes/client-node";
import { sleep } from "../../controller/kube/backoff";
import { Informer } from "../../controller/kube/informer";
import { type Logger, silentLogger } from "../../controller/kube/log";
import { NODES, PODS, resourcePath } from "../../controller/kube/resources";
import { isStatus, Kube } from "../../controller/kube/rest";
import type { AgentClient } from "../../controller/proxy/agent-client";
import { NodeProxy } from "../../controller/proxy/proxy";

/**
 * What runs under a {@link LabNode}: the machine (its power and boot) and the node agent
 * on it, as the node's proxy talks to it.
 */
export interface LabNodeAgent {
  /** The agent as the proxy reaches it (valid while the machine is up). */
  readonly client: AgentClient;
  /** The version the running OS reports, for `nodeInfo.osImage`; undefined while nothing runs. */
  readonly runningVersion: string | undefined;
  /** Set by the LabNode: called when the agent asks for a reboot. */
  onReboot?: () => void;
  /** Powers on: the boot loader picks a slot, its OS and the agent come up. Resolves with the booted version, or undefined when no OS came up. */
  powerOn(): Promise<string | undefined>;
  /** Cuts the power: whatever runs on the machine dies at once. */
  powerOff(): Promise<void>;
  /** Powers off for good and releases what the machine holds (processes, devices). */
  dispose(): Promise<void>;
}

/** Options of one {@link LabNode}. */
export interface LabNodeOptions {
  kubeConfig: KubeConfig;
  name: string;
  /** The machine and agent under the node; the node disposes of it when it stops. */
  agent: LabNodeAgent;
  labels?: Record<string, string>;
  /** Taints the Node registers with. Default: none. */
  taints?: { key: string; value?: string; effect: string }[];
  /** How long a reboot keeps the node NotReady. Default 300 ms. */
  rebootMs?: number;
  /** Run a proxy for the node. Default true. */
  proxy?: boolean;
  /**
   * The proxy's identity, asked for once the Node exists (a token bound to the node's
   * proxy Pod, see identity.ts). Default: `kubeConfig`.
   */
  proxyKubeConfig?: () => Promise<KubeConfig>;
  log?: Logger;
}

/** `nodeInfo.osImage` for a version. */
export const osImageOf = (version: string) => `twinroot ${version}`;

/** One lab node. */
export class LabNode {
  readonly kube: Kube;
  private proxy?: NodeProxy;
  private proxyIdentity?: Promise<KubeConfig>;
  private readonly pods: Informer<V1Pod>;
  private stopped = false;
  private rebooting?: Promise<void>;
  /** Reboots done. */
  reboots = 0;

  constructor(private readonly opts: LabNodeOptions) {
    this.kube = new Kube(opts.kubeConfig, undefined, `lab-node/${opts.name}`);
    this.pods = new Informer<V1Pod>(this.kube, PODS, { log: opts.log ?? silentLogger, fieldSelector: `spec.nodeName=${opts.name}` });
    this.pods.on((ev, pod) => {
      if (ev !== "delete") void this.kubelet(pod);
    });
    opts.agent.onReboot = () => {
      if (this.stopped) return;
      this.rebooting ??= this.reboot()
        .catch((err) => (opts.log ?? silentLogger).error("lab reboot failed", { node: opts.name, err }))
        .finally(() => {
          this.rebooting = undefined;
        });
    };
  }

  get name(): string {
    return this.opts.name;
  }

  /** Powers the machine on, registers the Node (Ready, reporting the booted version) and starts the kubelet loop and proxy. */
  async start(): Promise<void> {
    const version = await this.opts.agent.powerOn();
    try {
      await this.kube.request("POST", resourcePath(NODES), {
        body: {
          apiVersion: "v1",
          kind: "Node",
          metadata: { name: this.name, labels: { "kubernetes.io/hostname": this.name, ...this.opts.labels } },
          // As the kubelet's --register-with-taints: set when the node registers, never after.
          ...(this.opts.taints?.length ? { spec: { taints: this.opts.taints } } : {}),
        },
      });
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
    }
    // A machine whose OS did not come up has no kubelet to report it Ready.
    await this.setStatus(version !== undefined, version ?? "unknown", randomUUID());
    await this.pods.start();
    if (version !== undefined) await this.startProxy();
  }

  private async startProxy(): Promise<void> {
    if (this.opts.proxy === false || this.stopped) return;
    // The pod's token survives a reboot, as the proxy Pod object does.
    this.proxyIdentity ??= this.opts.proxyKubeConfig?.() ?? Promise.resolve(this.opts.kubeConfig);
    const kubeConfig = await this.proxyIdentity;
    if (this.stopped) return;
    this.proxy = new NodeProxy({
      kubeConfig,
      nodeName: this.name,
      agent: this.opts.agent.client,
      log: this.opts.log ?? silentLogger,
      resyncMs: 2000,
    });
    await this.proxy.start();
  }

  /** Sets the Ready condition, osImage and bootID, as a kubelet's status update does. */
  async setStatus(ready: boolean, version: string, bootID?: string): Promise<void> {
    const now = new Date().toISOString();
    const node = await this.kube.request<V1Node>("GET", resourcePath(NODES, { name: this.name }));
    const nodeInfo = {
      machineID: this.name,
      systemUUID: this.name,
      bootID: bootID ?? node.status?.nodeInfo?.bootID ?? randomUUID(),
      kernelVersion: "6.1.0-lab",
      osImage: osImageOf(version),
      containerRuntimeVersion: "lab://1.0",
      kubeletVersion: "v1.34.0",
      kubeProxyVersion: "",
      operatingSystem: "linux",
      architecture: "amd64",
    };
    const condition = {
      type: "Ready",
      status: readyStatus(ready),
      reason: ready ? "KubeletReady" : "Rebooting",
      message: ready ? "lab node is ready" : "lab node is rebooting",
      lastHeartbeatTime: now,
      lastTransitionTime: now,
    };
    await this.kube.request("PATCH", resourcePath(NODES, { name: this.name, sub: "status" }), {
      body: {
        status: {
          conditions: [condition],
          nodeInfo,
          capacity: { cpu: "4", memory: "8Gi", pods: "110" },
          allocatable: { cpu: "4", memory: "8Gi", pods: "110" },
        },
      },
      contentType: "application/strategic-merge-patch+json",
    });
  }

  /** What a kubelet does for a pod bound here: run it, or finish its graceful deletion. */
  private async kubelet(pod: V1Pod): Promise<void> {
    const name = pod.metadata?.name ?? "";
    const namespace = pod.metadata?.namespace ?? "";
    try {
      if (pod.metadata?.deletionTimestamp) {
        // Containers stop within the grace period; the lab's stop at once (bounded at 1 s).
        await sleep(Math.min(1000, (pod.metadata.deletionGracePeriodSeconds ?? 0) * 1000));
        await this.kube.request("DELETE", resourcePath(PODS, { namespace, name }), {
          body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } },
        });
      } else if (pod.status?.phase !== "Running") {
        const now = new Date().toISOString();
        await this.kube.request("PATCH", resourcePath(PODS, { namespace, name, sub: "status" }), {
          body: {
            status: {
              phase: "Running",
              conditions: [{ type: "Ready", status: "True", lastTransitionTime: now }],
              startTime: now,
            },
          },
          contentType: "application/merge-patch+json",
        });
      }
    } catch (err) {
      if (!isStatus(err, 404, 409)) (this.opts.log ?? silentLogger).warn("lab kubelet failed", { pod: name, err });
    }
  }

  private async reboot(): Promise<void> {
    this.reboots++;
    const proxy = this.proxy;
    this.proxy = undefined;
    // The proxy dies with the machine: no new step starts (one in flight ends, its agent
    // calls failing once the power is gone).
    const stopping = proxy?.stop();
    await this.setStatus(false, this.opts.agent.runningVersion ?? "unknown");
    await this.opts.agent.powerOff();
    await stopping;
    await sleep(this.opts.rebootMs ?? 300);
    if (this.stopped) return;
    const version = await this.opts.agent.powerOn();
    // Nothing came up: the node stays NotReady, with no kubelet and no proxy.
    if (version === undefined) return;
    await this.setStatus(true, version, randomUUID());
    await this.startProxy();
  }

  /** Stops the proxy and the kubelet loop and disposes of the machine (the Node object stays). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.rebooting;
    await this.proxy?.stop();
    await this.pods.stop();
    await this.opts.agent.dispose();
    this.kube.close();
  }
}

function readyStatus(ready: boolean): "True" | "False" {
  return ready ? "True" : "False";
}
