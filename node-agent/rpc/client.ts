// A small typed client for the agent's socket: the CLI uses it, and so can the proxy.

import net from "node:net";
import { type AgentErrorCode, type Method, type MethodMap, PROTOCOL_VERSION, type RpcErrorObject } from "./protocol";

/** An error answer from the agent. */
export class RpcError extends Error {
  constructor(
    readonly rpcCode: number,
    readonly code: AgentErrorCode | undefined,
    message: string,
  ) {
    super(message);
    this.name = "RpcError";
  }
}

/** Calls one method on the agent at `socketPath` and returns its result. */
export function call<M extends Method>(socketPath: string, method: M, params: MethodMap[M]["params"] = {}, timeoutMs = 0): Promise<MethodMap[M]["result"]> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    let buf = "";
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      sock.destroy();
      fn();
    };
    if (timeoutMs > 0) sock.setTimeout(timeoutMs, () => finish(() => reject(new Error(`rpc: ${method}: no answer in ${timeoutMs} ms`))));
    sock.setEncoding("utf8");
    sock.on("connect", () => sock.write(`${JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: { protocol: PROTOCOL_VERSION, ...params } })}\n`));
    sock.on("data", (d: string) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl === -1) return;
      const res = JSON.parse(buf.slice(0, nl)) as { result?: unknown; error?: RpcErrorObject };
      if (res.error) {
        const e = res.error;
        finish(() => reject(new RpcError(e.code, e.data?.code, e.message)));
      } else finish(() => resolve(res.result as MethodMap[M]["result"]));
    });
    sock.on("error", (err) => finish(() => reject(new Error(`rpc: ${method}: ${socketPath}: ${err.message}`, { cause: err }))));
    sock.on("close", () => finish(() => reject(new Error(`rpc: ${method}: the agent closed the connection without an answer`))));
  });
}
