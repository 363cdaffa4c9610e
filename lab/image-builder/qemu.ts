// Boots a lab disk in QEMU (software emulation, no network device) and returns what the
// serial console printed. The guest powers off after reporting its slot, so one run is
// one boot, plus any reboots a kernel panic causes on the way.

import { spawn } from "node:child_process";

/** One QEMU run's serial output. */
export interface BootRun {
  serial: string;
  /** The `TWINROOT-BOOTED` reports, in order. */
  booted: { slot: string; version: string }[];
  /** How many times GRUB ran (each reboot is another GRUB run). */
  grubRuns: number;
  /** Slots GRUB chose, in order. */
  chosen: string[];
  ms: number;
}

/** Parses the serial output of a run. */
export function parseSerial(serial: string): Omit<BootRun, "ms" | "serial"> {
  const booted = [...serial.matchAll(/TWINROOT-BOOTED slot=(\S+) version=(\S+)/g)].map((m) => ({ slot: m[1] as string, version: m[2] as string }));
  const chosen = [...serial.matchAll(/twinroot: booting slot (\S+)/g)].map((m) => m[1] as string);
  return { booted, chosen, grubRuns: chosen.length };
}

/** Boots `disk` until the guest powers off (or `timeoutMs`, which is an error). */
export function bootDisk(disk: string, timeoutMs = 120_000): Promise<BootRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const qemu = spawn(
      "qemu-system-x86_64",
      [
        "-accel",
        "tcg",
        "-m",
        "256",
        "-nographic",
        "-nodefaults",
        "-no-user-config",
        "-serial",
        "stdio",
        // No network device: the guest never reaches anything.
        "-nic",
        "none",
        "-drive",
        `file=${disk},format=raw,if=virtio,cache=unsafe`,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let serial = "";
    qemu.stdout.setEncoding("utf8");
    qemu.stdout.on("data", (d: string) => {
      serial += d;
    });
    qemu.stderr.setEncoding("utf8");
    qemu.stderr.on("data", (d: string) => {
      serial += d;
    });
    const timer = setTimeout(() => {
      qemu.kill("SIGKILL");
      reject(new Error(`qemu: no power-off within ${timeoutMs} ms; serial:\n${serial.slice(-4000)}`));
    }, timeoutMs);
    qemu.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    qemu.on("exit", (code) => {
      clearTimeout(timer);
      const clean = serial.replace(/\r/g, "");
      if (code !== 0) reject(new Error(`qemu exited with ${code}; serial:\n${clean.slice(-4000)}`));
      else resolve({ serial: clean, ms: Date.now() - started, ...parseSerial(clean) });
    });
  });
}
