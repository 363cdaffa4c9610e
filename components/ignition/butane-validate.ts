// Checks Butane applies to the YAML before translating it: one content source per
// resource, contents vs contents_local, mount units that need a format and path,
// trees with a local dir, modes that look like octal written in decimal.
import type { PathStep, Problems } from "./errors";

type Obj = Record<string, unknown>;

/** True for modes nobody would pick on purpose (Butane's `isTypicalMode`). */
export function isTypicalMode(mode: number, directory: boolean): boolean {
  if (mode === 0) return true;
  const perms = [mode & 0o7, (mode & 0o70) >> 3, (mode & 0o700) >> 6];
  let hadR = false;
  let hadW = false;
  let hadX = false;
  for (const perm of perms) {
    const r = (perm & 4) !== 0;
    const w = (perm & 2) !== 0;
    const x = (perm & 1) !== 0;
    if ((!r && hadR) || (!w && hadW) || (!x && hadX)) return false;
    if (x && hadR && !hadX) return false;
    if ((w || x) && !r) return false;
    hadR ||= r;
    hadW ||= w;
    hadX ||= x;
  }
  if (!hadR) return false;
  if (directory) {
    if (!hadX) return false;
    if (mode & 0o4000) return false;
    if (mode & 0o3000 && !hadW) return false;
  } else {
    if (mode & 0o6000 && (!hadX || mode & 2)) return false;
    if (mode & 0o1000) return false;
  }
  return true;
}

/** A decimal mode that reads as a typical octal one (644 → 0644), or undefined. */
export function decimalModeMistake(mode: number, directory: boolean): number | undefined {
  if (mode < 0 || mode > 7777) return undefined;
  let octal = 0;
  for (let div = 1000; div > 0; div = Math.floor(div / 10)) {
    const digit = Math.floor(mode / div) % 10;
    if (digit > 7) return undefined;
    octal = (octal << 3) | digit;
  }
  return !isTypicalMode(mode, directory) && isTypicalMode(octal, directory) ? octal : undefined;
}

function checkResource(r: Obj | undefined, at: PathStep[], p: Problems, checkEmbedded: (text: string, at: PathStep[]) => void): void {
  if (!r) return;
  const set = ["local", "inline", "source"].filter((k) => r[k] !== undefined);
  if (set.length > 1) {
    p.error(
      "too-many-sources",
      [...at, set[set.length - 1] as string],
      "only one of the following can be set: inline, local, source",
      "keep one of inline, local and source",
    );
    return;
  }
  if (at[0] === "ignition" && at[1] === "config" && typeof r.inline === "string") checkEmbedded(r.inline, [...at, "inline"]);
}

function checkMode(node: Obj, at: PathStep[], p: Problems, directory: boolean): void {
  if (typeof node.mode !== "number") return;
  const octal = decimalModeMistake(node.mode, directory);
  if (octal !== undefined)
    p.warn(
      "decimal-mode",
      [...at, "mode"],
      "unreasonable mode would be reasonable if specified in octal; remember to add a leading zero",
      `write 0${octal.toString(8)} (a leading zero makes YAML read the number as octal)`,
    );
}

/** Runs the pre-translation checks over decoded Butane values. */
export function validateButaneSource(y: Obj, p: Problems, checkEmbedded: (text: string, at: PathStep[]) => void): void {
  const ign = (y.ignition ?? {}) as Obj;
  const cfg = (ign.config ?? {}) as Obj;
  ((cfg.merge as Obj[] | undefined) ?? []).forEach((r, i) => {
    checkResource(r, ["ignition", "config", "merge", i], p, checkEmbedded);
  });
  checkResource(cfg.replace as Obj | undefined, ["ignition", "config", "replace"], p, checkEmbedded);
  const cas = ((((ign.security ?? {}) as Obj).tls ?? {}) as Obj).certificate_authorities as Obj[] | undefined;
  (cas ?? []).forEach((r, i) => {
    checkResource(r, ["ignition", "security", "tls", "certificate_authorities", i], p, checkEmbedded);
  });
  const st = (y.storage ?? {}) as Obj;
  ((st.files as Obj[] | undefined) ?? []).forEach((f, i) => {
    const at = ["storage", "files", i];
    checkMode(f, at, p, false);
    checkResource(f.contents as Obj | undefined, [...at, "contents"], p, checkEmbedded);
    ((f.append as Obj[] | undefined) ?? []).forEach((r, j) => {
      checkResource(r, [...at, "append", j], p, checkEmbedded);
    });
  });
  ((st.directories as Obj[] | undefined) ?? []).forEach((d, i) => {
    checkMode(d, ["storage", "directories", i], p, true);
  });
  ((st.luks as Obj[] | undefined) ?? []).forEach((l, i) => {
    checkResource(l.key_file as Obj | undefined, ["storage", "luks", i, "key_file"], p, checkEmbedded);
  });
  ((st.filesystems as Obj[] | undefined) ?? []).forEach((fs, i) => {
    if (fs.with_mount_unit !== true) return;
    if (typeof fs.format !== "string" || fs.format === "")
      p.error("bad-mount-unit", ["storage", "filesystems", i, "format"], "format is required if with_mount_unit is true", "set format");
    else if (fs.format !== "swap" && (typeof fs.path !== "string" || fs.path === ""))
      p.error(
        "bad-mount-unit",
        ["storage", "filesystems", i, "path"],
        "path is required if with_mount_unit is true and format is not swap",
        "set the mount point",
      );
  });
  ((st.trees as Obj[] | undefined) ?? []).forEach((t, i) => {
    if (typeof t.local !== "string" || t.local === "")
      p.error("bad-tree", ["storage", "trees", i], "local is required", "name the directory, relative to --files-dir");
  });
  ((((y.systemd ?? {}) as Obj).units as Obj[] | undefined) ?? []).forEach((u, i) => {
    const at = ["systemd", "units", i];
    if (u.contents_local !== undefined && u.contents !== undefined)
      p.error(
        "too-many-sources",
        [...at, "contents_local"],
        "only one of the following can be set: contents, contents_local",
        "keep contents or contents_local",
      );
    ((u.dropins as Obj[] | undefined) ?? []).forEach((d, j) => {
      if (d.contents_local !== undefined && d.contents !== undefined)
        p.error(
          "too-many-sources",
          [...at, "dropins", j, "contents_local"],
          "only one of the following can be set: contents, contents_local",
          "keep contents or contents_local",
        );
    });
  });
}
