// What a finished lab fleet must not leave behind: loop devices backed by its disk
// files, and processes (agents, their reapers) started for it.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { sleep } from "../../../controller/kube/backoff";

/** Loop devices whose backing file lies under `dir`. */
export function loopsUnder(dir: string): string[] {
  const out = execFileSync("losetup", ["--list", "--noheadings", "--output", "NAME,BACK-FILE"], { encoding: "utf8" });
  return out
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 2 && (f[1] as string).startsWith(`${dir}/`))
    .map((f) => f[0] as string);
}

/** Processes whose command line mentions `dir`. */
export function processesUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const p of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${p}/cmdline`, "utf8").includes(dir)) pids.push(Number(p));
    } catch {
      // Ended meanwhile.
    }
  }
  return pids;
}

/** Waits (a few seconds at most, for processes on their way out) until nothing under `dir` is left; returns what is. */
export async function leftovers(dir: string): Promise<{ loops: string[]; processes: number[] }> {
  let left = { loops: loopsUnder(dir), processes: processesUnder(dir) };
  for (let i = 0; i < 50 && (left.loops.length || left.processes.length); i++) {
    await sleep(100);
    left = { loops: loopsUnder(dir), processes: processesUnder(dir) };
  }
  return left;
}
