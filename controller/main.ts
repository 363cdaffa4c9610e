// The controller's command line: `node controller/main.ts` in the cluster (in-cluster
// config) or with KUBECONFIG set. Configuration comes from the environment:
// POD_NAMESPACE (Lease and Events, default `default`), POD_NAME (Lease identity),
// HEALTH_PORT (default 8080), HEALTH_HOST (default 0.0.0.0 in a pod), and the leader
// election timings LEASE_DURATION, RENEW_DEADLINE and RETRY_PERIOD as durations such as
// `15s` or `500ms` (defaults 15s, 10s, 2s, as kube-controller-manager's).

import { parseDuration } from "./api/duration";
import { loadClusterConfig } from "./kube/config";
import { createLogger } from "./kube/log";
import { Controller } from "./manager";

/** Milliseconds of the duration in environment variable `name` (`250ms`, `2s`, `1m`), or undefined when unset. */
function envDuration(name: string): number | undefined {
  const text = process.env[name];
  if (!text) return undefined;
  const ms = /^(\d+)ms$/.exec(text);
  try {
    return ms ? Number(ms[1]) : parseDuration(text);
  } catch (err) {
    throw new Error(`${name}: ${(err as Error).message}`, { cause: err });
  }
}

async function main(): Promise<void> {
  const log = createLogger({ component: "twinroot-controller" });
  const kc = loadClusterConfig("twinroot-controller");
  const controller = new Controller({
    kubeConfig: kc,
    namespace: process.env.POD_NAMESPACE ?? "default",
    healthPort: Number(process.env.HEALTH_PORT ?? 8080),
    healthHost: process.env.HEALTH_HOST ?? "0.0.0.0",
    leaseDurationMs: envDuration("LEASE_DURATION"),
    renewDeadlineMs: envDuration("RENEW_DEADLINE"),
    retryPeriodMs: envDuration("RETRY_PERIOD"),
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
