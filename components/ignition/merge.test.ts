import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { mergeConfigs, mergeFragments } from "./merge";
import type { IgnitionConfig } from "./model";

const v = { version: "3.4.0" };

test("entries with the same key merge field by field, the child's set fields winning", () => {
  const parent: IgnitionConfig = { ignition: v, storage: { files: [{ path: "/a", mode: 0o644, overwrite: true }] } };
  const child: IgnitionConfig = { ignition: v, storage: { files: [{ path: "/a", mode: 0o600 }] } };
  assert.deepEqual(mergeConfigs(parent, child).storage?.files, [{ path: "/a", mode: 0o600, overwrite: true }]);
});

test("new child entries are appended after the parent's", () => {
  const parent: IgnitionConfig = { ignition: v, systemd: { units: [{ name: "a.service" }, { name: "b.service" }] } };
  const child: IgnitionConfig = { ignition: v, systemd: { units: [{ name: "c.service" }, { name: "a.service", mask: true }] } };
  assert.deepEqual(mergeConfigs(parent, child).systemd?.units, [{ name: "a.service", mask: true }, { name: "b.service" }, { name: "c.service" }]);
});

test("a child link replaces a parent file at the same path, since files, directories and links share paths", () => {
  const parent: IgnitionConfig = { ignition: v, storage: { files: [{ path: "/etc/x" }] } };
  const child: IgnitionConfig = { ignition: v, storage: { links: [{ path: "/etc/x", target: "/y" }] } };
  const merged = mergeConfigs(parent, child);
  assert.equal(merged.storage?.files, undefined);
  assert.deepEqual(merged.storage?.links, [{ path: "/etc/x", target: "/y" }]);
});

test("unkeyed lists such as file appends are concatenated", () => {
  const parent: IgnitionConfig = { ignition: v, storage: { files: [{ path: "/a", append: [{ source: "data:,1" }] }] } };
  const child: IgnitionConfig = { ignition: v, storage: { files: [{ path: "/a", append: [{ source: "data:,1" }] }] } };
  assert.equal(mergeConfigs(parent, child).storage?.files?.[0]?.append?.length, 2);
});

test("a header without a value in the child removes the parent's header", () => {
  const parent: IgnitionConfig = {
    ignition: v,
    storage: { files: [{ path: "/a", contents: { source: "https://x", httpHeaders: [{ name: "A", value: "1" }] } }] },
  };
  const child: IgnitionConfig = { ignition: v, storage: { files: [{ path: "/a", contents: { httpHeaders: [{ name: "A" }] } }] } };
  assert.equal(mergeConfigs(parent, child).storage?.files?.[0]?.contents?.httpHeaders, undefined);
});

test("merging a config into an empty one gives the config back", () => {
  const unit = fc.record(
    { name: fc.constantFrom("a.service", "b.service", "c.timer"), enabled: fc.option(fc.boolean(), { nil: undefined }) },
    { requiredKeys: ["name"] },
  );
  fc.assert(
    fc.property(fc.uniqueArray(unit, { selector: (u) => u.name, maxLength: 3 }), (units) => {
      const cfg: IgnitionConfig = { ignition: v, systemd: { units } };
      const merged = mergeConfigs({ ignition: { version: "" } }, cfg);
      assert.deepEqual(JSON.parse(JSON.stringify(merged.systemd?.units ?? [])), JSON.parse(JSON.stringify(units)));
      assert.equal(merged.ignition.version, "3.4.0");
    }),
  );
});

test("fragments that set the same field of the same entry differently are a conflict naming both", () => {
  const { problems } = mergeFragments("3.4.0", [
    { name: "preset.host", config: { storage: { files: [{ path: "/etc/hostname", mode: 0o644 }] } } },
    { name: "user", config: { storage: { files: [{ path: "/etc/hostname", mode: 0o600 }] } } },
  ]);
  assert.equal(problems.length, 1);
  assert.equal(problems[0]?.code, "merge-conflict");
  assert.equal(problems[0]?.path, "storage.files[0].mode");
  assert.match(problems[0]?.message ?? "", /user sets .* differently from preset\.host/);
});

test("fragments that agree, or touch different entries, merge without conflict", () => {
  const { config, problems } = mergeFragments("3.4.0", [
    { name: "a", config: { systemd: { units: [{ name: "x.service", enabled: true }] } } },
    {
      name: "b",
      config: {
        systemd: {
          units: [
            { name: "x.service", enabled: true },
            { name: "y.service", mask: true },
          ],
        },
      },
    },
  ]);
  assert.deepEqual(problems, []);
  assert.equal(config.systemd?.units?.length, 2);
});
