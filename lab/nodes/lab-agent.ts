// A simulated node agent for controller-level lab tests: the A/B slot state and the
// boot counting of the real agent's protocol, over memory instead of a disk. It speaks
// the proxy's AgentClient interface with the protocol's own types, and is its own
// machine for a LabNode (power on = the boot loader's pick). The lab and the rollout
// tests run real agents on loop disks (disk-machine.ts); this one exists for tests and
// benchmarks that need many nodes and no disks, so a fleet fits in one process.

import { AgentCallError, type AgentClient } from "../../controller/proxy/agent-client";
import type {
  ActivateParams,
  ActivateResult,
  CommitResult,
  RebootResult,
  RollbackResult,
  SlotName,
  SlotStatus,
  StageParams,
  StageResult,
  StatusResult,
} from "../../node-agent/rpc/protocol";
import type { LabNodeAgent } from "./lab-node";

/** How a version behaves on this node, for failure injection. */
export interface VersionBehaviour {
  /** The slot never comes up: the boot loader counts its tries down and falls back. */
  noBoot?: boolean;
  /** It boots, but the agent's commit checks fail. */
  unhealthy?: boolean;
}

const other = (s: SlotName): SlotName => (s === "A" ? "B" : "A");

/** The in-memory agent of one lab node, and the machine it runs on. */
export class LabAgent implements AgentClient, LabNodeAgent {
  readonly slots: Record<SlotName, SlotStatus>;
  private order: SlotName[];
  booted: SlotName;
  /** Called by `reboot`; the lab node performs the reboot. */
  onReboot?: () => void;
  /** Calls made, in order, for tests. */
  readonly calls: string[] = [];

  constructor(
    version: string,
    digest: string,
    /** Behaviour by version. */
    readonly behaviours: Record<string, VersionBehaviour> = {},
    private readonly tries = 2,
  ) {
    const slot = (name: SlotName): SlotStatus => ({
      name,
      device: `/dev/lab${name}`,
      sizeBytes: 1 << 30,
      booted: false,
      good: false,
      triesLeft: 0,
      content: "unknown",
    });
    this.slots = { A: { ...slot("A"), booted: true, good: true, content: "staged", version, digest }, B: slot("B") };
    this.order = ["A", "B"];
    this.booted = "A";
  }

  async status(): Promise<StatusResult> {
    this.calls.push("status");
    const slots = { A: { ...this.slots.A, booted: this.booted === "A" }, B: { ...this.slots.B, booted: this.booted === "B" } };
    return {
      protocol: 1,
      agentVersion: "lab",
      disk: "/dev/lab",
      bootedSlot: this.booted,
      primary: this.order[0] as SlotName,
      nextBoot: this.pick(false),
      slots,
      operation: null,
    };
  }

  async stage(p: StageParams): Promise<StageResult> {
    this.calls.push(`stage ${p.version}`);
    if (!p.digest || !/^[0-9a-f]{64}$/.test(p.digest)) throw new AgentCallError("stage", "invalid-params", "lab images need a digest");
    const slot = other(this.booted);
    const s = this.slots[slot];
    if (s.content === "staged" && s.digest === p.digest) return { slot, digest: p.digest, bytes: 1, written: false, resumedFrom: 0 };
    // As the real agent: the slot is marked bad before it is written, and never bootable before it is verified.
    Object.assign(s, { content: "staged", digest: p.digest, version: p.version, good: false, triesLeft: 0 });
    this.order = [this.booted, slot];
    return { slot, digest: p.digest, bytes: 1, written: true, resumedFrom: 0 };
  }

  async activate(p: ActivateParams = {}): Promise<ActivateResult> {
    this.calls.push("activate");
    const slot = p.slot ?? other(this.booted);
    const s = this.slots[slot];
    if (s.content !== "staged") throw new AgentCallError("activate", "not-staged", `slot ${slot} holds no staged image`);
    const changed = this.order[0] !== slot;
    this.order = [slot, other(slot)];
    if (!s.good) s.triesLeft = p.tries ?? this.tries;
    return { slot, tries: s.triesLeft, changed };
  }

  async reboot(): Promise<RebootResult> {
    this.calls.push("reboot");
    setImmediate(() => this.onReboot?.());
    return { scheduled: true };
  }

  async commit(): Promise<CommitResult> {
    this.calls.push("commit");
    const s = this.slots[this.booted];
    if (s.version && this.behaviours[s.version]?.unhealthy) {
      throw new AgentCallError("commit", "health-check-failed", `health check "lab" failed on ${s.version}`);
    }
    const changed = !s.good;
    Object.assign(s, { good: true, triesLeft: 0 });
    return { slot: this.booted, changed, checks: [{ name: "lab", ok: true }] };
  }

  async rollback(): Promise<RollbackResult> {
    this.calls.push("rollback");
    const target = other(this.booted);
    if (!this.slots[target].good) throw new AgentCallError("rollback", "no-good-slot", `slot ${target} is not good`);
    this.order = [target, this.booted];
    this.slots[this.booted].triesLeft = 0;
    return { slot: target, changed: true };
  }

  /**
   * The boot loader's choice, as grub.cfg makes it: the first slot in the order that is
   * good or has tries left (a try is used up when `consume`); a slot that cannot boot
   * burns its tries and the loader falls through to the next.
   */
  private pick(consume: boolean): SlotName {
    for (const name of this.order) {
      const s = this.slots[name];
      if (s.good) return name;
      if (s.triesLeft > 0) {
        if (!consume) return name;
        s.triesLeft--;
        if (s.version && this.behaviours[s.version]?.noBoot) return this.pick(true);
        return name;
      }
    }
    return this.booted;
  }

  /** Boots: picks the slot and makes it the running one. Returns the booted version. */
  boot(): string {
    this.booted = this.pick(true);
    return this.slots[this.booted].version ?? "unknown";
  }

  /** Itself: the proxy calls this object. */
  get client(): AgentClient {
    return this;
  }

  /** The booted slot's version. */
  get runningVersion(): string | undefined {
    return this.slots[this.booted].version;
  }

  /** Boots (see {@link LabAgent.boot}); a simulated slot always comes up or falls back. */
  async powerOn(): Promise<string> {
    return this.boot();
  }

  /** Nothing runs that could die: the slot state is the disk, and survives. */
  async powerOff(): Promise<void> {}

  /** Nothing to release. */
  async dispose(): Promise<void> {}
}
