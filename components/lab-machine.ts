// A lab machine as a real Pulumi resource: a dynamic provider that asks the local lab
// to start (and later remove) one lab node over a small JSON API on loopback. The lab
// node then behaves as a kubelet-run machine would: it registers its Node, runs its
// proxy and agent, and is upgraded in place by the controller, never by Pulumi.
//
// The lab's side of the API (`PUT/GET/DELETE /v1/nodes/<name>`):
//   PUT    body {version, digest, labels, taints} → 200 {name, bootedVersion, labels}; creates the
//          node booting `version` when it is absent, else only sets its labels
//   GET    → 200 {name, bootedVersion, labels}, or 404 when the node is gone
//   DELETE → 204, or 404 when already gone

import * as pulumi from "@pulumi/pulumi";
import type { NodeTaint } from "./ignition";

/** What the lab reports about one node. */
export interface LabNodeInfo {
  name: string;
  bootedVersion?: string;
  labels?: Record<string, string>;
}

/** Inputs of one {@link LabMachine}. */
export interface LabMachineInputs {
  /** Base URL of the lab's node API, `http://127.0.0.1:<port>`. */
  endpoint: pulumi.Input<string>;
  /** Node name. */
  nodeName: pulumi.Input<string>;
  /** Version the new node boots; ignored for an existing node (the controller upgrades it). */
  version: pulumi.Input<string>;
  /** Digest of that version. */
  digest: pulumi.Input<string>;
  /** Node labels. */
  labels: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Taints the new node registers with; ignored for an existing node (as a kubelet does). */
  taints?: pulumi.Input<pulumi.Input<NodeTaint>[]>;
}

interface PlainInputs {
  endpoint: string;
  nodeName: string;
  version: string;
  digest: string;
  labels: Record<string, string>;
  taints?: NodeTaint[];
}

/** One JSON request to the lab; resolves with the status and parsed body. Self-contained: the dynamic provider serializes it. */
export async function labRequest(endpoint: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const http = require("node:http") as typeof import("node:http");
  const url = new URL(path, endpoint);
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method, headers: data ? { "Content-Type": "application/json", "Content-Length": String(data.length) } : {}, timeout: 30_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {}
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out after 30s")));
    req.on("error", (err) => reject(new Error(`lab ${method} ${url.href}: ${err.message} (is the lab running? start it with npm start -- --keep)`)));
    req.end(data);
  });
}

/** The lab's `{error}` answer as a sentence (self-contained, like {@link labRequest}). */
export function labError(r: { status: number; body: unknown }): string {
  const e = (r.body as { error?: unknown } | undefined)?.error;
  return typeof e === "string" ? `${e} (HTTP ${r.status})` : `HTTP ${r.status} ${JSON.stringify(r.body)}`;
}

/** The dynamic provider of {@link LabMachine}. */
export const labMachineProvider: pulumi.dynamic.ResourceProvider = {
  async check(_olds: PlainInputs, news: PlainInputs) {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    if (!/^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\]):\d+\/?$/.test(String(news.endpoint)))
      failures.push({ property: "endpoint", reason: "the lab's node API must be a loopback http://127.0.0.1:<port> URL" });
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(String(news.nodeName))) failures.push({ property: "nodeName", reason: "must be a DNS label" });
    return { inputs: news, failures };
  },
  async diff(_id: string, olds: PlainInputs, news: PlainInputs) {
    // Version and digest matter only when a node is created: an existing node is
    // upgraded in place by the controller. Labels are set in place.
    const replaces = olds.endpoint !== news.endpoint || olds.nodeName !== news.nodeName ? ["nodeName"] : [];
    const changes = replaces.length > 0 || JSON.stringify(olds.labels) !== JSON.stringify(news.labels);
    return { changes, replaces, deleteBeforeReplace: true };
  },
  async create(inputs: PlainInputs) {
    const r = await labRequest(inputs.endpoint, "PUT", `/v1/nodes/${inputs.nodeName}`, {
      version: inputs.version,
      digest: inputs.digest,
      labels: inputs.labels,
      taints: inputs.taints ?? [],
    });
    if (r.status !== 200) throw new Error(`the lab refused node ${inputs.nodeName}: ${labError(r)}`);
    return { id: inputs.nodeName, outs: { ...inputs, bootedVersion: (r.body as LabNodeInfo).bootedVersion } };
  },
  async update(id: string, olds: PlainInputs, news: PlainInputs) {
    const r = await labRequest(news.endpoint, "PUT", `/v1/nodes/${id}`, { version: olds.version, digest: olds.digest, labels: news.labels });
    if (r.status !== 200) throw new Error(`the lab refused the labels of node ${id}: ${labError(r)}`);
    return { outs: { ...news, version: olds.version, digest: olds.digest, bootedVersion: (r.body as LabNodeInfo).bootedVersion } };
  },
  async read(id: string, props: PlainInputs & { bootedVersion?: string }) {
    const r = await labRequest(props.endpoint, "GET", `/v1/nodes/${id}`);
    if (r.status === 404) return { id: "", props: {} };
    if (r.status !== 200) throw new Error(`reading lab node ${id} failed: ${labError(r)}`);
    const info = r.body as LabNodeInfo;
    return { id, props: { ...props, labels: info.labels ?? props.labels, bootedVersion: info.bootedVersion } };
  },
  async delete(id: string, props: PlainInputs) {
    const r = await labRequest(props.endpoint, "DELETE", `/v1/nodes/${id}`);
    if (r.status !== 204 && r.status !== 404) throw new Error(`the lab could not remove node ${id}: ${labError(r)}`);
  },
};

/** One lab node, created and removed through the engine. */
export class LabMachine extends pulumi.dynamic.Resource {
  /** The version the node booted when last read (the controller changes it, not Pulumi). */
  declare readonly bootedVersion: pulumi.Output<string | undefined>;
  /** The node's name. */
  declare readonly nodeName: pulumi.Output<string>;

  constructor(name: string, args: LabMachineInputs, opts?: pulumi.CustomResourceOptions) {
    super(labMachineProvider, name, { ...args, bootedVersion: undefined }, opts, "twinroot", "LabMachine");
  }
}
