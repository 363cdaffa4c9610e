// Property-based differential test: random Butane configs (random contents in every
// encoding regime, modes, units, users, links) render to the same Ignition with
// twinroot and with the real butane.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { butaneToIgnition, renderConfig } from "../../components/ignition";
import { toolPath } from "../../lab/harness/tools";
import { run } from "./ignition-corpus";

const versions: [string, string][] = [
  ["fcos", "1.4.0"],
  ["fcos", "1.5.0"],
  ["fcos", "1.6.0"],
  ["flatcar", "1.0.0"],
  ["flatcar", "1.1.0"],
];

// Contents that land in each encoding: short text, text worth gzipping, binary-ish.
const contents = fc.oneof(
  fc.string({ maxLength: 40 }),
  // Without a raw NEL, which yaml.v3 reads as a line break and twinroot refuses.
  fc.string({ unit: "binary", maxLength: 80 }).map((s) => s.replaceAll("\u0085", "\u00a0")),
  fc.array(fc.constantFrom("[Unit]\n", "Description=x\n", "key = value\n", "aaaa", " ", "\n", "ünï", "<&>"), { maxLength: 200 }).map((a) => a.join("")),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString("latin1").replaceAll("\u0085", "\u00a0")),
);

const file = fc.record(
  {
    path: fc.stringMatching(/^\/etc\/gen\/[a-z0-9]{1,8}$/),
    mode: fc.constantFrom(0o644, 0o600, 0o755, 0o400),
    overwrite: fc.boolean(),
    contents: contents.map((inline) => ({ inline })),
  },
  { requiredKeys: ["path", "contents"] },
);

const unit = fc.record(
  {
    name: fc.stringMatching(/^[a-z]{1,6}\.(service|timer|target)$/),
    enabled: fc.boolean(),
    mask: fc.boolean(),
    contents: fc.constantFrom("[Unit]\nDescription=a\n[Install]\nWantedBy=multi-user.target\n", "[Service]\nExecStart=/bin/true\n"),
  },
  { requiredKeys: ["name"] },
);

const config = fc.record({
  version: fc.constantFrom(...versions),
  files: fc.uniqueArray(file, { selector: (f) => f.path, maxLength: 5 }),
  units: fc.uniqueArray(unit, { selector: (u) => u.name, maxLength: 3 }),
  keys: fc.array(fc.constantFrom("ssh-ed25519 AAAA1 a@b", "ssh-rsa AAAA2 c@d", "ecdsa-sha2-nistp256 AAAA3 e@f"), { maxLength: 3 }),
  kargs: fc.uniqueArray(fc.stringMatching(/^[a-z]{1,5}(=[a-z0-9]{1,3})?$/), { maxLength: 3 }),
});

test("random Butane configs render to the same Ignition as butane's", async () => {
  const butane = toolPath("butane");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-prop-"));
  let n = 0;
  await fc.assert(
    fc.asyncProperty(config, async (c) => {
      const doc = {
        variant: c.version[0],
        version: c.version[1],
        passwd: c.keys.length ? { users: [{ name: "core", ssh_authorized_keys: [...new Set(c.keys)] }] } : undefined,
        kernel_arguments: c.kargs.length ? { should_exist: c.kargs } : undefined,
        storage: { files: c.files },
        systemd: { units: c.units },
      };
      // YAML is a superset of JSON; every other document uses block style instead.
      const text = n % 2 ? JSON.stringify(doc, null, 1) : toBlockYaml(doc);
      const input = path.join(dir, `c${n++}.bu`);
      fs.writeFileSync(input, text);
      const theirs = await run(butane, [input]);
      const ours = butaneToIgnition(text);
      if (theirs.code !== 0) {
        assert.equal(ours.config, undefined, `butane refused but twinroot accepted:\n${theirs.stderr}`);
        return;
      }
      assert.ok(ours.config, `twinroot refused what butane accepted:\n${ours.problems.join("\n")}`);
      assert.deepEqual(JSON.parse(renderConfig(ours.config)), JSON.parse(theirs.stdout));
    }),
    { numRuns: Number(process.env.TWINROOT_PROPERTY_RUNS ?? 60) },
  );
  fs.rmSync(dir, { recursive: true, force: true });
});

// A block-style rendering with double-quoted (JSON) scalars.
function toBlockYaml(value: unknown, indent = ""): string {
  if (Array.isArray(value)) {
    if (!value.length) return " []\n";
    return `\n${value.map((v) => `${indent}-${toBlockYaml(v, `${indent}  `).replace(/^\n\s*/, " ")}`).join("")}`;
  }
  if (value && typeof value === "object") {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (!entries.length) return " {}\n";
    return `\n${entries.map(([k, v]) => `${indent}${k}:${toBlockYaml(v, `${indent}  `)}`).join("")}`;
  }
  return ` ${JSON.stringify(value)}\n`;
}
