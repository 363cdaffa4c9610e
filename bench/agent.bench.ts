// agent.stage.throughput: `stage` of an uncompressed image from a local HTTPS server onto
// a loop device (digest check and read-back verification on), against `dd` of the same
// bytes to the same device in the same run, both ending on stable storage (conv=fsync).
// dd runs twice per round, through the page cache and with O_DIRECT; the baseline is the
// faster of the two medians (the stricter comparison). A second baseline is `curl | dd`
// from the same server: the same HTTPS download without hashing or read-back. The notes
// say how busy the CPUs were during the stages, and how much of them the agent and the
// image server had (other engineers' tests share the machine).
// agent.stage.cpu: CPU time of the agent per GiB staged (depends much less on how busy
// the machine is than the MiB/s), against the least CPU the work it must do takes here:
// one SHA-256 pass and the TLS decryption, timed with `openssl speed` in the same run
// (the comparison of the bytes read back with those written is not counted).
// agent.stage.cpu_limit: the MiB/s that this machine's cores allow at the CPU the agent
// and the image server measured, were nothing else running; against dd, it says whether
// the target is within reach at all. agent.stage.peak_rss: the agent's peak resident
// memory (VmHWM) over those stages.
//
// agent.stage.disk_limit: the disk half of stage alone (O_DIRECT writes in the writer's
// buffers, each read back, fsync), against dd: the most that any stage that reads back
// what it wrote can reach on this device, whatever its CPU.
//
// Knobs for investigations: TWINROOT_BENCH_IMAGE_MIB, TWINROOT_BENCH_ROUNDS,
// TWINROOT_BENCH_EXE (another build), TWINROOT_BENCH_CHECKPOINT_MIB (another checkpoint
// interval; 0: none), TWINROOT_BENCH_LOOP_DIO=1 (the loop device writes its backing file
// with O_DIRECT instead of through the page cache).
//
// The agent is the single executable, as shipped, with the shipped checkpoint interval
// (the test harness's default is a small one, for the crash tests). The image server is
// the lab's, in a process of its own (this file, started with TWINROOT_BENCH_SERVE), so
// its CPU is counted apart and it shares no event loop with the bench; it serves the
// image from memory, as a cache in front of the image store would (from the file it
// takes about 1.7x the CPU, which two cores take away from the agent). `curl | dd`
// downloads from the same server.

import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { startManaged } from "../lab/harness/process";
import { buildDisk, copyDisk } from "../lab/image-builder/disk-image";
import { attachLoop } from "../lab/image-builder/loop";
import { buildOsImage } from "../lab/image-builder/os-image";
import { defaultConfig } from "../node-agent/config";
import { alignedMemory, BUFFER_SIZE, BUFFERS } from "../node-agent/image/writer";
import { releaseLoop, startAgent, startImageServer } from "../test/integration/agent-harness";
import { figure, median, report } from "./figures";
import { cpuSeconds, peakRssMiB, statSeconds, TICK } from "./proc";

const IMAGE_MIB = Number(process.env.TWINROOT_BENCH_IMAGE_MIB ?? 256);
const ROUNDS = Number(process.env.TWINROOT_BENCH_ROUNDS ?? 5);
const root = path.resolve(__dirname, "..");
const GiB = 2 ** 30;

/** The process a reaper (lab/harness/process.ts) runs as its child. */
function reaped(reaperPid: number): number {
  for (const task of fs.readdirSync(`/proc/${reaperPid}/task`)) {
    const kids = fs.readFileSync(`/proc/${reaperPid}/task/${task}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
    for (const k of kids) if (fs.readFileSync(`/proc/${k}/comm`, "utf8").trim() !== "bash") return Number(k);
  }
  throw new Error(`no process under reaper ${reaperPid}`);
}

/** CPU seconds of each thread of a process. */
function threadSeconds(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      out.set(Number(tid), statSeconds(`/proc/${pid}/task/${tid}/stat`));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

/**
 * The agent's CPU between two {@link threadSeconds} samples, by thread: the main thread
 * (HTTP, TLS, the I/O calls), the busiest other one (the hash worker: SHA-256 and the
 * read-back comparison) and the rest (libuv's pool running the reads, writes and
 * flushes; V8's helpers).
 */
function threadSplit(pid: number, before: Map<number, number>, after: Map<number, number>): { main: number; hash: number; rest: number } {
  let main = 0;
  let hash = 0;
  let rest = 0;
  for (const [tid, s] of after) {
    const d = s - (before.get(tid) ?? 0);
    if (tid === pid) main = d;
    else if (d > hash) {
      rest += hash;
      hash = d;
    } else rest += d;
  }
  return { main, hash, rest };
}

/** Busy and total CPU seconds of the whole machine, all CPUs (the first line of /proc/stat). */
function machineSeconds(): { busy: number; total: number } {
  const line = fs.readFileSync("/proc/stat", "utf8").split("\n")[0] as string;
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = user + nice + system + irq + softirq + steal;
  return { busy: busy / TICK, total: (busy + idle + iowait) / TICK };
}

/**
 * The disk half of `stage` alone: the image written with O_DIRECT in the writer's buffers
 * (as many in flight as it has), each read back with O_DIRECT once its write returned,
 * then fsync; no network, no hashing, no comparison. What the device allows any stage
 * that reads back what it wrote, measured next to dd.
 */
async function writeReadBack(image: string, device: string): Promise<void> {
  const inFlight = BUFFERS - 1;
  const memory = alignedMemory(2 * inFlight * BUFFER_SIZE);
  const src = fs.openSync(image, "r");
  const fd = fs.openSync(device, fs.constants.O_RDWR | fs.constants.O_DIRECT);
  const size = fs.fstatSync(src).size;
  const io = (write: boolean, buf: Buffer, at: number) =>
    new Promise<void>((resolve, reject) => {
      const done = (err: Error | null) => (err ? reject(err) : resolve());
      if (write) fs.write(fd, buf, 0, buf.length, at, done);
      else fs.read(fd, buf, 0, buf.length, at, done);
    });
  try {
    let next = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async (_, i) => {
        const buf = memory.subarray(2 * i * BUFFER_SIZE, (2 * i + 1) * BUFFER_SIZE);
        const back = memory.subarray((2 * i + 1) * BUFFER_SIZE, (2 * i + 2) * BUFFER_SIZE);
        for (let at = next; at < size; at = next) {
          next += BUFFER_SIZE;
          const n = fs.readSync(src, buf, 0, BUFFER_SIZE, at);
          await io(true, buf.subarray(0, n), at);
          await io(false, back.subarray(0, n), at);
        }
      }),
    );
    await new Promise<void>((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
  } finally {
    fs.closeSync(fd);
    fs.closeSync(src);
  }
}

/** Runs a command without blocking the event loop. */
function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "ignore", "inherit"] });
    p.on("error", reject);
    p.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}`))));
  });
}

/** CPU seconds per GiB that `openssl speed` takes for an algorithm (16 KiB blocks: TLS records), on one core. */
function opensslSecondsPerGiB(evp: string): number {
  // Without -elapsed, speed divides by the CPU time it used: the cost, however busy the machine is.
  const out = execFileSync("openssl", ["speed", "-seconds", "1", "-bytes", "16384", "-evp", evp], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  const kbps = Number(/\s([\d.]+)k\s*$/m.exec(out.trim())?.[1]);
  if (!(kbps > 0)) throw new Error(`openssl speed -evp ${evp}: no figure in ${JSON.stringify(out.slice(-200))}`);
  return GiB / (kbps * 1000);
}

/** The TLS cipher a Node.js client (the agent's defaults) gets from the server, as `openssl speed -evp` names it. */
function negotiatedCipher(url: string, caFile: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: u.hostname, port: Number(u.port), ca: fs.readFileSync(caFile) }, () => {
      const name = s.getCipher().standardName;
      s.destroy();
      const evp = { TLS_AES_256_GCM_SHA384: "aes-256-gcm", TLS_AES_128_GCM_SHA256: "aes-128-gcm", TLS_CHACHA20_POLY1305_SHA256: "chacha20-poly1305" }[name];
      if (evp) resolve(evp);
      else reject(new Error(`unexpected cipher ${name}`));
    });
    s.on("error", reject);
  });
}

/** Server mode: the lab image server for one file, in this process, until stdin closes. */
async function serve(spec: { dir: string; file: string; out: string }): Promise<void> {
  const server = await startImageServer(spec.dir, undefined, { memory: true });
  server.files.set("/image.raw", spec.file);
  fs.writeFileSync(`${spec.out}.tmp`, JSON.stringify({ url: server.url("/image.raw"), caFile: server.caFile }));
  fs.renameSync(`${spec.out}.tmp`, spec.out);
}

/** Starts the image server in a process of its own; resolves once it listens. */
async function startServerProcess(dir: string, file: string) {
  const out = path.join(dir, "server.json");
  const spec = JSON.stringify({ dir: path.join(dir, "server"), file, out });
  const proc = startManaged("image-server", process.execPath, ["--import", "tsx", __filename], path.join(dir, "server.log"), {
    ...process.env,
    TWINROOT_BENCH_SERVE: spec,
  });
  for (let i = 0; !fs.existsSync(out); i++) {
    if (proc.child.exitCode !== null || i > 600) throw new Error(`image server did not start:\n${proc.tail()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const { url, caFile } = JSON.parse(fs.readFileSync(out, "utf8")) as { url: string; caFile: string };
  return { url, caFile, pid: reaped(proc.child.pid as number), stop: () => proc.stop() };
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
  const hash = createHash("sha256");
  for (let i = 0; i < IMAGE_MIB; i++) {
    const block = randomBytes(1 << 20);
    hash.update(block);
    fs.writeSync(fd, block);
  }
  fs.closeSync(fd);
  const digest = hash.digest("hex");
  const bytes = IMAGE_MIB << 20;

  const disk = copyDisk(buildDisk({ slotA: buildOsImage("1.0.0"), slotMiB: IMAGE_MIB + 16 }), dir);
  const loop = attachLoop(disk);
  if (process.env.TWINROOT_BENCH_LOOP_DIO === "1") execFileSync("losetup", ["--direct-io=on", loop.device]);
  const server = await startServerProcess(dir, image);
  // TWINROOT_BENCH_CHECKPOINT_MIB: another checkpoint interval than the shipped one (0: only at the end).
  const checkpointMiB = process.env.TWINROOT_BENCH_CHECKPOINT_MIB;
  const checkpointBytes = checkpointMiB !== undefined && checkpointMiB !== "" ? Number(checkpointMiB) * 2 ** 20 : defaultConfig().checkpointBytes;
  const agent = await startAgent(dir, loop.device, { caFile: server.caFile, checkpointBytes }, { executable: exe });
  const pid = reaped(agent.proc.child.pid as number);
  const idleRss = peakRssMiB(pid);
  const target = loop.part(4);
  const dd = (direct: boolean) => run("dd", [`if=${image}`, `of=${target}`, "bs=4M", "conv=fsync", "status=none", ...(direct ? ["oflag=direct"] : [])]);
  const url = server.url;
  // Not measured: the first write into the sparse disk file allocates its blocks, which
  // would slow whichever side came first; the server's first request reads the image
  // into memory.
  await dd(false);
  await run("curl", ["-sS", "--fail", "--cacert", server.caFile, "-o", "/dev/null", url]);
  const cipher = await negotiatedCipher(url, server.caFile);
  const loads: number[] = [os.loadavg()[0] as number];
  const speed = { ddDirect: [] as number[], ddCached: [] as number[], stage: [] as number[], curl: [] as number[], disk: [] as number[] };
  const cpu = { agent: [] as number[], main: [] as number[], hash: [] as number[], rest: [] as number[], server: [] as number[], dd: [] as number[] };
  // Shares of the machine's CPU time during the stages: busy at all, and taken by the agent and the server.
  const share = { busy: [] as number[], ours: [] as number[] };
  const floor = { sha256: [] as number[], cipher: [] as number[] };
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
      speed.disk.push(await timed(() => writeReadBack(image, target)));
      cpu.dd.push((cpuSeconds("self", true) - ddCpu) / 2 / gib);
      const agentCpu = cpuSeconds(pid);
      const threads = threadSeconds(pid);
      const serverCpu = cpuSeconds(server.pid);
      const machine = machineSeconds();
      let res: { bytes: number; digest: string; timings?: unknown } = { bytes: 0, digest: "" };
      speed.stage.push(
        await timed(async () => {
          res = await agent.call("stage", { url, digest, force: true });
        }),
      );
      cpu.agent.push((cpuSeconds(pid) - agentCpu) / gib);
      const split = threadSplit(pid, threads, threadSeconds(pid));
      cpu.main.push(split.main / gib);
      cpu.hash.push(split.hash / gib);
      cpu.rest.push(split.rest / gib);
      cpu.server.push((cpuSeconds(server.pid) - serverCpu) / gib);
      const after = machineSeconds();
      share.busy.push((after.busy - machine.busy) / (after.total - machine.total));
      share.ours.push((((cpu.agent.at(-1) as number) + (cpu.server.at(-1) as number)) * gib) / (after.total - machine.total));
      if (res.bytes !== bytes || res.digest !== digest) throw new Error(`stage wrote ${res.bytes} bytes, digest ${res.digest}`);
      speed.curl.push(
        await timed(() =>
          run("bash", [
            "-c",
            `set -o pipefail; curl -sS --fail --cacert "$1" "$2" | dd of="$3" bs=4M iflag=fullblock conv=fsync status=none`,
            "bash",
            server.caFile,
            url,
            target,
          ]),
        ),
      );
      // The least CPU the agent's work takes, measured between the stages (same machine, same load).
      floor.sha256.push(opensslSecondsPerGiB("sha256"));
      floor.cipher.push(opensslSecondsPerGiB(cipher));
      loads.push(os.loadavg()[0] as number);
      const f = (x: number[]) => x.at(-1)?.toFixed(0);
      const g = (x: number[]) => x.at(-1)?.toFixed(2);
      process.stderr.write(
        `[bench] round ${r + 1}: dd direct ${f(speed.ddDirect)}, dd cached ${f(speed.ddCached)}, write+read-back ${f(speed.disk)}, stage ${f(speed.stage)}, curl|dd ${f(speed.curl)} MiB/s; ` +
          `stage ${JSON.stringify(res.timings)}, agent ${g(cpu.agent)} s/GiB CPU (main ${g(cpu.main)}, hash ${g(cpu.hash)}, rest ${g(cpu.rest)}), server ${g(cpu.server)} s/GiB; load ${os.loadavg()[0]?.toFixed(1)}\n`,
      );
    }
    const rss = peakRssMiB(pid);
    const m = Object.fromEntries(Object.entries(speed).map(([k, v]) => [k, median(v)])) as Record<keyof typeof speed, number>;
    const c = Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, median(v)])) as Record<keyof typeof cpu, number>;
    const sha = median(floor.sha256);
    const dec = median(floor.cipher);
    const agentFloor = sha + dec;
    const baseline = Math.max(m.ddDirect, m.ddCached);
    const cores = os.cpus().length;
    const limit = (sPerGiB: number) => (cores * 1024) / sPerGiB;
    const pct = (x: number[]) => `${(median(x) * 100).toFixed(0)}%`;
    const loadNote =
      `load average ${loads[0]?.toFixed(1)} at the start, median ${median(loads).toFixed(1)}, ${loads.at(-1)?.toFixed(1)} at the end, ${cores} CPUs; ` +
      `during the stages the CPUs were ${pct(share.busy)} busy, ${pct(share.ours)} with the agent and the image server`;
    const note = `${IMAGE_MIB} MiB raw image over HTTPS (127.0.0.1, ${cipher}) onto a loop partition, median of ${ROUNDS}; stage includes SHA-256 while writing, read-back and comparison, fsync, ${checkpointBytes ? `checkpoints every ${checkpointBytes / 2 ** 20} MiB` : "no checkpoints"}; ${loadNote}`;
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
        "agent.stage.disk_limit",
        m.disk,
        "MiB/s",
        baseline,
        `the disk half of stage alone, median of ${ROUNDS}: the image written with O_DIRECT in ${BUFFER_SIZE >> 20} MiB buffers, ${BUFFERS - 1} in flight, each read back once written, then fsync (no network, no hashing); ` +
          `the most any stage that reads back what it wrote could reach on this device; baseline: dd as in agent.stage.throughput`,
      ),
      figure(
        "agent.stage.cpu",
        c.agent,
        "s/GiB",
        agentFloor,
        `CPU time (user + system) of the agent per GiB staged, median of ${ROUNDS}: main thread ${c.main.toFixed(2)}, hash worker ${c.hash.toFixed(2)}, other threads ${c.rest.toFixed(2)}; ` +
          `baseline: the least it can be, SHA-256 (${sha.toFixed(2)} s/GiB) + ${cipher} decryption (${dec.toFixed(2)}) by openssl speed in the same run; ` +
          `the image server used ${c.server.toFixed(2)} s/GiB, dd ${c.dd.toFixed(2)} s/GiB (both dd modes, without the kernel's loop threads)`,
      ),
      figure(
        "agent.stage.cpu_limit",
        limit(c.agent + c.server),
        "MiB/s",
        baseline,
        `the most stage could reach with ${cores} CPUs to itself at the CPU it measured (agent ${c.agent.toFixed(2)} + image server ${c.server.toFixed(2)} s/GiB, kernel threads not counted); ` +
          `with only the cryptography both ends must do (agent ${agentFloor.toFixed(2)} + server ${dec.toFixed(2)} s/GiB) it would be ${limit(agentFloor + dec).toFixed(0)} MiB/s; baseline: dd as in agent.stage.throughput`,
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
    await server.stop();
    releaseLoop(loop);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const serveSpec = process.env.TWINROOT_BENCH_SERVE;
if (serveSpec) {
  // Runs until the reaper ends it (the bench stopped it, or died).
  void serve(JSON.parse(serveSpec)).catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  void main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
