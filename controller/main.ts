// The controller's command line: `node controller/main.ts` in the cluster (in-cluster
// config) or with KUBECONFIG set. Configuration comes from the environment:
// POD_NAMESPACE (Lease and Events, default `default`), POD_NAME (Lease identity),
// HEALTH_PORT (default 8080), HEALTH_HOST (default 0.0.0.0 in a pod).

import { KubeConfig } from "@kubernetes/client-node";
import { createLogger } from "./kube/log";
import { Controller } from "./manager";

async function main(): Promise<void> {
  const log = createLogger({ component: "twinroot-controller" });
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const controller = new Controller({
    kubeConfig: kc,
    namespace: process.env.POD_NAMESPACE ?? "default",
    healthPort: Number(process.env.HEALTH_PORT ?? 8080),
    healthHost: process.env.HEALTH_HOST ?? "0.0.0.0",
    log,
  });
  await controller.start();
  log.info("started", { health: controller.healthUrl });
  await new Promise<void>((resolve) => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => resolve());
  });
  log.info("stopping");
  await controller.stop();
}

main().catch((err) => {
  createLogger({ component: "twinroot-controller" }).error("fatal", { err, stack: (err as Error).stack });
  process.exitCode = 1;
});
