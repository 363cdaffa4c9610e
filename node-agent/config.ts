// The agent's configuration (`/etc/twinroot/agent.json`). Every field has a default that
// fits a node; the tests override the paths. Problems are collected and reported together.

import fs from "node:fs";
import { MAX_TRIES } from "./boot/machine";
import { AgentError } from "./errors";
import type { HealthConfig } from "./health/checks";
import { DEFAULT_SOCKET_PATH } from "./rpc/protocol";
import { isSlotName, type SlotName } from "./slots/layout";

/** The agent's settings. */
export interface AgentConfig {
  /** The boot disk; default: found (the disk of `/`, else the only A/B disk). */
  disk?: string;
  /** Unix socket to serve on. Default `/run/twinroot/agent.sock`. */
  socketPath: string;
  /** Where the boot partition is mounted; default: found in mountinfo, else mounted privately under `runDir`. */
  bootDir?: string;
  /** Runtime directory (private mounts). Default `/run/twinroot`. */
  runDir: string;
  /** The running slot; default: `twinroot.slot=` on the kernel command line. Set for disks the host did not boot from. */
  bootedSlot?: SlotName;
  /** Where to read the kernel command line. Default `/proc/cmdline`. */
  cmdlineFile: string;
  /** Boot tries of an activated slot. Default 3. */
  tries: number;
  /** Ed25519 public key (PEM); when set, `stage` requires a digest and a valid signature. */
  publicKeyFile?: string;
  /** Extra CA certificates (PEM) for HTTPS downloads. */
  caFile?: string;
  /** Allow `http://` image URLs (with a digest). Default false. */
  allowHttp: boolean;
  /**
   * Flush every this many bytes of a stage: the flushed part is read back and verified
   * while the rest downloads, and is a resume point (raw images, multi-frame zstd images).
   * 0: flush and read back only at the end. Default 64 MiB.
   */
  checkpointBytes: number;
  /** Reconnects of a broken download. Default 5. */
  downloadRetries: number;
  /** Checks before `commit`. */
  health: HealthConfig;
  /** Command that reboots the node. Default `systemctl reboot`. */
  rebootCommand: string[];
}

/** Defaults for every optional field. */
export function defaultConfig(): AgentConfig {
  return {
    socketPath: DEFAULT_SOCKET_PATH,
    runDir: "/run/twinroot",
    cmdlineFile: "/proc/cmdline",
    tries: 3,
    allowHttp: false,
    checkpointBytes: 64 << 20,
    downloadRetries: 5,
    health: {},
    rebootCommand: ["systemctl", "reboot"],
  };
}

/** Validates a partial config over the defaults; all problems in one error. */
export function resolveConfig(partial: Partial<AgentConfig>): AgentConfig {
  const cfg = { ...defaultConfig(), ...partial };
  const problems: string[] = [];
  if (cfg.bootedSlot !== undefined && !isSlotName(cfg.bootedSlot)) problems.push(`bootedSlot: must be "A" or "B"`);
  if (!Number.isInteger(cfg.tries) || cfg.tries < 1 || cfg.tries > MAX_TRIES) problems.push(`tries: must be 1-${MAX_TRIES}`);
  if (!Number.isInteger(cfg.checkpointBytes) || cfg.checkpointBytes < 0) problems.push("checkpointBytes: must be a non-negative integer");
  if (!Array.isArray(cfg.rebootCommand) || cfg.rebootCommand.length === 0) problems.push("rebootCommand: must be a non-empty argv");
  for (const f of ["publicKeyFile", "caFile"] as const) {
    const p = cfg[f];
    if (p !== undefined && !fs.existsSync(p)) problems.push(`${f}: ${p} does not exist`);
  }
  if (problems.length) throw new AgentError("config", `config: ${problems.join("; ")}`);
  return cfg;
}

/** Reads a JSON config file (missing: defaults) and applies overrides. */
export function loadConfig(file: string | undefined, overrides: Partial<AgentConfig> = {}): AgentConfig {
  let fromFile: Partial<AgentConfig> = {};
  if (file && fs.existsSync(file)) {
    try {
      fromFile = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<AgentConfig>;
    } catch (err) {
      throw new AgentError("config", `config: ${file}: ${(err as Error).message}`, { cause: err });
    }
  } else if (file && file !== "/etc/twinroot/agent.json") {
    throw new AgentError("config", `config: ${file} does not exist`);
  }
  return resolveConfig({ ...fromFile, ...overrides });
}
