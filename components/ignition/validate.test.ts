import assert from "node:assert/strict";
import { test } from "node:test";
import type { IgnitionConfig } from "./model";
import { parseIgnitionJson } from "./parse";
import { validateConfig } from "./validate";

const at = (config: IgnitionConfig) =>
  validateConfig(config)
    .list.filter((p) => p.severity === "error")
    .map((p) => `${p.path}: ${p.message}`);
const v = { version: "3.4.0" };

test("a minimal config for a supported spec is valid", () => {
  assert.deepEqual(at({ ignition: v }), []);
});

test("an unknown or malformed version is refused with the supported ones in the hint", () => {
  const p = validateConfig({ ignition: { version: "3.9.0" } }).list[0];
  assert.equal(p?.path, "ignition.version");
  assert.match(p?.hint ?? "", /3\.3\.0, 3\.4\.0, 3\.5\.0/);
});

test("relative, unclean and missing paths are refused at the path field", () => {
  assert.deepEqual(at({ ignition: v, storage: { files: [{ path: "etc/x" }, { path: "/a/../b" }, { path: "/a/" }, { path: "" }] } }), [
    "storage.files[0].path: path not absolute",
    "storage.files[1].path: path is not fully simplified",
    "storage.files[2].path: path is not fully simplified",
    "storage.files[3].path: path not specified",
  ]);
});

test("duplicate paths across files, directories and links are refused", () => {
  assert.deepEqual(at({ ignition: v, storage: { files: [{ path: "/x" }], directories: [{ path: "/x" }] } }), ["storage.files[0]: duplicate entry defined"]);
});

test("modes outside 0-07777 are errors and special bits are warnings before spec 3.6", () => {
  const problems = validateConfig({
    ignition: v,
    storage: {
      files: [
        { path: "/a", mode: 0o10000 },
        { path: "/b", mode: 0o4755 },
      ],
    },
  }).list;
  assert.deepEqual(
    problems.map((p) => [p.severity, p.path]),
    [
      ["error", "storage.files[0].mode"],
      ["warning", "storage.files[1].mode"],
    ],
  );
});

test("unit names need a known extension, drop-ins need .conf, and contents must parse", () => {
  assert.deepEqual(
    at({
      ignition: v,
      systemd: {
        units: [
          { name: "x" },
          { name: "y.service", contents: "[Unit] junk\n" },
          { name: "z.service", dropins: [{ name: "a.txt", contents: "[Service]\nA=1\n" }] },
        ],
      },
    }),
    [
      "systemd.units[0].name: invalid systemd unit extension",
      'systemd.units[1].contents: invalid unit content: found garbage after section name : "junk"',
      "systemd.units[2].dropins[0].name: invalid systemd drop-in extension",
    ],
  );
});

test("an enabled unit without an [Install] section is a warning", () => {
  const p = validateConfig({ ignition: v, systemd: { units: [{ name: "a.service", enabled: true, contents: "[Service]\nExecStart=/bin/true\n" }] } }).list;
  assert.equal(p[0]?.code, "no-install-section");
  assert.equal(p[0]?.severity, "warning");
});

test("bad URLs, hashes and compression on resources are refused at the field", () => {
  assert.deepEqual(
    at({
      ignition: v,
      storage: {
        files: [
          { path: "/a", contents: { source: "ftp://x/y" } },
          { path: "/b", contents: { source: "https://x/y", verification: { hash: "sha256-00" } } },
          { path: "/c", contents: { source: "data:,x", compression: "zstd" } },
          { path: "/d", contents: { source: "data:,x", httpHeaders: [{ name: "A", value: "b" }] } },
        ],
      },
    }),
    [
      "storage.files[0].contents.source: invalid url scheme",
      "storage.files[1].contents.verification.hash: incorrect size for hash sum",
      "storage.files[2].contents.compression: invalid compression method",
      "storage.files[3].contents.httpHeaders: cannot use HTTP headers with this source scheme",
    ],
  );
});

test("fields newer than the target spec are refused", () => {
  assert.deepEqual(at({ ignition: { version: "3.3.0" }, storage: { luks: [{ name: "d", device: "/dev/vdb", discard: true }] } }), [
    "storage.luks[0].discard: discard is not part of spec 3.3.0",
  ]);
});

test("partitions, filesystems, RAID and LUKS rules are checked", () => {
  assert.deepEqual(
    at({
      ignition: v,
      storage: {
        disks: [
          {
            device: "/dev/vdb",
            partitions: [
              { number: 1, label: "a:b" },
              { number: 1, typeGuid: "xyz" },
            ],
          },
        ],
        filesystems: [{ device: "/dev/vdc", format: "vfat", label: "muchtoolonglabel" }],
        raid: [{ name: "md", level: "raid0", spares: 1, devices: ["dev/vdd"] }],
        luks: [{ name: "a/b", device: "/dev/vde" }],
      },
    }),
    [
      "storage.disks[0].partitions[1]: partition numbers collide",
      "storage.disks[0].partitions[1]: duplicate entry defined",
      "storage.disks[0].partitions[0].label: partition label will be truncated to text before the colon",
      'storage.disks[0].partitions[1].typeGuid: doesn\'t match the form "01234567-89AB-CDEF-EDCB-A98765432101"',
      "storage.filesystems[0].label: filesystem labels cannot be longer than 11 characters when using vfat",
      "storage.luks[0].name: device names cannot contain slashes",
      "storage.raid[0].level: spares unsupported for linear and raid0 arrays",
      "storage.raid[0].devices[0]: path not absolute",
    ],
  );
});

test("every problem carries a hint on how to fix it", () => {
  const problems = validateConfig({ ignition: v, storage: { files: [{ path: "x", mode: -1 }], links: [{ path: "/l" }] } }).list;
  assert.ok(problems.length >= 3);
  for (const p of problems) assert.ok(p.hint.length > 0, p.toString());
});

test("JSON input is type-checked and unknown keys are warned about", () => {
  const parsed = parseIgnitionJson('{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/a","mode":"420","colour":1}]}}');
  assert.deepEqual(
    parsed.problems.list.map((p) => [p.severity, p.path]),
    [
      ["error", "storage.files[0].mode"],
      ["warning", "storage.files[0].colour"],
    ],
  );
});
