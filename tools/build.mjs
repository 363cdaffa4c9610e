#!/usr/bin/env node

// Builds the Go-built toolchain (Pulumi CLI, language host, providers, kube-apiserver,
// etcd, butane, ignition-validate) from the Go modules pinned under tools/, into a
// cache outside the clone keyed by exactly what was pinned, and links them into
// .tools/bin. A second run with nothing changed does no work: CI clones are fresh,
// so the cache (not the clone) is what makes warm runs cheap.
//
//   node tools/build.mjs            build what is missing, then check every tool
//   node tools/build.mjs --check    only check; exit 1 naming each missing tool
//   node tools/build.mjs --list     print the manifest entries and their cache keys
//
// Manifests: tools/*/tools.json and tools/*/*/tools.json (see tools/README.md).

import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.dirname(here);
// Overridable so the builder's own tests can run it on manifests of their own.
const toolsDir = process.env.TWINROOT_TOOLS_MANIFESTS || here;
const binDir = process.env.TWINROOT_TOOLS_BIN || path.join(repoRoot, ".tools", "bin");
const cacheRoot = process.env.TWINROOT_TOOLS_CACHE || path.join(os.homedir(), ".cache", "twinroot", "tools");

const args = new Set(process.argv.slice(2));
const checkOnly = args.has("--check");
const listOnly = args.has("--list");
const only = [...args].filter((a) => !a.startsWith("--"));

function log(msg) {
  process.stderr.write(`[tools] ${msg}\n`);
}

class ToolError extends Error {
  constructor(tool, message, options) {
    super(`tool ${tool}: ${message}`, options);
    this.tool = tool;
  }
}

function findManifests() {
  const found = [];
  for (const a of fs.readdirSync(toolsDir, { withFileTypes: true })) {
    if (!a.isDirectory()) continue;
    const first = path.join(toolsDir, a.name, "tools.json");
    if (fs.existsSync(first)) found.push(first);
    for (const b of fs.readdirSync(path.join(toolsDir, a.name), { withFileTypes: true })) {
      const second = path.join(toolsDir, a.name, b.name, "tools.json");
      if (b.isDirectory() && fs.existsSync(second)) found.push(second);
    }
  }
  return found.sort();
}

function goEnv() {
  return {
    ...process.env,
    GOTOOLCHAIN: "local",
    GOFLAGS: "-mod=mod",
  };
}

let goVersionMemo;
function goVersion() {
  if (goVersionMemo) return goVersionMemo;
  const r = spawnSync("go", ["env", "GOVERSION"], { encoding: "utf8", env: goEnv() });
  if (r.error || r.status !== 0) {
    throw new ToolError("go", `the Go toolchain is needed to build the tools and was not found (${r.error?.message ?? r.stderr})`);
  }
  goVersionMemo = r.stdout.trim();
  return goVersionMemo;
}

// Everything that decides the bytes of a tool goes into its key: the manifest entry,
// the module files it builds in, any Go sources of our own next to them, the Go version.
function cacheKey(entry, dir) {
  const h = createHash("sha256");
  h.update(JSON.stringify(entry));
  h.update(goVersion());
  for (const f of fs.readdirSync(dir).sort()) {
    if (f === "go.mod" || f === "go.sum" || f.endsWith(".go")) {
      h.update(f);
      h.update(fs.readFileSync(path.join(dir, f)));
    }
  }
  return h.digest("hex").slice(0, 16);
}

function loadEntries() {
  const entries = [];
  for (const manifest of findManifests()) {
    const base = path.dirname(manifest);
    let doc;
    try {
      doc = JSON.parse(fs.readFileSync(manifest, "utf8"));
    } catch (err) {
      throw new ToolError(path.relative(repoRoot, manifest), "manifest is not valid JSON", { cause: err });
    }
    for (const t of doc.tools ?? []) entries.push({ kind: "go", manifest, dir: path.resolve(base, t.dir ?? "."), entry: t });
    for (const f of doc.files ?? []) entries.push({ kind: "file", manifest, dir: path.resolve(base, f.dir ?? "."), entry: f });
  }
  const names = new Map();
  for (const e of entries) {
    const prev = names.get(e.entry.name);
    if (prev) throw new ToolError(e.entry.name, `declared twice (${prev} and ${e.manifest})`);
    names.set(e.entry.name, e.manifest);
  }
  return entries.filter((e) => only.length === 0 || only.includes(e.entry.name));
}

function run(cmd, argv, opts) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { ...opts, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
      if (err.length > 1 << 20) err = err.slice(-(1 << 19));
    });
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, out, err }));
  });
}

function ticker(label) {
  const start = Date.now();
  const timer = setInterval(() => log(`${label}: still building (${Math.round((Date.now() - start) / 1000)}s)`), 30_000);
  return {
    stop() {
      clearInterval(timer);
      return Math.round((Date.now() - start) / 1000);
    },
  };
}

async function buildGo({ entry, dir }, outFile) {
  const env = goEnv();
  env.CGO_ENABLED = entry.cgo ? "1" : "0";
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `twinroot-tool-${entry.name}-`));
  try {
    if (entry.prebuild) {
      const [cmd, ...rest] = entry.prebuild;
      const r = await run(cmd, rest, { cwd: dir, env: { ...env, OUT_DIR: scratch } });
      if (r.code !== 0) throw new ToolError(entry.name, `prebuild step failed (exit ${r.code}):\n${r.err.slice(-4000)}`);
    }
    const argv = ["build", "-trimpath", "-o", path.join(scratch, entry.name)];
    if (entry.ldflags?.length) argv.push("-ldflags", ["-s", "-w", ...entry.ldflags].join(" "));
    if (entry.tags?.length) argv.push("-tags", entry.tags.join(","));
    argv.push(entry.package);
    const r = await run("go", argv, { cwd: dir, env });
    if (r.code !== 0) throw new ToolError(entry.name, `go build ${entry.package} failed (exit ${r.code}):\n${r.err.slice(-4000)}`);
    fs.mkdirSync(path.dirname(outFile), { recursive: true });
    fs.renameSync(path.join(scratch, entry.name), outFile);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

async function copyFromModule({ entry, dir }, outFile) {
  const r = await run("go", ["mod", "download", "-json", entry.module], { cwd: dir, env: goEnv() });
  if (r.code !== 0) throw new ToolError(entry.name, `go mod download ${entry.module} failed:\n${r.err.slice(-2000)}`);
  const info = JSON.parse(r.out);
  if (!info.Dir) throw new ToolError(entry.name, `module ${entry.module} has no directory in the module cache`);
  const src = path.join(info.Dir, entry.path);
  if (!fs.existsSync(src)) throw new ToolError(entry.name, `${entry.path} not found in ${entry.module}@${info.Version}`);
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  const tmp = `${outFile}.tmp-${process.pid}`;
  fs.copyFileSync(src, tmp);
  fs.chmodSync(tmp, Number.parseInt(entry.mode ?? "755", 8));
  fs.renameSync(tmp, outFile);
}

function linkIntoBin(name, target) {
  fs.mkdirSync(binDir, { recursive: true });
  const link = path.join(binDir, name);
  try {
    if (fs.readlinkSync(link) === target) return;
  } catch {}
  const tmp = `${link}.tmp-${process.pid}`;
  fs.rmSync(tmp, { force: true });
  fs.symlinkSync(target, tmp);
  fs.renameSync(tmp, link);
}

function checkTool(e, file) {
  if (e.kind !== "go" || !e.entry.check) return "";
  const r = spawnSync(file, e.entry.check, { encoding: "utf8", timeout: 60_000 });
  if (r.error || r.status !== 0) {
    throw new ToolError(
      e.entry.name,
      `built but \`${e.entry.name} ${e.entry.check.join(" ")}\` failed: ${r.error?.message ?? (r.stderr || r.stdout).trim().slice(0, 500)}`,
    );
  }
  return (r.stdout || r.stderr).trim().split("\n")[0];
}

async function main() {
  const entries = loadEntries();
  if (entries.length === 0) throw new ToolError("manifest", "no tools declared under tools/*/tools.json");
  const plan = entries.map((e) => {
    const key = cacheKey(e.entry, e.dir);
    return { ...e, key, file: path.join(cacheRoot, `${e.entry.name}-${key}`, e.entry.name) };
  });
  if (listOnly) {
    for (const p of plan) console.log(`${p.entry.name}\t${p.entry.version ?? p.entry.module}\t${p.key}\t${fs.existsSync(p.file) ? "cached" : "missing"}`);
    return;
  }
  const missing = plan.filter((p) => !fs.existsSync(p.file));
  if (checkOnly && missing.length) {
    throw new ToolError(missing.map((m) => m.entry.name).join(", "), "not built; run `npm run tools`");
  }
  const failures = [];
  // One at a time: each Go build already uses every core, and parallel builds of
  // kube-apiserver and the Pulumi CLI exhaust memory before they save time.
  for (const [i, p] of missing.entries()) {
    const label = `[${i + 1}/${missing.length}] ${p.entry.name} ${p.entry.version ?? ""}`.trim();
    log(`${label}: building (${path.relative(repoRoot, p.dir)})`);
    const t = ticker(label);
    try {
      if (p.kind === "go") await buildGo(p, p.file);
      else await copyFromModule(p, p.file);
      log(`${label}: built in ${t.stop()}s`);
    } catch (err) {
      t.stop();
      failures.push(err);
      log(err.message);
    }
  }
  for (const p of plan) {
    if (!fs.existsSync(p.file)) continue;
    try {
      linkIntoBin(p.entry.name, p.file);
      const v = checkTool(p, p.file);
      if (missing.length) log(`${p.entry.name}: ok${v ? ` (${v})` : ""}`);
    } catch (err) {
      failures.push(err);
      log(err.message);
    }
  }
  if (failures.length) {
    const names = failures.map((f) => f.tool ?? "?").join(", ");
    throw new ToolError(names, `${failures.length} tool(s) failed; see the messages above`);
  }
  if (!missing.length) log(`all ${plan.length} tools up to date in ${path.relative(repoRoot, binDir)}`);
}

main().catch((err) => {
  process.stderr.write(`[tools] FAILED: ${err.message}\n`);
  process.exit(1);
});
