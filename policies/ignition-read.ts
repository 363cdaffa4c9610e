// Reading the Ignition config a machine boots from its user data, as Ignition does:
// plain JSON (or base64 of it), and configs merged or replacing it from data URLs (gzip
// or not, as IgnitionConfig's "compressed" strategy writes them). Configs fetched from
// remote URLs cannot be read here; they are listed so checks can say so.

import { gunzipSync } from "node:zlib";
import { decodeDataUrl } from "../components/ignition/dataurl";
import type { IgnitionConfig, Resource } from "../components/ignition/model";
import { isUnknown, type StackResource } from "./pack";

/** One Ignition config inside a machine's user data. */
export interface IgnitionDoc {
  config: IgnitionConfig;
  /** Where it sits: `userData`, or `userData ignition.config.merge[0]` for a merged one. */
  where: string;
}

/** What a machine's user data holds. */
export interface UserDataIgnition {
  docs: IgnitionDoc[];
  /** Remote configs it merges or is replaced by (not readable here). */
  remote: string[];
}

function parseIgnition(text: string): IgnitionConfig | undefined {
  for (const candidate of [text, /^[A-Za-z0-9+/=\s]+$/.test(text.trim()) ? Buffer.from(text, "base64").toString("utf8") : undefined]) {
    if (candidate === undefined) continue;
    try {
      const v = JSON.parse(candidate) as IgnitionConfig;
      if (v && typeof v === "object" && typeof v.ignition?.version === "string") return v;
    } catch {
      // Not JSON: user data in another format (cloud-init), or the other encoding.
    }
  }
  return undefined;
}

/** The bytes a data-URL resource holds (gunzipped when `compression` is gzip), or undefined for remote or broken ones. */
export function resourceBytes(r: Resource | undefined): Buffer | undefined {
  if (!r?.source?.startsWith("data:")) return undefined;
  const d = decodeDataUrl(r.source);
  if ("error" in d) return undefined;
  const bytes = Buffer.from(d.data);
  if (r.compression !== "gzip") return bytes;
  try {
    return gunzipSync(bytes);
  } catch {
    return undefined;
  }
}

function collect(config: IgnitionConfig, where: string, out: UserDataIgnition, depth: number): void {
  out.docs.push({ config, where });
  const c = config.ignition.config;
  const refs: [Resource, string][] = [
    ...(c?.merge ?? []).map((r, i): [Resource, string] => [r, `${where} ignition.config.merge[${i}]`]),
    ...(c?.replace ? [[c.replace, `${where} ignition.config.replace`] as [Resource, string]] : []),
  ];
  for (const [ref, at] of refs) {
    const bytes = resourceBytes(ref);
    const inner = bytes && depth < 4 ? parseIgnition(bytes.toString("utf8")) : undefined;
    if (inner) collect(inner, at, out, depth + 1);
    else if (ref.source && !ref.source.startsWith("data:")) out.remote.push(ref.source);
  }
}

/** The Ignition configs in a resource's `userData`, or undefined when it has none (or not yet known). */
export function userDataIgnition(r: StackResource): UserDataIgnition | undefined {
  const text = r.props.userData;
  if (isUnknown(text) || typeof text !== "string" || !text.trim()) return undefined;
  const config = parseIgnition(text);
  if (!config) return undefined;
  const out: UserDataIgnition = { docs: [], remote: [] };
  collect(config, "userData", out, 0);
  return out;
}

/** One sshd setting: its keyword (lower case, as sshd compares it, and as written), its value and the file it is in. */
export interface SshdSetting {
  keyword: string;
  written: string;
  value: string;
  file: string;
  where: string;
}

/** Whether `path` is read by sshd as its config. */
export function isSshdConfig(path: string): boolean {
  return path === "/etc/ssh/sshd_config" || /^\/etc\/ssh\/sshd_config\.d\/[^/]+\.conf$/.test(path);
}

/** The sshd settings that a config's files write (files with remote contents are not readable and left out). */
export function sshdSettings(doc: IgnitionDoc): SshdSetting[] {
  const out: SshdSetting[] = [];
  (doc.config.storage?.files ?? []).forEach((f, i) => {
    if (!isSshdConfig(f.path)) return;
    const parts = [f.contents, ...(f.append ?? [])].map(resourceBytes).filter((b): b is Buffer => b !== undefined);
    for (const line of Buffer.concat(parts).toString("utf8").split("\n")) {
      const m = /^\s*([A-Za-z]+)\s*(?:=\s*|\s+)(.+?)\s*$/.exec(line);
      if (!m || line.trim().startsWith("#")) continue;
      out.push({
        keyword: (m[1] as string).toLowerCase(),
        written: m[1] as string,
        value: m[2] as string,
        file: f.path,
        where: `${doc.where} storage.files[${i}] (${f.path})`,
      });
    }
  });
  return out;
}
