import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import * as k8s from "@kubernetes/client-node";
import { createPki, type Pki } from "./pki";
import { freePorts } from "./ports";
import { type ManagedProcess, startManaged } from "./process";
import { toolPath } from "./tools";

/** Options for {@link ControlPlane.start}. */
export interface ControlPlaneOptions {
  /** Directory for certs, etcd data, logs and the kubeconfig. Default: a new temp dir. */
  dir?: string;
  /** Keep `dir` after {@link ControlPlane.stop} (always kept when start fails). */
  keepDir?: boolean;
  /** Extra kube-apiserver flags, e.g. `["--feature-gates=..."]`. */
  apiserverArgs?: string[];
  /** How long to wait for etcd and then for `/readyz`. Default 120 s each. */
  readyTimeoutMs?: number;
  /**
   * Also run kube-controller-manager with these controllers, e.g.
   * {@link DELETION_CONTROLLERS}: without the garbage collector a foreground delete (the
   * kubernetes provider's default) never finishes and owned objects stay; without the
   * namespace controller a deleted namespace stays Terminating. Default: none (tests of
   * the API alone, where a controller-manager would only add work).
   */
  controllers?: readonly string[];
}

/**
 * The controllers that make deletion behave as in a real cluster: the garbage collector
 * (owner references, foreground and background propagation) and the namespace
 * controller (finalizing a deleted namespace). Node lifecycle, workload and scheduling
 * controllers stay off: lab nodes have no kubelet heartbeat and no containers run.
 */
export const DELETION_CONTROLLERS = ["garbage-collector-controller", "namespace-controller"] as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function get(url: string, opts: https.RequestOptions): Promise<{ status: number; body: string }> {
  const mod = url.startsWith("https:") ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.get(url, { ...opts, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

async function waitFor(what: string, proc: ManagedProcess, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) {
      throw new Error(`control plane: ${proc.name} exited with code ${proc.child.exitCode} before ${what}; last log lines:\n${proc.tail()}`);
    }
    try {
      if (await probe()) return;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(200);
  }
  throw new Error(`control plane: ${proc.name} not ${what} after ${timeoutMs / 1000}s (${last}); last log lines:\n${proc.tail()}`);
}

/**
 * A real etcd + kube-apiserver on loopback ports, with its own PKI and an admin
 * kubeconfig. Each instance is independent, so test files can run their own at once.
 */
export class ControlPlane {
  private stopped = false;

  private constructor(
    /** Working directory (certs, data, logs, kubeconfig). */
    readonly dir: string,
    /** HTTPS URL of the API server. */
    readonly server: string,
    /** Path of the admin kubeconfig. */
    readonly kubeconfigPath: string,
    /** The PKI files; tests issue other identities from its CA. */
    readonly pki: Pki,
    private readonly etcd: ManagedProcess,
    private readonly apiserver: ManagedProcess,
    private readonly controllerManager: ManagedProcess | undefined,
    private readonly keepDir: boolean,
  ) {}

  /** Starts etcd and kube-apiserver and resolves once `/readyz` answers ok. */
  static async start(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const etcdBin = toolPath("etcd");
    const apiserverBin = toolPath("kube-apiserver");
    const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-cp-"));
    fs.mkdirSync(dir, { recursive: true });
    const timeout = opts.readyTimeoutMs ?? 120_000;
    const pki = createPki(path.join(dir, "pki"));
    // Ports are picked and then released before the servers bind them; a collision with
    // another control plane starting at the same instant is retried with fresh ports.
    for (let attempt = 1; ; attempt++) {
      const [etcdClient, etcdPeer, apiPort] = (await freePorts(3)) as [number, number, number];
      const etcdUrl = `http://127.0.0.1:${etcdClient}`;
      const etcd = startManaged(
        "etcd",
        etcdBin,
        [
          "--name=lab",
          `--data-dir=${path.join(dir, `etcd-${attempt}`)}`,
          `--listen-client-urls=${etcdUrl}`,
          `--advertise-client-urls=${etcdUrl}`,
          `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
          `--initial-cluster=lab=http://127.0.0.1:${etcdPeer}`,
          "--listen-metrics-urls=",
          "--quota-backend-bytes=4294967296",
          "--log-level=warn",
          // Tests do not need durability across power loss; fsync per write slows a
          // 5,000-node benchmark for nothing.
          "--unsafe-no-fsync",
        ],
        path.join(dir, "etcd.log"),
      );
      let apiserver: ManagedProcess | undefined;
      try {
        await waitFor("healthy", etcd, timeout, async () => {
          const r = await get(`${etcdUrl}/health`, {});
          return r.status === 200 && r.body.includes('"true"');
        });
        apiserver = startManaged(
          "kube-apiserver",
          apiserverBin,
          [
            `--etcd-servers=${etcdUrl}`,
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            `--secure-port=${apiPort}`,
            `--tls-cert-file=${pki.serverCert}`,
            `--tls-private-key-file=${pki.serverKey}`,
            `--client-ca-file=${pki.caCert}`,
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            `--service-account-key-file=${pki.saPub}`,
            `--service-account-signing-key-file=${pki.saKey}`,
            "--api-audiences=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--authorization-mode=Node,RBAC",
            "--allow-privileged=true",
            "--profiling=false",
            // With a loopback advertise address the endpoint reconciler logs an error every
            // 10 s ("may not be in the loopback range"); the lab has no in-cluster clients.
            "--endpoint-reconciler-type=none",
            `--cert-dir=${path.join(dir, "apiserver-certs")}`,
            ...(opts.apiserverArgs ?? []),
          ],
          path.join(dir, "kube-apiserver.log"),
        );
        const server = `https://127.0.0.1:${apiPort}`;
        const tls = { ca: fs.readFileSync(pki.caCert), cert: fs.readFileSync(pki.adminCert), key: fs.readFileSync(pki.adminKey) };
        await waitFor("ready", apiserver, timeout, async () => {
          const r = await get(`${server}/readyz`, tls);
          return r.status === 200;
        });
        const kubeconfigPath = path.join(dir, "kubeconfig");
        fs.writeFileSync(kubeconfigPath, kubeconfigYaml(server, pki), { mode: 0o600 });
        const controllerManager = opts.controllers?.length
          ? startManaged(
              "kube-controller-manager",
              toolPath("kube-controller-manager"),
              [
                `--kubeconfig=${kubeconfigPath}`,
                `--controllers=${opts.controllers.join(",")}`,
                "--leader-elect=false",
                // No serving port: nothing scrapes it, and a port is one more to collide.
                "--secure-port=0",
                "--use-service-account-credentials=false",
                "--profiling=false",
              ],
              path.join(dir, "kube-controller-manager.log"),
            )
          : undefined;
        return new ControlPlane(dir, server, kubeconfigPath, pki, etcd, apiserver, controllerManager, opts.keepDir ?? false);
      } catch (err) {
        await apiserver?.stop();
        await etcd.stop();
        const msg = `${(err as Error).message}`;
        if (attempt < 3 && /address already in use/.test(msg + (apiserver?.tail() ?? "") + etcd.tail())) continue;
        throw new Error(`${msg}\n(control plane files kept in ${dir})`, { cause: err });
      }
    }
  }

  /** A client-node KubeConfig for the admin identity. */
  kubeConfig(): k8s.KubeConfig {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    return kc;
  }

  /** The kubeconfig file's contents (YAML), e.g. for a Pulumi provider. */
  kubeconfig(): string {
    return fs.readFileSync(this.kubeconfigPath, "utf8");
  }

  /** Stops the controller-manager, kube-apiserver, then etcd, and removes the working directory. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.controllerManager?.stop();
    await this.apiserver.stop();
    await this.etcd.stop();
    if (!this.keepDir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** An admin kubeconfig with the certificates embedded, so it can be copied anywhere. */
function kubeconfigYaml(server: string, pki: Pki): string {
  const b64 = (f: string) => fs.readFileSync(f).toString("base64");
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: lab",
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority-data: ${b64(pki.caCert)}`,
    "users:",
    "- name: admin",
    "  user:",
    `    client-certificate-data: ${b64(pki.adminCert)}`,
    `    client-key-data: ${b64(pki.adminKey)}`,
    "contexts:",
    "- name: lab",
    "  context:",
    "    cluster: lab",
    "    user: admin",
    "current-context: lab",
    "",
  ].join("\n");
}
