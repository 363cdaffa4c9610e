// Builds a full A/B disk image with loop devices: GPT (BIOS boot, ext4 BOOT, ROOT-A,
// ROOT-B, PERSIST), GRUB for BIOS with the project's grub.cfg, a grubenv in which slot A
// is committed, the agent's record of slot A, and an OS image in ROOT-A. The built disk
// is cached; callers get a private copy.

import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { bootStateToEnv } from "../../node-agent/boot/chooser";
import { renderGrubCfg } from "../../node-agent/boot/grubcfg";
import { formatGrubEnv, parseGrubEnv } from "../../node-agent/boot/grubenv";
import { initialBootState, markGood } from "../../node-agent/boot/machine";
import { AGENT_STATE_FILE, GRUB_DIR, PARTITION_LABELS, PARTITION_TYPE_GUIDS } from "../../node-agent/slots/layout";
import { emptyAgentState, writeAgentState } from "../../node-agent/slots/state";
import { attachLoop, mountExt4, run } from "./loop";
import { buildOsImage, cacheDir, type OsImage } from "./os-image";

/** How to build a disk. */
export interface DiskOptions {
  /** The image in slot A (committed). */
  slotA: OsImage;
  /** Size of each root slot. Default 32 MiB. */
  slotMiB?: number;
  /** Kernel command line for grub.cfg. */
  cmdline?: string;
}

/** Partition numbers of the layout the builder makes. */
export const DISK_PARTITIONS = { biosBoot: 1, boot: 2, rootA: 3, rootB: 4, persist: 5 } as const;

/** The default kernel command line of lab disks: serial console, reboot 1 s after a panic. */
export const LAB_CMDLINE = "console=ttyS0 panic=1 quiet";

function partitionTable(slotMiB: number): string[] {
  const p = DISK_PARTITIONS;
  const T = PARTITION_TYPE_GUIDS;
  const L = PARTITION_LABELS;
  return [
    "-n",
    `${p.biosBoot}:2048:+1M`,
    "-t",
    `${p.biosBoot}:${T.biosBoot}`,
    "-c",
    `${p.biosBoot}:${L.biosBoot}`,
    "-n",
    `${p.boot}:0:+16M`,
    "-t",
    `${p.boot}:${T.xbootldr}`,
    "-c",
    `${p.boot}:${L.boot}`,
    "-n",
    `${p.rootA}:0:+${slotMiB}M`,
    "-t",
    `${p.rootA}:${T.rootX86_64}`,
    "-c",
    `${p.rootA}:${L.rootA}`,
    "-n",
    `${p.rootB}:0:+${slotMiB}M`,
    "-t",
    `${p.rootB}:${T.rootX86_64}`,
    "-c",
    `${p.rootB}:${L.rootB}`,
    "-n",
    `${p.persist}:0:+8M`,
    "-t",
    `${p.persist}:${T.linuxData}`,
    "-c",
    `${p.persist}:${L.persist}`,
  ];
}

/** Builds (or takes from the cache) a disk and returns the cached file's path; copy it before use. */
export function buildDisk(opts: DiskOptions): string {
  const slotMiB = opts.slotMiB ?? 32;
  const cmdline = opts.cmdline ?? LAB_CMDLINE;
  const grubCfg = renderGrubCfg({ slotPartitions: { A: DISK_PARTITIONS.rootA, B: DISK_PARTITIONS.rootB }, cmdline, terminals: "serial" });
  const key = createHash("sha256")
    .update(JSON.stringify({ v: 1, a: opts.slotA.digest, slotMiB, grubCfg, table: partitionTable(slotMiB) }))
    .digest("hex")
    .slice(0, 16);
  const out = path.join(cacheDir(), `disk-${opts.slotA.version}-${key}.img`);
  if (fs.existsSync(out)) return out;

  const tmp = `${out}.${process.pid}.tmp`;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-disk-"));
  run("truncate", ["-s", `${1 + 1 + 16 + 2 * slotMiB + 8 + 1}M`, tmp]);
  run("sgdisk", ["-Z", ...partitionTable(slotMiB), tmp]);
  const loop = attachLoop(tmp);
  try {
    run("mkfs.ext4", ["-q", "-F", "-L", "twinroot-boot", loop.part(DISK_PARTITIONS.boot)]);
    run("mkfs.ext4", ["-q", "-F", "-L", "twinroot-persist", loop.part(DISK_PARTITIONS.persist)]);
    run("dd", [`if=${opts.slotA.path}`, `of=${loop.part(DISK_PARTITIONS.rootA)}`, "bs=4M", "conv=fsync", "status=none"]);
    const mnt = path.join(work, "boot");
    const umount = mountExt4(loop.part(DISK_PARTITIONS.boot), mnt);
    try {
      run("grub-install", [
        "--target=i386-pc",
        `--boot-directory=${mnt}`,
        "--modules=part_gpt ext2 loadenv test regexp echo linux serial terminal sleep reboot",
        "--no-floppy",
        loop.device,
      ]);
      const grubDir = path.join(mnt, GRUB_DIR);
      fs.writeFileSync(path.join(grubDir, "grub.cfg"), grubCfg);
      // grub-editenv creates the block the way every GRUB tool does; then the agent's own
      // code records slot A as committed, exactly as the agent will read it back.
      run("grub-editenv", [path.join(grubDir, "grubenv"), "create"]);
      const env = parseGrubEnv(fs.readFileSync(path.join(grubDir, "grubenv")));
      fs.writeFileSync(path.join(grubDir, "grubenv"), formatGrubEnv(bootStateToEnv(env, markGood(initialBootState(), "A"))));
      const state = emptyAgentState();
      state.slots.A = { content: "staged", version: opts.slotA.version, digest: opts.slotA.digest, bytes: opts.slotA.size, stagedAt: "image-builder" };
      writeAgentState(path.join(mnt, AGENT_STATE_FILE), state);
    } finally {
      umount();
    }
  } finally {
    loop.detach();
    fs.rmSync(work, { recursive: true, force: true });
  }
  fs.renameSync(tmp, out);
  return out;
}

/** A private, sparse copy of a cached disk under `dir`. */
export function copyDisk(cached: string, dir: string, name = "disk.img"): string {
  const dst = path.join(dir, name);
  run("cp", ["--sparse=always", cached, dst]);
  return dst;
}

/** The lab's standard disk: version `1.0.0` committed in slot A. */
export function labDisk(version = "1.0.0"): { disk: string; image: OsImage } {
  const image = buildOsImage(version);
  return { disk: buildDisk({ slotA: image }), image };
}
