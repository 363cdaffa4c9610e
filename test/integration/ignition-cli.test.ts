// `twinroot ignition` as a user runs it, and the node preset checked by the real
// ignition-validate.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { nodeConfig, renderConfig } from "../../components/ignition";
import { repoRoot } from "../../lab/harness/tools";
import { ignitionValidate, run } from "./ignition-corpus";

const cli = (args: string[], input?: string) => run(process.execPath, ["--import", "tsx", path.join(repoRoot, "cli", "main.ts"), "ignition", ...args], input);

test("render reads stdin when the file is -, and --pretty indents", async () => {
  const r = await cli(
    ["render", "-", "--pretty"],
    "variant: flatcar\nversion: 1.1.0\nstorage:\n  files:\n    - {path: /etc/hostname, contents: {inline: n1}}\n",
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^\{\n {2}"ignition": \{/);
  assert.equal(JSON.parse(r.stdout).storage.files[0].contents.source, "data:,n1");
});

test("bad input exits 1 with every problem, its path, line and hint on stderr", async () => {
  const r = await cli(["render", "-"], "variant: fcos\nversion: 1.6.0\nstorage:\n  files:\n    - path: etc/x\n      mode: 99999\n");
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /<stdin>: error at storage\.files\[0\]\.path \(line 5:\d+\): path not absolute\n {2}hint: /);
  assert.match(r.stderr, /error at storage\.files\[0\]\.mode .*illegal file mode/);
});

test("--strict turns warnings into a failure", async () => {
  const input = "variant: fcos\nversion: 1.6.0\nstorage:\n  files:\n    - {path: /etc/x, mode: 644}\n";
  assert.equal((await cli(["render", "-"], input)).code, 0);
  const strict = await cli(["render", "-", "--strict"], input);
  assert.equal(strict.code, 1);
  assert.match(strict.stderr, /warning at storage\.files\[0\]\.mode .*octal/);
});

test("an oversized config is split off to a file and the user data merges it from the URL", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-cli-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const files = Array.from(
    { length: 80 },
    (_, i) => `    - {path: /etc/f${i}, contents: {inline: "${Buffer.from(`${i}`.repeat(50)).toString("base64").slice(0, 60)}${i}"}}`,
  ).join("\n");
  const out = path.join(dir, "full.ign");
  const r = await cli(
    ["render", "-", "--user-data-limit", "2048", "--full-config-url", "https://cfg.example/full.ign", "--full-config-out", out],
    `variant: fcos\nversion: 1.6.0\nstorage:\n  files:\n${files}\n`,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /serve the full config there/);
  const small = JSON.parse(r.stdout);
  assert.equal(small.ignition.config.merge[0].source, "https://cfg.example/full.ign");
  assert.equal(JSON.parse(fs.readFileSync(out, "utf8")).storage.files.length, 80);
});

test("validate accepts a good Ignition config and refuses a bad one", async () => {
  assert.equal((await cli(["validate", "-"], '{"ignition":{"version":"3.4.0"}}')).code, 0);
  const bad = await cli(["validate", "-"], '{"ignition":{"version":"3.4.0"},"systemd":{"units":[{"name":"x"}]}}');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /systemd\.units\[0\]\.name/);
});

test("the full node preset passes the real ignition-validate for every spec", async () => {
  for (const spec of ["3.3.0", "3.4.0", "3.5.0"] as const) {
    const { config } = nodeConfig({
      spec,
      hostname: "node-1",
      sshAuthorizedKeys: ["ssh-ed25519 AAAA admin@host"],
      sysctls: { "net.ipv4.ip_forward": 1 },
      kubelet: {
        apiServer: "https://10.0.0.1:6443",
        caCert: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        bootstrapToken: "abcdef.0123456789abcdef",
      },
    });
    const v = await ignitionValidate(renderConfig(config));
    assert.equal(v.code, 0, `${spec}: ${v.stdout}${v.stderr}`);
    assert.equal(v.stdout.trim(), "", `${spec}: ignition-validate warned: ${v.stdout}`);
  }
});
