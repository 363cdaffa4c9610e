// Runs a command to its end with stdout and stderr in one string, in the order a
// terminal would show them: the e2e tests read a command's output as a person would.

import { spawn } from "node:child_process";
import { repoRoot } from "../../../lab/harness/tools";

/** What a command printed (both streams, interleaved) and how it ended. */
export interface Printed {
  code: number | null;
  out: string;
}

/** Runs `cmd args` in `cwd` (default: the repository root) with `env` (default: this process's). */
export function runPrinted(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Printed> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? repoRoot, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const add = (d: Buffer) => {
      out += d;
    };
    child.stdout.on("data", add);
    child.stderr.on("data", add);
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out }));
  });
}
