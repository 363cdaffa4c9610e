#!/usr/bin/env node

// Makes a fresh clone ready to run: npm packages, Debian packages, and the Go-built
// toolchain. Each step checks first and does nothing when its part is already in place,
// so `npm test` and `npm start` can call it every time.
//
//   node scripts/setup.mjs [--no-tools] [--no-debs]

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = new Set(process.argv.slice(2));

function log(msg) {
  process.stderr.write(`[setup] ${msg}\n`);
}

function fail(msg) {
  process.stderr.write(`[setup] FAILED: ${msg}\n`);
  process.exit(1);
}

function sh(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { stdio: "inherit", cwd: root, ...opts });
  if (r.error) fail(`${cmd}: ${r.error.message}`);
  return r.status ?? 1;
}

function npmPackages() {
  const lock = path.join(root, "package-lock.json");
  const stamp = path.join(root, "node_modules", ".twinroot-lock-sha256");
  const want = createHash("sha256").update(fs.readFileSync(lock)).digest("hex");
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, "utf8") === want) return;
  // Not `npm ci`: npm 11 rejects its own lock file as "out of sync" when it lacks the
  // optional platform packages of other systems (Biome's). `npm install` with the lock
  // present installs exactly the locked versions and leaves the lock alone.
  log("installing npm packages (npm install, from package-lock.json)");
  if (sh("npm", ["install", "--no-audit", "--no-fund"]) !== 0) fail("npm install failed");
  fs.writeFileSync(stamp, want);
}

function debianPackages() {
  const wanted = fs
    .readFileSync(path.join(root, "scripts", "debian-packages.txt"), "utf8")
    .split("\n")
    .map((l) => l.replace(/#.*/, "").trim())
    .filter(Boolean);
  const missing = wanted.filter((p) => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query format, not a template
    const r = spawnSync("dpkg-query", ["-W", "-f=${Status}", p], { encoding: "utf8" });
    return !(r.status === 0 && r.stdout.includes("install ok installed"));
  });
  if (!missing.length) return;
  if (process.getuid?.() !== 0) fail(`missing Debian packages: ${missing.join(" ")}; install them as root (apt-get install ${missing.join(" ")})`);
  log(`installing Debian packages: ${missing.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  if (sh("apt-get", ["update", "-qq"], { env }) !== 0) fail("apt-get update failed");
  if (sh("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], { env }) !== 0) fail(`apt-get install ${missing.join(" ")} failed`);
}

function tools() {
  if (sh(process.execPath, [path.join(root, "tools", "build.mjs")]) !== 0) fail("the toolchain did not build (see [tools] lines above)");
}

npmPackages();
if (!args.has("--no-debs")) debianPackages();
if (!args.has("--no-tools")) tools();
