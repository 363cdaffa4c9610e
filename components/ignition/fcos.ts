// The `fcos` variant's own sections: `boot_device` (LUKS-encrypted and/or mirrored
// root, desugared into disks, RAID, LUKS and filesystems with the layout of the
// Fedora CoreOS image) and `grub.users` (a GRUB password file), plus its checks.

import { makeDataUrl } from "./dataurl";
import type { Problems } from "./errors";
import { mergeConfigs } from "./merge";
import type { Disk, Filesystem, IgnitionConfig, Luks, Raid } from "./model";

type Obj = Record<string, unknown>;

const RESERVED = "8DA63339-0007-60C0-C436-083AC8230908";
const BIOS = "21686148-6449-6E6F-744E-656564454649";
const PREP = "9E1A2D38-C612-4316-AA26-8B49521E5A8B";
const ESP = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";

/** fcos checks that run before translation. */
export function validateFcos(y: Obj, minor: number, p: Problems): void {
  const bd = (y.boot_device ?? {}) as Obj;
  const mirror = ((bd.mirror ?? {}) as Obj).devices as string[] | undefined;
  const luks = (bd.luks ?? {}) as Obj;
  const st = (y.storage ?? {}) as Obj;
  if (minor >= 5) {
    const mirrors = new Set(mirror ?? []);
    ((st.disks as Obj[] | undefined) ?? []).forEach((d, i) => {
      if (d.device === "/dev/disk/by-id/coreos-boot-disk" || d.wipe_table === true || mirrors.has(String(d.device))) return;
      ((d.partitions as Obj[] | undefined) ?? []).forEach((part, j) => {
        if (!part.number && part.label !== undefined)
          p.warn(
            "bad-partition",
            ["storage", "disks", i, "partitions", j, "number"],
            "partitions cannot be reused by label; number must be specified except on boot disk (/dev/disk/by-id/coreos-boot-disk) or when wipe_table is true",
            "give the partition its number",
          );
      });
    });
    ((st.filesystems as Obj[] | undefined) ?? []).forEach((f, i) => {
      if (typeof f.path === "string" && !/^\/(etc|var)(\/|$)/.test(f.path) && f.with_mount_unit === true)
        p.error(
          "bad-mount-unit",
          ["storage", "filesystems", i, "path"],
          "path must be under /etc or /var if with_mount_unit is true",
          "mount it under /var (e.g. /var/lib/data)",
        );
    });
  }
  if ((mirror?.length ?? 0) > 0 && bd.layout === undefined)
    p.warn(
      "bad-boot-device",
      ["boot_device", "mirror"],
      "boot_device.layout should be specified when boot_device.mirror is specified",
      "set boot_device.layout",
    );
  if (typeof bd.layout === "string") {
    const layouts = minor >= 5 ? ["aarch64", "ppc64le", "x86_64", "s390x-eckd", "s390x-virt", "s390x-zfcp"] : ["aarch64", "ppc64le", "x86_64"];
    if (!layouts.includes(bd.layout))
      p.error(
        "bad-boot-device",
        ["boot_device", "layout"],
        `layout must be one of: ${[...layouts].sort().join(", ")}`,
        "pick the layout of the machine's architecture",
      );
    else if (bd.layout === "s390x-eckd" || bd.layout === "s390x-zfcp") {
      const dev = luks.device;
      const re = bd.layout === "s390x-eckd" ? /\/dev\/dasd[a-z]$/ : /\/dev\/sd[a-z]$/;
      if (typeof dev !== "string" || dev === "")
        p.error("bad-boot-device", ["boot_device", "layout"], "device is required for layouts: s390x-eckd, s390x-zfcp", "set boot_device.luks.device");
      else if (!re.test(dev))
        p.error(
          "bad-boot-device",
          ["boot_device", "layout"],
          "device name must start with /dev/dasd on s390x-eckd layout or /dev/sd on s390x-zfcp layout",
          "fix boot_device.luks.device",
        );
    }
    if (bd.layout.startsWith("s390x") && (mirror?.length ?? 0) > 0)
      p.error(
        "bad-boot-device",
        ["boot_device", "layout"],
        "mirroring not supported on layouts: s390x-eckd, s390x-zfcp, s390x-virt",
        "drop boot_device.mirror",
      );
  }
  if (((luks.cex ?? {}) as Obj).enabled === true) {
    if (bd.layout === undefined)
      p.error("bad-boot-device", ["boot_device", "luks", "cex"], "when using cex the targeted architecture must match s390x", "set an s390x layout");
    else if (!String(bd.layout).startsWith("s390x"))
      p.error("bad-boot-device", ["boot_device", "layout"], "when using cex the targeted architecture must match s390x", "set an s390x layout");
    if (((luks.tang as unknown[] | undefined)?.length ?? 0) > 0 || luks.tpm2 === true)
      p.error("bad-boot-device", ["boot_device", "luks"], "cannot use cex with clevis", "use either cex or tang/tpm2");
  }
  if (mirror?.length === 1)
    p.error("bad-boot-device", ["boot_device", "mirror", "devices"], "mirroring requires at least two devices", "list two or more disks");
  ((((y.grub ?? {}) as Obj).users as Obj[] | undefined) ?? []).forEach((u, i) => {
    if (!u.name) p.error("bad-grub-user", ["grub", "users", i, "name"], 'field "name" is required', "name the GRUB user");
    if (typeof u.password_hash !== "string" || u.password_hash === "")
      p.error("bad-grub-user", ["grub", "users", i, "password_hash"], 'field "password_hash" is required', "generate one with grub2-mkpasswd-pbkdf2");
  });
}

/** Desugars `boot_device` and `grub`, merging the result under the user's config. */
export function translateFcos(y: Obj, config: IgnitionConfig, minor: number, p: Problems, noCompression: boolean): IgnitionConfig {
  let out = bootDevice(y, config, minor);
  for (const [i, disk] of (out.storage?.disks ?? []).entries()) {
    if (disk.wipeTable === true) continue;
    for (const [j, part] of (disk.partitions ?? []).entries()) {
      const l = part.label;
      const n = part.number ?? 0;
      if (
        (l === "BIOS-BOOT" && n !== 1) ||
        (l === "PowerPC-PReP-boot" && n !== 1) ||
        (l === "EFI-SYSTEM" && n !== 2) ||
        (l === "boot" && n !== 3) ||
        (l === "root" && n !== 4)
      )
        p.warn(
          "bad-partition",
          ["storage", "disks", i, "partitions", j, "label"],
          "incorrect partition number; a new partition will be created using reserved label",
          "use the partition number of the reserved label",
        );
    }
  }
  const users = (((y.grub ?? {}) as Obj).users as Obj[] | undefined) ?? [];
  if (minor >= 4 && users.length) {
    const cfg = `# Generated by Butane\n\nset superusers="${users.map((u) => u.name).join(" ")}"\n${users.map((u) => `password_pbkdf2 ${u.name} ${u.password_hash}`).join("\n")}\n`;
    const enc = makeDataUrl(Buffer.from(cfg, "utf8"), undefined, !noCompression);
    const grub: IgnitionConfig = {
      ignition: { version: "" },
      storage: {
        filesystems: [{ device: "/dev/disk/by-label/boot", format: "ext4", path: "/boot" }],
        files: [{ path: "/boot/grub2/user.cfg", append: [{ source: enc.source, compression: enc.compression }] }],
      },
    };
    out = mergeConfigs(grub, out);
  }
  return out;
}

function bootDevice(y: Obj, config: IgnitionConfig, minor: number): IgnitionConfig {
  const bd = (y.boot_device ?? {}) as Obj;
  const luks = (bd.luks ?? {}) as Obj;
  const cex = minor >= 5 && ((luks.cex ?? {}) as Obj).enabled === true;
  const tang = (luks.tang as Obj[] | undefined) ?? [];
  const wantLuks = luks.tpm2 === true || tang.length > 0 || cex;
  const devices = (((bd.mirror ?? {}) as Obj).devices as string[] | undefined) ?? [];
  const wantMirror = devices.length > 0;
  if (!wantLuks && !wantMirror) return config;
  const layout = (bd.layout as string | undefined) ?? "x86_64";
  const wantBios = layout === "x86_64";
  const wantEfi = layout === "x86_64" || layout === "aarch64";
  const wantPrep = layout === "ppc64le";
  const disks: Disk[] = [];
  const filesystems: Filesystem[] = [];
  let raid: Raid[] | undefined;
  if (wantMirror) {
    devices.forEach((device, i) => {
      const n = i + 1;
      const parts: Disk["partitions"] = [];
      if (wantBios) parts.push({ label: `bios-${n}`, sizeMiB: 1, typeGuid: BIOS });
      else if (wantPrep) parts.push({ label: `prep-${n}`, sizeMiB: 4, typeGuid: PREP });
      else parts.push({ label: `reserved-${n}`, sizeMiB: 1, typeGuid: RESERVED });
      if (wantEfi) parts.push({ label: `esp-${n}`, sizeMiB: 127, typeGuid: ESP });
      else parts.push({ label: `reserved-${n}`, sizeMiB: 1, typeGuid: RESERVED });
      parts.push({ label: `boot-${n}`, sizeMiB: 384 }, { label: `root-${n}` });
      disks.push({ device, partitions: parts, wipeTable: true });
      if (wantEfi) filesystems.push({ device: `/dev/disk/by-partlabel/esp-${n}`, format: "vfat", label: `esp-${n}`, wipeFilesystem: true });
    });
    const members = (prefix: string) => disks.map((_, i) => `/dev/disk/by-partlabel/${prefix}-${i + 1}`);
    raid = [
      { devices: members("boot"), level: "raid1", name: "md-boot", options: ["--metadata=1.0"] },
      { devices: members("root"), level: "raid1", name: "md-root" },
    ];
    filesystems.push({ device: "/dev/md/md-boot", format: "ext4", label: "boot", wipeFilesystem: true });
  }
  let luksList: Luks[] | undefined;
  if (wantLuks) {
    let device = "/dev/disk/by-partlabel/root";
    if (layout === "s390x-eckd") device = `${luks.device}2`;
    else if (layout === "s390x-zfcp") device = `${luks.device}4`;
    else if (wantMirror) device = "/dev/md/md-root";
    const entry: Luks = { device, discard: luks.discard as boolean | undefined, label: "luks-root", name: "root", wipeVolume: true };
    if (cex) entry.cex = { enabled: true };
    else {
      entry.clevis = {
        tang: tang.map((t) => ({
          url: t.url as string | undefined,
          thumbprint: t.thumbprint as string | undefined,
          advertisement: t.advertisement as string | undefined,
        })),
        threshold: luks.threshold as number | undefined,
        tpm2: luks.tpm2 as boolean | undefined,
      };
    }
    luksList = [entry];
  }
  filesystems.push({ device: wantLuks ? "/dev/mapper/root" : "/dev/md/md-root", format: "xfs", label: "root", wipeFilesystem: true });
  const rendered: IgnitionConfig = { ignition: { version: "" }, storage: { disks, filesystems, raid, luks: luksList } };
  return mergeConfigs(rendered, config);
}
