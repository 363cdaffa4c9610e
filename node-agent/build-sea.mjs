#!/usr/bin/env node
// Builds the node agent as one executable (nodes have no Node.js): esbuild bundles
// node-agent/main.ts into one CommonJS file, Node's single executable application
// support turns it into a blob, and postject injects the blob into a copy of this node.
//
//   node node-agent/build-sea.mjs [--out dist/twinroot-agent]
//
// The result links glibc and libstdc++ dynamically, like node itself.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const outIdx = args.indexOf("--out");
const out = path.resolve(root, outIdx === -1 ? "dist/twinroot-agent" : args[outIdx + 1]);
const work = `${out}.build`;

function log(msg) {
  process.stderr.write(`[build-sea] ${msg}\n`);
}

fs.rmSync(work, { recursive: true, force: true });
fs.mkdirSync(work, { recursive: true });
const bundle = path.join(work, "twinroot-agent.cjs");
const blob = path.join(work, "twinroot-agent.blob");

const esbuild = require("esbuild");
esbuild.buildSync({
  entryPoints: [path.join(root, "node-agent/main.ts")],
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  outfile: bundle,
  legalComments: "none",
  logLevel: "warning",
});
log(`bundled ${path.relative(root, bundle)} (${Math.round(fs.statSync(bundle).size / 1024)} KiB)`);

const seaConfig = path.join(work, "sea-config.json");
fs.writeFileSync(seaConfig, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useSnapshot: false, useCodeCache: false }));
/** Runs a step quietly (postject warns about ELF note names it does not know); its output is shown only if it fails. */
function quiet(argv) {
  try {
    execFileSync(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    process.stderr.write(`${err.stdout ?? ""}${err.stderr ?? ""}`);
    throw err;
  }
}

quiet([process.execPath, "--experimental-sea-config", seaConfig]);

const tmp = `${out}.tmp`;
fs.copyFileSync(process.execPath, tmp);
fs.chmodSync(tmp, 0o755);
const postject = path.join(path.dirname(require.resolve("postject/package.json")), "dist", "cli.js");
quiet([process.execPath, postject, tmp, "NODE_SEA_BLOB", blob, "--sentinel-fuse", "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2"]);
fs.renameSync(tmp, out);
fs.rmSync(work, { recursive: true, force: true });
log(`wrote ${path.relative(root, out)} (${Math.round(fs.statSync(out).size / 2 ** 20)} MiB)`);
