// The node agent as a real process, serving its socket in a directory of the caller's:
// what the lab nodes run on their loop disks, and what the agent's own tests drive (so
// it can be SIGKILLed like a machine losing power). It runs under the harness's reaper,
// so it never outlives the process that started it, and either through tsx from the
// sources, as one esbuild bundle (starts in a fraction of the time, which matters when
// a fleet boots ten agents per rollout), or as the shipped single executable.

import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { build } from "esbuild";
import type { AgentConfig } from "../../node-agent/config";
import { call } from "../../node-agent/rpc/client";
import type { Method, MethodMap } from "../../node-agent/rpc/protocol";
import { type ManagedProcess, startManaged } from "../harness/process";
import { repoRoot } from "../harness/tools";

/** An agent process. */
export interface AgentProcess {
  socket: string;
  proc: ManagedProcess;
  call<M extends Method>(method: M, params?: MethodMap[M]["params"]): Promise<MethodMap[M]["result"]>;
  /** Resolves with the exit code or signal once the process has ended. */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILLs the agent itself (not its reaper), as a power loss would end it, and waits until it is gone. */
  kill(): Promise<void>;
  /** A graceful stop (SIGTERM through the reaper) and wait. */
  stop(): Promise<void>;
}

/** How {@link startAgent} runs the agent. */
export interface StartAgentOptions {
  /** `TWINROOT_FAILPOINT` of the process (node-agent/failpoint.ts). */
  failpoint?: string;
  /** The single executable to run instead of the sources. */
  executable?: string;
  /** A bundle from {@link bundleAgent} to run with this Node.js instead of the sources. */
  bundle?: string;
  /** Names the socket, config and log files in `dir`. Default `agent`. */
  name?: string;
}

/** Bundles node-agent/main.ts into `dir/twinroot-agent.cjs` (as node-agent/build-sea.mjs does before making the executable) and returns its path. */
export async function bundleAgent(dir: string): Promise<string> {
  const outfile = path.join(dir, "twinroot-agent.cjs");
  try {
    await build({
      entryPoints: [path.join(repoRoot, "node-agent", "main.ts")],
      bundle: true,
      platform: "node",
      format: "cjs",
      target: "node20",
      outfile,
      logLevel: "error",
    });
  } catch (err) {
    throw new Error(`bundle agent: ${(err as Error).message}`, { cause: err });
  }
  return outfile;
}

/** The reaper's child that runs the command (the one that is not the reaper's own bash), once it has exec'd. */
async function commandChild(reaper: number): Promise<number | undefined> {
  for (let i = 0; i < 500; i++) {
    try {
      for (const task of fs.readdirSync(`/proc/${reaper}/task`)) {
        for (const k of fs.readFileSync(`/proc/${reaper}/task/${task}/children`, "utf8").trim().split(/\s+/).filter(Boolean)) {
          try {
            if (fs.readFileSync(`/proc/${k}/comm`, "utf8").trim() !== "bash") return Number(k);
          } catch {
            // Ended between the listing and the read.
          }
        }
      }
    } catch {
      // The reaper itself is gone: so is its command.
      return undefined;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`agent process: no command under reaper ${reaper}`);
}

/** Starts `twinroot-agent serve` on `disk` and waits for its socket. */
export async function startAgent(dir: string, disk: string, config: Partial<AgentConfig> = {}, opts: StartAgentOptions = {}): Promise<AgentProcess> {
  const name = opts.name ?? "agent";
  const socket = path.join(dir, `${name}.sock`);
  const cfgFile = path.join(dir, `${name}.json`);
  fs.writeFileSync(cfgFile, JSON.stringify({ bootedSlot: "A", runDir: path.join(dir, "run"), checkpointBytes: 4 << 20, ...config, disk, socketPath: socket }));
  const env = { ...process.env, ...(opts.failpoint ? { TWINROOT_FAILPOINT: opts.failpoint } : { TWINROOT_FAILPOINT: "" }) };
  const argv = opts.executable
    ? [opts.executable, "serve", "--config", cfgFile]
    : opts.bundle
      ? [process.execPath, opts.bundle, "serve", "--config", cfgFile]
      : [process.execPath, "--import", "tsx", path.join(repoRoot, "node-agent/main.ts"), "serve", "--config", cfgFile];
  const proc = startManaged(name, argv[0] as string, argv.slice(1), path.join(dir, `${name}.log`), env);
  const exitInfo = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const c = net.connect(socket);
      c.once("connect", () => {
        c.destroy();
        resolve(true);
      });
      c.once("error", () => resolve(false));
    });
    if (up) break;
    if (proc.child.exitCode !== null || i > 600) {
      await proc.stop();
      throw new Error(`agent did not start:\n${proc.tail()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    socket,
    proc,
    call: (method, params) => call(socket, method, params ?? {}),
    exited: () => {
      proc.child.ref();
      return exitInfo;
    },
    async kill() {
      const pid = await commandChild(proc.child.pid as number);
      try {
        if (pid !== undefined) process.kill(pid, "SIGKILL");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
      }
      // The reaper ends once its command has.
      await proc.wait();
    },
    stop: () => proc.stop(),
  };
}
