import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { butaneToIgnition } from "./butane";
import { renderConfig } from "./render";

const bu = (body: string, variant = "fcos", version = "1.6.0") => `variant: ${variant}\nversion: ${version}\n${body}`;
const errors = (r: ReturnType<typeof butaneToIgnition>) => r.problems.filter((p) => p.severity === "error");

test("each supported variant and version targets its Ignition spec", () => {
  const cases: [string, string, string][] = [
    ["fcos", "1.4.0", "3.3.0"],
    ["fcos", "1.5.0", "3.4.0"],
    ["fcos", "1.6.0", "3.5.0"],
    ["flatcar", "1.0.0", "3.3.0"],
    ["flatcar", "1.1.0", "3.4.0"],
  ];
  for (const [variant, version, spec] of cases) {
    const r = butaneToIgnition(bu("", variant, version));
    assert.equal(r.config?.ignition.version, spec, `${variant} ${version}`);
  }
});

test("a missing variant, a non-semver version and an unknown version are errors at their key", () => {
  assert.equal(errors(butaneToIgnition("version: 1.6.0\n"))[0]?.path, "variant");
  assert.equal(errors(butaneToIgnition("variant: fcos\nversion: 1.6\n"))[0]?.path, "version");
  const unknown = errors(butaneToIgnition("variant: flatcar\nversion: 1.6.0\n"))[0];
  assert.equal(unknown?.code, "unsupported-version");
  assert.match(unknown?.hint ?? "", /flatcar 1\.0\.0\/1\.1\.0/);
});

test("modes follow yaml.v3: leading zero and 0o are octal, underscores are dropped, integral floats fit", () => {
  const r = butaneToIgnition(
    bu("storage:\n  files:\n    - {path: /a, mode: 0644}\n    - {path: /b, mode: 0o755}\n    - {path: /c, mode: 4_20}\n    - {path: /d, mode: 420.0}\n"),
  );
  assert.deepEqual(
    r.config?.storage?.files?.map((f) => f.mode),
    [0o644, 0o755, 420, 420],
  );
});

test("a quoted number in an int field is a type error pointing at the value", () => {
  const r = butaneToIgnition(bu('storage:\n  files:\n    - path: /a\n      mode: "0644"\n'));
  const e = errors(r)[0];
  assert.equal(e?.code, "type-mismatch");
  assert.equal(e?.path, "storage.files[0].mode");
  assert.deepEqual(e?.position, { line: 6, column: 13 });
  assert.equal(r.config, undefined);
});

test("yes, on, no and off fill bool fields as yaml.v3 allows", () => {
  const r = butaneToIgnition(bu("systemd:\n  units:\n    - {name: a.service, enabled: yes, mask: off}\n    - {name: b.service, enabled: On}\n"));
  assert.deepEqual(
    r.config?.systemd?.units?.map((u) => [u.enabled, u.mask]),
    [
      [true, false],
      [true, undefined],
    ],
  );
});

test("unknown keys are warnings that name the key, and errors under strict", () => {
  const text = bu("storage:\n  files:\n    - path: /a\n      contnets: {inline: x}\n");
  const lax = butaneToIgnition(text);
  assert.ok(lax.config);
  const w = lax.problems.find((p) => p.code === "unknown-key");
  assert.equal(w?.path, "storage.files[0].contnets");
  assert.equal(w?.severity, "warning");
  assert.equal(butaneToIgnition(text, { strict: true }).config, undefined);
});

test("fields of a newer spec are unknown keys in an older Butane version", () => {
  const r = butaneToIgnition(bu("storage:\n  luks:\n    - {name: d, device: /dev/vdb, discard: true}\n", "fcos", "1.4.0"));
  assert.equal(r.problems.find((p) => p.code === "unknown-key")?.path, "storage.luks[0].discard");
  assert.equal(r.config?.storage?.luks?.[0]?.discard, undefined);
});

test("anchors and merge keys are resolved before translation", () => {
  const r = butaneToIgnition(bu("storage:\n  directories:\n    - &d {path: /one, mode: 0750}\n    - <<: *d\n      path: /two\n"));
  assert.deepEqual(r.config?.storage?.directories, [
    { path: "/one", mode: 0o750 },
    { path: "/two", mode: 0o750 },
  ]);
});

test("inline contents become a data URL with an explicit compression", () => {
  const r = butaneToIgnition(bu("storage:\n  files:\n    - path: /etc/hostname\n      contents: {inline: node-1}\n"));
  assert.deepEqual(r.config?.storage?.files?.[0]?.contents, { source: "data:,node-1", compression: "" });
});

test("local files are read from the files directory and may not escape it", (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-bu-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, "motd"), "hello");
  const ok = butaneToIgnition(bu("storage:\n  files:\n    - {path: /etc/motd, contents: {local: motd}}\n"), { filesDir: dir });
  assert.equal(ok.config?.storage?.files?.[0]?.contents?.source, "data:,hello");
  const escaped = butaneToIgnition(bu("storage:\n  files:\n    - {path: /etc/x, contents: {local: ../etc/passwd}}\n"), { filesDir: dir });
  assert.match(errors(escaped)[0]?.message ?? "", /outside the files directory/);
  const noDir = butaneToIgnition(bu("storage:\n  files:\n    - {path: /etc/x, contents: {local: motd}}\n"));
  assert.equal(errors(noDir)[0]?.path, "storage.files[0].contents.local");
});

test("a filesystem with a mount unit gets the unit butane generates, ahead of the user's units", () => {
  const r = butaneToIgnition(
    bu(
      "storage:\n  filesystems:\n    - {device: /dev/vdb, path: /var/lib/x, format: ext4, with_mount_unit: true}\nsystemd:\n  units:\n    - {name: a.service, mask: true}\n",
    ),
  );
  const units = r.config?.systemd?.units ?? [];
  assert.deepEqual(
    units.map((u) => u.name),
    ["var-lib-x.mount", "a.service"],
  );
  assert.match(units[0]?.contents ?? "", /^# Generated by Butane\n\[Unit\]\nRequires=systemd-fsck@dev-vdb\.service\n/);
  assert.match(units[0]?.contents ?? "", /RequiredBy=local-fs\.target$/);
});

test("Ignition validation problems are reported at YAML paths", () => {
  const r = butaneToIgnition(
    bu("storage:\n  disks:\n    - device: /dev/vdb\n      wipe_table: true\n      partitions:\n        - {number: 1, type_guid: nope}\n"),
  );
  assert.equal(errors(r)[0]?.path, "storage.disks[0].partitions[0].type_guid");
});

test("flatcar refuses clevis, which its Ignition cannot use", () => {
  const r = butaneToIgnition(bu("storage:\n  luks:\n    - {name: d, device: /dev/vdb, clevis: {tpm2: true}}\n", "flatcar", "1.1.0"));
  assert.equal(errors(r)[0]?.path, "storage.luks[0].clevis");
});

test("the same document always renders to the same bytes", () => {
  const text = bu("passwd:\n  users:\n    - {name: core, ssh_authorized_keys: [k1, k2]}\nstorage:\n  files:\n    - {path: /a, contents: {inline: 'x'}}\n");
  const a = renderConfig(butaneToIgnition(text).config as never);
  const b = renderConfig(butaneToIgnition(text).config as never);
  assert.equal(a, b);
});

test("raw control characters and NEL are refused with their line, as yaml.v3 refuses or misreads them", () => {
  const ctl = butaneToIgnition(bu('storage:\n  files:\n    - {path: /a, contents: {inline: "x\u0001"}}\n'));
  assert.equal(errors(ctl)[0]?.code, "yaml-syntax");
  assert.equal(errors(ctl)[0]?.position?.line, 5);
  const nel = butaneToIgnition(bu('storage:\n  files:\n    - {path: /a, contents: {inline: "x\u0085"}}\n'));
  assert.match(errors(nel)[0]?.message ?? "", /NEL/);
});
