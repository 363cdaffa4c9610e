// Builds small versioned OS images for the lab and the tests: an ext4 root filesystem
// with /etc/os-release carrying the version, Debian's cloud kernel and a busybox
// initramfs in /boot. Built images are cached outside the clone, keyed by their inputs.
// Lab nodes, which the lab boots without QEMU, take images without the kernel: a few MiB
// instead of 24, so a fleet stages them quickly.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { run } from "./loop";

/** A slot image: the bytes `stage` writes into a root slot. */
export interface OsImage {
  version: string;
  variant: OsVariant;
  /** The raw ext4 image. */
  path: string;
  /** SHA-256 of the image, lower-case hex. */
  digest: string;
  size: number;
}

/**
 * `good` boots and reports its version; `panic` makes the kernel panic at boot (the lab
 * nodes' boot treats it the same way); `unhealthy` boots, but the lab nodes' commit
 * health check fails on it. The variant is also `TWINROOT_VARIANT` in /etc/os-release.
 */
export type OsVariant = "good" | "panic" | "unhealthy";

/** More choices of {@link buildOsImage}. */
export interface OsImageOptions {
  /**
   * Put the kernel and initramfs in /boot so GRUB can boot the slot (QEMU tests).
   * Default true; lab nodes use images without them.
   */
  kernel?: boolean;
}

/** Where built artifacts are kept between runs (`TWINROOT_CACHE` overrides `~/.cache/twinroot`). */
export function cacheDir(): string {
  const dir = path.join(process.env.TWINROOT_CACHE ?? path.join(os.homedir(), ".cache", "twinroot"), "images");
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** The kernel and modules from the installed linux-image-cloud-amd64. */
export function findKernel(): { version: string; vmlinuz: string; modules: string } {
  const names = fs
    .readdirSync("/boot")
    .filter((f) => /^vmlinuz-.*-cloud-amd64$/.test(f))
    .sort();
  const vmlinuz = names.at(-1);
  if (!vmlinuz) throw new Error("image builder: no /boot/vmlinuz-*-cloud-amd64; install linux-image-cloud-amd64");
  const version = vmlinuz.slice("vmlinuz-".length);
  return { version, vmlinuz: path.join("/boot", vmlinuz), modules: path.join("/lib/modules", version) };
}

/** Virtio modules the initramfs loads to see the VM's disk (the cloud kernel has them as modules). */
const MODULES = [
  "drivers/virtio/virtio_ring.ko",
  "drivers/virtio/virtio.ko",
  "drivers/virtio/virtio_pci_legacy_dev.ko",
  "drivers/virtio/virtio_pci_modern_dev.ko",
  "drivers/virtio/virtio_pci.ko",
  "drivers/block/virtio_blk.ko",
];

/** Hashes a file (streamed is not needed: images here are tens of MiB). */
export function sha256File(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

function buildInitramfs(dir: string, variant: OsVariant, out: string): void {
  const k = findKernel();
  const root = path.join(dir, "initramfs");
  for (const d of ["bin", "dev", "proc", "sys", "mnt", "etc", "lib/modules"]) fs.mkdirSync(path.join(root, d), { recursive: true });
  fs.copyFileSync("/bin/busybox", path.join(root, "bin/busybox"));
  fs.copyFileSync(path.join(__dirname, "init.sh"), path.join(root, "init"));
  fs.chmodSync(path.join(root, "init"), 0o755);
  fs.chmodSync(path.join(root, "bin/busybox"), 0o755);
  fs.writeFileSync(path.join(root, "etc/twinroot-variant"), `${variant}\n`);
  for (const m of MODULES) {
    const src = path.join(k.modules, "kernel", m);
    const xz = `${src}.xz`;
    const dst = path.join(root, "lib/modules", path.basename(m));
    if (fs.existsSync(src)) fs.copyFileSync(src, dst);
    else fs.writeFileSync(dst, execFileSync("xz", ["-dc", xz], { maxBuffer: 64 << 20 }));
  }
  const files = run("find", [".", "-mindepth", "1"], { cwd: root }).trim().split("\n").sort().join("\n");
  fixTimes(root);
  // --reproducible and gzip -n: no inode numbers, device numbers or timestamps that
  // differ between builds.
  run("sh", ["-c", `cpio -o -H newc --quiet --reproducible | gzip -1 -n > ${JSON.stringify(out)}`], { cwd: root, input: `${files}\n` });
}

/**
 * The time every file of an image carries: images are reproducible, so the digest a
 * stack's config pins (programs/local/Pulumi.local.yaml) is the digest any machine builds.
 */
const IMAGE_EPOCH = 1_700_000_000;

/** Sets the access and modification times of everything under `root` to {@link IMAGE_EPOCH}. */
function fixTimes(root: string): void {
  for (const e of fs.readdirSync(root, { withFileTypes: true, recursive: true })) {
    fs.lutimesSync(path.join(e.parentPath, e.name), IMAGE_EPOCH, IMAGE_EPOCH);
  }
  fs.lutimesSync(root, IMAGE_EPOCH, IMAGE_EPOCH);
}

/**
 * Makes an ext4 image built with `mkfs.ext4 -d` reproducible: mkfs takes every inode's
 * change time from the source files (the kernel sets it to now and nothing can set it
 * back), so each inode's ctime is set to {@link IMAGE_EPOCH} with debugfs afterwards;
 * mkfs's own times come from E2FSPROGS_FAKE_TIME.
 */
function fixInodeTimes(image: string, root: string): void {
  const paths = ["/", "/lost+found", ...fs.readdirSync(root, { recursive: true }).map((p) => `/${String(p)}`)];
  const cmds = paths.flatMap((p) => [`sif "${p}" ctime ${IMAGE_EPOCH}`, `sif "${p}" ctime_extra 0`]).join("\n");
  run("debugfs", ["-w", "-f", "-", image], { input: `${cmds}\n`, env: { ...process.env, E2FSPROGS_FAKE_TIME: String(IMAGE_EPOCH) } });
}

/**
 * Builds (or takes from the cache) the image of `version`. `sizeMiB` is the filesystem
 * size; the result is exactly that many MiB so it fits a slot of that size.
 */
export function buildOsImage(version: string, variant: OsVariant = "good", sizeMiB = 24, opts: OsImageOptions = {}): OsImage {
  if (!/^[A-Za-z0-9._-]+$/.test(version)) throw new Error(`image builder: bad version ${JSON.stringify(version)}`);
  const withKernel = opts.kernel ?? true;
  const k = withKernel ? findKernel() : undefined;
  const inputs = JSON.stringify(
    k
      ? {
          v: 3,
          version,
          variant,
          sizeMiB,
          kernel: k.version,
          kernelSize: fs.statSync(k.vmlinuz).size,
          busybox: fs.statSync("/bin/busybox").size,
          init: fs.readFileSync(path.join(__dirname, "init.sh"), "utf8"),
        }
      : { v: 3, version, variant, sizeMiB, kernel: false },
  );
  const key = createHash("sha256").update(inputs).digest("hex").slice(0, 16);
  const out = path.join(cacheDir(), `os-${version}-${variant}${k ? "" : "-nokernel"}-${key}.img`);
  const meta = `${out}.json`;
  if (fs.existsSync(out) && fs.existsSync(meta)) return JSON.parse(fs.readFileSync(meta, "utf8")) as OsImage;

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-osimg-"));
  try {
    const rootfs = path.join(dir, "rootfs");
    fs.mkdirSync(path.join(rootfs, "etc"), { recursive: true });
    fs.mkdirSync(path.join(rootfs, "boot"), { recursive: true });
    fs.writeFileSync(
      path.join(rootfs, "etc/os-release"),
      `NAME="twinroot lab OS"\nID=twinroot-lab\nVERSION_ID=${version}\nPRETTY_NAME="twinroot lab OS ${version}"\nTWINROOT_VARIANT=${variant}\n`,
    );
    if (k) {
      fs.copyFileSync(k.vmlinuz, path.join(rootfs, "boot/vmlinuz"));
      buildInitramfs(dir, variant, path.join(rootfs, "boot/initrd.img"));
    }
    const tmp = `${out}.${process.pid}.tmp`;
    run("truncate", ["-s", `${sizeMiB}M`, tmp]);
    // A fixed UUID, hash seed and times make a rebuild byte for byte the same.
    fixTimes(rootfs);
    run(
      "mkfs.ext4",
      [
        "-q",
        "-F",
        "-L",
        "twinroot-os",
        "-U",
        "5d5c0c3e-8c8a-4bde-9d43-000000000001",
        "-E",
        "root_owner=0:0,hash_seed=5d5c0c3e-8c8a-4bde-9d43-000000000002",
        "-d",
        rootfs,
        tmp,
      ],
      { env: { ...process.env, E2FSPROGS_FAKE_TIME: String(IMAGE_EPOCH) } },
    );
    fixInodeTimes(tmp, rootfs);
    const image: OsImage = { version, variant, path: out, digest: sha256File(tmp), size: fs.statSync(tmp).size };
    fs.renameSync(tmp, out);
    fs.writeFileSync(meta, JSON.stringify(image));
    return image;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
