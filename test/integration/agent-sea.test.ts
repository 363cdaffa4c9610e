// L3: the single executable itself (what ships to nodes): built with
// node-agent/build-sea.mjs, run with an empty environment, serving a loop-backed disk.

import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { buildOsImage } from "../../lab/image-builder/os-image";
import { compressed, hashDevice, type ImageServer, labLoopDisk, releaseLoop, startAgent, startImageServer } from "./agent-harness";

const execFileAsync = promisify(execFile);
const root = path.resolve(__dirname, "../..");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-agent-sea-"));
const exe = path.join(dir, "twinroot-agent");
let server: ImageServer;

before(async () => {
  execFileSync(process.execPath, [path.join(root, "node-agent/build-sea.mjs"), "--out", exe], { stdio: ["ignore", "ignore", "pipe"] });
  server = await startImageServer(dir);
});

after(async () => {
  await server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("the single executable runs with an empty environment and answers --version and --help", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { version: string };
  assert.equal(execFileSync(exe, ["--version"], { env: {}, encoding: "utf8" }), `${pkg.version}\n`);
  assert.match(execFileSync(exe, ["--help"], { env: {}, encoding: "utf8" }), /^ {2}stage --url URL/m);
});

test("the single executable serves a disk: stage (zstd over HTTPS) and status through its own CLI", async () => {
  const v2 = buildOsImage("2.0.0");
  server.files.set("/v2.img.zst", compressed(v2, "zstd"));
  const d = path.join(dir, "disk");
  fs.mkdirSync(d);
  const { loop } = labLoopDisk(d);
  const agent = await startAgent(d, loop.device, { caFile: server.caFile }, { executable: exe });
  try {
    // Asynchronously: the image server runs in this process and must keep serving.
    const { stdout: out } = await execFileAsync(
      exe,
      ["stage", "--socket", agent.socket, "--url", server.url("/v2.img.zst"), "--digest", v2.digest, "--image-version", "2.0.0"],
      {
        env: {},
        encoding: "utf8",
      },
    );
    assert.equal(JSON.parse(out).slot, "B");
    assert.equal(hashDevice(loop.part(4), v2.size), v2.digest);
    const status = JSON.parse(execFileSync(exe, ["status", "--socket", agent.socket], { env: {}, encoding: "utf8" }));
    assert.equal(status.slots.B.version, "2.0.0");
    assert.equal(status.slots.B.content, "staged");
  } finally {
    await agent.stop();
    releaseLoop(loop);
  }
});
