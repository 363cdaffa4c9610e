// The proxy's command line, one per node (DaemonSet). Environment: NODE_NAME (from the
// downward API, required), AGENT_SOCKET (default the agent's socket path).

import { DEFAULT_SOCKET_PATH } from "../../node-agent/rpc/protocol";
import { loadClusterConfig } from "../kube/config";
import { createLogger } from "../kube/log";
import { SocketAgentClient } from "./agent-client";
import { NodeProxy } from "./proxy";

async function main(): Promise<void> {
  const nodeName = process.env.NODE_NAME;
  if (!nodeName) throw new Error("NODE_NAME is not set (set it from spec.nodeName with the downward API)");
  const log = createLogger({ component: "twinroot-proxy", node: nodeName });
  const kc = loadClusterConfig("twinroot-proxy");
  const proxy = new NodeProxy({
    kubeConfig: kc,
    nodeName,
    agent: new SocketAgentClient(process.env.AGENT_SOCKET ?? DEFAULT_SOCKET_PATH),
    log,
  });
  await proxy.start();
  log.info("started");
  await new Promise<void>((resolve) => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => resolve());
  });
  await proxy.stop();
}

main().catch((err) => {
  createLogger({ component: "twinroot-proxy" }).error("fatal", { err, stack: (err as Error).stack });
  process.exitCode = 1;
});
