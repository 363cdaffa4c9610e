// L3: the `reboot` RPC of an agent serving a loop-backed disk. The configured reboot
// command is a recorder script (nothing reboots): `reboot` answers, then runs it with its
// arguments in a process group of its own; a command that is not an executable is
// `reboot-failed` at once, and nothing runs.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { RpcError } from "../../node-agent/rpc/client";
import { labLoopDisk, releaseLoop, startAgent } from "./agent-harness";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-agent-reboot-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Field 5 of /proc/<pid>/stat: the process group. */
function pgidOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
}

/** The agent under the harness's reaper (the reaper's child that is not a shell). */
function agentPid(reaperPid: number): number {
  for (const task of fs.readdirSync(`/proc/${reaperPid}/task`)) {
    for (const k of fs.readFileSync(`/proc/${reaperPid}/task/${task}/children`, "utf8").trim().split(/\s+/).filter(Boolean)) {
      if (fs.readFileSync(`/proc/${k}/comm`, "utf8").trim() !== "bash") return Number(k);
    }
  }
  throw new Error("agent process not found");
}

/** Waits until `ready()` (polling); the limit only keeps a broken agent from hanging the test. */
async function waitFor(what: string, ready: () => boolean, limitMs = 60_000): Promise<void> {
  for (const start = Date.now(); !ready(); ) {
    if (Date.now() - start > limitMs) assert.fail(`${what} did not happen`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("reboot answers, then runs the configured reboot command with its arguments, detached; the agent serves on", async () => {
  const d = path.join(dir, "ok");
  fs.mkdirSync(d);
  const record = path.join(d, "reboots");
  const recorder = path.join(d, "fake-reboot");
  fs.writeFileSync(recorder, `#!/bin/sh\nprintf '%s|' "$@" "pgid=$(cut -d' ' -f5 /proc/$$/stat)" >> '${record}'\necho >> '${record}'\n`, { mode: 0o755 });
  const { loop } = labLoopDisk(d);
  const agent = await startAgent(d, loop.device, { rebootCommand: [recorder, "--now", "twinroot test"] });
  try {
    const pgid = pgidOf(agentPid(agent.proc.child.pid as number));
    assert.equal(fs.existsSync(record), false);
    assert.deepEqual(await agent.call("reboot"), { scheduled: true });
    await waitFor("the reboot command", () => fs.existsSync(record) && fs.readFileSync(record, "utf8").endsWith("\n"));
    const [line, ...more] = fs.readFileSync(record, "utf8").split("\n").filter(Boolean);
    assert.deepEqual(more, []);
    const fields = (line as string).split("|");
    assert.deepEqual(fields.slice(0, 2), ["--now", "twinroot test"]);
    assert.notEqual(fields[2], `pgid=${pgid}`, "the command runs in a process group of its own, not the agent's");
    // The real command takes the node down; until then the agent answers as before.
    const s = await agent.call("status");
    assert.equal(s.bootedSlot, "A");
    assert.equal(s.operation, null);
  } finally {
    await agent.stop();
    releaseLoop(loop);
  }
});

test("a reboot command that is missing or not executable is reboot-failed, and nothing runs", async () => {
  const d = path.join(dir, "bad");
  fs.mkdirSync(d);
  const notExecutable = path.join(d, "not-executable");
  fs.writeFileSync(notExecutable, `#!/bin/sh\ntouch '${path.join(d, "ran")}'\n`, { mode: 0o644 });
  const { loop } = labLoopDisk(d);
  try {
    for (const [name, rebootCommand] of [
      ["missing", [path.join(d, "missing")]],
      ["not-executable", [notExecutable]],
      ["not-on-path", ["twinroot-no-such-reboot-command"]],
    ] as const) {
      const agent = await startAgent(d, loop.device, { rebootCommand: [...rebootCommand] }, { name });
      try {
        const err = await agent.call("reboot").then(
          () => assert.fail(`${name}: reboot answered`),
          (e: unknown) => e,
        );
        assert.ok(err instanceof RpcError, String(err));
        assert.equal(err.code, "reboot-failed", err.message);
        assert.match(err.message, /is not an executable file/);
        assert.equal((await agent.call("status")).operation, null);
      } finally {
        await agent.stop();
      }
    }
    assert.equal(fs.existsSync(path.join(d, "ran")), false);
  } finally {
    releaseLoop(loop);
  }
});
