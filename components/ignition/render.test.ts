import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { IgnitionConfig } from "./model";
import { goJsonString, renderConfig } from "./render";

test("keys come out in Ignition's struct order whatever order they were given in", () => {
  const config = { storage: { files: [{ mode: 420, contents: { source: "data:,x" }, path: "/a" }] }, ignition: { version: "3.4.0" } } as IgnitionConfig;
  assert.equal(renderConfig(config), '{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/a","contents":{"source":"data:,x"},"mode":420}]}}');
});

test("empty lists, empty sections and unset fields are left out; set falsy pointers are kept", () => {
  const config: IgnitionConfig = {
    ignition: { version: "3.5.0", config: { merge: [] }, proxy: {} },
    passwd: { users: [] },
    systemd: { units: [{ name: "a.service", enabled: false, contents: "" }] },
  };
  assert.equal(renderConfig(config), '{"ignition":{"version":"3.5.0"},"systemd":{"units":[{"contents":"","enabled":false,"name":"a.service"}]}}');
});

test("required fields are written even when empty, as Go writes them", () => {
  assert.equal(
    renderConfig({ ignition: { version: "3.5.0" }, storage: { files: [{} as never] } }),
    '{"ignition":{"version":"3.5.0"},"storage":{"files":[{"path":""}]}}',
  );
});

test("strings are escaped like Go's encoder, with HTML characters and line separators as \\u escapes", () => {
  assert.equal(goJsonString('a<b>&"\\\n\t\r\u0001\u2028é'), '"a\\u003cb\\u003e\\u0026\\"\\\\\\n\\t\\r\\u0001\\u2028é"');
});

test("escaped strings parse back to the same string", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary" }), (s) => {
      assert.equal(JSON.parse(goJsonString(s)), s);
    }),
  );
});

test("a lone surrogate, which is not UTF-8, is written as U+FFFD as Go does", () => {
  assert.equal(goJsonString("a\ud800b"), '"a\\ufffdb"');
  assert.equal(goJsonString("\ud83d\ude00"), '"\ud83d\ude00"');
});

test("pretty output is indented and parses to the compact output", () => {
  const config: IgnitionConfig = { ignition: { version: "3.4.0" }, kernelArguments: { shouldExist: ["a", "b"] } };
  const pretty = renderConfig(config, { pretty: true });
  assert.match(pretty, /^\{\n {2}"ignition": \{\n {4}"version": "3\.4\.0"\n {2}\},\n {2}"kernelArguments": \{\n {4}"shouldExist": \[\n {6}"a",/);
  assert.deepEqual(JSON.parse(pretty), JSON.parse(renderConfig(config)));
});

test("rendering is deterministic and does not depend on key order", () => {
  const entry = fc.record({
    path: fc.string(),
    mode: fc.option(fc.integer({ min: 0, max: 0o777 }), { nil: undefined }),
    overwrite: fc.option(fc.boolean(), { nil: undefined }),
  });
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 5 }), (files) => {
      const a: IgnitionConfig = { ignition: { version: "3.5.0" }, storage: { files } };
      const shuffled = {
        storage: { files: files.map((f) => Object.fromEntries(Object.entries(f).reverse())) },
        ignition: { version: "3.5.0" },
      } as unknown as IgnitionConfig;
      assert.equal(renderConfig(a), renderConfig(shuffled));
    }),
  );
});
