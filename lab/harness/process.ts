import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const reaper = path.join(__dirname, "reaper.sh");

/** A server process started by the harness, tied to the lifetime of this Node process. */
export interface ManagedProcess {
  readonly name: string;
  readonly logFile: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code once the process has ended (keeps the event loop alive meanwhile). */
  wait(): Promise<number | null>;
  /** Stops the process (TERM, then KILL after a grace period) and waits for it. */
  stop(): Promise<void>;
  /** The last lines of its log, for error messages. */
  tail(lines?: number): string;
}

/**
 * Starts `cmd` under the reaper so that it dies with us even on SIGKILL; output goes to
 * `logFile`. Stopping closes the reaper's stdin, which is also what the kernel does when
 * this process dies.
 */
export function startManaged(name: string, cmd: string, args: string[], logFile: string, env?: NodeJS.ProcessEnv): ManagedProcess {
  const log = fs.openSync(logFile, "a");
  const child = spawn(reaper, [cmd, ...args], { stdio: ["pipe", log, log], env: env ?? process.env });
  fs.closeSync(log);
  // A server must not keep the event loop alive by itself, or a test file that failed
  // before its cleanup would never end; whoever waits for it takes a reference.
  child.unref();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const tail = (lines = 30) => {
    try {
      return fs.readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  };
  return {
    name,
    logFile,
    child,
    tail,
    wait() {
      child.ref();
      return exited;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.ref();
      child.stdin?.end();
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
