import assert from "node:assert/strict";
import { createRequire } from "node:module";
import path from "node:path";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { loadOpenStack } from "./openstack";

/** A `require` that resolves from an empty folder, where no package is installed. */
const requireFromNowhere = createRequire(path.join(path.parse(process.cwd()).root, "twinroot-no-packages", "index.js"));

describe("loadOpenStack", () => {
  it("returns the installed @pulumi/openstack", () => {
    const sdk = loadOpenStack();
    assert.equal(typeof sdk.compute.Instance, "function");
    assert.equal(typeof sdk.images.Image, "function");
  });

  it("names the package and its provider plugin when the package is missing", () => {
    assert.throws(
      () => loadOpenStack(requireFromNowhere),
      (err: unknown) => {
        assert.ok(pulumi.RunError.isInstance(err), String(err));
        assert.match(
          (err as Error).message,
          /^this program needs the @pulumi\/openstack package \(run npm install in the repository root\) and its provider plugin pulumi-resource-openstack: Cannot find module '@pulumi\/openstack'$/,
        );
        return true;
      },
    );
  });

  it("rethrows other failures of loading the SDK as they are", () => {
    const broken = Object.assign(new Error("Cannot find module '@pulumi/pulumi'"), { code: "MODULE_NOT_FOUND" });
    assert.throws(
      () =>
        loadOpenStack(() => {
          throw broken;
        }),
      (err: unknown) => err === broken,
    );
  });
});
