// Butane YAML values → Ignition config: snake_case keys become camelCase, `inline`
// and `local` contents become data URLs, `contents_local` and
// `ssh_authorized_keys_local` are read from the files directory, filesystems with
// `with_mount_unit` get a generated mount (or swap) unit, and `storage.trees` are
// walked into files and links — each step as `butane` does it.
import fs from "node:fs";
import path from "node:path";
import { makeDataUrl } from "./dataurl";
import type { PathStep, Problems } from "./errors";
import { mergeConfigs } from "./merge";
import type { File, Filesystem, IgnitionConfig, Link, Unit } from "./model";
import { ignitionFields, snake } from "./schema";
import { escapePath } from "./unit";
import { cleanPath } from "./urls";

type Obj = Record<string, unknown>;

/** Options for translation. */
export interface TranslateOptions {
  /** Directory that `local`, `contents_local`, `ssh_authorized_keys_local` and `trees` are relative to. */
  filesDir?: string;
  /** Never gzip contents (Butane's `NoResourceAutoCompression` option). */
  noResourceAutoCompression?: boolean;
}

/** State of one translation. */
export interface TranslateCtx {
  minor: number;
  options: TranslateOptions;
  problems: Problems;
  /** Called with the bytes of `ignition.config` resources read from files, to validate them. */
  checkEmbeddedConfig?: (text: string, at: PathStep[]) => void;
}

/** Reads a file below the files directory, refusing paths that escape it. */
export function readLocal(ctx: TranslateCtx, rel: string, at: PathStep[]): Buffer | undefined {
  const dir = ctx.options.filesDir;
  if (!dir) {
    ctx.problems.error("local-file", at, "local file paths are relative to a files directory that must be specified with -d/--files-dir", "pass --files-dir");
    return undefined;
  }
  const full = path.resolve(dir, rel);
  const base = path.resolve(dir);
  if (full !== base && !full.startsWith(base + path.sep)) {
    ctx.problems.error("local-file", at, "local file path traverses outside the files directory", "keep local paths inside the files directory");
    return undefined;
  }
  try {
    return fs.readFileSync(full);
  } catch (e) {
    ctx.problems.error(
      "local-file",
      at,
      `open ${full}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (e as Error).message}`,
      "check the path against the files directory",
    );
    return undefined;
  }
}

const hooks: Record<string, (ctx: TranslateCtx, y: Obj, out: Obj, at: PathStep[]) => void> = {
  Resource(ctx, y, out, at) {
    const encode = (bytes: Uint8Array) => {
      const enc = makeDataUrl(bytes, out.compression as string | undefined, !ctx.options.noResourceAutoCompression);
      out.source = enc.source;
      if (enc.compression !== undefined) out.compression = enc.compression;
    };
    if (typeof y.local === "string") {
      const bytes = readLocal(ctx, y.local, [...at, "local"]);
      if (!bytes) return;
      if (at[0] === "ignition" && at[1] === "config") ctx.checkEmbeddedConfig?.(bytes.toString("utf8"), [...at, "local"]);
      encode(bytes);
    }
    if (typeof y.inline === "string") encode(Buffer.from(y.inline, "utf8"));
  },
  Unit(ctx, y, out, at) {
    if (typeof y.contents_local === "string" && y.contents_local !== "") {
      const bytes = readLocal(ctx, y.contents_local, [...at, "contents_local"]);
      if (bytes) out.contents = bytes.toString("utf8");
    }
  },
  Dropin(ctx, y, out, at) {
    hooks.Unit?.(ctx, y, out, at);
  },
  PasswdUser(ctx, y, out, at) {
    const files = y.ssh_authorized_keys_local as string[] | undefined;
    if (!files?.length) return;
    if (!ctx.options.filesDir) {
      ctx.problems.error(
        "local-file",
        [...at, "ssh_authorized_keys_local"],
        "local file paths are relative to a files directory that must be specified with -d/--files-dir",
        "pass --files-dir",
      );
      return;
    }
    const keys = [...((out.sshAuthorizedKeys as string[] | undefined) ?? [])];
    files.forEach((f, i) => {
      const bytes = readLocal(ctx, f, [...at, "ssh_authorized_keys_local", i]);
      if (!bytes) return;
      for (const line of bytes.toString("utf8").split(/\r?\n/)) if (line !== "") keys.push(line);
    });
    out.sshAuthorizedKeys = keys;
  },
};

/** Translates one Butane struct (and everything below it) to Ignition. */
export function translateStruct(ctx: TranslateCtx, name: string, y: Obj, at: PathStep[]): Obj {
  const out: Obj = {};
  for (const f of ignitionFields(name, ctx.minor)) {
    const key = snake(f.key);
    const v = y[key];
    if (v === undefined) continue;
    if (f.type === "struct") out[f.key] = translateStruct(ctx, f.of as string, v as Obj, [...at, key]);
    else if (f.type === "list" && f.of !== "string") out[f.key] = (v as Obj[]).map((it, i) => translateStruct(ctx, f.of as string, it, [...at, key, i]));
    else out[f.key] = Array.isArray(v) ? [...v] : v;
  }
  hooks[name]?.(ctx, y, out, at);
  return out;
}

/** The mount or swap unit Butane generates for a filesystem with `with_mount_unit`. */
export function mountUnit(fsys: Filesystem, remote: boolean): Unit {
  const opts = [...(fsys.mountOptions ?? [])];
  if (remote) opts.push("_netdev");
  const options = opts.length ? `\nOptions=${opts.join(",")}` : "";
  const device = fsys.device;
  if (fsys.format === "swap") {
    return {
      name: `${escapePath(device)}.swap`,
      enabled: true,
      contents: `# Generated by Butane\n[Swap]\nWhat=${device}${options}\n\n[Install]\nRequiredBy=swap.target`,
    };
  }
  const esc = escapePath(device);
  return {
    name: `${escapePath(fsys.path ?? "")}.mount`,
    enabled: true,
    contents:
      `# Generated by Butane\n[Unit]\nRequires=systemd-fsck@${esc}.service\nAfter=systemd-fsck@${esc}.service\n\n` +
      `[Mount]\nWhere=${fsys.path ?? ""}\nWhat=${device}\nType=${fsys.format ?? ""}${options}\n\n[Install]\nRequiredBy=${remote ? "remote" : "local"}-fs.target`,
  };
}

/** Adds mount units for `with_mount_unit` filesystems, under the user's own units. */
export function addMountUnits(config: IgnitionConfig, y: Obj): IgnitionConfig {
  const storage = (y.storage ?? {}) as Obj;
  const filesystems = (storage.filesystems as Obj[] | undefined) ?? [];
  const luks = (storage.luks as Obj[] | undefined) ?? [];
  const units: Unit[] = [];
  filesystems.forEach((f, i) => {
    if (f.with_mount_unit !== true) return;
    const device = String(f.device ?? "");
    let remote = false;
    if (device.startsWith("/dev/mapper/") || device.startsWith("/dev/disk/by-id/dm-name-")) {
      remote = luks.some(
        (l) =>
          (device === `/dev/mapper/${l.name ?? ""}` || device === `/dev/disk/by-id/dm-name-${l.name ?? ""}`) &&
          (((l.clevis as Obj | undefined)?.tang as unknown[] | undefined)?.length ?? 0) > 0,
      );
    }
    const out = config.storage?.filesystems?.[i] ?? ({ device } as Filesystem);
    units.push(mountUnit({ ...out, device }, remote));
  });
  if (!units.length) return config;
  return mergeConfigs({ ignition: { version: "" }, systemd: { units } }, config);
}

/** Walks `storage.trees` into files and links, as Butane does after everything else. */
export function processTrees(ctx: TranslateCtx, config: IgnitionConfig, y: Obj): void {
  const trees = (((y.storage ?? {}) as Obj).trees as Obj[] | undefined) ?? [];
  if (!trees.length) return;
  config.storage ??= {};
  const st = config.storage;
  st.files ??= [];
  st.links ??= [];
  const files = new Map(st.files.map((f) => [f.path, f]));
  const links = new Map(st.links.map((l) => [l.path, l]));
  const dirs = new Set((st.directories ?? []).map((d) => d.path));
  const exists = (p: string) => files.has(p) || links.has(p) || dirs.has(p);
  for (const [i, tree] of trees.entries()) {
    const at: PathStep[] = ["storage", "trees", i];
    if (!ctx.options.filesDir) {
      ctx.problems.error("local-file", at, "local file paths are relative to a files directory that must be specified with -d/--files-dir", "pass --files-dir");
      return;
    }
    const base = path.resolve(ctx.options.filesDir);
    const src = path.resolve(base, String(tree.local ?? ""));
    if (src !== base && !src.startsWith(base + path.sep)) {
      ctx.problems.error("bad-tree", at, "local file path traverses outside the files directory", "keep the tree inside the files directory");
      continue;
    }
    let st0: fs.Stats;
    try {
      st0 = fs.statSync(src);
    } catch {
      ctx.problems.error("bad-tree", at, `stat ${src}: no such file or directory`, "check the tree's local path");
      continue;
    }
    if (!st0.isDirectory()) {
      ctx.problems.error("bad-tree", at, "root of tree must be a directory", "point local at a directory");
      continue;
    }
    const destBase = typeof tree.path === "string" && tree.path !== "" ? tree.path : "/";
    walkTree(ctx, at, src, src, destBase, { st, files, links, exists });
  }
}

interface TreeState {
  st: NonNullable<IgnitionConfig["storage"]>;
  files: Map<string, File>;
  links: Map<string, Link>;
  exists: (p: string) => boolean;
}

// A tree entry that lands on a path storage already declares with other contents or
// another node type; `where` names the section to take it out of.
function treeConflict(ctx: TranslateCtx, at: PathStep[], dest: string, where: string): void {
  ctx.problems.error("bad-tree", at, "matching filesystem node has existing contents or different type", `remove ${dest} from the tree or from ${where}`);
}

// Go's filepath.Walk: lexical order, directories entered, symlinks not followed.
function walkTree(ctx: TranslateCtx, at: PathStep[], root: string, dir: string, destBase: string, s: TreeState): void {
  const names = fs.readdirSync(dir).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const name of names) {
    const full = path.join(dir, name);
    const info = fs.lstatSync(full);
    const dest = cleanPath(path.posix.join(destBase, path.relative(root, full).split(path.sep).join("/")));
    if (info.isDirectory()) walkTree(ctx, at, root, full, destBase, s);
    else if (info.isFile()) {
      let file = s.files.get(dest);
      if (file) {
        if (file.contents?.source) {
          treeConflict(ctx, at, dest, "storage.files");
          continue;
        }
      } else {
        if (s.exists(dest)) {
          treeConflict(ctx, at, dest, "storage");
          continue;
        }
        file = { path: dest };
        (s.st.files as File[]).push(file);
        s.files.set(dest, file);
      }
      const enc = makeDataUrl(fs.readFileSync(full), file.contents?.compression, !ctx.options.noResourceAutoCompression);
      file.contents = { ...(file.contents ?? {}), source: enc.source };
      if (enc.compression !== undefined) file.contents.compression = enc.compression;
      if (file.mode === undefined) file.mode = info.mode & 0o111 ? 0o755 : 0o644;
    } else if (info.isSymbolicLink()) {
      let link = s.links.get(dest);
      if (link) {
        if (link.target) {
          treeConflict(ctx, at, dest, "storage.links");
          continue;
        }
      } else {
        if (s.exists(dest)) {
          treeConflict(ctx, at, dest, "storage");
          continue;
        }
        link = { path: dest };
        (s.st.links as Link[]).push(link);
        s.links.set(dest, link);
      }
      link.target = fs.readlinkSync(full);
    } else ctx.problems.error("bad-tree", at, "trees may only contain files, directories, and symlinks", `remove ${full}`);
  }
}
