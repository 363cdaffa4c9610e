import assert from "node:assert/strict";
import crypto from "node:crypto";
import { describe, it } from "node:test";
import { checkDigest, checkHttps, checkSignature, HTTPS_DEFAULTS, SIGNATURE_DEFAULTS } from "./image";
import { LAB_MACHINE_TYPE } from "./model";
import { UNKNOWN } from "./pack";
import { labMachines, openstackPool, resource, rollout, V1 } from "./test-fixtures";

const messages = (vs: { message: string }[]) => vs.map((v) => v.message);

function signed(digest: string) {
  const { publicKey, privateKey } = crypto.generateKeyPairSync("ed25519");
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x as string, "base64url").toString("base64");
  const signature = crypto.sign(null, Buffer.from(digest, "hex"), privateKey).toString("base64");
  return { publicKey: raw, signature };
}

describe("twinroot-image-digest", () => {
  it("accepts rollouts, twinroot Glance images and lab machines that carry a SHA-256", () => {
    for (const r of [rollout("lab"), ...openstackPool("workers", { size: 1 }), ...labMachines("lab", 1)]) assert.deepEqual(checkDigest(r), [], r.urn);
  });

  it("names the rollout, spec.image.digest and the fix when the digest is missing or malformed", () => {
    const [missing] = messages(checkDigest(rollout("lab", {}, { version: "1.0.0", url: V1.url, digest: undefined })));
    assert.match(
      missing ?? "",
      /^OsRollout "lab": spec\.image\.digest is missing: .*Fix: set digest of the OsImage given to the rollout \(programs: osImage\.\*; in a hand-written OsRollout, spec\.image\)/,
    );
    const [bad] = messages(checkDigest(rollout("lab", {}, { ...V1, digest: "ABC" })));
    assert.match(bad ?? "", /spec\.image\.digest "ABC" is not a SHA-256/);
  });

  it("checks the twinroot property of Glance images and the digest of lab machines", () => {
    const glance = resource("openstack:images/image:Image", "img", { tags: ["twinroot"], properties: { twinroot_version: "1.0.0" } });
    assert.match(messages(checkDigest(glance))[0] ?? "", /^Image "img": properties\.twinroot_sha256 is missing/);
    const lab = resource(LAB_MACHINE_TYPE, "lab-machine-0", { digest: "" });
    assert.match(messages(checkDigest(lab))[0] ?? "", /^LabMachine "lab-machine-0": digest is missing/);
  });

  it("leaves Glance images alone that twinroot did not register, and digests not known during preview", () => {
    assert.deepEqual(checkDigest(resource("openstack:images/image:Image", "ubuntu", { properties: {} })), []);
    assert.deepEqual(checkDigest(rollout("lab", {}, { ...V1, digest: UNKNOWN })), []);
    assert.deepEqual(checkDigest(resource("openstack:images/image:Image", "img", { tags: ["twinroot"], properties: { twinroot_sha256: UNKNOWN } })), []);
  });
});

describe("twinroot-image-signature", () => {
  const prod = { ...SIGNATURE_DEFAULTS, requireSignature: true };

  it("asks nothing of unsigned images by default (non-production stacks)", () => {
    assert.deepEqual(checkSignature(rollout("lab"), SIGNATURE_DEFAULTS), []);
  });

  it("requires a signature when the stack says requireSignature, naming the field and the fix", () => {
    const [m] = messages(checkSignature(rollout("prod"), prod));
    assert.match(
      m ?? "",
      /^OsRollout "prod": spec\.image\.signature is missing, and this stack requires signed images \(requireSignature\)\. Fix: set signature of the OsImage/,
    );
  });

  it("accepts a signature that verifies with the rollout's key or a trusted key", () => {
    const s = signed(V1.digest);
    assert.deepEqual(checkSignature(rollout("prod", {}, { ...V1, ...s }), { ...prod, requirePublicKey: true, trustedPublicKeys: [s.publicKey] }), []);
    assert.deepEqual(checkSignature(rollout("prod", {}, { ...V1, signature: s.signature }), { ...prod, trustedPublicKeys: [s.publicKey] }), []);
  });

  it("refuses a signature that does not verify, or a key the stack does not trust", () => {
    const s = signed(V1.digest);
    const other = signed(V1.digest);
    const forged = messages(checkSignature(rollout("prod", {}, { ...V1, signature: other.signature, publicKey: s.publicKey }), prod));
    assert.match(forged.join("\n"), /spec\.image\.signature does not verify over spec\.image\.digest with spec\.image\.publicKey/);
    const untrusted = messages(checkSignature(rollout("prod", {}, { ...V1, ...s }), { ...prod, trustedPublicKeys: [other.publicKey] }));
    assert.match(untrusted.join("\n"), /spec\.image\.publicKey is not one of this stack's trustedPublicKeys/);
    const noKey = messages(checkSignature(rollout("prod", {}, { ...V1, signature: s.signature }), { ...prod, requirePublicKey: true }));
    assert.match(noKey.join("\n"), /spec\.image\.publicKey is missing, and this stack requires rollouts to name their signing key/);
  });
});

describe("twinroot-image-https", () => {
  const http = { ...V1, url: "http://images.test/os.img" };

  it("allows http:// with a digest unless the stack requires HTTPS", () => {
    assert.deepEqual(checkHttps(rollout("lab", {}, http), HTTPS_DEFAULTS), []);
    const [m] = messages(checkHttps(rollout("prod", {}, http), { requireHttps: true }));
    assert.match(
      m ?? "",
      /^OsRollout "prod": spec\.image\.url "http:\/\/images\.test\/os\.img" is plain http:\/\/, and this stack requires HTTPS downloads \(requireHttps\)\. Fix:/,
    );
  });

  it("checks the Glance image's source URL too", () => {
    const [pool, glance] = openstackPool("workers", { size: 1, image: http });
    assert.ok(pool && glance);
    assert.match(messages(checkHttps(glance, { requireHttps: true }))[0] ?? "", /^Image "workers-image-glance": imageSourceUrl "http:/);
  });

  it("refuses other schemes and credentials in the URL on any stack", () => {
    assert.match(messages(checkHttps(rollout("lab", {}, { ...V1, url: "ftp://x/os.img" }), HTTPS_DEFAULTS))[0] ?? "", /is not an http\(s\) URL/);
    assert.match(messages(checkHttps(rollout("lab", {}, { ...V1, url: "https://u:p@x/os.img" }), HTTPS_DEFAULTS))[0] ?? "", /carries credentials/);
  });
});
