// The controller as its own process, for tests that kill it and benchmarks that measure
// it: controller/main.ts bundled by esbuild into one CommonJS file (as the image runs
// compiled JavaScript), started under the harness's reaper so it never outlives the
// caller, configured through its environment as in a pod.
//
// Why a bundle rather than `node --import tsx controller/main.ts`: under tsx every start
// spends 2-3 s of CPU transforming and source-mapping @kubernetes/client-node's thousand
// modules (10-25 s of wall time on a shared two-core machine), which measures tsx, not
// the controller, and makes 20 restarts take minutes.

import fs from "node:fs";
import path from "node:path";
import { bundleEntry } from "../../controller/bundle";
import { sleep } from "../../controller/kube/backoff";
import { type ManagedProcess, startManaged } from "../harness/process";
import { repoRoot } from "../harness/tools";

/** Bundles controller/main.ts into `dir/controller.cjs` and returns its path. */
export function bundleController(dir: string): Promise<string> {
  return bundleEntry(path.join(repoRoot, "controller", "main.ts"), path.join(dir, "controller.cjs"));
}

/** Options of {@link startControllerProcess}. */
export interface ControllerProcessOptions {
  /** From {@link bundleController}; absent runs controller/main.ts under `node --import tsx` (slow to start). */
  bundle?: string;
  kubeconfigPath: string;
  /** Lease identity (`POD_NAME`): the same one after a kill is a container restarted in its pod. */
  identity: string;
  /** `POD_NAMESPACE`: the Lease's namespace. */
  namespace: string;
  /** Where its JSON log lines go. */
  logFile: string;
  /** More environment (LEASE_DURATION, TWINROOT_LOG_LEVEL, …). */
  env?: Record<string, string>;
}

/** A running controller process. */
export interface ControllerProcess {
  readonly managed: ManagedProcess;
  /** The node process itself (the reaper's child). */
  readonly pid: number;
  /** Resolves with the first log line whose `msg` is `msg`; rejects when the process ends first or after `timeoutMs`. */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGKILLs the node process and waits until it is gone. */
  kill(): Promise<void>;
  /** SIGTERM (a graceful stop that releases the Lease; SIGKILL after a grace period) and wait. */
  stop(): Promise<void>;
}

/** The node process the reaper runs (its child named `node`), once it has exec'd. */
async function nodeChild(reaper: number): Promise<number> {
  for (let i = 0; i < 500; i++) {
    for (const task of fs.readdirSync(`/proc/${reaper}/task`)) {
      const kids = fs.readFileSync(`/proc/${reaper}/task/${task}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
      for (const k of kids) {
        try {
          if (fs.readFileSync(`/proc/${k}/comm`, "utf8").trim() === "node") return Number(k);
        } catch {
          // ended between the listing and the read
        }
      }
    }
    await sleep(10);
  }
  throw new Error(`controller process: no node child under reaper ${reaper}`);
}

/** Starts the bundled controller with a health server on a free loopback port. */
export async function startControllerProcess(o: ControllerProcessOptions): Promise<ControllerProcess> {
  const args = o.bundle ? [o.bundle] : ["--import", "tsx", path.join(repoRoot, "controller", "main.ts")];
  const managed = startManaged("controller", process.execPath, args, o.logFile, {
    ...process.env,
    KUBECONFIG: o.kubeconfigPath,
    POD_NAME: o.identity,
    POD_NAMESPACE: o.namespace,
    HEALTH_PORT: "0",
    HEALTH_HOST: "127.0.0.1",
    ...o.env,
  });
  const pid = await nodeChild(managed.child.pid as number);
  return {
    managed,
    pid,
    async waitForLog(msg, timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      const needle = `"msg":${JSON.stringify(msg)}`;
      while (Date.now() < deadline) {
        const exited = managed.child.exitCode !== null || managed.child.signalCode !== null;
        const line = fs
          .readFileSync(o.logFile, "utf8")
          .split("\n")
          .find((l) => l.includes(needle));
        if (line) return JSON.parse(line) as Record<string, unknown>;
        if (exited) throw new Error(`controller process ended before logging ${msg}:\n${managed.tail()}`);
        await sleep(25);
      }
      throw new Error(`controller process did not log ${msg} within ${timeoutMs} ms:\n${managed.tail()}`);
    },
    async kill() {
      try {
        process.kill(pid, "SIGKILL");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
      }
      await managed.wait();
    },
    stop: () => managed.stop(),
  };
}
