// The agent: opens the disk (layout, boot partition, grubenv, records), finishes what a
// crash left behind, and runs the operations one at a time. The RPC server and the CLI
// both drive this class.

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { GrubBootChooser } from "./boot/chooser";
import * as machine from "./boot/machine";
import type { AgentConfig } from "./config";
import { AgentError, wrap } from "./errors";
import { failpoint } from "./failpoint";
import { runHealthChecks } from "./health/checks";
import { readPem, stage } from "./image/stage";
import type {
  ActivateParams,
  ActivateResult,
  CommitParams,
  CommitResult,
  Method,
  OperationStatus,
  RebootResult,
  RollbackResult,
  StageParams,
  StageResult,
  StatusResult,
} from "./rpc/protocol";
import { PROTOCOL_VERSION } from "./rpc/protocol";
import { type DiskLayout, discoverLayout, findBootDisk, majMinOf, mountPointOf } from "./slots/disk";
import { AGENT_STATE_FILE, GRUB_DIR, isSlotName, SLOT_CMDLINE_PARAM, SLOT_NAMES, type SlotName } from "./slots/layout";
import { readAgentState, writeAgentState } from "./slots/state";
import { AGENT_VERSION } from "./version";

/** The file `cmd` runs: itself when it has a slash, else the first match on PATH; undefined when not executable. */
export function findExecutable(cmd: string, pathVar = process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin"): string | undefined {
  const candidates = cmd.includes("/")
    ? [cmd]
    : pathVar
        .split(":")
        .filter(Boolean)
        .map((d) => path.join(d, cmd));
  for (const c of candidates) {
    try {
      if (fs.statSync(c).isFile()) {
        fs.accessSync(c, fs.constants.X_OK);
        return c;
      }
    } catch {
      // Not there or not executable: the next one.
    }
  }
  return undefined;
}

/** Reads `twinroot.slot=` from a kernel command line. */
export function slotFromCmdline(cmdline: string): SlotName | undefined {
  for (const word of cmdline.trim().split(/\s+/)) {
    const [k, v] = word.split("=");
    if (k === SLOT_CMDLINE_PARAM && isSlotName(v)) return v;
  }
  return undefined;
}

function detectBooted(cfg: AgentConfig, layout: DiskLayout): SlotName | null {
  if (cfg.bootedSlot) return cfg.bootedSlot;
  try {
    const fromCmdline = slotFromCmdline(fs.readFileSync(cfg.cmdlineFile, "utf8"));
    if (fromCmdline) return fromCmdline;
  } catch {
    // No command line to read; try the root device.
  }
  try {
    const root = fs
      .readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .find((l) => l.split(" ")[4] === "/")
      ?.split(" ")[2];
    for (const s of SLOT_NAMES) if (root && majMinOf(layout.slots[s].device) === root) return s;
  } catch {
    // Not readable: unknown.
  }
  return null;
}

function locateBootDir(cfg: AgentConfig, layout: DiskLayout): { dir: string; unmount?: () => void } {
  if (cfg.bootDir) return { dir: cfg.bootDir };
  const mounted = mountPointOf(majMinOf(layout.boot.device));
  if (mounted) return { dir: mounted };
  const dir = path.join(cfg.runDir, `boot-${path.basename(layout.boot.device)}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const r = spawnSync("mount", [layout.boot.device, dir], { encoding: "utf8" });
  if (r.status !== 0) throw new AgentError("layout", `boot partition: mount ${layout.boot.device} on ${dir}: ${(r.stderr || r.error?.message || "").trim()}`);
  return { dir, unmount: () => spawnSync("umount", [dir]) };
}

/** A running agent bound to one disk. */
export class Agent {
  private op: OperationStatus | null = null;
  readonly chooser: GrubBootChooser;
  readonly stateFile: string;

  private constructor(
    readonly cfg: AgentConfig,
    readonly layout: DiskLayout,
    readonly bootDir: string,
    readonly booted: SlotName | null,
    private readonly unmount?: () => void,
  ) {
    this.chooser = new GrubBootChooser(path.join(bootDir, GRUB_DIR, "grubenv"));
    this.stateFile = path.join(bootDir, AGENT_STATE_FILE);
  }

  /** Opens the disk and recovers from an interrupted operation. */
  static open(cfg: AgentConfig): Agent {
    const layout = discoverLayout(cfg.disk ?? findBootDisk());
    const boot = locateBootDir(cfg, layout);
    const agent = new Agent(cfg, layout, boot.dir, detectBooted(cfg, layout), boot.unmount);
    try {
      agent.recover();
    } catch (err) {
      agent.close();
      throw err;
    }
    return agent;
  }

  /**
   * A slot recorded as being written was interrupted: it is bad (its checkpoint kept
   * for resuming), and unbootable in grubenv even if that write never happened.
   */
  private recover(): void {
    const state = readAgentState(this.stateFile);
    let changed = false;
    for (const s of SLOT_NAMES) {
      if (state.slots[s].content !== "writing") continue;
      state.slots[s] = { ...state.slots[s], content: "bad", lastError: "interrupted while writing (agent stopped)" };
      changed = true;
      this.chooser.update((b) => (machine.isBootable(b.slots[s]) || b.order[0] === s ? machine.markBad(b, s) : b));
    }
    if (changed) writeAgentState(this.stateFile, state);
  }

  /** Unmounts what the agent mounted. */
  close(): void {
    this.unmount?.();
  }

  private requireBooted(what: string): SlotName {
    if (!this.booted)
      throw new AgentError("unknown-booted-slot", `${what}: cannot tell which slot is booted (no ${SLOT_CMDLINE_PARAM}= on the kernel command line)`);
    return this.booted;
  }

  private async exclusive<T>(method: Method, fn: () => Promise<T> | T): Promise<T> {
    if (this.op) throw new AgentError("busy", `${method}: ${this.op.method} is running since ${this.op.startedAt}`);
    this.op = { method, startedAt: new Date().toISOString() };
    try {
      return await fn();
    } catch (err) {
      throw wrap(err, method);
    } finally {
      this.op = null;
    }
  }

  /** The slots and the boot selection. */
  status(): StatusResult {
    const boot = this.chooser.read();
    const records = readAgentState(this.stateFile).slots;
    const slot = (s: SlotName) => {
      const r = records[s];
      return {
        name: s,
        device: this.layout.slots[s].device,
        sizeBytes: this.layout.slots[s].sizeBytes,
        booted: this.booted === s,
        good: boot.slots[s].good,
        triesLeft: boot.slots[s].triesLeft,
        content: r.content,
        ...(r.version ? { version: r.version } : {}),
        ...(r.digest ? { digest: r.digest } : {}),
        ...(r.lastError ? { lastError: r.lastError } : {}),
      };
    };
    return {
      protocol: PROTOCOL_VERSION,
      agentVersion: AGENT_VERSION,
      disk: this.layout.disk,
      bootedSlot: this.booted,
      primary: boot.order[0],
      nextBoot: machine.chooseBoot(boot).slot,
      slots: { A: slot("A"), B: slot("B") },
      operation: this.op ? { ...this.op } : null,
    };
  }

  /** Downloads, writes and verifies an image into the inactive slot. */
  stage(p: StageParams): Promise<StageResult> {
    return this.exclusive("stage", () =>
      stage(p, {
        layout: this.layout,
        chooser: this.chooser,
        stateFile: this.stateFile,
        booted: this.requireBooted("stage"),
        allowHttp: this.cfg.allowHttp,
        checkpointBytes: this.cfg.checkpointBytes,
        retries: this.cfg.downloadRetries,
        ...(this.cfg.publicKeyFile ? { publicKeyPem: readPem(this.cfg.publicKeyFile) } : {}),
        ...(this.cfg.caFile ? { caPem: readPem(this.cfg.caFile) } : {}),
        onProgress: (bytes) => {
          if (this.op) this.op.bytesWritten = bytes;
        },
      }),
    );
  }

  /** Makes the staged slot (or `p.slot`) boot next with a number of tries. */
  activate(p: ActivateParams = {}): Promise<ActivateResult> {
    return this.exclusive("activate", () => {
      const booted = this.requireBooted("activate");
      if (p.slot !== undefined && !isSlotName(p.slot)) throw new AgentError("invalid-params", "slot must be A or B");
      const target = p.slot ?? (booted === "A" ? "B" : "A");
      const tries = p.tries ?? this.cfg.tries;
      const record = readAgentState(this.stateFile).slots[target];
      failpoint("activate:start");
      const before = this.chooser.read();
      // Already the primary trial (or primary and good): repeating changes nothing, so a
      // retried activate does not hand out fresh tries.
      if (before.order[0] === target && (before.slots[target].good || before.slots[target].triesLeft > 0)) {
        return { slot: target, tries: before.slots[target].triesLeft, changed: false };
      }
      const { state, changed } = this.chooser.update((s) => machine.activate(s, booted, target, tries, record.content === "staged"));
      failpoint("activate:done");
      return { slot: target, tries: state.slots[target].triesLeft, changed };
    });
  }

  /** Marks the booted slot good once the health checks pass. */
  commit(p: CommitParams = {}): Promise<CommitResult> {
    return this.exclusive("commit", async () => {
      const booted = this.requireBooted("commit");
      const checks = p.skipHealthChecks ? [] : await runHealthChecks(this.cfg.health);
      const failed = checks.filter((c) => !c.ok);
      if (failed.length) throw new AgentError("health-check-failed", `health checks failed: ${failed.map((c) => `${c.name} (${c.detail})`).join("; ")}`);
      const { changed } = this.chooser.update((s) => machine.commit(s, booted));
      return { slot: booted, changed, checks };
    });
  }

  /** Makes the other good slot boot next. */
  rollback(): Promise<RollbackResult> {
    return this.exclusive("rollback", () => {
      const booted = this.requireBooted("rollback");
      const before = this.chooser.read();
      const target = booted === "A" ? "B" : "A";
      if (before.order[0] === target && before.slots[target].good && !before.slots[booted].triesLeft) return { slot: target, changed: false };
      const { changed } = this.chooser.update((s) => machine.rollback(s, booted));
      return { slot: target, changed };
    });
  }

  /**
   * Runs the reboot command shortly after returning, so the answer reaches the caller
   * first; a command that is not there (or not executable) is `reboot-failed` at once.
   */
  reboot(): Promise<RebootResult> {
    return this.exclusive("reboot", () => {
      const [cmd, ...args] = this.cfg.rebootCommand;
      const exe = findExecutable(cmd as string);
      if (!exe) throw new AgentError("reboot-failed", `reboot: ${cmd} is not an executable file (rebootCommand in the agent config)`);
      setTimeout(() => {
        const child = spawn(exe, args, { stdio: "ignore", detached: true });
        child.on("error", (err) => process.stderr.write(`twinroot-agent: reboot: ${err.message}\n`));
        child.unref();
      }, 200).unref();
      return { scheduled: true as const };
    });
  }
}
