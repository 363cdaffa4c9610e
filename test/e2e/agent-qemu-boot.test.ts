// L4: real GRUB picks the slot. QEMU boots the lab disk; between boots the agent works
// on the same disk through a loop device (as it would on the node, minus the reboot).
// The guest reports its slot and version on the serial console.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { copyDisk, labDisk } from "../../lab/image-builder/disk-image";
import { attachLoop, run } from "../../lab/image-builder/loop";
import { buildOsImage, type OsImage } from "../../lab/image-builder/os-image";
import { bootDisk } from "../../lab/image-builder/qemu";
import type { AgentConfig } from "../../node-agent/config";
import { type AgentProcess, type ImageServer, readDisk, releaseLoop, startAgent, startImageServer } from "../integration/agent-harness";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-agent-l4-"));
let server: ImageServer;
let disk: string;
let v2: OsImage;
let broken: OsImage;

before(async () => {
  disk = copyDisk(labDisk("1.0.0").disk, dir);
  v2 = buildOsImage("2.0.0");
  broken = buildOsImage("3.0.0", "panic");
  server = await startImageServer(dir);
  server.files.set("/v2.img", v2.path);
  server.files.set("/broken.img", broken.path);
});

after(async () => {
  await server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

let runs = 0;
/** Attaches the disk, runs the agent as the slot the guest reported, detaches. */
async function withAgent(booted: "A" | "B", fn: (a: AgentProcess) => Promise<void>, config: Partial<AgentConfig> = {}): Promise<void> {
  const loop = attachLoop(disk);
  let agent: AgentProcess | undefined;
  try {
    agent = await startAgent(dir, loop.device, { caFile: server.caFile, bootedSlot: booted, ...config }, { name: `agent-${++runs}` });
    await fn(agent);
  } finally {
    await agent?.stop();
    releaseLoop(loop);
  }
}

/** The grubenv variables on the disk, as `grub-editenv list` shows them (GRUB's own save_env included). */
function grubenv(): Record<string, string> {
  const loop = attachLoop(disk);
  try {
    const { grubenv: block } = readDisk(loop, dir);
    const file = path.join(dir, "grubenv.copy");
    fs.writeFileSync(file, block);
    return Object.fromEntries(
      run("grub-editenv", [file, "list"])
        .trim()
        .split("\n")
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
  } finally {
    releaseLoop(loop);
  }
}

test("GRUB boots the committed slot, a staged slot on trial, the committed new slot, and falls back from a broken one by itself", async () => {
  // 1. The fresh disk boots 1.0.0 from A.
  let r = await bootDisk(disk);
  assert.deepEqual(r.booted, [{ slot: "A", version: "1.0.0" }], r.serial);

  // 2. Stage 2.0.0 into B and activate it with 3 tries.
  await withAgent("A", async (a) => {
    await a.call("stage", { url: server.url("/v2.img"), digest: v2.digest, version: "2.0.0" });
    await a.call("activate", { tries: 3 });
  });
  r = await bootDisk(disk);
  assert.deepEqual(r.booted, [{ slot: "B", version: "2.0.0" }], r.serial);
  // GRUB itself took one try with save_env before booting B.
  let env = grubenv();
  assert.equal(env.B_LEFT, "2", JSON.stringify(env));
  assert.equal(env.B_OK, "0");

  // 3. Commit on B: the next boots are B without counting.
  await withAgent(
    "B",
    async (a) => {
      const c = await a.call("commit", {});
      assert.equal(c.changed, true);
    },
    { health: { commands: [["true"]] } },
  );
  r = await bootDisk(disk);
  assert.deepEqual(r.booted, [{ slot: "B", version: "2.0.0" }], r.serial);
  env = grubenv();
  assert.equal(env.B_OK, "1");
  assert.equal(env.B_LEFT, "0");

  // 4. Stage a broken 3.0.0 (its kernel panics) into A, activate with 2 tries. GRUB
  //    tries A twice, the kernel panics and reboots each time, then GRUB boots B.
  await withAgent("B", async (a) => {
    await a.call("stage", { url: server.url("/broken.img"), digest: broken.digest, version: "3.0.0" });
    await a.call("activate", { tries: 2 });
  });
  r = await bootDisk(disk, 240_000);
  assert.deepEqual(r.chosen, ["A", "A", "B"], r.serial);
  assert.equal((r.serial.match(/TWINROOT-PANIC slot=A/g) ?? []).length, 2, r.serial);
  assert.deepEqual(r.booted, [{ slot: "B", version: "2.0.0" }], r.serial);
  env = grubenv();
  assert.equal(env.A_LEFT, "0");
  assert.equal(env.A_OK, "0");

  // 5. The agent on B sees the failed trial: B booted and good, A not bootable.
  await withAgent("B", async (a) => {
    const s = await a.call("status");
    assert.equal(s.nextBoot, "B");
    assert.equal(s.slots.A.good, false);
    assert.equal(s.slots.A.triesLeft, 0);
    assert.equal(s.slots.B.version, "2.0.0");
  });
});
