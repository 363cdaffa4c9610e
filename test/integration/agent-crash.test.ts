// L3: the agent killed with SIGKILL at every step of `stage` and `activate`, on a
// loop-backed disk. After each kill the disk must boot a good slot (the booted one, or
// a verified staged slot on trial with the booted one as good fallback), and running
// the operation again must finish it.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { type LoopDisk, mountExt4 } from "../../lab/image-builder/loop";
import { buildOsImage, type OsImage } from "../../lab/image-builder/os-image";
import { type BootState, chooseBoot } from "../../node-agent/boot/machine";
import { FAILPOINTS } from "../../node-agent/failpoint";
import { type AgentProcess, hashDevice, type ImageServer, labLoopDisk, readDisk, releaseLoop, startAgent, startImageServer } from "./agent-harness";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-agent-crash-"));
let server: ImageServer;
let v1: OsImage;
let v2: OsImage;

before(async () => {
  v1 = buildOsImage("1.0.0");
  v2 = buildOsImage("2.0.0");
  server = await startImageServer(dir);
  server.files.set("/v2.img", v2.path);
});

after(async () => {
  await server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * The crash-safety promise, checked on the disk itself: the next boot picks a good slot
 * or a verified trial slot whose failure falls back to a good one; slot A (booted) is
 * byte for byte what it was.
 */
function assertSafe(loop: LoopDisk, d: string, where: string): BootState {
  const { boot } = readDisk(loop, d);
  assert.equal(hashDevice(loop.part(3), v1.size), v1.digest, `${where}: slot A changed`);
  assert.equal(boot.slots.A.good, true, `${where}: slot A lost its good flag`);
  let state = boot;
  const seen: string[] = [];
  // Boot without ever committing: every boot must be A or a verified B, and B's tries
  // must run out so that A boots by itself.
  for (let i = 0; i < 12; i++) {
    const c = chooseBoot(state);
    assert.equal(c.bootable, true, `${where}: nothing bootable`);
    seen.push(c.slot);
    if (c.slot === "B") assert.equal(hashDevice(loop.part(4), v2.size), v2.digest, `${where}: B boots but does not hold the verified image`);
    state = c.state;
  }
  assert.equal(seen.at(-1), "A", `${where}: never falls back to A (${seen.join(" ")})`);
  return boot;
}

async function killedAt(agent: AgentProcess, op: Promise<unknown>, fp: string): Promise<void> {
  await op.then(
    () => assert.fail(`${fp}: the operation finished; the failpoint was never reached`),
    () => {},
  );
  const { code, signal } = await agent.exited();
  // The agent runs under the reaper, which reports a child killed by SIGKILL as 128+9.
  assert.ok(code === 137 || signal === "SIGKILL", `${fp}: agent ended with ${code}/${signal}, not SIGKILL:\n${agent.proc.tail()}`);
}

async function onFreshDisk(name: string, fn: (loop: LoopDisk, d: string) => Promise<void>): Promise<void> {
  const d = path.join(dir, name.replace(/[^a-z0-9]+/gi, "-"));
  fs.mkdirSync(d);
  const { loop } = labLoopDisk(d);
  try {
    await fn(loop, d);
  } finally {
    releaseLoop(loop);
  }
}

/**
 * Starts from the harder case for stage: slot B is committed too (an earlier version
 * that A was rolled back from), so stage must really take B's good flag away first.
 */
function markBGood(loop: LoopDisk, d: string): void {
  const mnt = path.join(d, "prep-mnt");
  const umount = mountExt4(loop.part(2), mnt);
  try {
    execFileSync("grub-editenv", [path.join(mnt, "grub/grubenv"), "set", "B_OK=1"]);
  } finally {
    umount();
  }
}

const stageParams = () => ({ url: server.url("/v2.img"), digest: v2.digest, version: "2.0.0" });

describe("SIGKILL at every step", { concurrency: 2 }, () => {
  for (const fp of FAILPOINTS.stage) {
    test(`of stage (${fp}) leaves A booting, and stage finishes when run again`, () =>
      onFreshDisk(`stage-${fp}`, async (loop, d) => {
        const cfg = { caFile: server.caFile, checkpointBytes: 4 << 20 };
        markBGood(loop, d);
        assert.equal(readDisk(loop, d).boot.slots.B.good, true);
        const doomed = await startAgent(d, loop.device, cfg, { failpoint: fp, name: "doomed" });
        await killedAt(doomed, doomed.call("stage", stageParams()), fp);
        const boot = assertSafe(loop, d, `after ${fp}`);
        assert.equal(chooseBoot(boot).slot, "A");

        const again = await startAgent(d, loop.device, cfg, { name: "again" });
        try {
          const s = await again.call("status");
          assert.equal(s.nextBoot, "A");
          assert.notEqual(s.slots.B.content, "writing", "an interrupted write is recovered as bad");
          const r = await again.call("stage", stageParams());
          assert.equal(r.digest, v2.digest);
          if (fp.startsWith("stage:checkpoint")) assert.ok(r.resumedFrom >= 4 << 20, `resumes from the checkpoint (resumedFrom ${r.resumedFrom})`);
          assert.equal(hashDevice(loop.part(4), v2.size), v2.digest);
          assert.equal((await again.call("status")).slots.B.content, "staged");
          assertSafe(loop, d, `after re-stage following ${fp}`);
        } finally {
          await again.stop();
        }
      }));
  }

  test("of a multi-frame zstd stage (stage:checkpoint@3) resumes at a frame: a Range request from the frame, writing from its output offset", () =>
    onFreshDisk("zstd-frames", async (loop, d) => {
      // v2 compressed 4 MiB at a time: frames that declare their size, as pzstd would make them.
      const img = fs.readFileSync(v2.path);
      const frames: Buffer[] = [];
      for (let i = 0; i < img.length; i += 4 << 20) {
        const piece = path.join(d, "piece");
        fs.writeFileSync(piece, img.subarray(i, i + (4 << 20)));
        frames.push(execFileSync("zstd", ["-q", "-1", "-c", piece], { maxBuffer: 64 << 20 }));
      }
      const file = path.join(d, "v2-frames.img.zst");
      fs.writeFileSync(file, Buffer.concat(frames));
      const urlPath = "/v2-frames.img.zst";
      server.files.set(urlPath, file);
      const cfg = { caFile: server.caFile, checkpointBytes: 4 << 20 };
      const params = { url: server.url(urlPath), digest: v2.digest, version: "2.0.0" };

      const doomed = await startAgent(d, loop.device, cfg, { failpoint: "stage:checkpoint@3", name: "doomed" });
      await killedAt(doomed, doomed.call("stage", params), "stage:checkpoint@3");
      assertSafe(loop, d, "after the kill");
      const cp = readDisk(loop, d).state.slots.B.checkpoint;
      assert.ok(cp?.zstdOffset !== undefined && cp.bytes >= 4 << 20 && cp.bytes % (4 << 20) === 0, `checkpoint ${JSON.stringify(cp)}`);
      const framesBefore = cp.bytes / (4 << 20);
      assert.equal(cp.zstdOffset, Buffer.concat(frames.slice(0, framesBefore)).length, "the checkpoint is where that frame starts");

      const again = await startAgent(d, loop.device, cfg, { name: "again" });
      try {
        const r = await again.call("stage", params);
        assert.equal(r.resumedFrom, cp.bytes);
        assert.equal(r.digest, v2.digest);
        assert.equal(hashDevice(loop.part(4), v2.size), v2.digest);
        assert.equal((await again.call("status")).slots.B.content, "staged");
        const ranges = server.seen.filter((q) => q.path === urlPath).map((q) => q.range ?? "");
        assert.deepEqual(ranges, ["", `bytes=${cp.zstdOffset}-`]);
        assertSafe(loop, d, "after the resumed stage");
      } finally {
        await again.stop();
      }
    }));

  for (const fp of FAILPOINTS.activate) {
    test(`of activate (${fp}) leaves A or the verified B on trial, and activate finishes when run again`, () =>
      onFreshDisk(`activate-${fp}`, async (loop, d) => {
        const cfg = { caFile: server.caFile };
        const prep = await startAgent(d, loop.device, cfg, { name: "prep" });
        await prep.call("stage", stageParams());
        await prep.stop();

        const doomed = await startAgent(d, loop.device, cfg, { failpoint: fp, name: "doomed" });
        await killedAt(doomed, doomed.call("activate", { tries: 3 }), fp);
        const boot = assertSafe(loop, d, `after ${fp}`);
        // The grubenv rename is the commit point of activate.
        const applied = fp === "grubenv:renamed" || fp === "activate:done";
        assert.equal(chooseBoot(boot).slot, applied ? "B" : "A", `next boot after ${fp}`);

        const again = await startAgent(d, loop.device, cfg, { name: "again" });
        try {
          const r = await again.call("activate", { tries: 3 });
          assert.deepEqual(r, { slot: "B", tries: 3, changed: !applied });
          assert.deepEqual(readDisk(loop, d).boot, { order: ["B", "A"], slots: { A: { good: true, triesLeft: 0 }, B: { good: false, triesLeft: 3 } } });
          assertSafe(loop, d, `after re-activate following ${fp}`);
        } finally {
          await again.stop();
        }
      }));
  }
});
