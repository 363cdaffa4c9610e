// Loop devices for disk images (root only). Partition nodes do not appear by themselves
// on these machines (no udev), so attach runs `partx -a`; detach is always by device
// name, never `losetup -D`, since other tests on the machine have their own loops.

import { execFileSync } from "node:child_process";
import fs from "node:fs";

/** Runs a command, returning stdout; the error names the command and carries its stderr. */
export function run(cmd: string, args: string[], opts: { input?: string | Buffer; cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["pipe", "pipe", "pipe"], maxBuffer: 64 << 20, ...opts });
  } catch (err) {
    const e = err as { stderr?: string; status?: number };
    throw new Error(`${cmd} ${args.join(" ")}: exit ${e.status}: ${(e.stderr ?? String(err)).trim()}`, { cause: err });
  }
}

/** An attached disk image. */
export interface LoopDisk {
  /** e.g. `/dev/loop3`. */
  device: string;
  /** The node of partition `n`, e.g. `/dev/loop3p2`. */
  part(n: number): string;
  detach(): void;
}

/** Attaches `image` to a free loop device and makes its partition nodes appear. */
export function attachLoop(image: string): LoopDisk {
  const device = run("losetup", ["-f", "-P", "--show", image]).trim();
  try {
    // -P asks the kernel to scan; partx makes sure the partitions are there even when
    // the scan raced with another attach. "Already exists" is fine.
    try {
      run("partx", ["-a", device]);
    } catch {
      // Partitions were already added by -P.
    }
    const part = (n: number) => `${device}p${n}`;
    for (let i = 0; i < 50 && !fs.existsSync(part(1)); i++) run("sleep", ["0.1"]);
    if (!fs.existsSync(part(1))) throw new Error(`no partition nodes for ${device}`);
    let detached = false;
    return {
      device,
      part,
      detach() {
        if (detached) return;
        detached = true;
        detachLoop(device);
      },
    };
  } catch (err) {
    detachLoop(device);
    throw err;
  }
}

/** Detaches a loop device by name, retrying while the kernel still holds it busy. */
export function detachLoop(device: string): void {
  for (let i = 0; ; i++) {
    try {
      run("losetup", ["-d", device]);
      return;
    } catch (err) {
      if (i >= 20) throw err;
      run("sleep", ["0.1"]);
    }
  }
}

/** Mounts `device` (ext4) on a new directory under `parent`; returns the mount point and an unmount. */
export function mountExt4(device: string, dir: string, readOnly = false): () => void {
  fs.mkdirSync(dir, { recursive: true });
  run("mount", ["-t", "ext4", ...(readOnly ? ["-o", "ro"] : []), device, dir]);
  return () => run("umount", [dir]);
}
