// Data URLs for file contents: the encoder picks the shortest of three encodings the
// way `butane` does, and the checker accepts what Ignition's data URL parser accepts.
import { gzipLikeGo } from "./gzip";

/** A data URL and the `compression` value to put beside it. */
export interface EncodedContents {
  /** `data:,…` (percent-escaped), `data:;base64,…`, or gzip+base64. */
  source: string;
  /**
   * `"gzip"` or `""` when the encoder decided; undefined when the caller had set
   * compression itself (the bytes were already compressed, so they are left alone).
   */
  compression?: string;
}

const unreserved = new Uint8Array(256);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()") unreserved[c.charCodeAt(0)] = 1;
const HEX = "0123456789ABCDEF";

/** Percent-escapes every byte outside RFC 2396's unreserved set. */
export function percentEscape(data: Uint8Array): string {
  const parts: string[] = [];
  let run = "";
  for (const b of data) {
    if (unreserved[b]) run += String.fromCharCode(b);
    else run += `%${HEX[b >> 4]}${HEX[b & 15]}`;
    if (run.length > 4096) {
      parts.push(run);
      run = "";
    }
  }
  parts.push(run);
  return parts.join("");
}

function percentEscapedLength(data: Uint8Array): number {
  let n = 0;
  for (const b of data) n += unreserved[b] ? 1 : 3;
  return n;
}

/**
 * Encodes contents as the smallest data URL: percent-escaped text, base64, or (when
 * `allowCompression` and the caller set no compression) gzip+base64 — gzip only when
 * it is shorter even counting the four letters of `"gzip"`.
 */
export function makeDataUrl(contents: Uint8Array, currentCompression: string | undefined, allowCompression = true): EncodedContents {
  const callerCompressed = currentCompression !== undefined && currentCompression !== "";
  const escapedLen = 1 + percentEscapedLength(contents);
  const b64 = Buffer.from(contents.buffer, contents.byteOffset, contents.byteLength).toString("base64");
  const b64Len = 8 + b64.length;
  let best: () => string = b64Len < escapedLen ? () => `;base64,${b64}` : () => `,${percentEscape(contents)}`;
  let bestLen = Math.min(b64Len, escapedLen);
  let compression: string | undefined = callerCompressed ? undefined : "";
  if (!callerCompressed && allowCompression) {
    const z = gzipLikeGo(contents);
    const gz = Buffer.from(z.buffer, z.byteOffset, z.byteLength).toString("base64");
    if (8 + gz.length + 4 < bestLen) {
      best = () => `;base64,${gz}`;
      bestLen = 8 + gz.length;
      compression = "gzip";
    }
  }
  const out: EncodedContents = { source: `data:${best()}` };
  if (compression !== undefined) out.compression = compression;
  return out;
}

const tspecials = new Set('()<>@,;:\\"/[]?=');
const isToken = (c: string) => c.charCodeAt(0) > 0x20 && c.charCodeAt(0) < 0x7f && !tspecials.has(c);
const urlBad = new Set(' <>#"{}|\\^[]`');
const isUrlChar = (c: string) => {
  const n = c.charCodeAt(0);
  return n > 0x1f && n < 0x7f && !urlBad.has(c);
};

/**
 * Checks a data URL as Ignition's parser does and returns its decoded bytes, or an
 * error message naming what is wrong.
 */
export function decodeDataUrl(url: string): { data: Uint8Array } | { error: string } {
  if (!url.startsWith("data:")) return { error: "missing data prefix" };
  const comma = url.indexOf(",");
  if (comma < 0) return { error: "missing comma before data" };
  const header = url.slice(5, comma);
  const body = url.slice(comma + 1);
  const params = header.split(";");
  const media = params.shift() ?? "";
  if (media) {
    const m = /^([^/]+)\/(.+)$/.exec(media);
    if (!m) return { error: "missing media type slash" };
    const [, type, sub] = m as unknown as [string, string, string];
    if (![...type].every(isToken) || ![...sub].every(isToken)) return { error: "invalid character for media type" };
    if (!/^(x-|X-|text|image|audio|video|application|message|multipart)/.test(type)) return { error: "invalid media type" };
  }
  let base64 = false;
  for (const [i, p] of params.entries()) {
    if (p === "base64" && i === params.length - 1) {
      base64 = true;
      continue;
    }
    const eq = p.indexOf("=");
    if (eq <= 0) return { error: p === "" ? "unterminated parameter sequence" : `expected base64, got ${p}` };
    const attr = p.slice(0, eq);
    const val = p.slice(eq + 1);
    if (![...attr].every(isToken)) return { error: "invalid character for parameter attribute" };
    if (!/^"(?:[^"\\]|\\.)*"$/.test(val) && !(val.length > 0 && [...val].every(isToken))) return { error: "invalid character for parameter value" };
  }
  if (base64) {
    if (!/^[A-Za-z0-9+/=\n]*$/.test(body)) return { error: "invalid data character" };
    const clean = body.replaceAll("\n", "");
    if (clean.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(clean)) return { error: "illegal base64 data" };
    return { data: new Uint8Array(Buffer.from(clean, "base64")) };
  }
  if (![...body].every(isUrlChar)) return { error: "invalid data character" };
  const bytes: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const c = body[i] as string;
    if (c === "%") {
      const h = body.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(h)) return { error: `invalid URL escape "${body.slice(i, i + 3)}"` };
      bytes.push(Number.parseInt(h, 16));
      i += 2;
    } else bytes.push(c.charCodeAt(0));
  }
  return { data: new Uint8Array(bytes) };
}
