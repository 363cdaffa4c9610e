import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { type GlanceImageArgs, OsImage } from "./os-image";
import { byType, outputValue, urnOf } from "./test-mocks";

const DIGEST = "ab".repeat(32);
const good = { version: "1.1.0", url: "https://images.test/os-1.1.0.img", digest: DIGEST };

function errorOf(fn: () => unknown): pulumi.InputPropertiesError {
  try {
    fn();
  } catch (err) {
    assert.ok(pulumi.InputPropertiesError.isInstance(err), `not an InputPropertiesError: ${err}`);
    return err;
  }
  assert.fail("no error thrown");
}

describe("OsImage", () => {
  it("gives the rollout resource's image spec with the digest normalized", async () => {
    const img = new OsImage("img-ok", { ...good, digest: `sha256:${DIGEST.toUpperCase()}`, sizeBytes: 1024 });
    assert.deepEqual(await outputValue(img.imageSpec), { version: "1.1.0", url: good.url, digest: DIGEST, sizeBytes: 1024 });
    assert.equal(await outputValue(img.ignitionSpec), "3.4.0");
    assert.equal(await outputValue(img.glanceImageId), undefined);
    assert.equal(img.registersInGlance, false);
  });

  it("reports every bad field at once, each with its path", () => {
    const err = errorOf(
      () =>
        new OsImage("img-bad", {
          version: "v1",
          url: "ftp://user:pw@host/x",
          digest: "1234",
          sizeBytes: -1,
          signature: "nope",
          publicKey: "AAAA",
          ignitionSpec: "3.9.0" as never,
        }),
    );
    const paths = err.errors.map((e) => e.propertyPath);
    for (const p of ["version", "url", "digest", "sizeBytes", "signature", "publicKey", "ignitionSpec"])
      assert.ok(paths.includes(p), `${p} missing in ${paths}`);
    assert.match(err.message, /twinroot:image:OsImage "img-bad" has \d+ invalid inputs/);
    assert.match(err.message, /- digest: "1234" is not a SHA-256/);
  });

  it("accepts http:// only with a valid digest, and a publicKey only with a signature", () => {
    const err = errorOf(
      () => new OsImage("img-http", { version: "1.0.0", url: "http://images.test/x.img", digest: "zz", publicKey: Buffer.alloc(32).toString("base64") }),
    );
    assert.deepEqual(err.errors.map((e) => e.propertyPath).sort(), ["digest", "publicKey", "url"], JSON.stringify(err.errors));
    const ok = new OsImage("img-signed", {
      ...good,
      url: "http://images.test/x.img",
      signature: Buffer.alloc(64, 1).toString("base64"),
      publicKey: Buffer.alloc(32, 2).toString("base64"),
    });
    assert.ok(ok);
  });

  it("registers the image in Glance as a child when asked", async () => {
    const calls: { name: string; args: GlanceImageArgs; opts?: pulumi.CustomResourceOptions }[] = [];
    class Image extends pulumi.CustomResource {
      declare readonly id: pulumi.Output<string>;
      constructor(name: string, args: GlanceImageArgs, opts?: pulumi.CustomResourceOptions) {
        super("openstack:images/image:Image", name, args as unknown as pulumi.Inputs, opts);
        calls.push({ name, args, opts });
      }
    }
    const img = new OsImage("img-glance", { ...good, glance: { api: { images: { Image } } } });
    assert.equal(calls.length, 1);
    assert.equal(calls[0]?.name, "img-glance-glance");
    assert.equal(calls[0]?.opts?.parent, img);
    assert.equal(await outputValue(img.glanceImageId), "img-glance-glance-id");
    const [reg] = byType("openstack:images/image:Image", "img-glance");
    assert.equal(reg?.inputs.imageSourceUrl, good.url);
    assert.equal(reg?.inputs.name, "twinroot-1.1.0");
    assert.deepEqual(reg?.inputs.properties, { twinroot_version: "1.1.0", twinroot_sha256: DIGEST });
    assert.match(await urnOf(img), /twinroot:image:OsImage::img-glance$/);
  });
});
