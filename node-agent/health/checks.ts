// Health checks that gate `commit`: systemd units active, the kubelet's healthz, and
// arbitrary commands. All run (none short-circuits), so a failed commit reports every
// problem at once.

import { execFile } from "node:child_process";
import http from "node:http";
import type { HealthCheckResult } from "../rpc/protocol";

/** What must hold before the booted slot is committed. */
export interface HealthConfig {
  /** systemd units that must be active (`systemctl is-active`). */
  units?: string[];
  /** The kubelet's healthz URL (loopback HTTP), e.g. `http://127.0.0.1:10248/healthz`; omitted: not checked. */
  kubeletHealthz?: string;
  /** Commands (argv) that must exit 0. */
  commands?: string[][];
  /** Per-check timeout. Default 10 s. */
  timeoutMs?: number;
  /** The systemctl binary. Default `systemctl`. */
  systemctl?: string;
}

function runCommand(argv: string[], timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    const [cmd, ...args] = argv;
    if (!cmd) {
      resolve({ ok: false, detail: "empty command" });
      return;
    }
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (!err) resolve({ ok: true, detail: stdout.trim().slice(0, 200) });
      else resolve({ ok: false, detail: `${err.message.split("\n")[0]}${stderr ? `: ${stderr.trim().slice(0, 200)}` : ""}` });
    });
  });
}

function httpOk(url: string, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => {
        body += d;
      });
      res.on("end", () => resolve({ ok: res.statusCode === 200, detail: `HTTP ${res.statusCode} ${body.trim().slice(0, 100)}` }));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on("error", (err) => resolve({ ok: false, detail: err.message }));
  });
}

/** Runs every configured check. */
export async function runHealthChecks(cfg: HealthConfig): Promise<HealthCheckResult[]> {
  const timeout = cfg.timeoutMs ?? 10_000;
  const checks: Promise<HealthCheckResult>[] = [];
  for (const unit of cfg.units ?? []) {
    checks.push(runCommand([cfg.systemctl ?? "systemctl", "is-active", "--quiet", unit], timeout).then((r) => ({ name: `unit ${unit}`, ...r })));
  }
  if (cfg.kubeletHealthz) {
    const url = cfg.kubeletHealthz;
    checks.push(httpOk(url, timeout).then((r) => ({ name: "kubelet healthz", ...r })));
  }
  for (const argv of cfg.commands ?? []) {
    checks.push(runCommand(argv, timeout).then((r) => ({ name: `command ${argv.join(" ")}`, ...r })));
  }
  return Promise.all(checks);
}
