// SSH public keys as authorized_keys lines carry them: `[options] <type> <base64> [comment]`.
// The base64 blob names its own type and, for RSA, holds the modulus, so the strength of
// a key can be told from the line alone.

/** What an authorized_keys line holds. */
export type ParsedKey = { ok: true; type: string; rsaBits?: number } | { ok: false; reason: string };

// Splits on blanks outside double quotes (options such as command="a b" hold blanks).
function tokens(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (const c of line.trim()) {
    if (c === '"') quoted = !quoted;
    if (!quoted && /\s/.test(c)) {
      if (cur) out.push(cur);
      cur = "";
    } else cur += c;
  }
  if (cur) out.push(cur);
  return out;
}

function readString(buf: Buffer, at: number): { value: Buffer; next: number } | undefined {
  if (at + 4 > buf.length) return undefined;
  const len = buf.readUInt32BE(at);
  if (at + 4 + len > buf.length) return undefined;
  return { value: buf.subarray(at + 4, at + 4 + len), next: at + 4 + len };
}

function bits(mpint: Buffer): number {
  let i = 0;
  while (i < mpint.length && mpint[i] === 0) i++;
  if (i === mpint.length) return 0;
  return (mpint.length - i - 1) * 8 + (32 - Math.clz32(mpint[i] as number));
}

/** Parses one authorized_keys line. */
export function parseAuthorizedKey(line: string): ParsedKey {
  const t = tokens(line);
  const at = t.findIndex((x, i) => /^(ssh-|ecdsa-|sk-)/.test(x) && /^[A-Za-z0-9+/]+={0,2}$/.test(t[i + 1] ?? ""));
  if (at < 0) return { ok: false, reason: "is not an SSH public key line (<type> <base64> [comment])" };
  const type = t[at] as string;
  const blob = Buffer.from(t[at + 1] as string, "base64");
  const named = readString(blob, 0);
  if (!named || named.value.toString("latin1") !== type) return { ok: false, reason: `holds a key blob that is not of its declared type ${type}` };
  if (type === "ssh-ed25519" || type === "sk-ssh-ed25519@openssh.com") {
    const key = readString(blob, named.next);
    return key?.value.length === 32 ? { ok: true, type } : { ok: false, reason: "holds a truncated Ed25519 key" };
  }
  if (type !== "ssh-rsa") return readString(blob, named.next) ? { ok: true, type } : { ok: false, reason: `holds a truncated ${type} key` };
  const e = readString(blob, named.next);
  const n = e && readString(blob, e.next);
  if (!n) return { ok: false, reason: "holds a truncated RSA key" };
  return { ok: true, type, rsaBits: bits(n.value) };
}
