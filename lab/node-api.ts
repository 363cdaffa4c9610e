// The lab's node API: what the `lab` backend of NodePool (components/lab-machine.ts)
// talks to during `pulumi up`, so lab machines are created and removed through the real
// engine as OpenStack instances would be. A machine, once created, belongs to the lab:
// a PUT for an existing node only sets its labels (image changes reach it through the
// controller, never through Pulumi), and a DELETE powers it off and removes its Node.
//
//   PUT    /v1/nodes/<name>  {version, digest, labels, taints} → 200 {name, bootedVersion, labels}
//   GET    /v1/nodes/<name>  → 200 {name, bootedVersion, labels} | 404
//   DELETE /v1/nodes/<name>  → 204 | 404
//   GET    /v1/nodes         → 200 [{name, bootedVersion, labels}]
//
// Errors are JSON `{error}` with a message that says what to fix; the dynamic provider
// shows it as the resource's error.

import http from "node:http";
import type { AddressInfo } from "node:net";
import type { KubeConfig } from "@kubernetes/client-node";
import { type NodeTaint, taintProblem } from "../components/ignition";
import type { Logger } from "../controller/kube/log";
import { NODES, resourcePath } from "../controller/kube/resources";
import { isStatus, Kube } from "../controller/kube/rest";
import type { LabNode, LabNodeAgent } from "./nodes/lab-node";

/** What the API reports of one node (`LabNodeInfo` of components/lab-machine.ts). */
export interface NodeInfo {
  name: string;
  bootedVersion?: string;
  labels: Record<string, string>;
}

/** A PUT's body. */
export interface MachineRequest {
  version: string;
  digest: string;
  labels: Record<string, string>;
  /** Taints a new node registers with. */
  taints: NodeTaint[];
}

/** Thrown by a {@link MachineFactory} for a request the lab cannot serve; answered with 400. */
export class BadMachineRequest extends Error {}

/** A lab node and the machine under it. */
export interface LabMachineNode {
  node: LabNode;
  machine: LabNodeAgent;
}

/** Creates the lab node of a PUT for a name the lab does not have yet (started, Node registered). */
export type MachineFactory = (name: string, req: MachineRequest) => Promise<LabMachineNode>;

/** Options of {@link startNodeApi}. */
export interface NodeApiOptions {
  kubeConfig: KubeConfig;
  create: MachineFactory;
  log: Logger;
  /** Loopback port. Default: any free one. */
  port?: number;
}

/** A running node API and the nodes it made. */
export interface NodeApi {
  /** `http://127.0.0.1:<port>`, the `lab.endpoint` of the local program. */
  readonly endpoint: string;
  readonly nodes: ReadonlyMap<string, LabMachineNode>;
  /** Called after a node was created or removed. */
  onChange?: (event: "created" | "removed", name: string) => void;
  /** Stops the server and every node it created (their Node objects stay). */
  close(): Promise<void>;
}

const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => {
      body += c;
      if (body.length > 1 << 20) req.destroy(new Error("request body over 1 MiB"));
    });
    req.on("end", () => resolve(body));
    req.on("error", reject);
  });
}

function parseRequest(body: string): MachineRequest {
  let b: Partial<MachineRequest>;
  try {
    b = JSON.parse(body) as Partial<MachineRequest>;
  } catch {
    throw new BadMachineRequest("the body is not JSON");
  }
  if (typeof b.version !== "string" || !b.version) throw new BadMachineRequest("version: give the OS version the new machine boots");
  if (typeof b.digest !== "string" || !/^[0-9a-f]{64}$/.test(b.digest))
    throw new BadMachineRequest("digest: give the image's SHA-256 as 64 lower-case hex characters");
  const labels = b.labels ?? {};
  if (typeof labels !== "object" || Object.values(labels).some((v) => typeof v !== "string")) throw new BadMachineRequest("labels: give an object of strings");
  const taints = b.taints ?? [];
  if (!Array.isArray(taints)) throw new BadMachineRequest("taints: give a list of {key, value, effect}");
  for (const [i, t] of taints.entries()) {
    const why = taintProblem(t);
    if (why) throw new BadMachineRequest(`taints[${i}]: ${why}`);
  }
  return { version: b.version, digest: b.digest, labels, taints };
}

/** Starts the node API on loopback. */
export async function startNodeApi(o: NodeApiOptions): Promise<NodeApi> {
  const kube = new Kube(o.kubeConfig, undefined, "lab-node-api");
  const nodes = new Map<string, LabMachineNode>();
  // A name being created or removed: requests for it wait for that to finish, so a
  // retried PUT never starts a second machine of the same name.
  const busy = new Map<string, Promise<unknown>>();
  const labels = new Map<string, Record<string, string>>();

  const info = (name: string, n: LabMachineNode): NodeInfo => ({ name, bootedVersion: n.machine.runningVersion, labels: labels.get(name) ?? {} });

  const serialized = <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const prev = busy.get(name) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => undefined);
    busy.set(name, settled);
    void settled.then(() => {
      if (busy.get(name) === settled) busy.delete(name);
    });
    return next;
  };

  const api: NodeApi = {
    endpoint: "",
    nodes,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await Promise.all([...busy.values()]);
      await Promise.all([...nodes.values()].map((n) => n.node.stop()));
      nodes.clear();
      kube.close();
    },
  };

  const put = (name: string, req: MachineRequest) =>
    serialized(name, async (): Promise<NodeInfo> => {
      const have = nodes.get(name);
      if (have) {
        // Labels only: the machine keeps the OS it has (the controller upgrades it).
        await kube.request("PATCH", resourcePath(NODES, { name }), { body: { metadata: { labels: req.labels } }, contentType: "application/merge-patch+json" });
        labels.set(name, req.labels);
        return info(name, have);
      }
      const created = await o.create(name, req);
      nodes.set(name, created);
      labels.set(name, req.labels);
      o.log.info("lab machine created", { node: name, version: req.version });
      api.onChange?.("created", name);
      return info(name, created);
    });

  const remove = (name: string) =>
    serialized(name, async (): Promise<boolean> => {
      const have = nodes.get(name);
      if (!have) return false;
      await have.node.stop();
      nodes.delete(name);
      labels.delete(name);
      await kube.request("DELETE", resourcePath(NODES, { name })).catch((err) => (isStatus(err, 404) ? undefined : Promise.reject(err)));
      o.log.info("lab machine removed", { node: name });
      api.onChange?.("removed", name);
      return true;
    });

  const server = http.createServer((req, res) => {
    const send = (status: number, payload?: unknown) => {
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(payload === undefined ? "" : JSON.stringify(payload));
    };
    void (async () => {
      const url = new URL(req.url ?? "/", "http://lab");
      if (url.pathname === "/v1/nodes" && req.method === "GET")
        return send(
          200,
          [...nodes].map(([n, x]) => info(n, x)),
        );
      const m = /^\/v1\/nodes\/([^/]+)$/.exec(url.pathname);
      if (!m) return send(404, { error: `no such path ${url.pathname}: use /v1/nodes/<name>` });
      const name = decodeURIComponent(m[1] as string);
      if (!NAME.test(name)) return send(400, { error: `node name ${JSON.stringify(name)} is not a DNS label` });
      if (req.method === "PUT") return send(200, await put(name, parseRequest(await readBody(req))));
      if (req.method === "GET") {
        await busy.get(name);
        const have = nodes.get(name);
        return have ? send(200, info(name, have)) : send(404, { error: `no lab node ${name}` });
      }
      if (req.method === "DELETE") return (await remove(name)) ? send(204) : send(404, { error: `no lab node ${name}` });
      return send(405, { error: `${req.method} is not supported: use PUT, GET or DELETE` });
    })().catch((err: Error) => {
      if (err instanceof BadMachineRequest) return send(400, { error: err.message });
      o.log.error("lab node API request failed", { method: req.method, url: req.url, err: err.message });
      send(500, { error: err.message });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `lab node API: cannot listen on 127.0.0.1:${o.port ?? 0}: ${err.code === "EADDRINUSE" ? "the port is in use (is another lab running?)" : err.message}`,
        ),
      ),
    );
    server.listen(o.port ?? 0, "127.0.0.1", resolve);
  });
  (api as { endpoint: string }).endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return api;
}
