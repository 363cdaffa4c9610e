// JSON-RPC 2.0 over a Unix socket, one JSON text per line (batches included). The socket
// is created mode 0600 in a 0700 directory: only root talks to the agent.

import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { AgentError } from "../errors";
import { METHODS, type Method, PROTOCOL_VERSION, RPC_ERRORS, type RpcErrorObject, type RpcRequest, type RpcResponse } from "./protocol";

/** What the server calls: one handler per method. */
export type Handlers = { [M in Method]: (params: Record<string, unknown>) => Promise<unknown> | unknown };

function errorObject(err: unknown): RpcErrorObject {
  if (err instanceof AgentError) {
    return { code: err.code === "invalid-params" ? RPC_ERRORS.invalidParams : RPC_ERRORS.agentError, message: err.message, data: { code: err.code } };
  }
  return { code: RPC_ERRORS.internalError, message: err instanceof Error ? err.message : String(err), data: { code: "internal" } };
}

async function handleOne(req: unknown, handlers: Handlers): Promise<RpcResponse | undefined> {
  const r = req as Partial<RpcRequest> | null;
  const id = r && (typeof r.id === "string" || typeof r.id === "number") ? r.id : null;
  if (!r || typeof r !== "object" || r.jsonrpc !== "2.0" || typeof r.method !== "string") {
    return { jsonrpc: "2.0", id, error: { code: RPC_ERRORS.invalidRequest, message: "invalid request" } };
  }
  const isNotification = !("id" in r);
  const respond = (res: RpcResponse) => (isNotification ? undefined : res);
  if (!(METHODS as readonly string[]).includes(r.method)) {
    return respond({ jsonrpc: "2.0", id, error: { code: RPC_ERRORS.methodNotFound, message: `no method ${r.method}` } });
  }
  const params = r.params ?? {};
  if (typeof params !== "object" || Array.isArray(params)) {
    return respond({ jsonrpc: "2.0", id, error: { code: RPC_ERRORS.invalidParams, message: "params must be an object" } });
  }
  const p = params as Record<string, unknown>;
  if (p.protocol !== undefined && p.protocol !== PROTOCOL_VERSION) {
    return respond({
      jsonrpc: "2.0",
      id,
      error: { code: RPC_ERRORS.protocolMismatch, message: `protocol ${String(p.protocol)} is not supported; this agent speaks ${PROTOCOL_VERSION}` },
    });
  }
  try {
    const result = await handlers[r.method as Method](p);
    return respond({ jsonrpc: "2.0", id, result });
  } catch (err) {
    return respond({ jsonrpc: "2.0", id, error: errorObject(err) });
  }
}

/** Handles one line: a request or a batch. Returns the line to send back, if any. */
export async function handleLine(line: string, handlers: Handlers): Promise<string | undefined> {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch {
    return JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: RPC_ERRORS.parseError, message: "parse error" } });
  }
  if (Array.isArray(msg)) {
    if (msg.length === 0) return JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: RPC_ERRORS.invalidRequest, message: "empty batch" } });
    const out = (await Promise.all(msg.map((m) => handleOne(m, handlers)))).filter((x) => x !== undefined);
    return out.length ? JSON.stringify(out) : undefined;
  }
  const res = await handleOne(msg, handlers);
  return res && JSON.stringify(res);
}

/** Removes a socket file nobody listens on (left by a crashed agent); refuses to steal a live one. */
async function clearStaleSocket(socketPath: string): Promise<void> {
  if (!fs.existsSync(socketPath)) return;
  const live = await new Promise<boolean>((resolve) => {
    const c = net.connect(socketPath);
    c.once("connect", () => {
      c.destroy();
      resolve(true);
    });
    c.once("error", () => resolve(false));
  });
  if (live) throw new AgentError("busy", `rpc: another agent is listening on ${socketPath}`);
  fs.unlinkSync(socketPath);
}

/** Serves `handlers` on `socketPath` until the returned close function is called. */
export async function serve(socketPath: string, handlers: Handlers): Promise<{ server: net.Server; close: () => Promise<void> }> {
  fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });
  await clearStaleSocket(socketPath);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => {});
    sock.setEncoding("utf8");
    let buf = "";
    sock.on("data", (data: string) => {
      buf += data;
      for (let nl = buf.indexOf("\n"); nl !== -1; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        void handleLine(line, handlers).then((out) => {
          if (out !== undefined && !sock.destroyed) sock.write(`${out}\n`);
        });
      }
    });
  });
  // The socket is created with the process umask; narrow it before anyone can connect.
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(socketPath, () => resolve());
    });
  } finally {
    process.umask(oldMask);
  }
  fs.chmodSync(socketPath, 0o600);
  return {
    server,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
