import assert from "node:assert/strict";
import { test } from "node:test";
import { escapePath, hasInstallSection, parseUnit } from "./unit";

test("options are read with their section, continuation lines joined", () => {
  const r = parseUnit("# c\n[Service]\nExecStart=/bin/a \\\n  --flag\n\n[Install]\nWantedBy=multi-user.target\n");
  assert.ok("options" in r);
  assert.deepEqual(r.options, [
    { section: "Service", name: "ExecStart", value: "/bin/a \\\n  --flag" },
    { section: "Install", name: "WantedBy", value: "multi-user.target" },
  ]);
  assert.equal(hasInstallSection(r.options), true);
});

test("malformed units are refused with go-systemd's reasons", () => {
  assert.deepEqual(parseUnit("[Unit"), { error: "unable to find end of section" });
  assert.deepEqual(parseUnit("[Unit]\nDescription\n"), { error: "unexpected newline encountered while parsing option name" });
  assert.deepEqual(parseUnit(`[Unit]\nA=${"x".repeat(3000)}\n`), { error: "line too long (max 2048 bytes)" });
});

test("paths are escaped into unit names as systemd-escape --path does", () => {
  assert.equal(escapePath("/var/lib/data"), "var-lib-data");
  assert.equal(escapePath("/dev/disk/by-partlabel/var"), "dev-disk-by\\x2dpartlabel-var");
  assert.equal(escapePath("/"), "-");
  assert.equal(escapePath("/.hidden/x y"), "\\x2ehidden-x\\x20y");
});
