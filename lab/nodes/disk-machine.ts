// A lab machine with a real disk and a real agent: a private copy of the lab disk on a
// loop device, the node agent as its own process serving a socket, and the "firmware"
// of firmware.ts. The agent's reboot command asks the lab for a reset through a request
// file; the LabNode then cuts the power (SIGKILL of the agent, its mounts gone) and
// powers on again: GRUB's choice from the disk's grubenv, the chosen slot's OS up or
// panicking, and a fresh agent that finds the booted slot on the kernel command line
// GRUB would have passed (a file standing in for /proc/cmdline).

import fs from "node:fs";
import path from "node:path";
import { type AgentClient, SocketAgentClient } from "../../controller/proxy/agent-client";
import { type BootState, chooseBoot } from "../../node-agent/boot/machine";
import type { SlotName } from "../../node-agent/slots/layout";
import type { AgentState } from "../../node-agent/slots/state";
import { copyDisk } from "../image-builder/disk-image";
import { attachLoop, type LoopDisk } from "../image-builder/loop";
import { type AgentProcess, startAgent } from "./agent-process";
import { type PowerOn, powerOn } from "./firmware";
import { type OsRelease, readDisk, readSlotRelease, releaseLoop, releaseStale, slotPartition, unmountPartitions } from "./lab-disk";
import type { LabNodeAgent } from "./lab-node";

const REBOOT_SCRIPT = path.join(__dirname, "reboot.sh");
const HEALTH_SCRIPT = path.join(__dirname, "health-check.sh");
const DISK_FILE = "disk.img";

/** Options of a {@link DiskMachine}. */
export interface DiskMachineOptions {
  /** The machine's own directory (disk copy, agent socket, config and log); created, emptied. */
  dir: string;
  /** The cached lab disk to copy (see disk-image.ts `buildDisk`). */
  disk: string;
  /** The agent bundle (agent-process.ts `bundleAgent`); absent runs the sources under tsx (slow to start). */
  agentBundle?: string;
  /** CA certificate of the image server. */
  caFile?: string;
  /** Boot tries the agent gives an activated slot. Default: the agent's (3). */
  tries?: number;
}

/** The disk as it is, read from the disk itself. */
export interface DiskInspection {
  /** The boot state in grubenv. */
  boot: BootState;
  /** The agent's records on the boot partition. */
  state: AgentState;
  /** What GRUB would boot next. */
  nextBoot: SlotName;
  /** Each slot's /etc/os-release (undefined: no readable OS in it). */
  releases: Record<SlotName, OsRelease | undefined>;
}

/** A lab machine: a loop-backed A/B disk and a real agent process. */
export class DiskMachine implements LabNodeAgent {
  /** The agent's socket client (one connection per call, so it outlives reboots). */
  readonly client: AgentClient;
  /** The machine's disk on its loop device. */
  readonly loop: LoopDisk;
  /** Every power-on, in order: GRUB's picks and the slot that came up. */
  readonly boots: PowerOn[] = [];
  /** Called once per boot when that boot's agent runs its reboot command. */
  onReboot?: () => void;
  private agent?: AgentProcess;
  private running?: { slot: SlotName; version: string };
  private requestFile?: string;
  private readonly watcher: fs.FSWatcher;
  private readonly poll: NodeJS.Timeout;
  private disposed = false;

  constructor(private readonly opts: DiskMachineOptions) {
    // A machine of the same name from a run that died may still hold its mounts and loop device.
    releaseStale(opts.dir, path.join(opts.dir, DISK_FILE));
    fs.rmSync(opts.dir, { recursive: true, force: true });
    fs.mkdirSync(opts.dir, { recursive: true });
    this.loop = attachLoop(copyDisk(opts.disk, opts.dir, DISK_FILE));
    this.client = new SocketAgentClient(path.join(opts.dir, "agent.sock"));
    // The reboot script's request shows up as a rename in the directory; the poll is a
    // backstop should an event be missed.
    this.watcher = fs.watch(opts.dir, (_event, name) => {
      if (name?.startsWith("reboot-request.")) this.checkRequest();
    });
    this.watcher.unref();
    this.poll = setInterval(() => this.checkRequest(), 1000);
    this.poll.unref();
  }

  /** The machine's directory. */
  get dir(): string {
    return this.opts.dir;
  }

  /** The slot that booted; undefined while the machine is off. */
  get bootedSlot(): SlotName | undefined {
    return this.running?.slot;
  }

  /** VERSION_ID of the booted slot's /etc/os-release; undefined while the machine is off. */
  get runningVersion(): string | undefined {
    return this.running?.version;
  }

  /** The agent's log (every boot's agent appends to it). */
  get agentLog(): string {
    return path.join(this.opts.dir, "agent.log");
  }

  private checkRequest(): void {
    const file = this.requestFile;
    if (!file || !fs.existsSync(file)) return;
    // One request per boot: later ones from the same boot ask for what is happening.
    this.requestFile = undefined;
    this.onReboot?.();
  }

  /** Runs the firmware's boot and, once a slot's OS is up, its agent; resolves with the booted version (undefined: nothing came up). */
  async powerOn(): Promise<string | undefined> {
    if (this.disposed) throw new Error(`lab machine ${this.opts.dir}: disposed`);
    const boot = await powerOn(this.loop, path.join(this.opts.dir, "firmware"));
    this.boots.push(boot);
    if (!boot.slot || !boot.release?.VERSION_ID || !boot.cmdline) return undefined;
    // The agent finds the booted slot as on a node, from the kernel command line.
    const cmdlineFile = path.join(this.opts.dir, "cmdline");
    fs.writeFileSync(cmdlineFile, `${boot.cmdline}\n`);
    // A request file per boot, so a late request of a boot that is over is not taken
    // for one of the next.
    const request = path.join(this.opts.dir, `reboot-request.${this.boots.length}`);
    this.agent = await startAgent(
      this.opts.dir,
      this.loop.device,
      {
        bootedSlot: undefined,
        cmdlineFile,
        runDir: path.join(this.opts.dir, "run"),
        rebootCommand: ["/bin/sh", REBOOT_SCRIPT, request],
        health: { commands: [["/bin/sh", HEALTH_SCRIPT, this.loop.part(slotPartition(boot.slot))]] },
        ...(this.opts.caFile ? { caFile: this.opts.caFile } : {}),
        ...(this.opts.tries ? { tries: this.opts.tries } : {}),
      },
      this.opts.agentBundle ? { bundle: this.opts.agentBundle } : {},
    );
    this.running = { slot: boot.slot, version: boot.release.VERSION_ID };
    this.requestFile = request;
    return this.running.version;
  }

  /** SIGKILLs the agent and drops every mount of the disk, as a power cut does; the disk stays attached. */
  async powerOff(): Promise<void> {
    this.requestFile = undefined;
    this.running = undefined;
    const agent = this.agent;
    this.agent = undefined;
    await agent?.kill();
    // No mount survives a power cut; the next boot's agent mounts the boot partition again.
    await unmountPartitions(this.loop);
  }

  /** Powers off, stops watching for reboot requests and detaches the loop device (by name). */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.watcher.close();
    clearInterval(this.poll);
    await this.powerOff();
    releaseLoop(this.loop);
  }

  /** Reads the boot state, the agent's records and each slot's OS from the disk (the agent may be running). */
  async inspect(): Promise<DiskInspection> {
    const { boot, state } = readDisk(this.loop, this.opts.dir);
    const [a, b] = await Promise.all([readSlotRelease(this.loop.part(slotPartition("A"))), readSlotRelease(this.loop.part(slotPartition("B")))]);
    return { boot, state, nextBoot: chooseBoot(boot).slot, releases: { A: a, B: b } };
  }
}
