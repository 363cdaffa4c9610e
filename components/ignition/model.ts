// Typed Ignition configs, spec 3.3 to 3.5 (https://coreos.github.io/ignition/specs/).
// One set of types covers the three versions; fields that a version lacks say so,
// and validation rejects them for configs that target that version. Optional fields
// are Go pointers in Ignition: left out means "not set", which differs from a zero.
import type { SpecVersion } from "./schema";

export type { SpecVersion } from "./schema";

/** A whole Ignition config. */
export interface IgnitionConfig {
  /** Metadata about the config itself: version, merged configs, fetching options. */
  ignition: IgnitionSection;
  /** Kernel arguments to ensure present or absent (applied with a reboot on first boot). */
  kernelArguments?: KernelArguments;
  /** Users and groups. */
  passwd?: Passwd;
  /** Disks, partitions, RAID, LUKS, filesystems, files, directories and links. */
  storage?: Storage;
  /** systemd units and drop-ins. */
  systemd?: Systemd;
}

/** The `ignition` section. */
export interface IgnitionSection {
  /** The spec version, e.g. `3.4.0`; an OS image's Ignition accepts only the specs it knows. */
  version: SpecVersion | string;
  /** Other configs to merge into this one, or to replace it with. */
  config?: { merge?: Resource[]; replace?: Resource };
  /** Proxies for fetching remote resources. */
  proxy?: { httpProxy?: string; httpsProxy?: string; noProxy?: string[] };
  /** Extra certificate authorities trusted for HTTPS fetches. */
  security?: { tls?: { certificateAuthorities?: Resource[] } };
  /** Fetch timeouts in seconds. */
  timeouts?: { httpResponseHeaders?: number; httpTotal?: number };
}

/** Something Ignition fetches: file contents, a merged config, a CA, a key file. */
export interface Resource {
  /** `gzip` when `source` holds gzip-compressed data, `""` for none. */
  compression?: string;
  /** Extra HTTP headers for http(s) sources. */
  httpHeaders?: { name: string; value?: string }[];
  /** A URL: `data:`, `http(s):`, `tftp:`, `s3:`, `gs:` or an S3 `arn:`. */
  source?: string;
  /** `sha512-<hex>` or `sha256-<hex>` of the fetched (still compressed) bytes. */
  verification?: { hash?: string };
}

/** Kernel arguments. */
export interface KernelArguments {
  shouldExist?: string[];
  shouldNotExist?: string[];
}

/** Users and groups. */
export interface Passwd {
  groups?: PasswdGroup[];
  users?: PasswdUser[];
}

/** A group to create or modify. */
export interface PasswdGroup {
  name: string;
  gid?: number;
  passwordHash?: string;
  shouldExist?: boolean;
  system?: boolean;
}

/** A user to create or modify. */
export interface PasswdUser {
  name: string;
  gecos?: string;
  groups?: string[];
  homeDir?: string;
  noCreateHome?: boolean;
  noLogInit?: boolean;
  noUserGroup?: boolean;
  passwordHash?: string;
  primaryGroup?: string;
  sshAuthorizedKeys?: string[];
  shell?: string;
  shouldExist?: boolean;
  system?: boolean;
  uid?: number;
}

/** The `storage` section. */
export interface Storage {
  directories?: Directory[];
  disks?: Disk[];
  files?: File[];
  filesystems?: Filesystem[];
  links?: Link[];
  luks?: Luks[];
  raid?: Raid[];
}

/** Owner of a node, by id or by name (not both). */
export interface Owner {
  id?: number;
  name?: string;
}

/** What files, directories and links share. */
export interface FsNode {
  /** Absolute, clean path. */
  path: string;
  /** Replace whatever is already at the path. */
  overwrite?: boolean;
  user?: Owner;
  group?: Owner;
}

/** A regular file. */
export interface File extends FsNode {
  contents?: Resource;
  /** Fragments appended to the file. */
  append?: Resource[];
  /** Permission bits as a number (0o644 = 420); special bits only from spec 3.6. */
  mode?: number;
}

/** A directory. */
export interface Directory extends FsNode {
  mode?: number;
}

/** A symbolic or hard link. */
export interface Link extends FsNode {
  target?: string;
  hard?: boolean;
}

/** A disk to partition. */
export interface Disk {
  device: string;
  partitions?: Partition[];
  wipeTable?: boolean;
}

/** A GPT partition. */
export interface Partition {
  /** 1-based number; 0 or absent means "next free" when creating. */
  number?: number;
  label?: string;
  sizeMiB?: number;
  startMiB?: number;
  typeGuid?: string;
  guid?: string;
  resize?: boolean;
  shouldExist?: boolean;
  wipePartitionEntry?: boolean;
}

/** A filesystem to create or reuse. */
export interface Filesystem {
  device: string;
  format?: string;
  label?: string;
  mountOptions?: string[];
  options?: string[];
  path?: string;
  uuid?: string;
  wipeFilesystem?: boolean;
}

/** A LUKS volume. */
export interface Luks {
  name: string;
  device?: string;
  /** Spec 3.5 and later. */
  cex?: { enabled?: boolean };
  clevis?: {
    custom?: { config?: string; needsNetwork?: boolean; pin?: string };
    /** `advertisement` exists from spec 3.4. */
    tang?: { url?: string; thumbprint?: string; advertisement?: string }[];
    threshold?: number;
    tpm2?: boolean;
  };
  /** Spec 3.4 and later. */
  discard?: boolean;
  keyFile?: Resource;
  label?: string;
  /** Spec 3.4 and later. */
  openOptions?: string[];
  options?: string[];
  uuid?: string;
  wipeVolume?: boolean;
}

/** A software RAID array. */
export interface Raid {
  name: string;
  devices?: string[];
  level?: string;
  options?: string[];
  spares?: number;
}

/** The `systemd` section. */
export interface Systemd {
  units?: Unit[];
}

/** A systemd unit. */
export interface Unit {
  name: string;
  contents?: string;
  dropins?: Dropin[];
  enabled?: boolean;
  mask?: boolean;
}

/** A systemd drop-in. */
export interface Dropin {
  name: string;
  contents?: string;
}
