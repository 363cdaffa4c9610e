// A lab node's power-on: what GRUB does with the disk's environment block, then whether
// the chosen slot's OS comes up. The choice is the project's own model of grub.cfg
// (chooseBoot in node-agent/boot/machine.ts, which the QEMU test holds against real
// GRUB), read from and saved to the grubenv on the disk's boot partition with the
// agent's grubenv code; a try is taken the way grub.cfg's `save_env <slot>_LEFT` takes
// it: that one variable rewritten in place, nothing else. A slot whose OS does not come
// up (a `panic` image, or no readable root filesystem) resets the machine, as the
// kernel's `panic=1` or a watchdog would, and GRUB runs again and picks again.

import { execFile } from "node:child_process";
import fs from "node:fs";
import { promisify } from "node:util";
import { bootStateFromEnv, GRUBENV_VARS } from "../../node-agent/boot/chooser";
import { editGrubEnv, readGrubEnvFile, writeGrubEnvFile } from "../../node-agent/boot/grubenv";
import { chooseBoot } from "../../node-agent/boot/machine";
import { SLOT_CMDLINE_PARAM, type SlotName, slotLabel } from "../../node-agent/slots/layout";
import { DISK_PARTITIONS, LAB_CMDLINE } from "../image-builder/disk-image";
import type { LoopDisk } from "../image-builder/loop";
import { grubEnvPath, type OsRelease, readSlotRelease, slotPartition } from "./lab-disk";

const execFileAsync = promisify(execFile);

/** One GRUB run: the slot it chose, and what that slot's OS did. */
export interface BootAttempt {
  slot: SlotName;
  /** False when GRUB found nothing bootable and fell back to the first slot in the order. */
  bootable: boolean;
  /** The slot's OS came up (else it panicked and the machine reset). */
  up: boolean;
  /** The slot's /etc/os-release, when it has one. */
  release?: OsRelease;
}

/** What one power-on did. */
export interface PowerOn {
  /** Every GRUB run, in order; the last one came up unless `slot` is undefined. */
  attempts: BootAttempt[];
  /** The slot that came up; undefined when none did within the resets allowed. */
  slot?: SlotName;
  /** Its /etc/os-release. */
  release?: OsRelease;
  /** The kernel command line it booted with. */
  cmdline?: string;
}

/** The kernel command line grub.cfg (node-agent/boot/grubcfg.ts) gives a slot on the lab disks; it tells the agent which slot booted. */
export function kernelCmdline(slot: SlotName): string {
  return `root=PARTLABEL=${slotLabel(slot)} ${SLOT_CMDLINE_PARAM}=${slot} ${LAB_CMDLINE}`;
}

/** Whether the OS in a slot comes up: it has a root filesystem with an os-release, and is not an image made to panic. */
export function comesUp(release: OsRelease | undefined): boolean {
  return !!release && release.TWINROOT_VARIANT !== "panic";
}

async function run(cmd: string, args: string[]): Promise<void> {
  try {
    await execFileAsync(cmd, args);
  } catch (err) {
    throw new Error(`${cmd} ${args.join(" ")}: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`, { cause: err });
  }
}

/**
 * Powers the machine on: runs GRUB's slot choice on the disk's grubenv (saving the try
 * it takes) and boots the slot, again after every reset, until a slot's OS comes up or
 * `maxResets` resets have happened (a machine that never comes up stays down). The
 * boot partition must not be mounted elsewhere: the power was off.
 */
export async function powerOn(loop: LoopDisk, mountDir: string, maxResets = 16): Promise<PowerOn> {
  fs.mkdirSync(mountDir, { recursive: true });
  await run("mount", ["-t", "ext4", loop.part(DISK_PARTITIONS.boot), mountDir]);
  const attempts: BootAttempt[] = [];
  try {
    const envFile = grubEnvPath(mountDir);
    for (let reset = 0; reset <= maxResets; reset++) {
      const env = readGrubEnvFile(envFile);
      const before = bootStateFromEnv(env);
      const choice = chooseBoot(before);
      const left = choice.state.slots[choice.slot].triesLeft;
      if (left !== before.slots[choice.slot].triesLeft) {
        writeGrubEnvFile(envFile, editGrubEnv(env, { [GRUBENV_VARS.left(choice.slot)]: String(left) }));
      }
      const release = await readSlotRelease(loop.part(slotPartition(choice.slot)));
      const up = comesUp(release);
      attempts.push({ slot: choice.slot, bootable: choice.bootable, up, ...(release ? { release } : {}) });
      if (up) return { attempts, slot: choice.slot, cmdline: kernelCmdline(choice.slot), ...(release ? { release } : {}) };
    }
    return { attempts };
  } finally {
    // Unmounting writes the saved tries to the device, as GRUB's in-place write would.
    await run("umount", [mountDir]);
  }
}
