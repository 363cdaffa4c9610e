// L3: the agent as a process on a loop-backed GPT disk (real ext4 boot partition, real
// grubenv, real block devices), staging from an HTTPS server on 127.0.0.1.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { LoopDisk } from "../../lab/image-builder/loop";
import { buildOsImage, type OsImage } from "../../lab/image-builder/os-image";
import { chooseBoot } from "../../node-agent/boot/machine";
import { signDigest } from "../../node-agent/image/signature";
import { RpcError } from "../../node-agent/rpc/client";
import { type AgentProcess, compressed, hashDevice, type ImageServer, labLoopDisk, readDisk, releaseLoop, startAgent, startImageServer } from "./agent-harness";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-agent-l3-"));
let server: ImageServer;
let v2: OsImage;

before(async () => {
  v2 = buildOsImage("2.0.0");
  server = await startImageServer(dir);
  server.files.set("/v2.img", v2.path);
  server.files.set("/v2.img.gz", compressed(v2, "gzip"));
  server.files.set("/v2.img.zst", compressed(v2, "zstd"));
  server.files.set("/v2.img.xz", compressed(v2, "xz"));
  const corrupt = path.join(dir, "corrupt.img");
  const bytes = fs.readFileSync(v2.path);
  const mid = bytes.length >> 1;
  bytes[mid] = (bytes[mid] as number) ^ 0xff;
  fs.writeFileSync(corrupt, bytes);
  server.files.set("/corrupt.img", corrupt);
  const big = path.join(dir, "big.img");
  fs.writeFileSync(big, Buffer.alloc(40 << 20, 7));
  server.files.set("/big.img", big);
  server.files.set("/big.img.gz", compressed({ ...v2, path: big }, "gzip"));
});

after(async () => {
  await server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** One disk and one agent per test, so the tests stay independent. */
async function withAgent(name: string, fn: (a: AgentProcess, loop: LoopDisk, d: string) => Promise<void>, config = {}): Promise<void> {
  const d = path.join(dir, name);
  fs.mkdirSync(d);
  const { loop } = labLoopDisk(d);
  let agent: AgentProcess | undefined;
  try {
    agent = await startAgent(d, loop.device, { caFile: server.caFile, ...config });
    await fn(agent, loop, d);
  } finally {
    await agent?.stop();
    releaseLoop(loop);
  }
}

async function rejects(p: Promise<unknown>, code: string): Promise<RpcError> {
  const err = await p.then(
    () => assert.fail(`expected an error with code ${code}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof RpcError, String(err));
  assert.equal(err.code, code, err.message);
  return err;
}

/** The promise of the issue: after a failed stage the booted slot A is untouched and still what boots. */
function assertBootedSlotSafe(loop: LoopDisk, d: string, slotA: OsImage): void {
  const { boot, state } = readDisk(loop, d);
  assert.equal(boot.slots.A.good, true);
  assert.equal(boot.slots.B.good, false);
  assert.equal(boot.slots.B.triesLeft, 0);
  assert.equal(chooseBoot(boot).slot, "A");
  assert.equal(state.slots.B.content, "bad");
  assert.equal(hashDevice(loop.part(3), slotA.size), slotA.digest);
}

describe("agent on a loop-backed A/B disk", { concurrency: 2 }, () => {
  test("stages over HTTPS, activates with tries, commits after the boot and rolls back", () =>
    withAgent("cycle", async (agent, loop, d) => {
      const st = await agent.call("stage", { url: server.url("/v2.img"), digest: v2.digest, version: "2.0.0" });
      const { timings, ...rest } = st;
      assert.deepEqual(rest, { slot: "B", digest: v2.digest, bytes: v2.size, written: true, resumedFrom: 0 });
      assert.ok(timings && timings.writeMs >= 0 && timings.syncMs >= 0 && timings.verifyMs >= 0);
      assert.equal(hashDevice(loop.part(4), v2.size), v2.digest);
      let s = await agent.call("status");
      assert.equal(s.slots.B.content, "staged");
      assert.equal(s.slots.B.version, "2.0.0");
      assert.equal(s.nextBoot, "A", "a staged slot is not booted before activate");

      // Staging the same digest again is a no-op; activating twice hands out tries once.
      assert.equal((await agent.call("stage", { url: server.url("/v2.img"), digest: v2.digest })).written, false);
      assert.deepEqual(await agent.call("activate", { tries: 2 }), { slot: "B", tries: 2, changed: true });
      assert.deepEqual(await agent.call("activate", { tries: 2 }), { slot: "B", tries: 2, changed: false });
      const { boot } = readDisk(loop, d);
      assert.deepEqual(boot, { order: ["B", "A"], slots: { A: { good: true, triesLeft: 0 }, B: { good: false, triesLeft: 2 } } });

      // "Reboot": GRUB takes a try and boots B; the agent comes back on B.
      await agent.stop();
      const onB = await startAgent(d, loop.device, { caFile: server.caFile, bootedSlot: "B", health: { commands: [["true"]] } }, { name: "agent-b" });
      try {
        s = await onB.call("status");
        assert.equal(s.bootedSlot, "B");
        assert.equal(s.slots.A.good, true);
        const c = await onB.call("commit");
        assert.equal(c.changed, true);
        assert.deepEqual(
          c.checks.map((x) => x.ok),
          [true],
        );
        s = await onB.call("status");
        assert.equal(s.slots.B.good, true);
        assert.equal(s.nextBoot, "B");
        // Both good: rollback puts A first and keeps B as a good fallback.
        assert.deepEqual(await onB.call("rollback"), { slot: "A", changed: true });
        assert.deepEqual(await onB.call("rollback"), { slot: "A", changed: false });
        assert.equal((await onB.call("status")).nextBoot, "A");
      } finally {
        await onB.stop();
      }
    }));

  for (const [file, format] of [
    ["/v2.img.gz", "gzip"],
    ["/v2.img.zst", "zstd"],
    ["/v2.img.xz", "xz"],
  ] as const) {
    test(`decompresses ${format} on the fly and verifies the uncompressed digest`, () =>
      withAgent(`fmt-${format}`, async (agent, loop) => {
        const st = await agent.call("stage", { url: server.url(file), digest: v2.digest });
        assert.equal(st.bytes, v2.size);
        assert.equal(hashDevice(loop.part(4), v2.size), v2.digest);
      }));
  }

  test("a corrupt image is a digest error; B is left unbootable and A untouched", () =>
    withAgent("corrupt", async (agent, loop, d) => {
      const err = await rejects(agent.call("stage", { url: server.url("/corrupt.img"), digest: v2.digest }), "digest-mismatch");
      assert.match(err.message, /^stage: stage: slot B: the image's SHA-256 is [0-9a-f]{64}, expected/);
      assertBootedSlotSafe(loop, d, buildOsImage("1.0.0"));
      await rejects(agent.call("activate"), "not-staged");
    }));

  test("a download cut short on every try fails after the retries, leaving A booted", () =>
    withAgent(
      "truncated",
      async (agent, loop, d) => {
        server.files.set("/trunc.img", v2.path);
        server.faults.set("/trunc.img", { cutAt: 3 << 20 });
        const err = await rejects(agent.call("stage", { url: server.url("/trunc.img"), digest: v2.digest }), "download-failed");
        assert.match(err.message, /gave up after 2 retries at byte 3145728/);
        assertBootedSlotSafe(loop, d, buildOsImage("1.0.0"));
        // A file that is short with a matching length: the size or the digest says so.
        const short = path.join(d, "short.img");
        fs.writeFileSync(short, fs.readFileSync(v2.path).subarray(0, 5 << 20));
        server.files.set("/short.img", short);
        await rejects(agent.call("stage", { url: server.url("/short.img"), digest: v2.digest, size: v2.size }), "download-failed");
        await rejects(agent.call("stage", { url: server.url("/short.img"), digest: v2.digest }), "digest-mismatch");
        assertBootedSlotSafe(loop, d, buildOsImage("1.0.0"));
      },
      { downloadRetries: 2 },
    ));

  test("a broken connection is resumed with a Range request from where it stopped", () =>
    withAgent("resume", async (agent, loop) => {
      server.files.set("/flaky.img", v2.path);
      server.faults.set("/flaky.img", { dropAfter: 5 << 20, dropTimes: 2 });
      await agent.call("stage", { url: server.url("/flaky.img"), digest: v2.digest });
      assert.equal(hashDevice(loop.part(4), v2.size), v2.digest);
      const ranges = server.seen.filter((r) => r.path === "/flaky.img").map((r) => r.range ?? "");
      assert.deepEqual(ranges, ["", `bytes=${5 << 20}-`, `bytes=${10 << 20}-`]);
      assert.equal(server.sent.get("/flaky.img"), v2.size, "no byte is downloaded twice");
    }));

  test("a server that ignores Range is read again from the start, skipping what was had", () =>
    withAgent("norange", async (agent, loop) => {
      server.files.set("/norange.img.gz", compressed(v2, "gzip"));
      server.faults.set("/norange.img.gz", { dropAfter: 2 << 20, dropTimes: 1, ignoreRange: true });
      await agent.call("stage", { url: server.url("/norange.img.gz"), digest: v2.digest });
      assert.equal(hashDevice(loop.part(4), v2.size), v2.digest);
    }));

  test("a wrong signature is refused before the disk is touched", async () => {
    const keys = crypto.generateKeyPairSync("ed25519");
    const other = crypto.generateKeyPairSync("ed25519");
    const pub = path.join(dir, "sign.pub");
    fs.writeFileSync(pub, keys.publicKey.export({ type: "spki", format: "pem" }));
    await withAgent(
      "signature",
      async (agent, loop, d) => {
        const envBefore = readDisk(loop, d).grubenv;
        const bad = signDigest(v2.digest, other.privateKey.export({ type: "pkcs8", format: "pem" }));
        await rejects(agent.call("stage", { url: server.url("/v2.img"), digest: v2.digest, signature: bad }), "signature-invalid");
        await rejects(agent.call("stage", { url: server.url("/v2.img"), digest: v2.digest }), "signature-invalid");
        assert.ok(readDisk(loop, d).grubenv.equals(envBefore), "grubenv unchanged");
        const good = signDigest(v2.digest, keys.privateKey.export({ type: "pkcs8", format: "pem" }));
        assert.equal((await agent.call("stage", { url: server.url("/v2.img"), digest: v2.digest, signature: good })).written, true);
      },
      { publicKeyFile: pub },
    );
  });

  test("an image larger than the slot is refused, raw (by its length) or compressed (while writing)", () =>
    withAgent("toobig", async (agent, loop, d) => {
      await rejects(agent.call("stage", { url: server.url("/big.img") }), "slot-too-small");
      assertBootedSlotSafe(loop, d, buildOsImage("1.0.0"));
      const err = await rejects(agent.call("stage", { url: server.url("/big.img.gz") }), "slot-too-small");
      assert.match(err.message, /larger than the slot/);
      assertBootedSlotSafe(loop, d, buildOsImage("1.0.0"));
    }));

  test("plain HTTP is refused unless allowed, and then only with a digest", () =>
    withAgent("http", async (agent) => {
      await rejects(agent.call("stage", { url: "http://127.0.0.1:1/x.img", digest: v2.digest }), "http-refused");
      await rejects(agent.call("stage", { url: "ftp://127.0.0.1/x.img" }), "http-refused");
      await rejects(agent.call("stage", { url: server.url("/v2.img"), digest: "abc" }), "invalid-params");
    }));

  test("commit refuses when a health check fails, and staging refuses while the booted slot is uncommitted", () =>
    withAgent("health", async (agent, loop, d) => {
      await agent.call("stage", { url: server.url("/v2.img"), digest: v2.digest });
      await agent.call("activate", { tries: 3 });
      await agent.stop();
      const onB = await startAgent(
        d,
        loop.device,
        { caFile: server.caFile, bootedSlot: "B", health: { commands: [["true"], ["false"]] } },
        { name: "agent-b" },
      );
      try {
        const err = await rejects(onB.call("commit"), "health-check-failed");
        assert.match(err.message, /command false/);
        assert.equal((await onB.call("status")).slots.B.good, false);
        await rejects(onB.call("stage", { url: server.url("/v2.img"), digest: v2.digest }), "booted-slot-not-good");
        // Rolling back from the failed trial: A boots next and B has no tries left.
        assert.deepEqual(await onB.call("rollback"), { slot: "A", changed: true });
        const { boot } = readDisk(loop, d);
        assert.deepEqual(boot, { order: ["A", "B"], slots: { A: { good: true, triesLeft: 0 }, B: { good: false, triesLeft: 0 } } });
      } finally {
        await onB.stop();
      }
    }));
});
