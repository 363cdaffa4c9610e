// Ignition's config merge (what it does with `ignition.config.merge`, and what Butane
// does to add generated units under the user's): lists of keyed entries merge entry
// by entry (a child entry with the parent's key replaces or refines it), files,
// directories and links share one key space (their path), set scalars in the child
// win. `mergeFragments` adds conflict detection on top for composing presets.
import { ConfigProblem, formatPath, type PathStep } from "./errors";
import type { IgnitionConfig } from "./model";
import { type FieldSpec, IGNITION_SCHEMA } from "./schema";

type Obj = Record<string, unknown>;

/** Lists whose entries are not keyed: they are concatenated and may repeat. */
export const UNKEYED_LISTS: Readonly<Record<string, readonly string[]>> = {
  File: ["append"],
  Filesystem: ["options", "mountOptions"],
  Luks: ["options"],
  Raid: ["options"],
};

/** Lists that share one key space within their struct. */
export const SHARED_KEYS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  Storage: { directories: "Node", files: "Node", links: "Node" },
  KernelArguments: { shouldExist: "KernelArgument", shouldNotExist: "KernelArgument" },
};

/** The identity of a list entry, as Ignition's `Key()` methods define it. */
export function entryKey(elem: string, item: unknown): string {
  if (elem === "string") return String(item);
  const o = (item ?? {}) as Obj;
  switch (elem) {
    case "Directory":
    case "File":
    case "Link":
      return String(o.path ?? "");
    case "Disk":
    case "Filesystem":
      return String(o.device ?? "");
    case "Partition":
      if (o.number) return `number:${o.number}`;
      if (o.label !== undefined) return `label:${o.label}`;
      return "";
    case "Resource":
      return o.source === undefined ? "" : String(o.source);
    case "Tang":
      return String(o.url ?? "");
    default:
      return String(o.name ?? "");
  }
}

/** True when a value is what Go's zero value would be for the field. */
export function isZero(value: unknown, field: FieldSpec): boolean {
  if (value === undefined || value === null) return true;
  if (field.ptr) return false;
  if (field.type === "list") return (value as unknown[]).length === 0;
  if (field.type === "struct") return (IGNITION_SCHEMA[field.of as string] ?? []).every((f) => isZero((value as Obj)[f.key], f));
  return value === "" || value === 0 || value === false;
}

function mergeStruct(parent: Obj, child: Obj, name: string): Obj {
  const out: Obj = {};
  const shared = SHARED_KEYS[name] ?? {};
  const unkeyed = UNKEYED_LISTS[name] ?? [];
  // Child entries by (key space, key), so a file can displace a parent's link.
  const childEntries = new Map<string, { list: string; item: unknown }>();
  for (const f of IGNITION_SCHEMA[name] ?? []) {
    if (f.type !== "list" || unkeyed.includes(f.key)) continue;
    const space = shared[f.key] ?? f.key;
    for (const item of (child[f.key] as unknown[] | undefined) ?? []) childEntries.set(`${space}\0${entryKey(f.of as string, item)}`, { list: f.key, item });
  }
  for (const f of IGNITION_SCHEMA[name] ?? []) {
    const p = parent[f.key];
    const c = child[f.key];
    let v: unknown;
    if (f.type === "list")
      v = unkeyed.includes(f.key)
        ? [...((p as unknown[]) ?? []), ...((c as unknown[]) ?? [])]
        : mergeList(f, (p as unknown[]) ?? [], (c as unknown[]) ?? [], shared[f.key] ?? f.key, childEntries);
    else if (f.type === "struct") {
      if (isZero(c, f)) v = p;
      else if (isZero(p, f)) v = c;
      else v = mergeStruct(p as Obj, c as Obj, f.of as string);
    } else if (!f.ptr) v = c;
    else v = c !== undefined ? c : p;
    if (v !== undefined && !(Array.isArray(v) && v.length === 0)) out[f.key] = v;
  }
  return out;
}

function mergeList(f: FieldSpec, parent: unknown[], child: unknown[], space: string, childEntries: Map<string, { list: string; item: unknown }>): unknown[] {
  const elem = f.of as string;
  const out: unknown[] = [];
  const parentKeys = new Set(parent.map((p) => entryKey(elem, p)));
  for (const p of parent) {
    const match = childEntries.get(`${space}\0${entryKey(elem, p)}`);
    if (!match) {
      out.push(p);
      continue;
    }
    // Matched by an entry of another list in the same key space: the parent's goes.
    if (match.list !== f.key) continue;
    if (elem === "string") out.push(match.item);
    else if (elem === "HTTPHeader" && (match.item as Obj).value === undefined) continue;
    else out.push(mergeStruct(p as Obj, match.item as Obj, elem));
  }
  for (const c of child) if (!parentKeys.has(entryKey(elem, c))) out.push(c);
  return out;
}

/** Merges `child` over `parent` exactly as Ignition merges configs. */
export function mergeConfigs(parent: IgnitionConfig, child: IgnitionConfig): IgnitionConfig {
  return mergeStruct(parent as unknown as Obj, child as unknown as Obj, "Config") as unknown as IgnitionConfig;
}

/** A named piece of config to compose, e.g. a preset part or a user snippet. */
export interface Fragment {
  /** Where the fragment comes from, for conflict messages (`preset.layout`, `user`). */
  name: string;
  config: Partial<IgnitionConfig>;
}

// Entries that may be set by several fragments with the same value without conflict.
function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function findConflicts(a: Obj, b: Obj, name: string, path: PathStep[], out: PathStep[][]): void {
  for (const f of IGNITION_SCHEMA[name] ?? []) {
    const x = a[f.key];
    const y = b[f.key];
    if (x === undefined || y === undefined) continue;
    if (f.type === "struct") findConflicts(x as Obj, y as Obj, f.of as string, [...path, f.key], out);
    else if (f.type === "list" && f.of !== "string" && !(UNKEYED_LISTS[name] ?? []).includes(f.key)) {
      // Paths index the later fragment's entries: that is the one to fix.
      const keys = new Map((x as unknown[]).map((it) => [entryKey(f.of as string, it), it]));
      (y as unknown[]).forEach((it, i) => {
        const earlier = keys.get(entryKey(f.of as string, it));
        if (earlier !== undefined && !sameJson(it, earlier)) findConflicts(earlier as Obj, it as Obj, f.of as string, [...path, f.key, i], out);
      });
    } else if (f.type !== "list" && !sameJson(x, y) && f.key !== "version") out.push([...path, f.key]);
  }
}

/**
 * Merges fragments in order, later over earlier, like {@link mergeConfigs}, but
 * reports a `merge-conflict` problem wherever two fragments set the same field of the
 * same entry (same file path, same unit name, ...) to different values, instead of
 * letting the later one win silently. Entries that only one fragment has, or that
 * two fragments define identically, are fine.
 */
export function mergeFragments(version: string, fragments: readonly Fragment[]): { config: IgnitionConfig; problems: ConfigProblem[] } {
  let config: IgnitionConfig = { ignition: { version } };
  const problems: ConfigProblem[] = [];
  const owners: Fragment[] = [];
  for (const frag of fragments) {
    const child = { ...frag.config, ignition: { ...(frag.config.ignition ?? {}), version } } as IgnitionConfig;
    for (const prev of owners) {
      const conflicts: PathStep[][] = [];
      findConflicts(prev.config as Obj, child as unknown as Obj, "Config", [], conflicts);
      for (const c of conflicts) {
        problems.push(
          new ConfigProblem(
            "merge-conflict",
            "error",
            formatPath(c),
            `${frag.name} sets ${formatPath(c)} differently from ${prev.name}`,
            `change one of them, or leave the field out of ${frag.name} to keep ${prev.name}'s value`,
          ),
        );
      }
    }
    owners.push({ name: frag.name, config: child });
    config = mergeConfigs(config, child);
  }
  return { config, problems };
}
