// agent.stage.throughput: `stage` of an uncompressed image from a local HTTPS server onto
// a loop device (digest check and read-back verification on), against `dd` of the same
// bytes to the same device in the same run (conv=fsync, so both end on stable storage).
// agent.stage.peak_rss: the agent's peak resident memory (VmHWM) over those stages.
// The agent is the single executable, as shipped.

import { execFileSync } from "node:child_process";
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
const ROUNDS = Number(process.env.TWINROOT_BENCH_ROUNDS ?? 3);
const root = path.resolve(__dirname, "..");

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

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-bench-agent-"));
  const exe = path.join(dir, "twinroot-agent");
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
  const agent = await startAgent(
    dir,
    loop.device,
    { caFile: server.caFile, checkpointBytes: Number(process.env.TWINROOT_BENCH_CHECKPOINT_MIB ?? 64) << 20 },
    { executable: exe },
  );
  const pid = agentPid(agent.proc.child.pid as number);
  const idleRss = vmHwmMiB(pid);
  const target = loop.part(4);
  // Not measured: the first write into the sparse disk file allocates its blocks, which
  // would slow whichever side came first.
  execFileSync("dd", [`if=${image}`, `of=${target}`, "bs=4M", "conv=fsync", "status=none"]);
  const dd: number[] = [];
  const stage: number[] = [];
  try {
    for (let r = 0; r < ROUNDS; r++) {
      let t = process.hrtime.bigint();
      execFileSync("dd", [`if=${image}`, `of=${target}`, "bs=4M", "conv=fsync", "status=none"]);
      dd.push(IMAGE_MIB / (Number(process.hrtime.bigint() - t) / 1e9));
      t = process.hrtime.bigint();
      const res = await agent.call("stage", { url: server.url("/image.raw"), digest, force: true });
      stage.push(IMAGE_MIB / (Number(process.hrtime.bigint() - t) / 1e9));
      if (res.bytes !== bytes || res.digest !== digest) throw new Error(`stage wrote ${res.bytes} bytes, digest ${res.digest}`);
      process.stderr.write(
        `[bench] round ${r + 1}: dd ${dd.at(-1)?.toFixed(0)} MiB/s, stage ${stage.at(-1)?.toFixed(0)} MiB/s (${JSON.stringify(res.timings)})\n`,
      );
    }
    const rss = vmHwmMiB(pid);
    const note = `${IMAGE_MIB} MiB raw image over HTTPS (127.0.0.1) onto a loop partition, median of ${ROUNDS}; stage includes SHA-256, fsync and read-back`;
    report([
      figure("agent.stage.throughput", median(stage), "MiB/s", median(dd), `${note}; baseline: dd bs=4M conv=fsync`),
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
