import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { startManaged } from "./process";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function serverPid(reaperPid: number): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const children = fs.readFileSync(`/proc/${reaperPid}/task/${reaperPid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
    for (const c of children) if (fs.readFileSync(`/proc/${c}/comm`, "utf8").trim() === "sleep") return c;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("server process did not appear");
}

describe("managed processes", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-proc-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("stop ends the server process and reports its exit", async () => {
    const log = path.join(dir, "sleeper.log");
    const p = startManaged("sleeper", "sleep", ["1000"], log);
    const pid = await serverPid(p.child.pid as number);
    assert.ok(alive(pid));
    await p.stop();
    assert.ok(!alive(pid), "the server is gone after stop");
  });

  it("keeps the server's output in its log for error messages", async () => {
    const log = path.join(dir, "talker.log");
    const p = startManaged("talker", "sh", ["-c", "echo first; echo second >&2; exit 4"], log);
    assert.equal(await p.wait(), 4);
    assert.equal(p.tail(), "first\nsecond");
  });
});
