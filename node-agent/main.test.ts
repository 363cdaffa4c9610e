import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { slotFromCmdline } from "./agent";
import { resolveConfig } from "./config";
import { AGENT_VERSION } from "./version";

const main = path.join(__dirname, "main.ts");
const cli = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", main, ...args], { encoding: "utf8" });

test("--version prints the package version, --help the commands, an unknown command exits 2", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "package.json"), "utf8")) as { version: string };
  assert.equal(AGENT_VERSION, pkg.version);
  const v = cli("--version");
  assert.equal(v.status, 0);
  assert.equal(v.stdout, `${pkg.version}\n`);
  const h = cli("--help");
  assert.equal(h.status, 0);
  for (const c of ["serve", "status", "stage", "activate", "commit", "rollback", "reboot"]) assert.match(h.stdout, new RegExp(`^  ${c}`, "m"));
  assert.equal(cli("format").status, 2);
  const down = cli("status", "--socket", "/nonexistent/agent.sock");
  assert.equal(down.status, 1);
  assert.match(down.stderr, /rpc: status: \/nonexistent\/agent.sock/);
});

test("the booted slot comes from twinroot.slot= on the kernel command line", () => {
  assert.equal(slotFromCmdline("BOOT_IMAGE=/vmlinuz root=PARTLABEL=ROOT-B twinroot.slot=B quiet\n"), "B");
  assert.equal(slotFromCmdline("twinroot.slot=C"), undefined);
  assert.equal(slotFromCmdline("quiet"), undefined);
});

test("config problems are reported together", () => {
  assert.throws(
    () => resolveConfig({ tries: 0, rebootCommand: [], caFile: "/nonexistent.pem" }),
    (e: Error) => {
      assert.match(e.message, /tries: must be 1-9; rebootCommand: must be a non-empty argv; caFile: \/nonexistent.pem does not exist/);
      return true;
    },
  );
  assert.equal(resolveConfig({}).socketPath, "/run/twinroot/agent.sock");
});
