// The small checks Ignition applies to strings: URLs (as Go's net/url parses them
// and Ignition's scheme rules), absolute clean paths, verification hashes and GUIDs.
import path from "node:path";
import { decodeDataUrl } from "./dataurl";

/** A URL split like Go's `url.URL` (the parts Ignition looks at). */
export interface ParsedUrl {
  scheme: string;
  opaque: string;
  host: string;
  query: Map<string, string[]>;
}

/** Parses a URL roughly as Go's `url.Parse`; returns an error message when Go would fail. */
export function parseUrl(s: string): ParsedUrl | { error: string } {
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (c < 0x20 || c === 0x7f) return { error: "invalid control character in URL" };
  }
  let rest = s;
  const hash = rest.indexOf("#");
  if (hash >= 0) rest = rest.slice(0, hash);
  let scheme = "";
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(rest);
  if (m) {
    scheme = (m[1] as string).toLowerCase();
    rest = rest.slice(m[0].length);
  } else if (rest.startsWith(":")) return { error: "missing protocol scheme" };
  let rawQuery = "";
  const q = rest.indexOf("?");
  if (q >= 0) {
    rawQuery = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  let host = "";
  let opaque = "";
  if (scheme && !rest.startsWith("/")) opaque = rest;
  else if (rest.startsWith("//")) {
    const end = rest.indexOf("/", 2);
    const authority = end < 0 ? rest.slice(2) : rest.slice(2, end);
    const at = authority.lastIndexOf("@");
    host = at >= 0 ? authority.slice(at + 1) : authority;
    const port = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(host);
    if (!port) return { error: "invalid host" };
    if (port[2] !== undefined && !/^[0-9]*$/.test(port[2])) return { error: `invalid port ":${port[2]}" after host` };
    if (host.startsWith("[") && !host.includes("]")) return { error: "missing ']' in host" };
    if (/%(?![0-9a-fA-F]{2})/.test(end < 0 ? "" : rest.slice(end))) return { error: "invalid URL escape" };
  } else if (!scheme && rest.split("/")[0]?.includes(":")) return { error: "first path segment in URL cannot contain colon" };
  else if (/%(?![0-9a-fA-F]{2})/.test(rest)) return { error: "invalid URL escape" };
  const query = new Map<string, string[]>();
  for (const part of rawQuery.split(/[&]/)) {
    if (!part) continue;
    const eq = part.indexOf("=");
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? "" : part.slice(eq + 1);
    query.set(k, [...(query.get(k) ?? []), v]);
  }
  return { scheme, opaque, host, query };
}

/** Ignition's check of a resource URL; returns an error message or undefined. */
export function checkResourceUrl(s: string): string | undefined {
  const u = parseUrl(s);
  if ("error" in u) return `unable to parse url: ${u.error}`;
  switch (u.scheme) {
    case "http":
    case "https":
    case "tftp":
    case "gs":
      return undefined;
    case "s3": {
      const v = u.query.get("versionId");
      if (v && (v.length === 0 || v[0] === "")) return "invalid S3 object VersionId";
      return undefined;
    }
    case "arn": {
      const full = `arn:${u.opaque}`;
      const parts = full.split(":");
      if (parts.length < 6 || parts[2] !== "s3") return "invalid S3 ARN format";
      const resource = parts.slice(5).join(":");
      const slashes = full.split("/").length;
      if (resource.startsWith("accesspoint/") ? slashes < 3 : slashes < 2) return "invalid S3 ARN format";
      const v = u.query.get("versionId");
      if (v && (v.length === 0 || v[0] === "")) return "invalid S3 object VersionId";
      return undefined;
    }
    case "data": {
      const d = decodeDataUrl(s);
      return "error" in d ? `invalid data url: ${d.error}` : undefined;
    }
    default:
      return "invalid url scheme";
  }
}

/** True for http(s) URLs, the only sources that can carry HTTP headers. */
export function isHttpUrl(s: string): boolean {
  const u = parseUrl(s);
  return !("error" in u) && (u.scheme === "http" || u.scheme === "https");
}

/** Ignition's path rule: present, absolute and already clean. */
export function checkAbsolutePath(p: string): string | undefined {
  if (p === "") return "path not specified";
  if (!p.startsWith("/")) return "path not absolute";
  if (cleanPath(p) !== p) return "path is not fully simplified";
  return undefined;
}

/** Go's `path.Clean` for absolute paths (no trailing slash, no `.`/`..`/`//`). */
export function cleanPath(p: string): string {
  const n = path.posix.normalize(p);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}

/** Ignition's `verification.hash` rule: `sha512-<128 hex>` or `sha256-<64 hex>`. */
export function checkHash(h: string): string | undefined {
  const dash = h.indexOf("-");
  if (dash < 0) return "malformed hash specifier";
  const fn = h.slice(0, dash);
  const sum = h.slice(dash + 1);
  const size = fn === "sha512" ? 128 : fn === "sha256" ? 64 : 0;
  if (!size) return "unrecognized hash function";
  if (sum.length !== size) return "incorrect size for hash sum";
  return undefined;
}

/** GUIDs as Ignition accepts them (empty is allowed: "let the tool pick"). */
export const GUID_RE = /^(|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$/;
