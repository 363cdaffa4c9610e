import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { it } from "node:test";
import { repoRoot } from "../../lab/harness/tools";

it("npm start -- --once brings up the lab, deploys the default program and tears it down", { timeout: 600_000 }, () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(repoRoot, "lab", "main.ts"), "--once"], {
    cwd: repoRoot,
    encoding: "utf8",
    env: { ...process.env, TWINROOT_LAB_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-lab-")) },
  });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /API server ready at https:\/\/127\.0\.0\.1:\d+/);
  assert.match(r.stdout, /pulumi up done: \{"create":4\}/);
  assert.match(r.stdout, /"namespace":"twinroot-smoke"/);
});
