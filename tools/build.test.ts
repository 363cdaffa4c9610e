import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";

const builder = path.join(__dirname, "build.mjs");
const roots: string[] = [];
after(() => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

function scratch() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-tools-test-"));
  roots.push(root);
  const manifests = path.join(root, "manifests");
  const env = {
    ...process.env,
    TWINROOT_TOOLS_MANIFESTS: manifests,
    TWINROOT_TOOLS_BIN: path.join(root, "bin"),
    TWINROOT_TOOLS_CACHE: path.join(root, "cache"),
  };
  const run = (...args: string[]) => spawnSync(process.execPath, [builder, ...args], { env, encoding: "utf8" });
  return { root, manifests, run };
}

function writeHelloTool(dir: string, greeting: string) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "go.mod"), "module example.test/hello\n\ngo 1.22\n");
  fs.writeFileSync(path.join(dir, "main.go"), `package main\n\nimport "fmt"\n\nvar Version = "dev"\n\nfunc main() { fmt.Println("${greeting}", Version) }\n`);
  fs.writeFileSync(
    path.join(dir, "tools.json"),
    JSON.stringify({ tools: [{ name: "hello", dir: ".", package: ".", version: "1.2.3", ldflags: ["-X", "main.Version=1.2.3"], check: [] }] }),
  );
}

describe("the tool builder", { timeout: 240_000 }, () => {
  it("builds a pinned tool into the cache, links it, and does nothing the second time", () => {
    const t = scratch();
    writeHelloTool(path.join(t.manifests, "hello"), "hi");
    const first = t.run();
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stderr, /hello 1\.2\.3: built in/);
    const bin = path.join(t.root, "bin", "hello");
    assert.equal(spawnSync(bin, { encoding: "utf8" }).stdout, "hi 1.2.3\n", "version ldflags are applied");
    assert.ok(fs.realpathSync(bin).startsWith(path.join(t.root, "cache")), "the binary lives in the cache, linked into bin/");
    const second = t.run();
    assert.equal(second.status, 0, second.stderr);
    assert.doesNotMatch(second.stderr, /building/);
    assert.match(second.stderr, /up to date/);
  });

  it("rebuilds when the pinned sources change", () => {
    const t = scratch();
    const dir = path.join(t.manifests, "hello");
    writeHelloTool(dir, "hi");
    assert.equal(t.run().status, 0);
    writeHelloTool(dir, "hello");
    const r = t.run();
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /building/);
    assert.equal(spawnSync(path.join(t.root, "bin", "hello"), { encoding: "utf8" }).stdout, "hello 1.2.3\n");
  });

  it("fails naming the tool when it does not build", () => {
    const t = scratch();
    const dir = path.join(t.manifests, "broken");
    writeHelloTool(dir, "hi");
    fs.writeFileSync(path.join(dir, "main.go"), "package main\n\nfunc main() { undefinedThing() }\n");
    const r = t.run();
    assert.equal(r.status, 1);
    assert.match(r.stderr, /tool hello: go build \. failed/);
    assert.match(r.stderr, /undefined: undefinedThing/);
  });

  it("fails naming the tool when a built binary does not pass its check", () => {
    const t = scratch();
    const dir = path.join(t.manifests, "hello");
    writeHelloTool(dir, "hi");
    fs.writeFileSync(path.join(dir, "main.go"), 'package main\n\nimport "os"\n\nfunc main() { os.Exit(3) }\n');
    fs.writeFileSync(path.join(dir, "tools.json"), JSON.stringify({ tools: [{ name: "hello", dir: ".", package: ".", check: ["--version"] }] }));
    const r = t.run();
    assert.equal(r.status, 1);
    assert.match(r.stderr, /tool hello: built but `hello --version` failed/);
  });

  it("in --check mode reports missing tools by name without building", () => {
    const t = scratch();
    writeHelloTool(path.join(t.manifests, "hello"), "hi");
    const r = t.run("--check");
    assert.equal(r.status, 1);
    assert.match(r.stderr, /tool hello: not built; run `npm run tools`/);
    assert.ok(!fs.existsSync(path.join(t.root, "cache")), "nothing was built");
  });
});
