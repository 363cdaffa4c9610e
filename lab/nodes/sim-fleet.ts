// Simulated nodes for the controller benchmark: thousands of Node and OsNode objects on a
// real API server, and one process playing every node's proxy and kubelet. It follows
// each target the controller writes through the phases a real node goes through, with
// the same writes (OsNode status per phase; cordon, NotReady, Ready with the new
// osImage, uncordon on the Node), so the controller sees the event stream of a real
// fleet. There is no agent and no disk: this exists so a 5,000-node rollout fits on one
// machine, and only the benchmark uses it (tests use LabNode with real proxies).

import type { KubeConfig, V1Node } from "@kubernetes/client-node";
import { API_VERSION, type OsNode, type OsNodePhase, type OsNodeStatus } from "../../controller/api/types";
import { sleep } from "../../controller/kube/backoff";
import { Informer } from "../../controller/kube/informer";
import { type Logger, silentLogger } from "../../controller/kube/log";
import { NODES, OSNODES, resourcePath } from "../../controller/kube/resources";
import { Kube } from "../../controller/kube/rest";
import { osImageOf } from "./lab-node";

/** Options of a {@link SimFleet}. */
export interface SimFleetOptions {
  kubeConfig: KubeConfig;
  count: number;
  /** The version every node runs at first. */
  version: string;
  digest: string;
  /** Node name prefix, also the `twinroot.dev/pool` label. */
  prefix: string;
  /** Time each phase of an upgrade takes. Default 100 ms. */
  phaseMs?: number;
  /** Requests in flight while registering the fleet. Default 16. */
  registerConcurrency?: number;
  log?: Logger;
}

/** When one node's upgrade began (its target was seen) and ended (its Done status was stored), in ms since the epoch. */
export interface SimTransition {
  node: string;
  version: string;
  startedAt: number;
  doneAt?: number;
}

const MERGE = "application/merge-patch+json";
const STRATEGIC = "application/strategic-merge-patch+json";

/** Runs `fn` over `items` with at most `limit` calls in flight. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** A simulated fleet. */
export class SimFleet {
  readonly kube: Kube;
  /** Every upgrade, in the order they began. */
  readonly transitions: SimTransition[] = [];
  /** Round trips of the fleet's OsNode status writes during upgrades, in ms: the API server's responsiveness. */
  readonly writeMs: number[] = [];
  private readonly osNodes: Informer<OsNode>;
  private readonly booted = new Map<string, { version: string; digest: string }>();
  private readonly running = new Set<string>();
  private stopped = false;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly opts: SimFleetOptions) {
    this.kube = new Kube(opts.kubeConfig, undefined, "sim-fleet");
    this.osNodes = new Informer<OsNode>(this.kube, OSNODES, { log: opts.log ?? silentLogger, labelSelector: `twinroot.dev/pool=${opts.prefix}` });
    this.osNodes.on((ev, o) => {
      if (ev !== "delete") this.consider(o);
    });
  }

  /** Names of the nodes. */
  get names(): string[] {
    return Array.from({ length: this.opts.count }, (_, i) => `${this.opts.prefix}-${String(i).padStart(5, "0")}`);
  }

  /** Registers every Node (Ready, booted on the first version) and its OsNode, as kubelets and proxies would. */
  async register(): Promise<void> {
    const { version, digest, prefix } = this.opts;
    await pool(this.names, this.opts.registerConcurrency ?? 16, async (name) => {
      const labels = { "kubernetes.io/hostname": name, "twinroot.dev/pool": prefix, "topology.kubernetes.io/zone": `z${name.charCodeAt(name.length - 1) % 3}` };
      await this.kube.request("POST", resourcePath(NODES), { body: { apiVersion: "v1", kind: "Node", metadata: { name, labels } } });
      await this.setNode(name, { ready: true, version });
      const created = await this.kube.request<OsNode>("POST", resourcePath(OSNODES), {
        body: { apiVersion: API_VERSION, kind: "OsNode", metadata: { name, labels: { "twinroot.dev/pool": prefix } }, spec: { nodeName: name } },
      });
      await this.kube.request("PUT", resourcePath(OSNODES, { name, sub: "status" }), {
        body: { ...created, status: this.slotStatus({ version, digest }, "Idle") },
      });
      this.booted.set(name, { version, digest });
    });
  }

  /** Starts following targets. */
  async start(): Promise<void> {
    await this.osNodes.start();
  }

  /** Stops following targets and waits for upgrades in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.osNodes.stop();
    await Promise.all(this.inFlight);
    this.kube.close();
  }

  private slotStatus(img: { version: string; digest: string }, phase: OsNodePhase): OsNodeStatus {
    return { phase, bootedSlot: "A", bootedVersion: img.version, bootedDigest: img.digest, phaseTime: new Date().toISOString() };
  }

  private consider(o: OsNode): void {
    const name = o.metadata.name ?? "";
    const target = o.spec.target?.image;
    const booted = this.booted.get(name);
    if (this.stopped || !target?.digest || !booted || this.running.has(name)) return;
    if (booted.version === target.version && booted.digest === target.digest) return;
    this.running.add(name);
    const t: SimTransition = { node: name, version: target.version, startedAt: Date.now() };
    this.transitions.push(t);
    const run = this.upgrade(name, { version: target.version, digest: target.digest }, o.spec.target?.rollout ?? "", t)
      .catch((err) => (this.opts.log ?? silentLogger).error("simulated upgrade failed", { node: name, err }))
      .finally(() => {
        this.running.delete(name);
        this.inFlight.delete(run);
      });
    this.inFlight.add(run);
  }

  private async setNode(name: string, s: { ready: boolean; version: string }): Promise<void> {
    const now = new Date().toISOString();
    await this.kube.request("PATCH", resourcePath(NODES, { name, sub: "status" }), {
      body: {
        status: {
          conditions: [
            {
              type: "Ready",
              status: s.ready ? "True" : "False",
              reason: s.ready ? "KubeletReady" : "Rebooting",
              message: "simulated",
              lastHeartbeatTime: now,
              lastTransitionTime: now,
            },
          ],
          nodeInfo: {
            machineID: name,
            systemUUID: name,
            bootID: `${name}-${s.version}`,
            kernelVersion: "6.1.0-sim",
            osImage: osImageOf(s.version),
            containerRuntimeVersion: "sim://1.0",
            kubeletVersion: "v1.34.0",
            kubeProxyVersion: "",
            operatingSystem: "linux",
            architecture: "amd64",
          },
        },
      },
      contentType: STRATEGIC,
    });
  }

  private cordon(name: string, value: boolean): Promise<V1Node> {
    return this.kube.request<V1Node>("PATCH", resourcePath(NODES, { name }), {
      body: { spec: { unschedulable: value ? true : null } },
      contentType: STRATEGIC,
    });
  }

  /** Merge-patches the status; a `null` field is removed. */
  private async phase(name: string, status: Omit<OsNodeStatus, "cordon"> & { cordon?: OsNodeStatus["cordon"] | null }): Promise<void> {
    const t0 = Date.now();
    await this.kube.request("PATCH", resourcePath(OSNODES, { name, sub: "status" }), { body: { status }, contentType: MERGE });
    this.writeMs.push(Date.now() - t0);
  }

  /** Staging → Draining (cordon) → Rebooting (NotReady) → Verifying (Ready on the new version) → Done (uncordon). */
  private async upgrade(name: string, img: { version: string; digest: string }, rollout: string, t: SimTransition): Promise<void> {
    const ms = this.opts.phaseMs ?? 100;
    const from = this.booted.get(name) as { version: string; digest: string };
    const operation = { rollout, version: img.version, digest: img.digest, startedAt: new Date(t.startedAt).toISOString(), fromSlot: "A" as const };
    await this.phase(name, { ...this.slotStatus(from, "Staging"), operation });
    await sleep(ms);
    await this.phase(name, { ...this.slotStatus(from, "Draining"), cordon: { preexisting: false, at: new Date().toISOString() } });
    await this.cordon(name, true);
    await sleep(ms);
    await this.phase(name, this.slotStatus(from, "Rebooting"));
    await this.setNode(name, { ready: false, version: from.version });
    await sleep(ms);
    this.booted.set(name, img);
    await this.setNode(name, { ready: true, version: img.version });
    await this.phase(name, this.slotStatus(img, "Verifying"));
    await sleep(ms);
    await this.cordon(name, false);
    await this.phase(name, { ...this.slotStatus(img, "Done"), cordon: null, completionTime: new Date().toISOString() });
    t.doneAt = Date.now();
  }
}
