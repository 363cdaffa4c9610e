// `twinroot status` as a user runs it: the CLI in its own process against a real
// kube-apiserver and etcd, reading Nodes, OsNodes and OsRollouts written through the API.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { StatusDocument } from "../../cli/status-model";
import type { OsNodeStatus, OsRolloutStatus } from "../../controller/api/types";
import { API_VERSION } from "../../controller/api/types";
import { installCrds } from "../../controller/kube/install";
import { NODES, OSNODES, ROLLOUTS, resourcePath } from "../../controller/kube/resources";
import { Kube } from "../../controller/kube/rest";
import { ControlPlane } from "../../lab/harness/control-plane";
import { freePorts } from "../../lab/harness/ports";
import { repoRoot } from "../../lab/harness/tools";
import { waitFor } from "./support/wait";

const MERGE = "application/merge-patch+json";
const home = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-status-home-"));
after(() => fs.rmSync(home, { recursive: true, force: true }));

// A clean environment: no $KUBECONFIG and an empty home, so nothing of the machine's own
// kubeconfig can leak into a test.
function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, ...extra };
  if (!extra.KUBECONFIG) delete env.KUBECONFIG;
  return env;
}

function startCli(args: string[], env = cliEnv()): { child: ChildProcess; out: () => string; err: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(repoRoot, "cli", "main.ts"), "status", ...args], {
    cwd: repoRoot,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d) => {
    out += d;
  });
  child.stderr?.on("data", (d) => {
    err += d;
  });
  const exit = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exit };
}

async function status(args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = startCli(args, env);
  const timer = setTimeout(() => run.child.kill("SIGKILL"), 90_000);
  const code = await run.exit;
  clearTimeout(timer);
  return { code, stdout: run.out(), stderr: run.err() };
}

describe("twinroot status without a cluster", { timeout: 200_000 }, () => {
  it("says where it looked when there is no kubeconfig", async () => {
    const r = await status([]);
    assert.equal(r.code, 3);
    assert.equal(r.stderr, `twinroot status: no kubeconfig: pass --kubeconfig FILE, set $KUBECONFIG, or create ${home}/.kube/config\n`);
  });

  it("exits 2 with the usage on a bad option", async () => {
    const r = await status(["--frobnicate"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^twinroot status: unknown option --frobnicate\n\nUsage: twinroot status/);
  });
});

describe("twinroot status against a real API server", { timeout: 600_000 }, () => {
  let cp: ControlPlane;
  let kube: Kube;
  before(async () => {
    cp = await ControlPlane.start();
    kube = new Kube(cp.kubeConfig());
  });
  after(async () => {
    kube?.close();
    await cp?.stop();
  });

  it("says the twinroot CRDs are not installed, and how to install them, before they are", async () => {
    const r = await status(["--kubeconfig", cp.kubeconfigPath]);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, "twinroot status: the twinroot CRDs are not installed: run pulumi up with the UpgradeController component\n");
  });

  it("says the server cannot be reached when nothing listens at its address", async () => {
    const [port] = await freePorts(1);
    const file = path.join(home, "unreachable.kubeconfig");
    fs.writeFileSync(file, cp.kubeconfig().replace(cp.server, `https://127.0.0.1:${port}`));
    const r = await status(["--kubeconfig", file]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, new RegExp(`^twinroot status: cannot reach the API server at https://127\\.0\\.0\\.1:${port}: connect ECONNREFUSED`));
  });

  describe("with the CRDs installed and a fleet's objects", () => {
    const node = async (name: string, pool: string, opts: { ready: boolean; cordoned?: boolean }) => {
      await kube.request("POST", resourcePath(NODES), { body: { metadata: { name, labels: { pool } }, spec: { unschedulable: opts.cordoned ?? false } } });
      const now = new Date().toISOString();
      await kube.request("PATCH", resourcePath(NODES, { name, sub: "status" }), {
        body: {
          status: { conditions: [{ type: "Ready", status: opts.ready ? "True" : "False", reason: "Lab", lastHeartbeatTime: now, lastTransitionTime: now }] },
        },
        contentType: MERGE,
      });
    };
    const image = { version: "1.1.0", url: "https://127.0.0.1:1/1.1.0.img", digest: "2".repeat(64) };
    const setOsNodeStatus = (name: string, s: OsNodeStatus) =>
      kube.request("PATCH", resourcePath(OSNODES, { name, sub: "status" }), { body: { status: s }, contentType: MERGE });
    const osNode = async (name: string, target: boolean, s: OsNodeStatus) => {
      await kube.request("POST", resourcePath(OSNODES), {
        body: {
          apiVersion: API_VERSION,
          kind: "OsNode",
          metadata: { name },
          spec: { nodeName: name, ...(target ? { target: { rollout: "web", image } } : {}) },
        },
      });
      await setOsNodeStatus(name, s);
    };
    const rollout = async (name: string, pool: string, s: OsRolloutStatus) => {
      await kube.request("POST", resourcePath(ROLLOUTS), {
        body: { apiVersion: API_VERSION, kind: "OsRollout", metadata: { name }, spec: { image, nodeSelector: { matchLabels: { pool } } } },
      });
      await kube.request("PATCH", resourcePath(ROLLOUTS, { name, sub: "status" }), { body: { status: s }, contentType: MERGE });
    };
    const ago = (s: number) => new Date(Date.now() - s * 1000).toISOString().replace(/\.\d+Z$/, "Z");
    const c = (type: string, status: "True" | "False", reason: string, message: string) => ({
      type,
      status,
      reason,
      message,
      lastTransitionTime: ago(0),
      observedGeneration: 1,
    });

    before(async () => {
      await installCrds(kube);
      await node("web-1", "web", { ready: true });
      await node("web-2", "web", { ready: true, cordoned: true });
      await node("web-3", "web", { ready: false });
      await node("other-1", "other", { ready: true });
      await osNode("web-1", true, { phase: "Done", phaseTime: ago(3700), bootedSlot: "B", bootedVersion: "1.1.0" });
      await osNode("web-2", true, { phase: "Draining", phaseTime: ago(125), bootedSlot: "A", bootedVersion: "1.0.0", message: "evicting 2 pods" });
      await osNode("web-3", true, {
        phase: "Rebooting",
        phaseTime: ago(20),
        bootedSlot: "A",
        bootedVersion: "1.0.0",
        lastError: "drain: pdb apps/db",
        lastErrorTime: ago(30),
      });
      await rollout("web", "web", {
        observedGeneration: 1,
        targetVersion: "1.1.0",
        total: 3,
        updated: 1,
        inProgress: 2,
        failed: 0,
        pending: 0,
        unavailable: 2,
        conditions: [c("Progressing", "True", "NodesStarted", "1 of 3 nodes updated"), c("Complete", "False", "InProgress", "")],
      });
    });

    it("prints one JSON document with the rollout and each node's phase, slot, versions, time in phase, error and Node state", async () => {
      const r = await status(["--kubeconfig", cp.kubeconfigPath, "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout) as StatusDocument;
      assert.equal(doc.context, "lab");
      assert.equal(doc.degraded, false);
      assert.equal(doc.rollouts.length, 1);
      const web = doc.rollouts[0];
      assert.equal(web?.name, "web");
      assert.equal(web?.targetVersion, "1.1.0");
      assert.equal(web?.state, "Progressing");
      assert.deepEqual(web?.counts, { total: 3, updated: 1, inProgress: 2, failed: 0, pending: 0, unavailable: 2 });
      assert.deepEqual(
        web?.conditions.map((x) => [x.type, x.status]),
        [
          ["Progressing", "True"],
          ["Complete", "False"],
        ],
      );
      assert.deepEqual(
        web?.nodes.map((n) => [n.name, n.phase, n.bootedSlot, n.bootedVersion, n.targetVersion, n.ready, n.cordoned]),
        [
          ["web-1", "Done", "B", "1.1.0", "1.1.0", true, false],
          ["web-2", "Draining", "A", "1.0.0", "1.1.0", true, true],
          ["web-3", "Rebooting", "A", "1.0.0", "1.1.0", false, false],
        ],
      );
      const inPhase = web?.nodes[1]?.timeInPhaseSeconds ?? -1;
      assert.ok(inPhase >= 125 && inPhase < 125 + 300, `web-2 has been Draining about 125 s, says ${inPhase}`);
      assert.equal(web?.nodes[1]?.message, "evicting 2 pods");
      assert.equal(web?.nodes[2]?.lastError, "drain: pdb apps/db");
      assert.deepEqual(
        doc.unassignedNodes.map((n) => [n.name, n.hasOsNode, n.phase]),
        [["other-1", false, null]],
      );
    });

    it("prints a header and a node table for people, reading $KUBECONFIG", async () => {
      const r = await status(["--context", "lab"], cliEnv({ KUBECONFIG: cp.kubeconfigPath }));
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.split("\n");
      assert.equal(lines[0], "rollout web → 1.1.0  Progressing  updated 1/3  failed 0  in progress 2");
      assert.match(lines[2] ?? "", /^NODE +PHASE +SLOT +VERSION +TARGET +IN PHASE +MESSAGE$/);
      assert.match(r.stdout, /^web-1 +Done +B +1\.1\.0 +1\.1\.0 +1h0[12]m$/m);
      assert.match(r.stdout, /^web-2 +Draining +A +1\.0\.0 +1\.1\.0 +[2-6]m\d\ds +\[cordoned\] evicting 2 pods$/m);
      assert.match(r.stdout, /^web-3 +Rebooting +A +1\.0\.0 +1\.1\.0 +\d+(s|m\d\ds) +\[NotReady\]$/m);
      assert.match(r.stdout, /\nnot in any rollout: 1 node\n\nNODE .*\nother-1 +- +- +- +- +- +\[no OsNode\]\n$/);
    });

    it("names the rollouts there are when the one asked for is missing", async () => {
      const r = await status(["--kubeconfig", cp.kubeconfigPath, "--rollout", "nope"]);
      assert.equal(r.code, 3);
      assert.equal(r.stderr, 'twinroot status: OsRollout "nope" not found (the cluster has: web)\n');
    });

    it("exits 1 while a rollout it shows is Degraded, and 0 for a healthy one asked for by name", async () => {
      await node("db-1", "db", { ready: true });
      await rollout("db", "db", {
        observedGeneration: 1,
        targetVersion: "1.1.0",
        total: 1,
        failed: 1,
        conditions: [c("Degraded", "True", "FailureBudgetExceeded", "1 nodes failed, the failure budget is 0; the rollout is halted")],
      });
      try {
        const json = await status(["--kubeconfig", cp.kubeconfigPath, "--json"]);
        assert.equal(json.code, 1, json.stderr);
        const doc = JSON.parse(json.stdout) as StatusDocument;
        assert.equal(doc.degraded, true);
        assert.equal(doc.rollouts.find((x) => x.name === "db")?.state, "Degraded");
        const human = await status(["--kubeconfig", cp.kubeconfigPath, "--rollout", "db"]);
        assert.equal(human.code, 1);
        assert.match(
          human.stdout,
          /^rollout db → 1\.1\.0 {2}Degraded .*\n {2}FailureBudgetExceeded: 1 nodes failed, the failure budget is 0; the rollout is halted\n/,
        );
        assert.equal((await status(["--kubeconfig", cp.kubeconfigPath, "--rollout", "web"])).code, 0);
      } finally {
        await kube.request("DELETE", resourcePath(ROLLOUTS, { name: "db" }));
        await kube.request("DELETE", resourcePath(NODES, { name: "db-1" }));
      }
    });

    it("--watch on a pipe prints a new block when an OsNode's phase changes, and none while nothing does", async () => {
      const run = startCli(["--kubeconfig", cp.kubeconfigPath, "--rollout", "web", "--watch"]);
      const blocks = () => run.out().split(/^--- /m).slice(1);
      try {
        await waitFor("the first block", async () => (blocks().length >= 1 ? true : undefined), 90_000);
        assert.match(blocks()[0] ?? "", /^web-2 +Draining /m);
        // Times in phase keep growing, and the informers relist and get bookmarks, but
        // none of that is a change: no second block.
        await new Promise((r) => setTimeout(r, 3000));
        assert.equal(blocks().length, 1, run.out());
        await setOsNodeStatus("web-2", { phase: "Rebooting", phaseTime: ago(0), message: "rebooting into slot B" });
        const second = await waitFor("a block with web-2 Rebooting", async () => blocks()[1], 60_000);
        assert.match(second, /^web-2 +Rebooting +A +1\.0\.0 +1\.1\.0 +\d+s +\[cordoned\] rebooting into slot B$/m);
        assert.match(second, /^rollout web → 1\.1\.0 {2}Progressing /m);
      } finally {
        run.child.kill("SIGTERM");
      }
      assert.equal(await run.exit, 0, run.err());
      assert.equal(blocks().length, 2, run.out());
      assert.equal(run.err(), "");
    });
  });
});
