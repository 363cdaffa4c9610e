import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { buildOsImage } from "./os-image";

describe("the OS image builder", () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  const inFreshCache = <T>(fn: () => T): T => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-image-cache-"));
    dirs.push(dir);
    const before = process.env.TWINROOT_CACHE;
    process.env.TWINROOT_CACHE = dir;
    try {
      return fn();
    } finally {
      if (before === undefined) delete process.env.TWINROOT_CACHE;
      else process.env.TWINROOT_CACHE = before;
    }
  };

  it("builds the same bytes for the same version on another machine or day, so a pinned digest stays true", async () => {
    const first = inFreshCache(() => buildOsImage("9.9.9", "good", 4, { kernel: false }));
    // Later change times on the sources would change a build that takes them from the clock.
    await new Promise((r) => setTimeout(r, 1100));
    const second = inFreshCache(() => buildOsImage("9.9.9", "good", 4, { kernel: false }));
    assert.notEqual(first.path, second.path, "two caches, two builds");
    assert.equal(second.digest, first.digest);
    assert.equal(second.size, 4 << 20);
  });

  it("gives each version and variant its own digest", () => {
    const a = inFreshCache(() => buildOsImage("9.9.9", "good", 4, { kernel: false }));
    const b = inFreshCache(() => buildOsImage("9.9.8", "good", 4, { kernel: false }));
    const c = inFreshCache(() => buildOsImage("9.9.9", "unhealthy", 4, { kernel: false }));
    assert.equal(new Set([a.digest, b.digest, c.digest]).size, 3);
  });
});
