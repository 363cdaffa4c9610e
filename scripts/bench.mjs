#!/usr/bin/env node
// Runs the benchmark groups (bench/<group>.bench.ts), prints a table and writes
// bench/results.json: one entry per figure with name, value, unit and, where the
// group measured one in the same run, baseline and ratio.
//
//   npm run bench                 every group
//   npm run bench -- ignition     one group (agent | controller | rollout | ignition | ...)

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const benchDir = path.join(root, "bench");
const available = fs
  .readdirSync(benchDir)
  .filter((f) => f.endsWith(".bench.ts"))
  .map((f) => f.replace(/\.bench\.ts$/, ""))
  .sort();
const asked = process.argv.slice(2).filter((a) => !a.startsWith("-"));
for (const g of asked) {
  if (!available.includes(g)) {
    console.error(`no benchmark group "${g}"; groups here: ${available.join(", ") || "(none)"}`);
    process.exit(2);
  }
}
const groups = asked.length ? asked : available;
if (!groups.length) {
  console.error("no benchmark groups in bench/");
  process.exit(2);
}

const setup = spawnSync(process.execPath, [path.join(root, "scripts", "setup.mjs")], { stdio: "inherit" });
if (setup.status !== 0) process.exit(1);

const resultsFile = path.join(benchDir, "results.json");
const previous = fs.existsSync(resultsFile) ? JSON.parse(fs.readFileSync(resultsFile, "utf8")) : { figures: [] };
const figures = new Map(previous.figures.map((f) => [f.name, f]));
let failed = false;
for (const g of groups) {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-bench-")), "figures.json");
  console.error(`[bench] ${g} ...`);
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(benchDir, `${g}.bench.ts`)], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, TWINROOT_BENCH_OUT: out },
  });
  if (r.status !== 0 || !fs.existsSync(out)) {
    console.error(`[bench] ${g} FAILED (exit ${r.status})`);
    failed = true;
    continue;
  }
  // A group's figures replace that group's previous ones as a whole.
  for (const name of [...figures.keys()]) if (name.startsWith(`${g}.`)) figures.delete(name);
  for (const f of JSON.parse(fs.readFileSync(out, "utf8"))) figures.set(f.name, f);
}

const all = [...figures.values()].sort((a, b) => a.name.localeCompare(b.name));
fs.writeFileSync(
  resultsFile,
  `${JSON.stringify({ machine: { cpus: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version }, date: new Date().toISOString(), figures: all }, null, 2)}\n`,
);
const rows = all.map((f) => [f.name, String(f.value), f.unit, f.baseline === undefined ? "" : String(f.baseline), f.ratio === undefined ? "" : `${f.ratio}x`]);
const head = ["figure", "value", "unit", "baseline", "ratio"];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
console.log(line(head));
console.log(widths.map((w) => "-".repeat(w)).join("  "));
for (const r of rows) console.log(line(r));
console.log(`\nwritten to ${path.relative(process.cwd(), resultsFile)}`);
process.exit(failed ? 1 : 0);
