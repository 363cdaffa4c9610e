import assert from "node:assert/strict";
import crypto from "node:crypto";
import { test } from "node:test";
import zlib from "node:zlib";
import { decodeDataUrl } from "./dataurl";
import { IgnitionConfigError } from "./errors";
import type { IgnitionConfig } from "./model";
import { fitUserData, userDataSize } from "./size";

function bigConfig(files: number, random: boolean): IgnitionConfig {
  return {
    ignition: { version: "3.4.0", timeouts: { httpTotal: 60 } },
    storage: {
      files: Array.from({ length: files }, (_, i) => ({
        path: `/etc/f${i}`,
        contents: { source: `data:;base64,${random ? crypto.randomBytes(600).toString("base64") : Buffer.from(`line ${i}\n`.repeat(40)).toString("base64")}` },
      })),
    },
  };
}

test("a config within the limit is used as it is", () => {
  const fit = fitUserData({ ignition: { version: "3.4.0" } });
  assert.equal(fit.strategy, "as-is");
  assert.equal(fit.userData, fit.full);
});

test("sizes are counted base64-encoded by default, as Nova counts them", () => {
  assert.equal(userDataSize("abc"), 4);
  assert.equal(userDataSize("abcd"), 8);
  assert.equal(userDataSize("abcd", false), 4);
});

test("a large compressible config is sent gzipped inside a small config that merges it", () => {
  const config = bigConfig(200, false);
  const fit = fitUserData(config, { limit: 8192 });
  assert.equal(fit.strategy, "compressed");
  assert.ok(userDataSize(fit.userData) <= 8192);
  const small = JSON.parse(fit.userData);
  assert.deepEqual(small.ignition.timeouts, { httpTotal: 60 }, "fetch settings are kept");
  const merged = small.ignition.config.merge[0];
  assert.equal(merged.compression, "gzip");
  const d = decodeDataUrl(merged.source);
  assert.ok("data" in d);
  assert.equal(zlib.gunzipSync(d.data).toString(), fit.full);
  assert.match(fit.message, /over the 8192-byte limit/);
});

test("a config too large even compressed is merged from a URL pinned by its sha512", () => {
  const fit = fitUserData(bigConfig(200, true), { limit: 8192, fullConfigUrl: "https://configs.example/node.ign" });
  assert.equal(fit.strategy, "split");
  assert.equal(fit.split, true);
  const merged = JSON.parse(fit.userData).ignition.config.merge[0];
  assert.equal(merged.source, "https://configs.example/node.ign");
  assert.equal(merged.verification.hash, `sha512-${crypto.createHash("sha512").update(fit.full).digest("hex")}`);
  assert.match(fit.message, /serve the full config there/);
});

test("without a URL to split to, an oversized config is a size-limit error", () => {
  assert.throws(
    () => fitUserData(bigConfig(200, true), { limit: 8192 }),
    (e: unknown) => e instanceof IgnitionConfigError && e.problems[0]?.code === "size-limit",
  );
});
