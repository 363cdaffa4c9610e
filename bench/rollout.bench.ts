// rollout.makespan: a 12-node lab rollout from 1.0.0 to 1.1.0 with maxUnavailable 3 on
// the local lab's parts: a real API server, lab machines with real agents on loop-backed
// A/B disks (stage over HTTPS, activate, reboot through the boot selection, commit),
// their proxies, and the controller as its own process. The baseline is the ideal
// schedule measured in the same run: the sum of every node's own upgrade time (from the
// controller's target reaching it to Done, as an outside watch sees both) divided by 3, the
// time the rollout would take if the controller lost nothing between one node finishing
// and the next starting. The ratio is the schedule's overhead (target: under 1.10).
// TWINROOT_BENCH_ROLLOUT_NODES and TWINROOT_BENCH_ROLLOUT_MAX_UNAVAILABLE change the sizes.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { waitForRollout } from "../components/rollout-wait";
import { API_VERSION, type OsRollout } from "../controller/api/types";
import { installCrds } from "../controller/kube/install";
import { createLogger } from "../controller/kube/log";
import { ROLLOUTS, resourcePath } from "../controller/kube/resources";
import { Kube } from "../controller/kube/rest";
import { ControlPlane } from "../lab/harness/control-plane";
import { bundleController, startControllerProcess } from "../lab/nodes/controller-process";
import { startDiskLab } from "../lab/nodes/disk-lab";
import { startFleet } from "../lab/nodes/fleet";
import { RolloutObserver } from "../lab/observe";
import { figure, median, report } from "./figures";

const NODES = Number(process.env.TWINROOT_BENCH_ROLLOUT_NODES ?? 12);
const MAX_UNAVAILABLE = Number(process.env.TWINROOT_BENCH_ROLLOUT_MAX_UNAVAILABLE ?? 3);
const log = createLogger({ component: "bench.rollout" }, "warn");

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-bench-rollout-"));
  const cp = await ControlPlane.start({ dir: path.join(dir, "control-plane") });
  const kube = new Kube(cp.kubeConfig(), undefined, "bench-rollout");
  const disks = await startDiskLab({ dir: path.join(dir, "disks") });
  let fleet: Awaited<ReturnType<typeof startFleet>> | undefined;
  let controller: Awaited<ReturnType<typeof startControllerProcess>> | undefined;
  const observer = new RolloutObserver(kube, log);
  try {
    await installCrds(kube);
    fleet = await startFleet({ kubeConfig: cp.kubeConfig(), count: NODES, agents: "real", disks, prefix: "bench", log });
    controller = await startControllerProcess({
      bundle: await bundleController(dir),
      kubeconfigPath: cp.kubeconfigPath,
      identity: "bench",
      namespace: "default",
      logFile: path.join(dir, "controller.log"),
    });
    await controller.waitForLog("became leader");
    await observer.start();
    const load = os.loadavg()[0] as number;
    const t0 = Date.now();
    const created = await kube.request<OsRollout>("POST", resourcePath(ROLLOUTS), {
      body: {
        apiVersion: API_VERSION,
        kind: "OsRollout",
        metadata: { name: "bench" },
        spec: { image: disks.image("1.1.0"), maxUnavailable: MAX_UNAVAILABLE, nodeSelector: { matchLabels: { "twinroot.dev/pool": "bench" } } },
      },
    });
    // Complete for this generation, or an error with the controller's reason.
    await waitForRollout(kube, { name: "bench", generation: created.metadata.generation ?? 1, timeoutMs: 30 * 60_000, pollMs: 200 });
    const seen = observer.observation;
    // Each node's own time: from the controller's target reaching it (as the watch sees the
    // target write) to its Done. Its proxy's reaction is the node's work; what lies between
    // one node's Done and the next target is the schedule's loss.
    const steps = new Map<string, { start: number; end?: number }>();
    for (const t of seen.targets) if (t.version === "1.1.0" && !steps.has(t.node)) steps.set(t.node, { start: t.at });
    for (const c of seen.phases) {
      const s = steps.get(c.node);
      if (s && c.to === "Done" && c.at >= s.start) s.end = c.at;
    }
    const durations = [...steps.values()].map((s) => ((s.end ?? Number.NaN) - s.start) / 1000);
    if (durations.length !== NODES || durations.some((d) => !Number.isFinite(d))) throw new Error(`saw ${durations.length} of ${NODES} nodes start and finish`);
    const lastDone = Math.max(...[...steps.values()].map((s) => s.end as number));
    // The schedule's losses: from the rollout's creation to the first start, and from each
    // node's Done to the start it made room for (paired in order).
    const starts = [...steps.values()].map((s) => s.start).sort((a, b) => a - b);
    const ends = [...steps.values()].map((s) => s.end as number).sort((a, b) => a - b);
    const handoffs = starts.slice(MAX_UNAVAILABLE).map((st, i) => (st - (ends[i] as number)) / 1000);
    process.stderr.write(
      `[bench] timeline:\n${observer.timeline(t0)}\n[bench] first start after ${((starts[0] as number) - t0) / 1000} s; handoffs ${handoffs.map((h) => h.toFixed(2)).join(" ")} s\n`,
    );
    const makespan = (lastDone - t0) / 1000;
    const ideal = durations.reduce((a, b) => a + b, 0) / MAX_UNAVAILABLE;
    report([
      figure(
        "rollout.makespan",
        makespan,
        "s",
        ideal,
        `${NODES} lab machines (real agents on loop disks), maxUnavailable ${MAX_UNAVAILABLE}, 1.0.0 → 1.1.0; from the rollout's creation to the last node Done; ` +
          `baseline: the ideal schedule, the sum of the nodes' own upgrade times (median ${median(durations).toFixed(1)} s) / ${MAX_UNAVAILABLE}; ` +
          `max unavailable seen ${seen.maxUnavailable}; load average ${load.toFixed(1)} at the start, ${os.cpus().length} CPUs`,
      ),
      figure(
        "rollout.node_upgrade",
        median(durations),
        "s",
        undefined,
        "median of one node's own upgrade time, from its target to Done (stage, drain, reboot, verify, commit, uncordon)",
      ),
      figure(
        "rollout.handoff",
        median(handoffs),
        "s",
        undefined,
        "median time from a node's Done to the target of the node it made room for, as an outside watch sees both: what the controller adds between one node finishing and the next starting",
      ),
    ]);
  } finally {
    await observer.stop();
    await controller?.stop();
    await fleet?.stop();
    await disks.stop();
    kube.close();
    await cp.stop();
    // TWINROOT_BENCH_KEEP=1 keeps the controller's and the machines' logs for a look.
    if (process.env.TWINROOT_BENCH_KEEP) process.stderr.write(`[bench] kept ${dir}\n`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
