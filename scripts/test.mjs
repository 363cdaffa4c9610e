#!/usr/bin/env node
// Runs the test tiers with Node's test runner and ends with one summary line.
//
//   npm test                      unit, integration, e2e (in that order)
//   npm test -- unit              one tier (unit | integration | e2e)
//   npm test -- test/e2e/x.test.ts   given files
//
// Unit tests sit next to the code (*.test.ts outside test/); integration and end-to-end
// tests live in test/integration and test/e2e.

import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const codeDirs = ["components", "controller", "node-agent", "policies", "lab", "cli", "programs", "tools", "scripts"];

function walk(dir, out = []) {
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "node_modules" || e.name.startsWith(".")) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (/\.test\.(ts|mts|js|mjs)$/.test(e.name)) out.push(p);
  }
  return out;
}

const tiers = {
  unit: { files: () => codeDirs.flatMap((d) => walk(path.join(root, d))), concurrency: os.availableParallelism() },
  integration: { files: () => walk(path.join(root, "test", "integration")), concurrency: 2 },
  e2e: { files: () => walk(path.join(root, "test", "e2e")), concurrency: 1 },
};

const argv = process.argv.slice(2);
const selected = argv.filter((a) => a in tiers);
const explicitFiles = argv.filter((a) => !(a in tiers)).map((f) => path.resolve(f));
const runs = explicitFiles.length
  ? [{ name: "selected", files: explicitFiles, concurrency: 1 }]
  : (selected.length ? selected : Object.keys(tiers)).map((name) => ({ name, files: tiers[name].files().sort(), concurrency: tiers[name].concurrency }));

function runTier(run) {
  const tapDir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-test-"));
  const tap = path.join(tapDir, "out.tap");
  const args = [
    "--import",
    "tsx",
    "--test",
    `--test-concurrency=${run.concurrency}`,
    "--test-reporter=spec",
    "--test-reporter-destination=stdout",
    "--test-reporter=tap",
    `--test-reporter-destination=${tap}`,
    ...run.files,
  ];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: "inherit" });
    child.on("close", (code) => {
      const text = fs.existsSync(tap) ? fs.readFileSync(tap, "utf8") : "";
      fs.rmSync(tapDir, { recursive: true, force: true });
      const count = (k) => Number(text.match(new RegExp(`^# ${k} (\\d+)$`, "m"))?.[1] ?? 0);
      resolve({ code: code ?? 1, pass: count("pass"), fail: count("fail") + count("cancelled"), skipped: count("skipped") + count("todo") });
    });
  });
}

const totals = { pass: 0, fail: 0, skipped: 0 };
let exitCode = 0;
for (const run of runs) {
  if (!run.files.length) {
    console.log(`\n== ${run.name}: no test files`);
    continue;
  }
  console.log(`\n== ${run.name}: ${run.files.length} file(s)`);
  const r = await runTier(run);
  totals.pass += r.pass;
  totals.fail += r.fail;
  totals.skipped += r.skipped;
  if (r.code !== 0) exitCode = 1;
  console.log(`== ${run.name}: ${r.pass} passed, ${r.fail} failed, ${r.skipped} skipped`);
}
if (totals.pass + totals.fail === 0) {
  console.error("no test ran");
  exitCode = 1;
}
if (totals.fail > 0) exitCode = 1;
console.log(`\ntests: ${totals.pass} passed, ${totals.fail} failed, ${totals.skipped} skipped`);
process.exit(exitCode);
