import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { ConfigReader, readOsImage, readPolicy } from "./config";

const NS = "twinroot-test";

function withConfig(values: Record<string, string>): ConfigReader {
  pulumi.runtime.setAllConfig(Object.fromEntries(Object.entries(values).map(([k, v]) => [`${NS}:${k}`, v])));
  return new ConfigReader(NS);
}

/** The message of the error `done()` throws, or undefined. */
function report(r: ConfigReader): string | undefined {
  try {
    r.done();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

const goodImage = { "osImage.version": "1.1.0", "osImage.url": "https://images.test/1.1.0.img", "osImage.digest": "a".repeat(64) };

describe("stack config", () => {
  beforeEach(() => pulumi.runtime.setAllConfig({}));

  it("reads a complete image and policy without problems", () => {
    const r = withConfig({ ...goodImage, "policy.maxUnavailable": "25%", "policy.failureBudget": "2", "policy.drainTimeout": "15m" });
    const image = readOsImage(r);
    const policy = readPolicy(r);
    assert.equal(report(r), undefined);
    assert.equal(image.digest, "a".repeat(64));
    assert.equal(policy.maxUnavailable, "25%");
    assert.equal(policy.failureBudget, 2);
  });

  it("reports every bad key at once, each with its full name and the fix", () => {
    const r = withConfig({
      "osImage.version": "one",
      "osImage.url": "ftp://x/y",
      "osImage.digest": "not-a-sha256",
      "policy.failureBudget": "-1",
      "policy.drainTimeout": "soon",
    });
    readOsImage(r);
    readPolicy(r);
    const message = report(r) ?? "";
    assert.match(message, /has 5 config problems/);
    assert.match(message, /- twinroot-test:osImage\.version: "one" is not a version: write it like 1\.1\.0/);
    assert.match(message, /- twinroot-test:osImage\.url: scheme ftp: is not supported/);
    assert.match(message, /- twinroot-test:osImage\.digest: "not-a-sha256" is not a SHA-256/);
    assert.match(message, /- twinroot-test:policy\.failureBudget: "-1" is not a whole number/);
    assert.match(message, /- twinroot-test:policy\.drainTimeout: "soon" is not a duration/);
  });

  it("says how to set a required key that is missing", () => {
    const r = withConfig({});
    readOsImage(r);
    assert.match(report(r) ?? "", /twinroot-test:osImage\.version: is required: set it with `pulumi config set osImage\.version <value>`/);
  });

  it("reads labels and kubectl-style taints, and names a malformed one", () => {
    const r = withConfig({
      "pool.db.labels": "twinroot.dev/role=db, tier=data",
      "pool.db.taints": "dedicated=db:NoSchedule,twinroot.dev/canary:PreferNoSchedule",
    });
    assert.deepEqual(r.labels("pool.db.labels"), { "twinroot.dev/role": "db", tier: "data" });
    assert.deepEqual(r.taints("pool.db.taints"), [
      { key: "dedicated", value: "db", effect: "NoSchedule" },
      { key: "twinroot.dev/canary", effect: "PreferNoSchedule" },
    ]);
    assert.equal(report(r), undefined);
    const bad = withConfig({ "pool.db.labels": "role", "pool.db.taints": "dedicated=db:Sometimes" });
    bad.labels("pool.db.labels");
    bad.taints("pool.db.taints");
    const message = report(bad) ?? "";
    assert.match(message, /twinroot-test:pool\.db\.labels: "role" is not a label: write key=value/);
    assert.match(message, /twinroot-test:pool\.db\.taints: "dedicated=db:Sometimes": taint effect "Sometimes" is invalid/);
  });
});
