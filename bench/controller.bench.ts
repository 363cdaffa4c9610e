// The controller over 1,000 and 5,000 nodes: a real API server, one simulated fleet
// (lab/nodes/sim-fleet.ts: every node's proxy and kubelet played by one process, the
// same writes per phase, no agent) and the controller as its own process, as shipped
// (bundled JavaScript, see lab/nodes/controller-process.ts), so its CPU and memory are
// its own. Each size gets a fresh control plane and rolls every node from 1.0.0 to
// 1.1.0 with maxUnavailable 50 (TWINROOT_BENCH_MAX_UNAVAILABLE; TWINROOT_BENCH_NODES
// sets the two sizes, `1000,5000` by default).
//
// controller.requests_per_node.<n>: the controller's API requests (its
//   twinroot_api_requests_total, watches included) from the rollout's creation to its
//   completion, per node; the 5000 figure has the 1000 one as baseline.
// controller.cpu_ms_per_node.<n>: its user+system CPU over the same span, per node.
// controller.handoff_p95: at 5000 nodes, the time the controller adds between one node
//   finishing and the next starting: from the change that let a node start reaching the
//   controller (its work queue's time for the reconcile) to that node's target write
//   being acknowledged, as the controller logs it with each start (the first batch,
//   started by the rollout's creation, included).
// controller.handoff_e2e_p95: the same gap seen from the fleet: from one node's Done
//   being stored to the next node's target reaching the fleet's watch (completions and
//   starts paired in order; the first batch is left out). On top of the controller's
//   part it holds two watch deliveries through the API server, which the fleet's own
//   writes keep busy on this machine.
// controller.peak_rss: its VmHWM at 5000 nodes, start-up and informer sync included.

import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { waitForRollout } from "../components/rollout-wait";
import { API_VERSION } from "../controller/api/types";
import { installCrds } from "../controller/kube/install";
import { createLogger } from "../controller/kube/log";
import { ROLLOUTS, resourcePath } from "../controller/kube/resources";
import { Kube } from "../controller/kube/rest";
import { ControlPlane } from "../lab/harness/control-plane";
import { bundleController, startControllerProcess } from "../lab/nodes/controller-process";
import { SimFleet, type SimTransition } from "../lab/nodes/sim-fleet";
import { type Figure, figure, report } from "./figures";
import { cpuSeconds, peakRssMiB } from "./proc";

const SIZES = (process.env.TWINROOT_BENCH_NODES ?? "1000,5000").split(",").map(Number) as [number, number];
const MAX_UNAVAILABLE = Number(process.env.TWINROOT_BENCH_MAX_UNAVAILABLE ?? 50);
const PHASE_MS = 100;
const log = createLogger({ component: "bench.controller" });

/** The controller's start latencies (s) from its log, and their parts: waiting for the reconcile, planning, the target write. */
function startParts(logFile: string): Pick<Run, "startLatencies" | "startParts"> {
  const lines = fs
    .readFileSync(logFile, "utf8")
    .split("\n")
    .filter((l) => l.includes('"msg":"node started"'))
    .map((l) => JSON.parse(l) as { latencyMs: number; waitMs: number; planMs: number; writeMs: number });
  return {
    startLatencies: lines.map((l) => l.latencyMs / 1000),
    startParts: { wait: lines.map((l) => l.waitMs / 1000), plan: lines.map((l) => l.planMs / 1000), write: lines.map((l) => l.writeMs / 1000) },
  };
}

/** The controller's API requests so far by `verb code`, from its /metrics. */
function requestsSoFar(healthUrl: string): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    http
      .get(`${healthUrl}/metrics`, (res) => {
        let text = "";
        res.on("data", (d) => {
          text += d;
        });
        res.on("end", () => {
          const out = new Map<string, number>();
          for (const m of text.matchAll(/^twinroot_api_requests_total\{verb="(\w+)",code="(\d+)"\} (\d+)$/gm)) out.set(`${m[1]} ${m[2]}`, Number(m[3]));
          resolve(out);
        });
      })
      .on("error", reject);
  });
}

/** Pairs each start with the oldest unpaired completion before it; the gaps in seconds. */
function handoffs(transitions: SimTransition[]): number[] {
  const events = transitions.flatMap((t) => [{ at: t.startedAt, start: true }, ...(t.doneAt !== undefined ? [{ at: t.doneAt, start: false }] : [])]);
  events.sort((a, b) => a.at - b.at || Number(a.start) - Number(b.start));
  const waiting: number[] = [];
  const out: number[] = [];
  for (const e of events) {
    if (!e.start) waiting.push(e.at);
    else if (waiting.length) out.push((e.at - (waiting.shift() as number)) / 1000);
  }
  return out;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

interface Run {
  nodes: number;
  requests: number;
  cpuS: number;
  rssMiB: number;
  /** Seconds, from the fleet's side. */
  handoffs: number[];
  /** Seconds, the controller's part. */
  startLatencies: number[];
  /** Its parts, seconds: waiting for the reconcile to begin, planning, the target write's round trip. */
  startParts: { wait: number[]; plan: number[]; write: number[] };
  /** Seconds, round trips of the fleet's writes. */
  apiWrites: number[];
  seconds: number;
}

async function run(nodes: number, bundle: string): Promise<Run> {
  const cp = await ControlPlane.start();
  const kube = new Kube(cp.kubeConfig());
  const fleet = new SimFleet({ kubeConfig: cp.kubeConfig(), count: nodes, version: "1.0.0", digest: "1".repeat(64), prefix: "bench", phaseMs: PHASE_MS, log });
  let controller: Awaited<ReturnType<typeof startControllerProcess>> | undefined;
  try {
    await installCrds(kube);
    let t = Date.now();
    await fleet.register();
    await fleet.start();
    log.info("fleet registered", { nodes, seconds: (Date.now() - t) / 1000 });
    controller = await startControllerProcess({
      bundle,
      kubeconfigPath: cp.kubeconfigPath,
      identity: "bench",
      namespace: "default",
      logFile: path.join(cp.dir, "controller.log"),
    });
    const started = await controller.waitForLog("started");
    await controller.waitForLog("became leader");
    const health = String(started.health);
    const requests0 = await requestsSoFar(health);
    const cpu0 = cpuSeconds(controller.pid);
    t = Date.now();
    await kube.request("POST", resourcePath(ROLLOUTS), {
      body: {
        apiVersion: API_VERSION,
        kind: "OsRollout",
        metadata: { name: "bench" },
        spec: {
          image: { version: "1.1.0", url: "https://127.0.0.1:1/1.1.0.img", digest: "2".repeat(64) },
          maxUnavailable: MAX_UNAVAILABLE,
          nodeSelector: { matchLabels: { "twinroot.dev/pool": "bench" } },
        },
      },
    });
    let lastLog = 0;
    await waitForRollout(kube, {
      name: "bench",
      generation: 1,
      timeoutMs: 60 * 60_000,
      pollMs: 500,
      onProgress: (message) => {
        if (Date.now() - lastLog < 15_000) return;
        log.info("rolling", { nodes, state: message });
        lastLog = Date.now();
      },
    });
    const seconds = (Date.now() - t) / 1000;
    const requests1 = await requestsSoFar(health);
    const byVerb = Object.fromEntries([...requests1].map(([k, v]) => [k, v - (requests0.get(k) ?? 0)]));
    const result: Run = {
      nodes,
      requests: Object.values(byVerb).reduce((a, b) => a + b, 0),
      cpuS: cpuSeconds(controller.pid) - cpu0,
      rssMiB: peakRssMiB(controller.pid),
      handoffs: handoffs(fleet.transitions),
      ...startParts(path.join(cp.dir, "controller.log")),
      apiWrites: fleet.writeMs.map((ms) => ms / 1000),
      seconds,
    };
    log.info("rolled", {
      ...result,
      byVerb,
      handoffs: result.handoffs.length,
      handoffE2eP95: percentile(result.handoffs, 95),
      startLatencies: result.startLatencies.length,
      handoffP95: percentile(result.startLatencies, 95),
      apiWrites: result.apiWrites.length,
      apiWriteP95: percentile(result.apiWrites, 95),
    });
    return result;
  } finally {
    await controller?.stop();
    await fleet.stop();
    kube.close();
    await cp.stop();
  }
}

/** `p50/p95 s` of a list of seconds. */
function parts(xs: number[]): string {
  return `${percentile(xs, 50).toFixed(3)}/${percentile(xs, 95).toFixed(3)} s`;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? "/tmp", "twinroot-bench-controller-"));
  try {
    const bundle = await bundleController(dir);
    const [small, large] = [await run(SIZES[0], bundle), await run(SIZES[1], bundle)];
    const note = (r: Run) =>
      `${r.nodes} simulated nodes, maxUnavailable ${MAX_UNAVAILABLE}, rollout took ${Math.round(r.seconds)} s; ` +
      `API write round trip p50 ${percentile(r.apiWrites, 50).toFixed(3)} s, p95 ${percentile(r.apiWrites, 95).toFixed(3)} s`;
    const figures: Figure[] = [
      figure(`controller.requests_per_node.${small.nodes}`, small.requests / small.nodes, "requests/node", undefined, note(small)),
      figure(`controller.requests_per_node.${large.nodes}`, large.requests / large.nodes, "requests/node", small.requests / small.nodes, note(large)),
      figure(`controller.cpu_ms_per_node.${small.nodes}`, (small.cpuS * 1000) / small.nodes, "ms/node", undefined, note(small)),
      figure(`controller.cpu_ms_per_node.${large.nodes}`, (large.cpuS * 1000) / large.nodes, "ms/node", (small.cpuS * 1000) / small.nodes, note(large)),
      figure(
        "controller.handoff_p95",
        percentile(large.startLatencies, 95),
        "s",
        undefined,
        `${note(large)}; the controller's part: change seen → target written; ${large.startLatencies.length} starts, median ${percentile(large.startLatencies, 50).toFixed(3)} s; ` +
          `p50/p95 of its parts: waiting for the reconcile ${parts(large.startParts.wait)}, planning ${parts(large.startParts.plan)}, the target write ${parts(large.startParts.write)}`,
      ),
      figure(
        "controller.handoff_e2e_p95",
        percentile(large.handoffs, 95),
        "s",
        undefined,
        `${note(large)}; seen from the fleet: Done stored → next target watched, API server latency included; ${large.handoffs.length} handoffs, median ${percentile(large.handoffs, 50).toFixed(3)} s`,
      ),
      figure("controller.peak_rss", large.rssMiB, "MiB", undefined, `VmHWM of the controller process; ${note(large)}`),
    ];
    report(figures);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
