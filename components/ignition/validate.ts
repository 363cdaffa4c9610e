// Validation of Ignition configs in the spirit of `ignition-validate`: the same rules
// (paths, modes, URLs, hashes, unit names and contents, partitions, filesystems,
// RAID, LUKS, duplicates, fields the target spec lacks), reported together, each with
// the JSON path of the field and a hint.
import { type PathStep, Problems } from "./errors";
import { entryKey, SHARED_KEYS, UNKEYED_LISTS } from "./merge";
import type { IgnitionConfig } from "./model";
import { IGNITION_SCHEMA, SPEC_VERSIONS, type SpecVersion, specMinor } from "./schema";
import { hasInstallSection, parseUnit } from "./unit";
import { checkAbsolutePath, checkHash, checkResourceUrl, GUID_RE, isHttpUrl, parseUrl } from "./urls";

type Obj = Record<string, unknown>;
type Check = (v: Obj, path: PathStep[], p: Problems, minor: number) => void;

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const notEmpty = (v: unknown): v is string => typeof v === "string" && v !== "";
const list = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);

function checkPath(p: Problems, at: PathStep[], value: unknown): void {
  const err = checkAbsolutePath(typeof value === "string" ? value : "");
  if (err)
    p.error(
      err === "path not absolute" ? "path-relative" : err === "path not specified" ? "path-missing" : "path-not-clean",
      at,
      err,
      "use an absolute path without `.`, `..`, `//` or a trailing slash",
    );
}

function checkMode(p: Problems, at: PathStep[], mode: unknown): void {
  if (typeof mode !== "number") return;
  if (mode < 0 || mode > 0o7777)
    p.error("bad-mode", at, "illegal file mode", "modes are octal permission bits between 0 and 0o7777, e.g. 0644 in YAML or 420 in JSON");
  else if (mode & 0o7000)
    p.warn("special-mode-bits", at, "setuid/setgid/sticky bits are not supported or functional in spec versions older than 3.6.0", "drop the special bits");
}

function checkOwner(p: Problems, at: PathStep[], o: unknown): void {
  const x = (o ?? {}) as Obj;
  if (x.id !== undefined && notEmpty(x.name)) p.error("both-id-and-name", at, "cannot set both id and name", "give the owner by id or by name, not both");
}

function checkNode(v: Obj, at: PathStep[], p: Problems): void {
  checkPath(p, [...at, "path"], v.path);
  checkOwner(p, [...at, "user"], v.user);
  checkOwner(p, [...at, "group"], v.group);
}

const unitExts = new Set([".service", ".socket", ".device", ".mount", ".automount", ".swap", ".target", ".path", ".timer", ".snapshot", ".slice", ".scope"]);
const ext = (name: string) => {
  const i = name.lastIndexOf(".");
  return i < 0 || name.slice(i).includes("/") ? "" : name.slice(i);
};

function checkUnitContents(p: Problems, at: PathStep[], contents: unknown): ReturnType<typeof parseUnit> | undefined {
  if (typeof contents !== "string") return undefined;
  const r = parseUnit(contents);
  if ("error" in r)
    p.error("bad-unit-contents", at, `invalid unit content: ${r.error}`, "write the unit in systemd's INI format: [Section] headers and Name=value lines");
  return r;
}

const filesystemFormats = new Set(["ext4", "btrfs", "xfs", "swap", "vfat", "none"]);
const labelLimits: Record<string, number> = { ext4: 16, btrfs: 256, xfs: 12, swap: 15, vfat: 11 };
const raidLevels = new Set(["linear", "raid0", "0", "stripe", "raid1", "1", "mirror", "raid4", "4", "raid5", "5", "raid6", "6", "raid10", "10"]);

const checks: Record<string, Check> = {
  Config(v, at, p) {
    const unitPaths = new Set<string>();
    for (const u of list((v.systemd as Obj | undefined)?.units)) {
      if (notEmpty(u.contents)) unitPaths.add(`/etc/systemd/system/${u.name ?? ""}`);
      for (const d of list(u.dropins)) if (notEmpty(d.contents)) unitPaths.add(`/etc/systemd/system/${u.name ?? ""}.d/${d.name ?? ""}`);
    }
    const storage = (v.storage ?? {}) as Obj;
    for (const kind of ["files", "directories", "links"])
      list(storage[kind]).forEach((n, i) => {
        if (unitPaths.has(String(n.path)))
          p.error(
            "path-conflict",
            [...at, "storage", kind, i, "path"],
            "path conflicts with systemd unit or dropin",
            "configure the unit under systemd.units instead of writing its file",
          );
      });
  },
  IgnitionConfig(v, at, p) {
    list(v.merge).forEach((r, i) => {
      checkRequiredSource(p, [...at, "merge", i], r);
    });
  },
  TLS(v, at, p) {
    list(v.certificateAuthorities).forEach((r, i) => {
      checkRequiredSource(p, [...at, "certificateAuthorities", i], r);
    });
  },
  Resource(v, at, p) {
    if (v.compression !== undefined && v.compression !== "" && v.compression !== "gzip")
      p.error("bad-compression", [...at, "compression"], "invalid compression method", 'use "gzip" or leave compression out');
    if (v.verification && (v.verification as Obj).hash !== undefined && v.source === undefined)
      p.error("source-required", [...at, "verification", "hash"], "source must be specified if verification is specified", "add a source, or drop the hash");
    if (notEmpty(v.source)) {
      const err = checkResourceUrl(v.source);
      if (err) p.error("bad-url", [...at, "source"], err, "use a data:, http(s):, tftp:, s3:, gs: or arn: URL");
    }
    if (notEmpty(v.source) && !v.source.startsWith("data:") && !(v.verification as Obj | undefined)?.hash)
      p.warn(
        "missing-hash",
        [...at, "verification", "hash"],
        "remote source has no verification hash",
        "add verification.hash (sha512-<hex> of the fetched bytes) so a changed or tampered download is refused",
      );
    if (list(v.httpHeaders).length && !(notEmpty(v.source) && isHttpUrl(v.source)))
      p.error(
        "bad-http-header",
        [...at, "httpHeaders"],
        "cannot use HTTP headers with this source scheme",
        "HTTP headers only apply to http and https sources",
      );
  },
  HTTPHeader(v, at, p) {
    if (!notEmpty(v.name)) p.error("bad-http-header", [...at, "name"], "HTTP header name can't be empty", "name the header");
    if (v.value === "") p.error("bad-http-header", [...at, "value"], "unable to parse HTTP header", "give the header a value, or leave value out to unset it");
  },
  Verification(v, at, p) {
    if (typeof v.hash !== "string") return;
    const err = checkHash(v.hash);
    if (err) p.error("bad-hash", [...at, "hash"], err, "write sha512-<128 hex digits> or sha256-<64 hex digits>");
  },
  Proxy(v, at, p) {
    for (const [key, httpOk] of [
      ["httpProxy", true],
      ["httpsProxy", false],
    ] as const) {
      const s = str(v[key]);
      if (s === undefined) continue;
      const u = parseUrl(s);
      if ("error" in u) p.error("bad-proxy", [...at, key], "unable to parse url", "give the proxy as http(s)://host:port");
      else if (u.scheme !== "http" && u.scheme !== "https")
        p.error("bad-proxy", [...at, key], "proxies must be http(s)", "give the proxy as http(s)://host:port");
      else if (u.scheme === "http" && !httpOk)
        p.warn("bad-proxy", [...at, key], "insecure plaintext HTTP proxy specified for HTTPS resources", "use an https:// proxy");
    }
  },
  Storage(v, at, p) {
    const links = list(v.links);
    const under = (path: unknown) => links.some((l) => String(path).startsWith(`${String(l.path)}/`));
    list(v.directories).forEach((d, i) => {
      if (under(d.path))
        p.error("path-through-link", [...at, "directories", i], "directory path includes link in config", "do not create a directory below a link");
    });
    list(v.files).forEach((f, i) => {
      if (under(f.path)) p.error("path-through-link", [...at, "files", i], "file path includes link in config", "do not create a file below a link");
    });
    links.forEach((l, i) => {
      if (under(l.path)) p.error("path-through-link", [...at, "links", i], "link path includes link in config", "do not create a link below a link");
      if (!notEmpty(l.target)) {
        p.error("bad-link", [...at, "links", i, "target"], "link target is required", "give the link a target");
        return;
      }
      if (l.hard !== true) return;
      const t = l.target.startsWith("/") ? l.target : `${String(l.path)}/${l.target}`;
      if (list(v.directories).some((d) => d.path === t))
        p.error("bad-link", [...at, "links", i], "hard link target is a directory", "hard links must point at files");
      for (const side of ["user", "group"])
        for (const k of ["id", "name"])
          if ((l[side] as Obj | undefined)?.[k] !== undefined)
            p.warn("bad-link", [...at, "links", i, side, k], "user/group ignored for hard link", `drop ${side}.${k}`);
    });
    const disks = new Map(list(v.disks).map((d) => [d.device, d]));
    list(v.filesystems).forEach((fs, i) => {
      const d = disks.get(fs.device);
      if (!d) return;
      if (list(d.partitions).length)
        p.warn("bad-filesystem", [...at, "filesystems", i, "device"], "filesystem overwrites partitioned device", "put the filesystem on a partition");
      else if (fs.wipeFilesystem !== true && d.wipeTable === true)
        p.warn(
          "bad-filesystem",
          [...at, "filesystems", i, "device"],
          "device matches disk with wipeTable enabled; filesystem will be wiped",
          "set wipeFilesystem",
        );
    });
  },
  Directory(v, at, p) {
    checkNode(v, at, p);
    checkMode(p, [...at, "mode"], v.mode);
  },
  File(v, at, p) {
    checkNode(v, at, p);
    checkMode(p, [...at, "mode"], v.mode);
    if (v.overwrite === true && (v.contents as Obj | undefined)?.source === undefined)
      p.error(
        "overwrite-without-source",
        [...at, "overwrite"],
        "overwrite must be false if source is unspecified",
        "give the file contents, or drop overwrite",
      );
  },
  Link(v, at, p) {
    checkNode(v, at, p);
  },
  Disk(v, at, p) {
    if (!notEmpty(v.device)) {
      p.error("path-missing", [...at, "device"], "disk device is required", "name the disk, e.g. /dev/disk/by-id/...");
      return;
    }
    checkPath(p, [...at, "device"], v.device);
    const parts = list(v.partitions);
    const numbers = new Map<number, number>();
    parts.forEach((x, i) => {
      const n = Number(x.number ?? 0);
      if (n === 0) return;
      if (numbers.has(n)) p.error("bad-partition", [...at, "partitions", i], "partition numbers collide", "give each partition its own number");
      numbers.set(n, i);
    });
    const end = (x: Obj) => (Number(x.sizeMiB) === 0 ? Number(x.startMiB) : Number(x.startMiB) + Number(x.sizeMiB) - 1);
    outer: for (const a of parts) {
      if (a.startMiB === undefined || a.sizeMiB === undefined || a.startMiB === 0) continue;
      for (const [i, b] of parts.entries()) {
        if (b === a || b.startMiB === undefined || b.sizeMiB === undefined || b.startMiB === 0) continue;
        const [as, bs] = [Number(a.startMiB), Number(b.startMiB)];
        if ((as >= bs && as <= end(b)) || (end(a) >= bs && end(a) <= end(b)) || (as < bs && end(a) > end(b))) {
          p.error("bad-partition", [...at, "partitions", i], "partitions overlap", "move or shrink the partitions so they do not overlap");
          break outer;
        }
      }
    }
    const labels = new Set<string>();
    for (const [i, x] of parts.entries()) {
      if (x.label === undefined) continue;
      if (labels.has(String(x.label))) {
        p.error("bad-partition", [...at, "partitions", i], "cannot use the same partition label twice", "give each partition its own label");
        break;
      }
      labels.add(String(x.label));
    }
  },
  Partition(v, at, p) {
    if (v.shouldExist === false && (v.label !== undefined || notEmpty(v.typeGuid) || notEmpty(v.guid) || v.startMiB !== undefined || v.sizeMiB !== undefined))
      p.error("bad-partition", at, "shouldExist specified false with other options also specified", "a partition that should not exist needs only its number");
    if (!v.number && v.label === undefined)
      p.error("bad-partition", at, "a partition number >= 1 or a label must be specified", "give the partition a number or a label");
    if (typeof v.label === "string" && v.label.length > 36)
      p.error("bad-partition", [...at, "label"], "partition labels may not exceed 36 characters", "shorten the label");
    else if (typeof v.label === "string" && v.label.includes(":"))
      p.error("bad-partition", [...at, "label"], "partition label will be truncated to text before the colon", "remove the colon");
    for (const k of ["guid", "typeGuid"])
      if (typeof v[k] === "string" && !GUID_RE.test(v[k] as string))
        p.error("bad-partition", [...at, k], 'doesn\'t match the form "01234567-89AB-CDEF-EDCB-A98765432101"', "write the GUID as 8-4-4-4-12 hex digits");
  },
  Filesystem(v, at, p) {
    if (notEmpty(v.path)) checkPath(p, [...at, "path"], v.path);
    checkPath(p, [...at, "device"], v.device);
    const fmt = str(v.format);
    if (!fmt) {
      if (notEmpty(v.path) || notEmpty(v.label) || notEmpty(v.uuid) || v.wipeFilesystem === true || list(v.mountOptions).length || list(v.options).length)
        p.error(
          "bad-filesystem",
          [...at, "format"],
          "format cannot be empty when path, label, uuid, wipeFilesystem, options, or mountOptions is specified",
          "set format",
        );
    } else if (!filesystemFormats.has(fmt))
      p.error("bad-filesystem", [...at, "format"], "invalid filesystem format", "use ext4, btrfs, xfs, vfat, swap or none");
    if (notEmpty(v.label)) {
      if (!fmt) p.error("bad-filesystem", [...at, "label"], "filesystem must specify format if label is specified", "set format");
      else if (labelLimits[fmt] !== undefined && v.label.length > (labelLimits[fmt] as number))
        p.error(
          "bad-filesystem",
          [...at, "label"],
          `filesystem labels cannot be longer than ${labelLimits[fmt]} characters when using ${fmt}`,
          "shorten the label",
        );
    }
  },
  Luks(v, at, p) {
    if (String(v.name ?? "").includes("/")) p.error("bad-luks", [...at, "name"], "device names cannot contain slashes", "name the volume without /");
    if (typeof v.label === "string" && v.label.length > 47)
      p.error("bad-luks", [...at, "label"], "luks device labels cannot be longer than 47 characters", "shorten the label");
    if (!notEmpty(v.device)) p.error("path-missing", [...at, "device"], "disk device is required", "name the device to encrypt");
    else checkPath(p, [...at, "device"], v.device);
    const clevis = (v.clevis ?? {}) as Obj;
    const custom = (clevis.custom ?? {}) as Obj;
    const clevisOthers = list(clevis.tang).length > 0 || clevis.tpm2 === true || (clevis.threshold !== undefined && clevis.threshold !== 0);
    if (notEmpty(custom.pin) && clevisOthers)
      p.error("bad-luks", [...at, "clevis"], "cannot use custom clevis config with tpm2, tang, or threshold", "use either custom or the built-in pins");
    const key = (v.keyFile ?? {}) as Obj;
    if (notEmpty(key.source) && checkResourceUrl(key.source))
      p.error("bad-luks", [...at, "keyFile"], "invalid key-file source", "use a valid URL for the key file");
    const cex = ((v.cex ?? {}) as Obj).enabled === true;
    if (cex && (notEmpty(custom.pin) || clevisOthers)) p.error("bad-luks", [...at, "cex"], "cannot use cex with clevis", "use either cex or clevis");
    if (cex && notEmpty(key.source)) p.error("bad-luks", [...at, "cex"], "cannot use key file with cex", "drop the key file");
  },
  ClevisCustom(v, at, p) {
    if (!notEmpty(v.pin) && !notEmpty(v.config) && v.needsNetwork !== true) return;
    if (notEmpty(v.pin)) {
      if (!["tpm2", "tang", "sss"].includes(v.pin)) p.error("bad-luks", [...at, "pin"], "unsupported clevis pin", "use tpm2, tang or sss");
    } else p.error("bad-luks", [...at, "pin"], "missing required custom clevis pin", "set pin");
    if (!notEmpty(v.config)) p.error("bad-luks", [...at, "config"], "missing required custom clevis config", "set config");
  },
  Tang(v, at, p, minor) {
    const u = parseUrl(String(v.url ?? ""));
    if ("error" in u) p.error("bad-url", [...at, "url"], "unable to parse url", "give the tang server as http(s)://host");
    else if (u.scheme !== "http" && u.scheme !== "https") p.error("bad-url", [...at, "url"], "invalid url scheme", "give the tang server as http(s)://host");
    if (!notEmpty(v.thumbprint)) p.error("bad-luks", [...at, "thumbprint"], "thumbprint is required", "add the server's key thumbprint");
    if (minor >= 4 && notEmpty(v.advertisement)) {
      try {
        JSON.parse(v.advertisement);
      } catch {
        p.error("bad-luks", [...at, "advertisement"], "advertisement is not valid JSON", "paste the server's advertisement JSON");
      }
    }
  },
  Raid(v, at, p) {
    const level = str(v.level);
    if (!level) p.error("bad-raid", [...at, "level"], "raid level is required", "set level, e.g. raid1");
    else if (!raidLevels.has(level))
      p.error("bad-raid", [...at, "level"], "unrecognized raid level", "use linear, raid0, raid1, raid4, raid5, raid6 or raid10");
    else if (["linear", "raid0", "0", "stripe"].includes(level) && v.spares !== undefined && v.spares !== 0)
      p.error("bad-raid", [...at, "level"], "spares unsupported for linear and raid0 arrays", "drop spares");
    const devices = Array.isArray(v.devices) ? (v.devices as unknown[]) : [];
    if (!devices.length) p.error("bad-raid", [...at, "devices"], "raid devices required", "list the member devices");
    devices.forEach((d, i) => {
      checkPath(p, [...at, "devices", i], d);
    });
  },
  Systemd(v, at, p) {
    const units = list(v.units);
    const byName = new Map(units.map((u) => [String(u.name), u]));
    units.forEach((u, i) => {
      const m = /^(.+?)@(.+?)\.service$/.exec(String(u.name));
      if (!m || u.enabled !== true) return;
      const template = byName.get(`${m[1]}@.service`);
      if (!template || !notEmpty(template.contents)) return;
      const r = parseUnit(template.contents);
      if (!("error" in r) && !hasInstallSection(r.options))
        p.warn(
          "no-install-section",
          [...at, "units", i, "contents"],
          `template unit "${m[1]}@.service" for "${u.name}" doesn't have Install section`,
          "add an [Install] section to the template",
        );
    });
  },
  Unit(v, at, p) {
    const name = String(v.name ?? "");
    if (!unitExts.has(ext(name)))
      p.error("bad-unit-name", [...at, "name"], "invalid systemd unit extension", "end the name in .service, .socket, .timer, .mount, .target, ...");
    const r = checkUnitContents(p, [...at, "contents"], v.contents);
    if (v.enabled === true && notEmpty(v.contents) && r && !("error" in r) && !hasInstallSection(r.options))
      p.warn(
        "no-install-section",
        [...at, "contents"],
        `unit "${name}" is enabled, but has no install section so enable does nothing`,
        "add an [Install] section with WantedBy=...",
      );
  },
  Dropin(v, at, p) {
    checkUnitContents(p, [...at, "contents"], v.contents);
    if (ext(String(v.name ?? "")) !== ".conf")
      p.error("bad-dropin-name", [...at, "name"], "invalid systemd drop-in extension", "end the drop-in name in .conf");
  },
};

function checkRequiredSource(p: Problems, at: PathStep[], r: Obj): void {
  if (!notEmpty(r.source)) {
    p.error("source-required", at, "source is required", "give the URL to fetch");
    return;
  }
  const err = checkResourceUrl(r.source);
  if (err) p.error("bad-url", at, err, "use a data:, http(s):, tftp:, s3:, gs: or arn: URL");
}

function checkDuplicates(v: Obj, name: string, at: PathStep[], p: Problems): void {
  const spaces = new Map<string, Set<string>>();
  for (const f of IGNITION_SCHEMA[name] ?? []) {
    if (f.type !== "list" || (UNKEYED_LISTS[name] ?? []).includes(f.key)) continue;
    const space = SHARED_KEYS[name]?.[f.key] ?? f.key;
    const seen = spaces.get(space) ?? new Set<string>();
    spaces.set(space, seen);
    (Array.isArray(v[f.key]) ? (v[f.key] as unknown[]) : []).forEach((item, i) => {
      const key = entryKey(f.of as string, item);
      if (seen.has(key))
        p.error(
          "duplicate-entry",
          [...at, f.key, i],
          "duplicate entry defined",
          `each entry of ${f.key} needs its own ${f.of === "string" ? "value" : "key"}; merge the two entries`,
        );
      seen.add(key);
    });
  }
}

function walk(v: Obj, name: string, at: PathStep[], p: Problems, minor: number): void {
  checks[name]?.(v, at, p, minor);
  checkDuplicates(v, name, at, p);
  for (const f of IGNITION_SCHEMA[name] ?? []) {
    const x = v[f.key];
    if (x === undefined || x === null) continue;
    if (f.since > minor) {
      p.error("unsupported-field", [...at, f.key], `${f.key} is not part of spec 3.${minor}.0`, `target spec 3.${f.since}.0 or later, or drop the field`);
      continue;
    }
    if (f.type === "struct") walk(x as Obj, f.of as string, [...at, f.key], p, minor);
    else if (f.type === "list" && f.of !== "string")
      (x as Obj[]).forEach((it, i) => {
        walk(it ?? {}, f.of as string, [...at, f.key, i], p, minor);
      });
  }
}

/** Options for {@link validateConfig}. */
export interface ValidateOptions {
  /** The spec the config must be for; defaults to the config's own version. */
  spec?: SpecVersion;
  /** Maps a JSON path to the path reported (Butane reports YAML paths). */
  mapPath?: (path: PathStep[]) => PathStep[];
}

/** Validates a typed config; returns every problem found. */
export function validateConfig(config: IgnitionConfig, options: ValidateOptions = {}): Problems {
  const p = new Problems();
  const version = config.ignition?.version;
  const spec = options.spec ?? (SPEC_VERSIONS.includes(version as SpecVersion) ? (version as SpecVersion) : undefined);
  if (!spec || version !== spec) {
    p.error(
      /^\d+\.\d+\.\d+/.test(String(version)) ? "unsupported-version" : "invalid-version",
      ["ignition", "version"],
      version === undefined ? "invalid config version (couldn't parse)" : "unsupported config version",
      `set ignition.version to one of ${SPEC_VERSIONS.join(", ")}${options.spec ? ` (this target needs ${options.spec})` : ""}`,
    );
    if (!spec) return p;
  }
  const inner = new Problems();
  walk(config as unknown as Obj, "Config", [], inner, specMinor(spec));
  for (const x of inner.list) {
    const steps = parseSteps(x.path);
    const mapped = options.mapPath ? options.mapPath(steps) : steps;
    if (x.severity === "error") p.error(x.code, mapped, x.message, x.hint);
    else p.warn(x.code, mapped, x.message, x.hint);
  }
  return p;
}

/** Parses `storage.files[3].mode` back into steps. */
export function parseSteps(path: string): PathStep[] {
  const steps: PathStep[] = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) steps.push(m[2] !== undefined ? Number(m[2]) : (m[1] as string));
  return steps;
}
