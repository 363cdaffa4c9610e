// Rendering a 500-file Butane config: twinroot's library in-process and its CLI as a
// process, each beside the real `butane` on the same input, measured in the same run
// (several repetitions, median). The outputs are checked to be the same first.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { butaneToIgnition, renderConfig } from "../components/ignition";
import { repoRoot, toolPath } from "../lab/harness/tools";
import { figure, median, report } from "./figures";

const FILES = 500;
const REPS = 7;

// Realistic mix: short settings (percent-escaped), config files (gzip), binary-ish keys (base64).
function corpus(): string {
  const lines = ["variant: fcos", "version: 1.6.0", "storage:", "  files:"];
  for (let i = 0; i < FILES; i++) {
    lines.push(`    - path: /etc/bench/file-${String(i).padStart(3, "0")}.conf`, "      mode: 0644", "      contents:");
    if (i % 3 === 0) lines.push(`        inline: value-${i}`);
    else if (i % 3 === 1) {
      lines.push("        inline: |");
      for (let j = 0; j < 20; j++) lines.push(`          [section-${j}]`, `          key_${j} = value ${i * j} # comment about setting ${j}`);
    } else lines.push(`        inline: "${Buffer.from(`${i}:${"k".repeat(40)}:${i * 7919}`).toString("base64")}"`);
  }
  return `${lines.join("\n")}\n`;
}

function time(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-bench-ignition-"));
const input = path.join(dir, "500-files.bu");
fs.writeFileSync(input, corpus());
const butane = toolPath("butane");
const text = fs.readFileSync(input, "utf8");

const lib = () => {
  const r = butaneToIgnition(text);
  if (!r.config) throw new Error(r.problems.map(String).join("\n"));
  return renderConfig(r.config);
};
const ref = spawnSync(butane, [input], { encoding: "utf8" });
if (ref.status !== 0) throw new Error(`butane failed: ${ref.stderr}`);
if (JSON.stringify(JSON.parse(lib())) !== JSON.stringify(JSON.parse(ref.stdout))) throw new Error("twinroot and butane disagree on the bench input");

const cliArgs = ["--import", "tsx", path.join(repoRoot, "cli", "main.ts"), "ignition", "render", input];
lib(); // warm up the JIT once, as a long-running Pulumi program would be
const ours: number[] = [];
const theirs: number[] = [];
const oursCli: number[] = [];
for (let i = 0; i < REPS; i++) {
  ours.push(time(lib));
  theirs.push(time(() => spawnSync(butane, [input], { stdio: "ignore" })));
  oursCli.push(time(() => spawnSync(process.execPath, cliArgs, { stdio: "ignore", cwd: repoRoot })));
}
const size = Buffer.byteLength(lib());
report([
  figure(
    "ignition.render_500_files",
    median(ours),
    "ms",
    median(theirs),
    `${FILES} files, ${REPS} runs; twinroot library in-process vs butane process (${size} bytes of JSON)`,
  ),
  figure(
    "ignition.render_500_files_cli",
    median(oursCli),
    "ms",
    median(theirs),
    `${FILES} files, ${REPS} runs; twinroot CLI process (node + tsx start-up included) vs butane process`,
  ),
]);
fs.rmSync(dir, { recursive: true, force: true });
