// The shape of Ignition spec 3.3–3.5 and of Butane's YAML for it, as data: one table
// drives key order when rendering, the empty-value rules (Go's `omitempty`), the
// unknown-key checks, and the snake_case keys of Butane. Field order follows the Go
// structs of Ignition, so rendered JSON has the same key order as `butane` output.

/** The Ignition spec versions this package reads and writes. */
export type SpecVersion = "3.3.0" | "3.4.0" | "3.5.0";

/** Every supported spec version, oldest first. */
export const SPEC_VERSIONS: readonly SpecVersion[] = ["3.3.0", "3.4.0", "3.5.0"];

/** The minor number of a spec version (3.4.0 → 4). */
export function specMinor(v: SpecVersion): number {
  return Number(v.split(".")[1]);
}

/** One field of a struct in the schema. */
export interface FieldSpec {
  /** JSON key (camelCase) — or the YAML key, for Butane-only fields. */
  key: string;
  /** Scalar type, or `struct`/`list`. */
  type: "string" | "int" | "bool" | "struct" | "list";
  /** For structs, the struct name; for lists, the element (a struct name or `string`). */
  of?: string;
  /** A Go pointer: absent and zero are different. */
  ptr: boolean;
  /** Left out of JSON when empty (Go's `omitempty`). */
  omitempty: boolean;
  /** First spec minor that has the field (3 when always there). */
  since: number;
}

// Compact field notation: `key:t` where t is s/i/b (pointer, omitempty), S/I
// (non-pointer, always written), S~/I~ (non-pointer, omitempty), [x] a list, Name a
// struct, Name! a struct that is always written; `@4` = since spec 3.4.
function parseField(spec: string): FieldSpec {
  const m = /^([A-Za-z0-9_]+):([^@]+)(?:@(\d))?$/.exec(spec);
  if (!m) throw new Error(`bad field spec ${spec}`);
  const [, key, t, since] = m as unknown as [string, string, string, string | undefined];
  const base = { key, since: since ? Number(since) : 3 };
  const scalar = { s: "string", i: "int", b: "bool" } as const;
  if (t in scalar) return { ...base, type: scalar[t as keyof typeof scalar], ptr: true, omitempty: true };
  if (t === "S" || t === "I") return { ...base, type: t === "S" ? "string" : "int", ptr: false, omitempty: false };
  if (t === "S~" || t === "I~") return { ...base, type: t === "S~" ? "string" : "int", ptr: false, omitempty: true };
  if (t.startsWith("[")) {
    const inner = t.slice(1, -1);
    return { ...base, type: "list", of: inner === "s" ? "string" : inner, ptr: false, omitempty: true };
  }
  const always = t.endsWith("!");
  return { ...base, type: "struct", of: always ? t.slice(0, -1) : t, ptr: false, omitempty: !always };
}

function struct(...fields: string[]): FieldSpec[] {
  return fields.map(parseField);
}

const node = ["group:NodeGroup", "overwrite:b", "path:S", "user:NodeUser"];

/** Ignition's structs, fields in Go order (embedded structs flattened in place). */
export const IGNITION_SCHEMA: Readonly<Record<string, FieldSpec[]>> = {
  Config: struct("ignition:Ignition!", "kernelArguments:KernelArguments", "passwd:Passwd", "storage:Storage", "systemd:Systemd"),
  Ignition: struct("config:IgnitionConfig", "proxy:Proxy", "security:Security", "timeouts:Timeouts", "version:S"),
  IgnitionConfig: struct("merge:[Resource]", "replace:Resource"),
  Resource: struct("compression:s", "httpHeaders:[HTTPHeader]", "source:s", "verification:Verification"),
  HTTPHeader: struct("name:S", "value:s"),
  Verification: struct("hash:s"),
  Proxy: struct("httpProxy:s", "httpsProxy:s", "noProxy:[s]"),
  Security: struct("tls:TLS"),
  TLS: struct("certificateAuthorities:[Resource]"),
  Timeouts: struct("httpResponseHeaders:i", "httpTotal:i"),
  KernelArguments: struct("shouldExist:[s]", "shouldNotExist:[s]"),
  Passwd: struct("groups:[PasswdGroup]", "users:[PasswdUser]"),
  PasswdGroup: struct("gid:i", "name:S", "passwordHash:s", "shouldExist:b", "system:b"),
  PasswdUser: struct(
    "gecos:s",
    "groups:[s]",
    "homeDir:s",
    "name:S",
    "noCreateHome:b",
    "noLogInit:b",
    "noUserGroup:b",
    "passwordHash:s",
    "primaryGroup:s",
    "sshAuthorizedKeys:[s]",
    "shell:s",
    "shouldExist:b",
    "system:b",
    "uid:i",
  ),
  Storage: struct("directories:[Directory]", "disks:[Disk]", "files:[File]", "filesystems:[Filesystem]", "links:[Link]", "luks:[Luks]", "raid:[Raid]"),
  NodeGroup: struct("id:i", "name:s"),
  NodeUser: struct("id:i", "name:s"),
  Directory: struct(...node, "mode:i"),
  File: struct(...node, "append:[Resource]", "contents:Resource", "mode:i"),
  Link: struct(...node, "hard:b", "target:s"),
  Disk: struct("device:S", "partitions:[Partition]", "wipeTable:b"),
  Partition: struct("guid:s", "label:s", "number:I~", "resize:b", "shouldExist:b", "sizeMiB:i", "startMiB:i", "typeGuid:s", "wipePartitionEntry:b"),
  Filesystem: struct("device:S", "format:s", "label:s", "mountOptions:[s]", "options:[s]", "path:s", "uuid:s", "wipeFilesystem:b"),
  Luks: struct(
    "cex:Cex@5",
    "clevis:Clevis",
    "device:s",
    "discard:b@4",
    "keyFile:Resource",
    "label:s",
    "name:S",
    "openOptions:[s]@4",
    "options:[s]",
    "uuid:s",
    "wipeVolume:b",
  ),
  Cex: struct("enabled:b"),
  Clevis: struct("custom:ClevisCustom", "tang:[Tang]", "threshold:i", "tpm2:b"),
  ClevisCustom: struct("config:s", "needsNetwork:b", "pin:s"),
  Tang: struct("advertisement:s@4", "thumbprint:s", "url:S~"),
  Raid: struct("devices:[s]", "level:s", "name:S", "options:[s]", "spares:i"),
  Systemd: struct("units:[Unit]"),
  Unit: struct("contents:s", "dropins:[Dropin]", "enabled:b", "mask:b", "name:S"),
  Dropin: struct("contents:s", "name:S"),
};

/** Fields Butane adds to Ignition's structs (YAML keys), by struct. */
export const BUTANE_EXTRAS: Readonly<Record<string, FieldSpec[]>> = {
  Config: struct("version:S", "variant:S"),
  Resource: struct("inline:s", "local:s"),
  Filesystem: struct("with_mount_unit:b"),
  Storage: struct("trees:[Tree]"),
  Tree: struct("local:S", "path:s"),
  Unit: struct("contents_local:s@4"),
  Dropin: struct("contents_local:s@4"),
  PasswdUser: struct("ssh_authorized_keys_local:[s]@4"),
};

/** Structs only the `fcos` variant has (its `boot_device` and `grub` sections). */
export const FCOS_EXTRAS: Readonly<Record<string, FieldSpec[]>> = {
  Config: struct("boot_device:BootDevice", "grub:Grub@4"),
  BootDevice: struct("layout:s", "luks:BootDeviceLuks", "mirror:BootDeviceMirror"),
  BootDeviceLuks: struct("cex:Cex@5", "discard:b@4", "device:s@5", "tang:[Tang]", "threshold:i", "tpm2:b"),
  BootDeviceMirror: struct("devices:[s]"),
  Grub: struct("users:[GrubUser]"),
  GrubUser: struct("name:S", "password_hash:s"),
};

/** Butane's snake_case spelling of a JSON key (`sizeMiB` → `size_mib`). */
export function snake(key: string): string {
  return key.replace(/(MiB|[A-Z])/g, "_$1").toLowerCase();
}

/** The fields of an Ignition struct that exist in a spec minor version. */
export function ignitionFields(name: string, minor: number): FieldSpec[] {
  const fields = IGNITION_SCHEMA[name];
  if (!fields) throw new Error(`no struct ${name} in the Ignition schema`);
  return fields.filter((f) => f.since <= minor);
}

/**
 * The fields of a struct in Butane YAML for a spec minor version and variant: the
 * Ignition fields with snake_case keys plus Butane's own.
 */
export function butaneFields(name: string, minor: number, variant: "fcos" | "flatcar"): FieldSpec[] {
  const key = `${name}/${minor}/${variant}`;
  let fields = butaneCache.get(key);
  if (!fields) {
    fields = computeButaneFields(name, minor, variant);
    butaneCache.set(key, fields);
  }
  return fields;
}

const butaneCache = new Map<string, FieldSpec[]>();

function computeButaneFields(name: string, minor: number, variant: "fcos" | "flatcar"): FieldSpec[] {
  const own = IGNITION_SCHEMA[name] ?? [];
  const fields = own.map((f) => ({ ...f, key: snake(f.key) }));
  fields.push(...(BUTANE_EXTRAS[name] ?? []));
  if (variant === "fcos") fields.push(...(FCOS_EXTRAS[name] ?? []));
  if (!own.length && !BUTANE_EXTRAS[name] && !(variant === "fcos" && FCOS_EXTRAS[name])) throw new Error(`no struct ${name} in the Butane schema`);
  return fields.filter((f) => f.since <= minor);
}
