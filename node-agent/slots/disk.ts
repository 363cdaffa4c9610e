// Finds the A/B layout on a real disk: reads its GPT and maps partition numbers to
// device nodes through sysfs, so any naming works (vda3, nvme0n1p3, mmcblk0p3, loop0p3).

import fs from "node:fs";
import path from "node:path";
import { AgentError } from "../errors";
import { type Gpt, type GptPartition, readGpt } from "./gpt";
import { PARTITION_LABELS, PARTITION_TYPE_GUIDS, type SlotName, slotLabel } from "./layout";

/** A partition of the A/B layout, with the device node that reaches it. */
export interface LayoutPartition extends GptPartition {
  /** The device node, e.g. `/dev/loop3p2`. */
  device: string;
}

/** The A/B layout found on a disk. */
export interface DiskLayout {
  /** The whole disk, e.g. `/dev/vda`. */
  disk: string;
  gpt: Gpt;
  boot: LayoutPartition;
  slots: Record<SlotName, LayoutPartition>;
  persist?: LayoutPartition;
}

/** Overridable roots, so tests can point discovery at a fake sysfs. */
export interface DiskEnv {
  sysfs?: string;
  dev?: string;
}

function readDevice(device: string): (offset: number, length: number) => Buffer {
  return (offset, length) => {
    const fd = fs.openSync(device, "r");
    try {
      const buf = Buffer.alloc(length);
      const n = fs.readSync(fd, buf, 0, length, offset);
      return buf.subarray(0, n);
    } finally {
      fs.closeSync(fd);
    }
  };
}

function sysfsSectorSize(sys: string, name: string): number {
  try {
    return Number(fs.readFileSync(path.join(sys, "class/block", name, "queue/logical_block_size"), "utf8").trim()) || 512;
  } catch {
    return 512;
  }
}

/** Maps partition numbers of a disk to their kernel names, from `/sys/class/block/<disk>/<part>/partition`. */
export function partitionNames(diskName: string, env: DiskEnv = {}): Map<number, string> {
  const dir = path.join(env.sysfs ?? "/sys", "class/block", diskName);
  const out = new Map<number, string>();
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch (err) {
    throw new AgentError("disk-not-found", `disk: ${diskName} is not a block device known to sysfs`, { cause: err });
  }
  for (const e of entries) {
    const f = path.join(dir, e, "partition");
    if (fs.existsSync(f)) out.set(Number(fs.readFileSync(f, "utf8").trim()), e);
  }
  return out;
}

function pick(gpt: Gpt, want: (p: GptPartition) => boolean): GptPartition | undefined {
  return gpt.partitions.find(want);
}

/**
 * Reads the GPT of `disk` and finds the boot partition, the two root slots and PERSIST.
 * Slots are found by label (their type is the same); the boot partition by label
 * (`BOOT`, then `ESP`) or else by type (XBOOTLDR, then ESP).
 */
export function discoverLayout(disk: string, env: DiskEnv = {}): DiskLayout {
  const real = fs.realpathSync(disk);
  const name = path.basename(real);
  const sys = env.sysfs ?? "/sys";
  let gpt: Gpt;
  try {
    gpt = readGpt(readDevice(real), sysfsSectorSize(sys, name));
  } catch (err) {
    throw new AgentError("layout", `disk ${real}: ${(err as Error).message}`, { cause: err });
  }
  const names = partitionNames(name, env);
  const withDevice = (p: GptPartition | undefined, what: string): LayoutPartition => {
    if (!p) throw new AgentError("layout", `disk ${real}: no ${what} partition in the GPT`);
    const part = names.get(p.number);
    if (!part) throw new AgentError("layout", `disk ${real}: partition ${p.number} (${p.label}) has no kernel device; re-read the table (partx -a ${real})`);
    const device = path.join(env.dev ?? "/dev", part);
    if (!fs.existsSync(device)) throw new AgentError("layout", `disk ${real}: ${device} does not exist`);
    return { ...p, device };
  };
  const boot =
    pick(gpt, (p) => p.label === PARTITION_LABELS.boot) ??
    pick(gpt, (p) => p.label === PARTITION_LABELS.esp) ??
    pick(gpt, (p) => p.typeGuid === PARTITION_TYPE_GUIDS.xbootldr) ??
    pick(gpt, (p) => p.typeGuid === PARTITION_TYPE_GUIDS.esp);
  const persist = pick(gpt, (p) => p.label === PARTITION_LABELS.persist);
  return {
    disk: real,
    gpt,
    boot: withDevice(boot, "boot (BOOT/ESP)"),
    slots: {
      A: withDevice(
        pick(gpt, (p) => p.label === slotLabel("A")),
        slotLabel("A"),
      ),
      B: withDevice(
        pick(gpt, (p) => p.label === slotLabel("B")),
        slotLabel("B"),
      ),
    },
    ...(persist ? { persist: withDevice(persist, PARTITION_LABELS.persist) } : {}),
  };
}

/** The `major:minor` of the filesystem mounted at `mountPoint`, from mountinfo. */
export function mountedDevice(mountPoint: string, mountinfo = "/proc/self/mountinfo"): string | undefined {
  for (const line of fs.readFileSync(mountinfo, "utf8").split("\n")) {
    const f = line.split(" ");
    if (f[4] === mountPoint) return f[2];
  }
  return undefined;
}

/** Where a block device (`major:minor`) is mounted, if it is. */
export function mountPointOf(majMin: string, mountinfo = "/proc/self/mountinfo"): string | undefined {
  for (const line of fs.readFileSync(mountinfo, "utf8").split("\n")) {
    const f = line.split(" ");
    if (f[2] === majMin && f[3] === "/") return f[4]?.replace(/\\040/g, " ");
  }
  return undefined;
}

/** The `major:minor` of a device node. */
export function majMinOf(device: string): string {
  const rdev = fs.statSync(device).rdev;
  // Linux's new_encode_dev split: major in bits 8-19, minor in bits 0-7 and 20-31.
  const major = (rdev >> 8) & 0xfff;
  const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
  return `${major}:${minor}`;
}

/**
 * Finds the boot disk when none is configured: the disk holding the root filesystem if
 * it carries the layout, else the only disk whose GPT has both root slots.
 */
export function findBootDisk(env: DiskEnv = {}): string {
  const sys = env.sysfs ?? "/sys";
  const rootDev = mountedDevice("/");
  if (rootDev) {
    try {
      const parent = path.basename(path.dirname(fs.realpathSync(path.join(sys, "dev/block", rootDev))));
      const disk = path.join(env.dev ?? "/dev", parent);
      discoverLayout(disk, env);
      return disk;
    } catch {
      // The root is not on an A/B disk (overlay, a container): scan all disks.
    }
  }
  const found: string[] = [];
  for (const name of fs.readdirSync(path.join(sys, "class/block"))) {
    if (fs.existsSync(path.join(sys, "class/block", name, "partition"))) continue;
    try {
      discoverLayout(path.join(env.dev ?? "/dev", name), env);
      found.push(path.join(env.dev ?? "/dev", name));
    } catch {
      // Not an A/B disk.
    }
  }
  if (found.length !== 1)
    throw new AgentError(
      "disk-not-found",
      found.length ? `disk: several A/B disks (${found.join(", ")}); configure one` : "disk: no disk with ROOT-A and ROOT-B found",
    );
  return found[0] as string;
}
