// Node hardening, read from the Ignition config in each machine's user data: nobody logs
// in with a password, SSH takes strong keys only, no file or directory is writable by
// every user, no systemd service runs as root unless the twinroot preset needs it, and
// no secret sits in the user data in plain text (anyone who can read the instance's
// metadata, or the stack's state, could read it).

import type { ResourceValidationPolicy } from "@pulumi/policy";
import type { Resource } from "../components/ignition/model";
import { nodePreset } from "../components/ignition/preset";
import { type IgnitionDoc, resourceBytes, sshdSettings, userDataIgnition } from "./ignition-read";
import { describe } from "./model";
import { resourcePolicy, type StackResource, type Violation } from "./pack";
import { parseAuthorizedKey } from "./ssh-keys";

function docsOf(r: StackResource): IgnitionDoc[] {
  return userDataIgnition(r)?.docs ?? [];
}

function violation(r: StackResource, message: string): Violation {
  return { urn: r.urn, message: `${describe(r)}: ${message}` };
}

const FIX_IGNITION = "the NodePool's ignition (IgnitionConfig node, config, butane or snippets)";

// A hash that starts with ! or * locks the password; anything else (even "") lets it be used.
const usablePassword = (h: unknown) => typeof h === "string" && !/^[!*]/.test(h);

/** Config of {@link checkNoPasswordLogins}: none. */
export type NoPasswordConfig = Record<string, never>;

/** No user or group has a usable password, and sshd does not accept passwords. */
export function checkNoPasswordLogins(r: StackResource, _config: NoPasswordConfig = {}): Violation[] {
  const out: Violation[] = [];
  for (const doc of docsOf(r)) {
    (doc.config.passwd?.users ?? []).forEach((u, i) => {
      if (usablePassword(u.passwordHash))
        out.push(
          violation(
            r,
            `${doc.where} passwd.users[${i}] (${u.name}).passwordHash is set: the user can log in with a password. ` +
              `Fix: remove passwordHash from ${FIX_IGNITION} and give sshAuthorizedKeys instead.`,
          ),
        );
    });
    (doc.config.passwd?.groups ?? []).forEach((g, i) => {
      if (usablePassword(g.passwordHash))
        out.push(violation(r, `${doc.where} passwd.groups[${i}] (${g.name}).passwordHash is set: anyone with it can join the group. Fix: remove it.`));
    });
    for (const s of sshdSettings(doc)) {
      const on = /^(yes|true)$/i.test(s.value);
      if (on && ["passwordauthentication", "kbdinteractiveauthentication", "challengeresponseauthentication", "permitemptypasswords"].includes(s.keyword))
        out.push(violation(r, `${s.where} sets ${s.written} ${s.value}: sshd would accept passwords. Fix: set it to no, or remove the line.`));
    }
  }
  return out;
}

/** Config of {@link checkSshKeysOnly}. */
export interface SshKeysConfig {
  /** Key types accepted in sshAuthorizedKeys. Default: Ed25519, ECDSA (NIST curves), their FIDO variants and RSA. */
  allowedKeyTypes: string[];
  /** The smallest RSA modulus accepted, in bits. Default 3072. */
  minRsaBits: number;
}

/** The defaults of {@link SshKeysConfig}. */
export const SSH_KEYS_DEFAULTS: SshKeysConfig = {
  allowedKeyTypes: [
    "ssh-ed25519",
    "sk-ssh-ed25519@openssh.com",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-rsa",
  ],
  minRsaBits: 3072,
};

/** SSH logins take public keys only: every authorized key parses, is of an allowed type and strong enough, and sshd asks for nothing else. */
export function checkSshKeysOnly(r: StackResource, config: SshKeysConfig): Violation[] {
  const out: Violation[] = [];
  for (const doc of docsOf(r)) {
    (doc.config.passwd?.users ?? []).forEach((u, i) => {
      (u.sshAuthorizedKeys ?? []).forEach((line, j) => {
        const at = `${doc.where} passwd.users[${i}] (${u.name}).sshAuthorizedKeys[${j}]`;
        const fix = `Fix: give an Ed25519 key (ssh-keygen -t ed25519) in ${FIX_IGNITION} (programs: cluster.sshAuthorizedKeys)`;
        const k = parseAuthorizedKey(line);
        if (!k.ok) out.push(violation(r, `${at} ${k.reason}. ${fix}.`));
        else if (!config.allowedKeyTypes.includes(k.type))
          out.push(violation(r, `${at} is a ${k.type} key, not one of this stack's allowedKeyTypes (${config.allowedKeyTypes.join(", ")}). ${fix}.`));
        else if (k.rsaBits !== undefined && k.rsaBits < config.minRsaBits)
          out.push(violation(r, `${at} is a ${k.rsaBits}-bit RSA key, below this stack's minRsaBits ${config.minRsaBits}. ${fix}.`));
      });
    });
    for (const s of sshdSettings(doc)) {
      if (s.keyword === "pubkeyauthentication" && /^(no|false)$/i.test(s.value))
        out.push(violation(r, `${s.where} sets PubkeyAuthentication ${s.value}: sshd would refuse keys and fall back to other methods. Fix: remove the line.`));
      if (s.keyword === "authenticationmethods" && s.value.split(/\s+/).some((list) => list.split(",").some((m) => m !== "publickey")))
        out.push(violation(r, `${s.where} sets AuthenticationMethods ${s.value}: only publickey may be used. Fix: set it to publickey, or remove the line.`));
    }
  }
  return out;
}

/** Config of {@link checkNoWorldWritable}: none. */
export type WorldWritableConfig = Record<string, never>;

const octal = (mode: number) => `0${mode.toString(8)}`;

/** No file is writable by every user, and no directory is unless it is sticky (like /tmp). */
export function checkNoWorldWritable(r: StackResource, _config: WorldWritableConfig = {}): Violation[] {
  const out: Violation[] = [];
  for (const doc of docsOf(r)) {
    (doc.config.storage?.files ?? []).forEach((f, i) => {
      if (typeof f.mode === "number" && f.mode & 0o002)
        out.push(
          violation(
            r,
            `${doc.where} storage.files[${i}] (${f.path}).mode ${octal(f.mode)} lets every user write the file. Fix: set mode ${octal(f.mode & ~0o022)} or stricter in ${FIX_IGNITION}.`,
          ),
        );
    });
    (doc.config.storage?.directories ?? []).forEach((d, i) => {
      if (typeof d.mode === "number" && d.mode & 0o002 && !(d.mode & 0o1000))
        out.push(
          violation(
            r,
            `${doc.where} storage.directories[${i}] (${d.path}).mode ${octal(d.mode)} lets every user write the directory and replace what is in it. ` +
              `Fix: set mode ${octal(d.mode & ~0o022)} or stricter in ${FIX_IGNITION}.`,
          ),
        );
    });
  }
  return out;
}

/** Config of {@link checkNoRootUnits}. */
export interface RootUnitsConfig {
  /** Service units besides the preset's that may run as root, e.g. `["node-exporter.service"]`. Default none. */
  allowedRootUnits: string[];
}

/** The defaults of {@link RootUnitsConfig}. */
export const ROOT_UNITS_DEFAULTS: RootUnitsConfig = { allowedRootUnits: [] };

/** The service units the twinroot node preset defines or configures: they run as root by design (the agent owns the boot slots; the kubelet runs pods). */
export const PRESET_ROOT_UNITS: readonly string[] = [
  ...new Set(
    nodePreset({ kubelet: { apiServer: "https://preset.invalid:6443", caCert: "", bootstrapToken: "" } })
      .flatMap((f) => f.config.systemd?.units ?? [])
      .map((u) => u.name)
      .filter((n) => n.endsWith(".service")),
  ),
];

function serviceSetting(contents: string, key: string): string | undefined {
  let inService = false;
  let value: string | undefined;
  for (const raw of contents.split("\n")) {
    const line = raw.trim();
    if (/^\[.*\]$/.test(line)) inService = line === "[Service]";
    else if (inService && line.startsWith(`${key}=`)) value = line.slice(key.length + 1).trim();
  }
  return value;
}

const isRoot = (user: string | undefined) => user === undefined || user === "" || user === "root" || user === "0";

/** No service unit runs as root unless the preset needs it or the stack allows it (`allowedRootUnits`). */
export function checkNoRootUnits(r: StackResource, config: RootUnitsConfig): Violation[] {
  const allowed = new Set([...PRESET_ROOT_UNITS, ...config.allowedRootUnits]);
  const out: Violation[] = [];
  const fix = (name: string) =>
    `Fix: set User= to an unprivileged user (or DynamicUser=yes) in its [Service] section, or add ${name} to this stack's allowedRootUnits if it must run as root.`;
  for (const doc of docsOf(r)) {
    (doc.config.systemd?.units ?? []).forEach((u, i) => {
      if (!u.name.endsWith(".service") || allowed.has(u.name) || u.mask) return;
      const at = `${doc.where} systemd.units[${i}] (${u.name})`;
      if (u.contents !== undefined && /^\s*\[Service\]/m.test(u.contents)) {
        const dynamic = /^(yes|true)$/i.test(serviceSetting(u.contents, "DynamicUser") ?? "");
        if (!dynamic && isRoot(serviceSetting(u.contents, "User"))) out.push(violation(r, `${at} runs as root (no User= in [Service]). ${fix(u.name)}`));
      }
      (u.dropins ?? []).forEach((d, j) => {
        const user = d.contents === undefined ? undefined : serviceSetting(d.contents, "User");
        if (user !== undefined && isRoot(user)) out.push(violation(r, `${at} dropins[${j}] (${d.name}) sets User=${user}. ${fix(u.name)}`));
      });
    });
  }
  return out;
}

/** Config of {@link checkNoPlaintextSecrets}. */
export interface SecretsConfig {
  /** Files that may hold a secret in user data. Default: the preset's kubelet bootstrap kubeconfig (the join needs its token). */
  allowedSecretFiles: string[];
}

/** The defaults of {@link SecretsConfig}. */
export const SECRETS_DEFAULTS: SecretsConfig = { allowedSecretFiles: ["/etc/kubernetes/bootstrap-kubelet.conf"] };

/** What secrets look like in text; the messages name the kind, never the value. */
const SECRET_PATTERNS: { what: string; re: RegExp }[] = [
  { what: "a private key", re: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/ },
  { what: "a kubeconfig token", re: /^\s*token:\s*\S+/m },
  { what: "a kubeconfig client key", re: /client-key-data:\s*\S+/ },
  { what: "a bootstrap token", re: /\b[a-z0-9]{6}\.[a-z0-9]{16}\b/ },
  { what: "an AWS access key", re: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/ },
  { what: "a password or key assignment", re: /\b(?:password|passwd|secret|api[_-]?key|access[_-]?key|auth[_-]?token)\b["']?\s*[=:]\s*["']?[^\s"'$]{4,}/i },
];

function secretIn(text: string): string | undefined {
  return SECRET_PATTERNS.find((p) => p.re.test(text))?.what;
}

// A remote source that carries a credential (in the URL or in a header) puts it in the user data.
function credentialOf(res: Resource | undefined): string | undefined {
  if (!res?.source || res.source.startsWith("data:")) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(res.source);
  } catch {
    url = undefined;
  }
  if (url && (url.username || url.password)) return "credentials in its source URL";
  if (url && [...url.searchParams.keys()].some((k) => /signature|token|sig$|secret|key/i.test(k))) return "a credential in its source URL's query";
  const header = (res.httpHeaders ?? []).find((h) => /authorization|cookie|token|secret|key/i.test(h.name));
  if (header) return `a credential in its ${header.name} header`;
  return undefined;
}

/** No secret sits in plain text in user data, outside the files the stack allows (`allowedSecretFiles`). */
export function checkNoPlaintextSecrets(r: StackResource, config: SecretsConfig): Violation[] {
  const out: Violation[] = [];
  const fix = "Fix: fetch it at boot from a secret store instead of writing it into the user data";
  const found = (at: string, what: string, extra = "") =>
    out.push(
      violation(
        r,
        `${at} holds ${what} in plain text: whoever can read the instance's user data (its metadata service, the stack's state) can read it. ${fix}${extra}.`,
      ),
    );
  for (const doc of docsOf(r)) {
    const c = doc.config;
    [...(c.ignition.config?.merge ?? []), ...(c.ignition.config?.replace ? [c.ignition.config.replace] : [])].forEach((m) => {
      const cred = credentialOf(m);
      if (cred) found(`${doc.where} ignition.config (${m.source?.split("?")[0]})`, cred);
    });
    (c.storage?.files ?? []).forEach((f, i) => {
      const at = `${doc.where} storage.files[${i}] (${f.path})`;
      for (const res of [f.contents, ...(f.append ?? [])]) {
        const cred = credentialOf(res);
        if (cred) found(at, cred);
      }
      if (config.allowedSecretFiles.includes(f.path)) return;
      const text = [f.contents, ...(f.append ?? [])]
        .map(resourceBytes)
        .filter((b): b is Buffer => b !== undefined)
        .map((b) => b.toString("utf8"))
        .join("\n");
      const what = secretIn(text);
      if (what) found(at, what, `, or add ${f.path} to this stack's allowedSecretFiles if it must ship in user data`);
    });
    (c.systemd?.units ?? []).forEach((u, i) => {
      const at = `${doc.where} systemd.units[${i}] (${u.name})`;
      const what = u.contents === undefined ? undefined : secretIn(u.contents);
      if (what) found(at, what, " (e.g. LoadCredential= from a file the node fetches)");
      (u.dropins ?? []).forEach((d, j) => {
        const w = d.contents === undefined ? undefined : secretIn(d.contents);
        if (w) found(`${at} dropins[${j}] (${d.name})`, w);
      });
    });
  }
  return out;
}

/** The node hardening policies (on every resource whose `userData` is an Ignition config). */
export const hardeningPolicies: ResourceValidationPolicy[] = [
  resourcePolicy<NoPasswordConfig>(
    {
      name: "twinroot-ignition-no-password-logins",
      description: "No user or group in the machines' Ignition has a usable password, and sshd accepts no passwords.",
      enforcementLevel: "mandatory",
      defaults: {},
      remediationSteps: "Remove passwordHash from the Ignition users (use sshAuthorizedKeys) and any sshd setting that enables passwords.",
    },
    checkNoPasswordLogins,
  ),
  resourcePolicy<SshKeysConfig>(
    {
      name: "twinroot-ignition-ssh-keys-only",
      description: "SSH logins take public keys only, of allowed types and strength, and sshd asks for nothing else.",
      enforcementLevel: "mandatory",
      configSchema: {
        properties: {
          allowedKeyTypes: { type: "array", items: { type: "string" }, default: SSH_KEYS_DEFAULTS.allowedKeyTypes, description: "Accepted SSH key types." },
          minRsaBits: { type: "integer", minimum: 1024, default: 3072, description: "Smallest RSA key accepted, in bits." },
        },
      },
      defaults: SSH_KEYS_DEFAULTS,
      remediationSteps: "Give Ed25519 keys (ssh-keygen -t ed25519) in sshAuthorizedKeys and remove sshd settings that allow other methods.",
    },
    checkSshKeysOnly,
  ),
  resourcePolicy<WorldWritableConfig>(
    {
      name: "twinroot-ignition-no-world-writable",
      description: "No file the machines' Ignition writes is writable by every user, nor any directory unless sticky.",
      enforcementLevel: "mandatory",
      defaults: {},
      remediationSteps: "Drop the write bit for others from the file or directory mode (e.g. 0644, 0755).",
    },
    checkNoWorldWritable,
  ),
  resourcePolicy<RootUnitsConfig>(
    {
      name: "twinroot-ignition-no-root-units",
      description: "No systemd service in the machines' Ignition runs as root unless the twinroot preset needs it or the stack allows it.",
      enforcementLevel: "mandatory",
      configSchema: {
        properties: { allowedRootUnits: { type: "array", items: { type: "string" }, default: [], description: "Service units allowed to run as root." } },
      },
      defaults: ROOT_UNITS_DEFAULTS,
      remediationSteps: "Run the service as an unprivileged user (User= or DynamicUser=yes), or allow it in allowedRootUnits.",
    },
    checkNoRootUnits,
  ),
  resourcePolicy<SecretsConfig>(
    {
      name: "twinroot-ignition-no-plaintext-secrets",
      description: "No secret sits in plain text in the machines' user data, outside the files the stack allows (default: the kubelet bootstrap kubeconfig).",
      enforcementLevel: "mandatory",
      configSchema: {
        properties: {
          allowedSecretFiles: {
            type: "array",
            items: { type: "string" },
            default: SECRETS_DEFAULTS.allowedSecretFiles,
            description: "Paths that may hold a secret in user data.",
          },
        },
      },
      defaults: SECRETS_DEFAULTS,
      remediationSteps: "Fetch secrets at boot from a secret store rather than writing them into user data.",
    },
    checkNoPlaintextSecrets,
  ),
];
