import crypto from "node:crypto";
import { AgentError } from "../errors";

/** A SHA-256 digest as the protocol carries it: 64 lower-case hex digits. */
export const DIGEST_RE = /^[0-9a-f]{64}$/;

/**
 * Verifies an Ed25519 signature over the 32 raw bytes of `digest` with a public key in
 * PEM (SPKI). Signing the digest rather than the image lets the check run before a
 * single byte is downloaded, and the digest then binds the bytes written.
 */
export function verifyDigestSignature(digest: string, signatureB64: string, publicKeyPem: string | Buffer): void {
  if (!DIGEST_RE.test(digest)) throw new AgentError("invalid-params", "signature: the digest must be 64 lower-case hex digits");
  let key: crypto.KeyObject;
  try {
    key = crypto.createPublicKey(publicKeyPem);
  } catch (err) {
    throw new AgentError("config", `signature: public key: ${(err as Error).message}`, { cause: err });
  }
  if (key.asymmetricKeyType !== "ed25519") throw new AgentError("config", `signature: public key is ${key.asymmetricKeyType}, not ed25519`);
  const sig = Buffer.from(signatureB64, "base64");
  let ok = false;
  try {
    ok = sig.length === 64 && crypto.verify(null, Buffer.from(digest, "hex"), key, sig);
  } catch {
    ok = false;
  }
  if (!ok) throw new AgentError("signature-invalid", "signature: the Ed25519 signature over the digest does not verify with the configured key");
}

/** Signs a digest (for tests, the lab and release tooling). */
export function signDigest(digest: string, privateKeyPem: string | Buffer): string {
  return crypto.sign(null, Buffer.from(digest, "hex"), crypto.createPrivateKey(privateKeyPem)).toString("base64");
}
