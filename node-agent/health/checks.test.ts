import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { runHealthChecks } from "./checks";

test("runs every check and reports each one, failed or not", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-health-"));
  // A stand-in systemctl: units named *-ok are active.
  const systemctl = path.join(dir, "systemctl");
  fs.writeFileSync(systemctl, '#!/bin/sh\ncase "$3" in *-ok) exit 0;; *) exit 3;; esac\n', { mode: 0o755 });
  let healthy = true;
  const srv = http.createServer((_req, res) => res.writeHead(healthy ? 200 : 500).end(healthy ? "ok" : "not ok"));
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/healthz`;
  try {
    const cfg = { units: ["kubelet-ok", "containerd-down"], kubeletHealthz: url, commands: [["true"], ["sh", "-c", "exit 4"]], systemctl };
    const r = await runHealthChecks(cfg);
    assert.deepEqual(
      r.map((c) => [c.name, c.ok]),
      [
        ["unit kubelet-ok", true],
        ["unit containerd-down", false],
        ["kubelet healthz", true],
        ["command true", true],
        ["command sh -c exit 4", false],
      ],
    );
    healthy = false;
    assert.equal((await runHealthChecks({ kubeletHealthz: url }))[0]?.ok, false);
    assert.deepEqual(await runHealthChecks({}), []);
  } finally {
    srv.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
