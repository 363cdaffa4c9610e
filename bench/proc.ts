// What the benchmarks read of a process from /proc: its CPU time and its peak memory.

import { execFileSync } from "node:child_process";
import fs from "node:fs";

/** Clock ticks per second of the times in /proc/*\/stat (USER_HZ). */
export const TICK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

/** CPU seconds (user + system) from a /proc stat file: the process's (or thread's) own, or its waited-for children's. */
export function statSeconds(file: string, children = false): number {
  const f = fs.readFileSync(file, "utf8");
  const fields = f.slice(f.lastIndexOf(")") + 2).split(" ");
  // Fields 14-17 of stat (utime stime cutime cstime), counted from after the command name.
  const [u, s, cu, cs] = [11, 12, 13, 14].map((i) => Number(fields[i])) as [number, number, number, number];
  return (children ? cu + cs : u + s) / TICK;
}

/** CPU seconds of a process so far (with `children`, of its children it waited for). */
export const cpuSeconds = (pid: number | "self", children = false) => statSeconds(`/proc/${pid}/stat`, children);

/** Peak resident memory (VmHWM) of a process, MiB. */
export function peakRssMiB(pid: number): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]) / 1024;
}
