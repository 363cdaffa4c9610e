// Fitting a config into a platform's user-data limit. OpenStack Nova refuses user
// data over 65535 bytes (counted base64-encoded, as the API carries it). A config too
// large is first gzipped into a merged data URL inside a small config; when even that
// is too large, the small config merges the full one from a URL, pinned by its
// SHA-512, and the caller must serve the full config there.
import crypto from "node:crypto";
import { ConfigProblem, IgnitionConfigError } from "./errors";
import { gzipLikeGo } from "./gzip";
import type { IgnitionConfig } from "./model";
import { renderConfig } from "./render";

/** Nova's user data limit in bytes of base64. */
export const OPENSTACK_USER_DATA_LIMIT = 65535;

/** Options for {@link fitUserData}. */
export interface FitOptions {
  /** Maximum size in bytes (default {@link OPENSTACK_USER_DATA_LIMIT}). */
  limit?: number;
  /** Count the size after base64 encoding, as Nova does (default true). */
  countBase64?: boolean;
  /** Where the full config will be served when it has to be split off. */
  fullConfigUrl?: string;
  pretty?: boolean;
}

/** What {@link fitUserData} decided. */
export interface FitResult {
  /** The user data to give the machine. */
  userData: string;
  /** `as-is`, `compressed` (gzip inline), or `split` (merged from `fullConfigUrl`). */
  strategy: "as-is" | "compressed" | "split";
  /** True when the full config must be served at `fullConfigUrl`. */
  split: boolean;
  /** The full rendered config (to serve, when split). */
  full: string;
  /** `sha512-…` of `full`. */
  hash: string;
  /** One sentence for logs, saying what was done and why. */
  message: string;
}

/** Size of `text` as counted against the limit. */
export function userDataSize(text: string, countBase64 = true): number {
  const n = Buffer.byteLength(text);
  return countBase64 ? Math.ceil(n / 3) * 4 : n;
}

// The small config keeps what Ignition needs to fetch the merged one.
function wrapper(config: IgnitionConfig, merge: NonNullable<NonNullable<IgnitionConfig["ignition"]["config"]>["merge"]>): IgnitionConfig {
  const { proxy, security, timeouts, version } = config.ignition;
  return { ignition: { version, config: { merge }, proxy, security, timeouts } };
}

/** Renders a config as user data that fits the limit, compressing or splitting as needed. */
export function fitUserData(config: IgnitionConfig, options: FitOptions = {}): FitResult {
  const limit = options.limit ?? OPENSTACK_USER_DATA_LIMIT;
  const b64 = options.countBase64 ?? true;
  const full = renderConfig(config, { pretty: options.pretty });
  const hash = `sha512-${crypto.createHash("sha512").update(full).digest("hex")}`;
  const size = userDataSize(full, b64);
  if (size <= limit) return { userData: full, strategy: "as-is", split: false, full, hash, message: `config is ${size} bytes, within the ${limit}-byte limit` };
  const gz = Buffer.from(gzipLikeGo(Buffer.from(full))).toString("base64");
  const compressed = renderConfig(wrapper(config, [{ compression: "gzip", source: `data:;base64,${gz}` }]), { pretty: options.pretty });
  const csize = userDataSize(compressed, b64);
  if (csize <= limit)
    return {
      userData: compressed,
      strategy: "compressed",
      split: false,
      full,
      hash,
      message: `config is ${size} bytes, over the ${limit}-byte limit: sent gzip-compressed inside a ${csize}-byte config that merges it`,
    };
  if (!options.fullConfigUrl) {
    throw new IgnitionConfigError([
      new ConfigProblem(
        "size-limit",
        "error",
        "",
        `config is ${size} bytes (${csize} compressed), over the ${limit}-byte user-data limit`,
        "give fullConfigUrl: a URL the machines can fetch the full config from",
      ),
    ]);
  }
  const userData = renderConfig(wrapper(config, [{ source: options.fullConfigUrl, verification: { hash } }]), { pretty: options.pretty });
  return {
    userData,
    strategy: "split",
    split: true,
    full,
    hash,
    message: `config is ${size} bytes (${csize} compressed), over the ${limit}-byte limit: user data merges it from ${options.fullConfigUrl} (verified by its sha512); serve the full config there`,
  };
}
