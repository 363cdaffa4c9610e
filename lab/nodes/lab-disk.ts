// A lab node's disk from the outside: private loop-backed copies of the lab disk, what
// is on them (grubenv, the agent's records, a slot's /etc/os-release) read without the
// agent, and releasing them (mounts a SIGKILLed agent left behind, then the loop device,
// by its name).

import { execFile, execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { bootStateFromEnv } from "../../node-agent/boot/chooser";
import { parseGrubEnv } from "../../node-agent/boot/grubenv";
import type { BootState } from "../../node-agent/boot/machine";
import { majMinOf, mountPointOf } from "../../node-agent/slots/disk";
import { AGENT_STATE_FILE, GRUB_DIR, type SlotName } from "../../node-agent/slots/layout";
import { type AgentState, readAgentState } from "../../node-agent/slots/state";
import { copyDisk, DISK_PARTITIONS, labDisk } from "../image-builder/disk-image";
import { attachLoop, detachLoop, type LoopDisk, mountExt4 } from "../image-builder/loop";
import type { OsImage } from "../image-builder/os-image";

const execFileAsync = promisify(execFile);

/** A private copy of the lab disk (1.0.0 committed in slot A), attached to a loop device. */
export function labLoopDisk(dir: string): { loop: LoopDisk; file: string; image: OsImage } {
  const { disk, image } = labDisk();
  const file = copyDisk(disk, dir);
  return { loop: attachLoop(file), file, image };
}

/** The partition of a root slot on the disks the image builder makes (the numbers grub.cfg was rendered with). */
export function slotPartition(slot: SlotName): number {
  return slot === "A" ? DISK_PARTITIONS.rootA : DISK_PARTITIONS.rootB;
}

/** The grubenv file under a mounted boot partition. */
export function grubEnvPath(bootDir: string): string {
  return path.join(bootDir, GRUB_DIR, "grubenv");
}

/** Reads the boot state and the agent's records straight from the disk's boot partition. */
export function readDisk(loop: LoopDisk, dir: string): { boot: BootState; state: AgentState; grubenv: Buffer } {
  // The agent may have the partition mounted (a killed agent leaves its mount): read
  // through that mount, else mount it read-only for the look.
  const dev = loop.part(DISK_PARTITIONS.boot);
  const mounted = mountPointOf(majMinOf(dev));
  const mnt = mounted ?? path.join(dir, "inspect");
  const umount = mounted ? () => {} : mountExt4(dev, mnt, true);
  try {
    const grubenv = fs.readFileSync(grubEnvPath(mnt));
    return { boot: bootStateFromEnv(parseGrubEnv(grubenv)), state: readAgentState(path.join(mnt, AGENT_STATE_FILE)), grubenv };
  } finally {
    umount();
  }
}

/** `major:minor` of every partition node of the loop disk that still exists. */
function partitionDevices(loop: LoopDisk): Set<string> {
  const parts = new Set<string>();
  for (let n = 1; n <= 5; n++) {
    try {
      const rdev = fs.statSync(loop.part(n)).rdev;
      parts.add(`${(rdev >> 8) & 0xfff}:${(rdev & 0xff) | ((rdev >> 12) & 0xfff00)}`);
    } catch {
      // Partition node gone.
    }
  }
  return parts;
}

/** Mount points of the loop disk's partitions, innermost first. */
function mountsOf(loop: LoopDisk): string[] {
  const parts = partitionDevices(loop);
  return fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" "))
    .filter((f) => parts.has(f[2] as string))
    .map((f) => f[4] as string)
    .reverse();
}

/** Unmounts whatever is mounted from the loop disk's partitions (what a SIGKILLed agent leaves), without blocking the event loop. */
export async function unmountPartitions(loop: LoopDisk): Promise<void> {
  for (const m of mountsOf(loop)) {
    try {
      await execFileAsync("umount", [m]);
    } catch (err) {
      throw new Error(`umount ${m}: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`, { cause: err });
    }
  }
}

/** Unmounts whatever is mounted from the loop disk's partitions (an agent killed by SIGKILL leaves its mount), then detaches it. */
export function releaseLoop(loop: LoopDisk): void {
  for (const m of mountsOf(loop)) execFileSync("umount", [m]);
  loop.detach();
}

/**
 * Gives back what a lab run that died left under `dir`: mounts below it (a SIGKILLed
 * agent's), then loop devices backed by `disk`, detached by name. Nothing to do is fine.
 */
export function releaseStale(dir: string, disk: string): void {
  const mounts = fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((m): m is string => !!m && m.startsWith(`${dir}/`))
    .reverse();
  for (const m of mounts) execFileSync("umount", [m]);
  if (!fs.existsSync(disk)) return;
  const loops = execFileSync("losetup", ["--associated", disk, "--noheadings", "--output", "NAME"], { encoding: "utf8" });
  for (const device of loops
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean))
    detachLoop(device);
}

/** `/etc/os-release` of an OS image, as key → value. */
export type OsRelease = Record<string, string>;

/** Parses os-release text (`KEY=value`, values optionally double-quoted). */
export function parseOsRelease(text: string): OsRelease {
  const out: OsRelease = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1] as string] = (m[2] as string).replace(/^"(.*)"$/, "$1");
  }
  return out;
}

/**
 * `/etc/os-release` of the ext4 filesystem on `device`, read with debugfs (nothing is
 * mounted); undefined when the device holds no readable filesystem or no such file (a
 * slot that was never written, or whose write was interrupted).
 */
export async function readSlotRelease(device: string): Promise<OsRelease | undefined> {
  try {
    const { stdout } = await execFileAsync("debugfs", ["-R", "cat /etc/os-release", device], { encoding: "utf8" });
    const release = parseOsRelease(stdout);
    return release.VERSION_ID ? release : undefined;
  } catch {
    return undefined;
  }
}
