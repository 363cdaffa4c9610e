// The proxy's view of the node agent: one method per JSON-RPC operation of
// node-agent/rpc/protocol.ts (the one home of the message types), and the real client
// that speaks it over the agent's Unix socket.

import net from "node:net";
import {
  type ActivateParams,
  type ActivateResult,
  type AgentErrorCode,
  type CommitParams,
  type CommitResult,
  type Method,
  type MethodMap,
  PROTOCOL_VERSION,
  type RebootResult,
  type RollbackResult,
  type RpcResponse,
  type StageParams,
  type StageResult,
  type StatusResult,
} from "../../node-agent/rpc/protocol";

/** The agent operations the proxy uses. */
export interface AgentClient {
  status(): Promise<StatusResult>;
  /** Downloads, verifies and writes the image into the inactive slot (idempotent for the same digest). */
  stage(params: StageParams): Promise<StageResult>;
  /** Makes the staged slot boot next, with boot counting. */
  activate(params?: ActivateParams): Promise<ActivateResult>;
  /** Reboots the node once the answer is sent. */
  reboot(): Promise<RebootResult>;
  /** Runs the agent's health checks and marks the booted slot good. */
  commit(params?: CommitParams): Promise<CommitResult>;
  /** Makes the other good slot boot next. */
  rollback(): Promise<RollbackResult>;
}

/** An error the agent answered with; `code` is the agent's reason (`health-check-failed`, …) or `rpc`. */
export class AgentCallError extends Error {
  constructor(
    readonly method: Method,
    readonly code: AgentErrorCode | "rpc" | "transport",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`agent ${method}: ${message}`, options);
    this.name = "AgentCallError";
  }
}

/** Talks JSON-RPC 2.0 to the agent over its Unix socket, one connection per call. */
export class SocketAgentClient implements AgentClient {
  private id = 0;

  constructor(
    readonly socketPath: string,
    /** Longest time one call may take (staging a large image takes long). Default 1 h. */
    private readonly timeoutMs = 3_600_000,
  ) {}

  private call<M extends Method>(method: M, params: Omit<MethodMap[M]["params"], "protocol">): Promise<MethodMap[M]["result"]> {
    const id = ++this.id;
    const request = `${JSON.stringify({ jsonrpc: "2.0", id, method, params: { ...params, protocol: PROTOCOL_VERSION } })}\n`;
    return new Promise((resolve, reject) => {
      const sock = net.createConnection(this.socketPath);
      let buf = "";
      const fail = (err: Error) => {
        sock.destroy();
        reject(err);
      };
      sock.setTimeout(this.timeoutMs, () => fail(new AgentCallError(method, "transport", `no answer within ${this.timeoutMs} ms`)));
      sock.on("connect", () => sock.write(request));
      sock.on("error", (err) => fail(new AgentCallError(method, "transport", err.message, { cause: err })));
      // An agent that dies after reading the request closes the socket without an error;
      // without this the call would wait forever (after an answer, the reject is a no-op).
      sock.on("close", () => fail(new AgentCallError(method, "transport", "the agent closed the connection without an answer")));
      sock.on("data", (d) => {
        buf += d.toString("utf8");
        const nl = buf.indexOf("\n");
        if (nl < 0) return;
        sock.end();
        let res: RpcResponse;
        try {
          res = JSON.parse(buf.slice(0, nl)) as RpcResponse;
        } catch (err) {
          return reject(new AgentCallError(method, "rpc", `unparsable answer: ${buf.slice(0, 200)}`, { cause: err }));
        }
        if ("error" in res) reject(new AgentCallError(method, res.error.data?.code ?? "rpc", res.error.message));
        else resolve(res.result as MethodMap[M]["result"]);
      });
    });
  }

  status(): Promise<StatusResult> {
    return this.call("status", {});
  }
  stage(params: StageParams): Promise<StageResult> {
    return this.call("stage", params);
  }
  activate(params: ActivateParams = {}): Promise<ActivateResult> {
    return this.call("activate", params);
  }
  reboot(): Promise<RebootResult> {
    return this.call("reboot", {});
  }
  commit(params: CommitParams = {}): Promise<CommitResult> {
    return this.call("commit", params);
  }
  rollback(): Promise<RollbackResult> {
    return this.call("rollback", {});
  }
}
