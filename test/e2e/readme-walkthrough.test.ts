// The README's "A version bump, by hand", run as written: `npm start -- --keep` leaves a
// lab running, and the README's shell block (with the lab's own directory and image
// server in place of `.lab` and port 8443) sets the broken version 1.2.0 and runs
// `pulumi preview` and `pulumi up` against it. Then the same stack from the repository
// root's Pulumi.yaml, and Ctrl-C, which destroys the stack and stops the lab.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { repoRoot } from "../../lab/harness/tools";
import { runPrinted } from "./support/run";

/** The fenced `sh` block of a README section. */
function readmeBlock(heading: string): string {
  const readme = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8");
  const section = readme.split(/^## /m).find((s) => s.startsWith(heading));
  assert.ok(section, `README has a section "## ${heading}"`);
  const m = /```sh\n([\s\S]*?)```/.exec(section);
  assert.ok(m?.[1], `the README's "${heading}" has a sh block`);
  return m[1];
}

const bash = (script: string, cwd: string) => runPrinted("bash", ["-c", script], { cwd, env: { ...process.env, NO_COLOR: "1" } });

describe("the README's version bump by hand, on a lab left running by npm start -- --keep", { timeout: 1_500_000 }, () => {
  const labDir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-walkthrough-"));
  let lab: ChildProcess;
  let labOut = "";
  let exited: Promise<number | null>;
  /** What the kept lab printed for another shell. */
  let printed: { exports: string[]; images: Map<string, { url: string; digest: string }> };

  before(async () => {
    lab = spawn(process.execPath, ["--import", "tsx", path.join(repoRoot, "lab", "main.ts"), "--keep", "--nodes", "3"], {
      cwd: repoRoot,
      env: { ...process.env, TWINROOT_LAB_DIR: labDir, TWINROOT_LAB_IMAGE_PORT: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    exited = new Promise((resolve) => lab.on("close", resolve));
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer) => {
        labOut += d;
        if (labOut.includes("Ctrl-C here runs pulumi destroy")) resolve();
      };
      lab.stdout?.on("data", onData);
      lab.stderr?.on("data", onData);
      void exited.then((code) => reject(new Error(`the lab ended (${code}) before it was ready:\n${labOut}`)));
    });
    const exports = labOut.split("\n").filter((l) => /^ {2}export /.test(l));
    const images = new Map<string, { url: string; digest: string }>();
    for (const m of labOut.matchAll(/^ {2}(\d+\.\d+\.\d+) +(https:\S+) +([0-9a-f]{64})$/gm))
      images.set(m[1] as string, { url: m[2] as string, digest: m[3] as string });
    printed = { exports, images };
  });

  after(async () => {
    if (lab.exitCode === null && lab.signalCode === null) {
      lab.kill("SIGINT");
      await exited;
    }
    fs.rmSync(labDir, { recursive: true, force: true });
  });

  /** The README's block with this lab's directory and image server in place of `.lab` and 8443. */
  const walkthrough = () => {
    const origin = new URL(printed.images.get("1.2.0")?.url ?? "https://missing/").origin;
    return readmeBlock("A version bump, by hand").replaceAll("$PWD/.lab", labDir).replaceAll("../../.lab", labDir).replaceAll("https://127.0.0.1:8443", origin);
  };

  it("prints for another shell the exports the README shows, and serves the README's 1.2.0 digest", () => {
    assert.match(labOut, /pulumi up done: the rollout is Complete/);
    const block = walkthrough();
    const readmeExports = block
      .split("\n")
      .filter((l) => l.startsWith("export "))
      .map((l) => l.replaceAll("$PWD", repoRoot));
    assert.equal(readmeExports.length, 3, block);
    assert.deepEqual(
      printed.exports.map((l) => l.trim()),
      readmeExports,
    );
    const digest = /config set osImage\.digest ([0-9a-f]{64})/.exec(block)?.[1];
    assert.equal(digest, printed.images.get("1.2.0")?.digest, "the README's 1.2.0 digest is the one the lab builds");
    // The README sends readers to Pulumi.local.yaml for the other versions' digests.
    const listed = fs.readFileSync(path.join(repoRoot, "programs", "local", "Pulumi.local.yaml"), "utf8").matchAll(/^# +(\d+\.\d+\.\d+) +([0-9a-f]{64})/gm);
    assert.deepEqual(Object.fromEntries([...listed].map((m) => [m[1], m[2]])), Object.fromEntries([...printed.images].map(([v, i]) => [v, i.digest])));
  });

  it("runs the README's commands: preview shows the one rollout update, up fails with the controller's reason", async () => {
    // The watch runs in the background as in the README; it ends with the shell.
    const r = await bash(`trap 'kill $(jobs -p) 2>/dev/null' EXIT\n${walkthrough()}`, repoRoot);
    assert.notEqual(r.code, 0, "the last command, pulumi up, fails");
    assert.match(r.out, /~ +kubernetes:twinroot\.dev\/v1alpha1:OsRollout +lab-controller-rollout +update/, r.out);
    assert.match(r.out, /~ 1 to update/);
    assert.doesNotMatch(r.out, /to replace|to create|to delete/);
    assert.match(r.out, /error: OsRollout lab is Degraded \(FailureBudgetExceeded\): 2 nodes failed, the failure budget is 1; the rollout is halted: lab-\d: /);
    assert.match(r.out, /rollout lab → 1\.2\.0/, "twinroot status --watch showed the rollout");
  });

  it("runs the same stack from the repository root's Pulumi.yaml: nothing to change", async () => {
    const env = printed.exports.join("\n");
    const r = await bash(`${env}\npulumi --stack local --config-file ${labDir}/pulumi/Pulumi.local.yaml preview --diff`, repoRoot);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^Resources:\n +\d+ unchanged$/m, r.out);
    assert.doesNotMatch(r.out, /to (update|create|replace|delete)|Could not find entry point/);
  });

  it("Ctrl-C destroys the stack and stops the lab", async () => {
    lab.kill("SIGINT");
    assert.equal(await exited, 0, labOut);
    assert.match(labOut, /pulumi destroy done: \{"delete":\d+\}/);
  });
});
