// agent.stage.throughput: `stage` of an uncompressed image from a local HTTPS server onto
// a loop device (digest check and read-back verification on), against `dd` of the same
// bytes to the same device in the same run, both ending on stable storage (conv=fsync).
// dd runs twice per round, through the page cache and with O_DIRECT; the baseline is the
// faster of the two medians (the stricter comparison). A second baseline is `curl | dd`
// from the same server: the same HTTPS download without hashing or read-back.
// agent.stage.cpu: CPU time of the agent per GiB staged (does not depend on how busy the
// machine is, unlike the MiB/s); the note has the image server's and dd's.
// agent.stage.peak_rss: the agent's peak resident memory (VmHWM) over those stages.
// The agent is the single executable, as shipped.

import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildDisk, copyDisk } from "../lab/image-builder/disk-image";
import { attachLoop } from "../lab/image-builder/loop";
import { buildOsImage } from "../lab/image-builder/os-image";
import { releaseLoop, startAgent, startImageServer } from "../test/integration/agent-harness";
import { figure, median, report } from "./figures";

const IMAGE_MIB = Number(process.env.TWINROOT_BENCH_IMAGE_MIB ?? 256);
const ROUNDS = Number(process.env.TWINROOT_BENCH_ROUNDS ?? 5);
const root = path.resolve(__dirname, "..");
const TICK = 100; // USER_HZ of /proc/*/stat

function agentPid(reaperPid: number): number {
  // The reaper runs the agent as its child.
  for (const task of fs.readdirSync(`/proc/${reaperPid}/task`)) {
    const kids = fs.readFileSync(`/proc/${reaperPid}/task/${task}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
    for (const k of kids) if (fs.readFileSync(`/proc/${k}/comm`, "utf8").trim() !== "bash") return Number(k);
  }
  throw new Error("agent process not found");
}

function vmHwmMiB(pid: number): number {
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
  return kb / 1024;
}

/** CPU seconds (user + system) of a process, or of its waited-for children. */
function cpuSeconds(pid: number | "self", children = false): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = f.slice(f.lastIndexOf(")") + 2).split(" ");
  // Fields 14-17 of stat (utime stime cutime cstime), counted from after the command name.
  const [u, s, cu, cs] = [11, 12, 13, 14].map((i) => Number(fields[i]));
  return ((children ? (cu as number) + (cs as number) : (u as number) + (s as number)) as number) / TICK;
}

/** Runs a command without blocking the event loop (the image server lives in this process). */
function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "ignore", "inherit"] });
    p.on("error", reject);
    p.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}`))));
  });
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-bench-agent-"));
  // TWINROOT_BENCH_EXE: measure a given build instead (to compare two builds on the same machine and load).
  const exe = process.env.TWINROOT_BENCH_EXE || path.join(dir, "twinroot-agent");
  if (!process.env.TWINROOT_BENCH_EXE)
    execFileSync(process.execPath, [path.join(root, "node-agent/build-sea.mjs"), "--out", exe], { stdio: ["ignore", "ignore", "inherit"] });

  // Incompressible bytes, so neither side gains from the page cache deduplicating anything.
  const image = path.join(dir, "image.raw");
  const fd = fs.openSync(image, "w");
  for (let i = 0; i < IMAGE_MIB; i++) fs.writeSync(fd, randomBytes(1 << 20));
  fs.closeSync(fd);
  const digest = createHash("sha256").update(fs.readFileSync(image)).digest("hex");
  const bytes = IMAGE_MIB << 20;

  const disk = copyDisk(buildDisk({ slotA: buildOsImage("1.0.0"), slotMiB: IMAGE_MIB + 16 }), dir);
  const loop = attachLoop(disk);
  const server = await startImageServer(dir);
  server.files.set("/image.raw", image);
  const agent = await startAgent(dir, loop.device, { caFile: server.caFile }, { executable: exe });
  const pid = agentPid(agent.proc.child.pid as number);
  const idleRss = vmHwmMiB(pid);
  const target = loop.part(4);
  const dd = (direct: boolean) => run("dd", [`if=${image}`, `of=${target}`, "bs=4M", "conv=fsync", "status=none", ...(direct ? ["oflag=direct"] : [])]);
  // Not measured: the first write into the sparse disk file allocates its blocks, which
  // would slow whichever side came first.
  await dd(false);
  const load = os.loadavg()[0] as number;
  const speed = { ddDirect: [] as number[], ddCached: [] as number[], stage: [] as number[], curl: [] as number[] };
  const cpu = { agent: [] as number[], server: [] as number[], dd: [] as number[] };
  const timed = async (fn: () => Promise<unknown>): Promise<number> => {
    const t = process.hrtime.bigint();
    await fn();
    return IMAGE_MIB / (Number(process.hrtime.bigint() - t) / 1e9);
  };
  const gib = IMAGE_MIB / 1024;
  try {
    for (let r = 0; r < ROUNDS; r++) {
      const ddCpu = cpuSeconds("self", true);
      speed.ddDirect.push(await timed(() => dd(true)));
      speed.ddCached.push(await timed(() => dd(false)));
      cpu.dd.push((cpuSeconds("self", true) - ddCpu) / 2 / gib);
      const agentCpu = cpuSeconds(pid);
      const serverCpu = process.cpuUsage();
      let res: { bytes: number; digest: string; timings?: unknown } = { bytes: 0, digest: "" };
      speed.stage.push(
        await timed(async () => {
          res = await agent.call("stage", { url: server.url("/image.raw"), digest, force: true });
        }),
      );
      cpu.agent.push((cpuSeconds(pid) - agentCpu) / gib);
      const s = process.cpuUsage(serverCpu);
      cpu.server.push((s.user + s.system) / 1e6 / gib);
      if (res.bytes !== bytes || res.digest !== digest) throw new Error(`stage wrote ${res.bytes} bytes, digest ${res.digest}`);
      speed.curl.push(
        await timed(() =>
          run("bash", [
            "-c",
            `set -o pipefail; curl -sS --fail --cacert "$1" "$2" | dd of="$3" bs=4M iflag=fullblock conv=fsync status=none`,
            "bash",
            server.caFile,
            server.url("/image.raw"),
            target,
          ]),
        ),
      );
      const f = (x: number[]) => x.at(-1)?.toFixed(0);
      process.stderr.write(
        `[bench] round ${r + 1}: dd direct ${f(speed.ddDirect)}, dd cached ${f(speed.ddCached)}, stage ${f(speed.stage)}, curl|dd ${f(speed.curl)} MiB/s; ` +
          `stage ${JSON.stringify(res.timings)}, agent ${cpu.agent.at(-1)?.toFixed(2)} s/GiB CPU, server ${cpu.server.at(-1)?.toFixed(2)} s/GiB; load ${os.loadavg()[0]?.toFixed(1)}\n`,
      );
    }
    const rss = vmHwmMiB(pid);
    const m = Object.fromEntries(Object.entries(speed).map(([k, v]) => [k, median(v)])) as Record<keyof typeof speed, number>;
    const baseline = Math.max(m.ddDirect, m.ddCached);
    const loads = `load average ${load.toFixed(1)} at the start, ${os.loadavg()[0]?.toFixed(1)} at the end, ${os.cpus().length} CPUs`;
    const note = `${IMAGE_MIB} MiB raw image over HTTPS (127.0.0.1) onto a loop partition, median of ${ROUNDS}; stage includes SHA-256 while writing, fsync and read-back; ${loads}`;
    report([
      figure(
        "agent.stage.throughput",
        m.stage,
        "MiB/s",
        baseline,
        `${note}; baseline: the faster of dd bs=4M conv=fsync with O_DIRECT (${m.ddDirect.toFixed(0)} MiB/s) and through the page cache (${m.ddCached.toFixed(0)} MiB/s)`,
      ),
      figure(
        "agent.stage.throughput_vs_curl",
        m.stage,
        "MiB/s",
        m.curl,
        `${note}; baseline: curl | dd bs=4M conv=fsync from the same server (no hashing, no read-back)`,
      ),
      figure(
        "agent.stage.cpu",
        median(cpu.agent),
        "s/GiB",
        undefined,
        `CPU time (user + system) of the agent per GiB staged, median of ${ROUNDS}; the image server used ${median(cpu.server).toFixed(2)} s/GiB, dd ${median(cpu.dd).toFixed(2)} s/GiB (both dd modes, without the kernel's loop threads)`,
      ),
      figure(
        "agent.stage.peak_rss",
        rss,
        "MiB",
        undefined,
        `VmHWM of the single executable after ${ROUNDS} stages of ${IMAGE_MIB} MiB (${idleRss.toFixed(0)} MiB before the first)`,
      ),
    ]);
  } finally {
    await agent.stop();
    await server.close();
    releaseLoop(loop);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
