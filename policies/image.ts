// Image integrity: every OS image a node may write to a slot or boot is pinned by its
// SHA-256; stacks that say so (production) also require a signature the node agent
// verifies, from a trusted key, and HTTPS downloads. Read from the rollout resource
// (what nodes install), Glance images tagged twinroot (what new machines boot) and lab
// machines (what lab nodes boot).

import crypto from "node:crypto";
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { verifyDigestSignature } from "../node-agent/image/signature";
import { describe, GLANCE_IMAGE_TYPE, LAB_MACHINE_TYPE, ROLLOUT_TYPE } from "./model";
import { arr, isUnknown, obj, resourcePolicy, type StackResource, str, type Violation } from "./pack";

const SHA256 = /^[0-9a-f]{64}$/;

/** An image as one resource carries it, with the field paths to name in messages. */
interface ImageRef {
  resource: StackResource;
  digest: unknown;
  digestField: string;
  url?: unknown;
  urlField?: string;
  /** Whether the resource carries a signature (only the rollout does: the agent verifies it). */
  signable: boolean;
  signature?: unknown;
  publicKey?: unknown;
  /** Where the image is set in the components, for the fix. */
  fix: string;
}

/** The OS images a resource carries: a rollout's `spec.image`, a twinroot Glance image, a lab machine. */
export function imagesOf(r: StackResource): ImageRef[] {
  if (r.type === ROLLOUT_TYPE) {
    const spec = r.props.spec;
    if (isUnknown(spec)) return [];
    const image = obj(obj(spec)?.image) ?? {};
    return [
      {
        resource: r,
        digest: image.digest,
        digestField: "spec.image.digest",
        url: image.url,
        urlField: "spec.image.url",
        signable: true,
        signature: image.signature,
        publicKey: image.publicKey,
        fix: "the OsImage given to the rollout (programs: osImage.*; in a hand-written OsRollout, spec.image)",
      },
    ];
  }
  if (r.type === GLANCE_IMAGE_TYPE) {
    const props = r.props.properties;
    const tagged = arr(r.props.tags).includes("twinroot") || obj(props)?.twinroot_version !== undefined;
    if (!tagged) return [];
    return [
      {
        resource: r,
        digest: isUnknown(props) ? props : obj(props)?.twinroot_sha256,
        digestField: "properties.twinroot_sha256",
        url: r.props.imageSourceUrl,
        urlField: "imageSourceUrl",
        signable: false,
        fix: "the OsImage registering it in Glance (programs: osImage.*)",
      },
    ];
  }
  if (r.type === LAB_MACHINE_TYPE)
    return [{ resource: r, digest: r.props.digest, digestField: "digest", signable: false, fix: "the NodePool's OsImage (programs: osImage.*)" }];
  return [];
}

/** Config of {@link checkDigest}: none. */
export type DigestConfig = Record<string, never>;

/** Every OS image carries its SHA-256: 64 lower-case hex characters. */
export function checkDigest(r: StackResource, _config: DigestConfig = {}): Violation[] {
  return imagesOf(r).flatMap((i) => {
    if (isUnknown(i.digest)) return [];
    if (typeof i.digest === "string" && SHA256.test(i.digest)) return [];
    const what = i.digest === undefined || i.digest === "" ? "is missing" : `${JSON.stringify(i.digest)} is not a SHA-256`;
    return [
      {
        urn: r.urn,
        message:
          `${describe(r)}: ${i.digestField} ${what}: a node must verify every OS image it writes to a slot. ` +
          `Fix: set digest of ${i.fix} to the 64 lower-case hex characters of \`sha256sum <image>\`.`,
      },
    ];
  });
}

/** Config of {@link checkSignature}. */
export interface SignatureConfig {
  /** Require a signature on every rollout image. Default false (set it for production stacks). */
  requireSignature: boolean;
  /** Require the rollout to name the key (`publicKey`) rather than rely on the agent's. Default false. */
  requirePublicKey: boolean;
  /** Base64 Ed25519 public keys (32 bytes) that may sign images; when given, signatures must verify with one. Default: any key. */
  trustedPublicKeys: string[];
}

/** The defaults of {@link SignatureConfig}. */
export const SIGNATURE_DEFAULTS: SignatureConfig = { requireSignature: false, requirePublicKey: false, trustedPublicKeys: [] };

function rawKeyPem(b64: string): string | undefined {
  const raw = Buffer.from(b64, "base64");
  if (raw.length !== 32) return undefined;
  try {
    return crypto
      .createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" })
      .export({ type: "spki", format: "pem" })
      .toString();
  } catch {
    return undefined;
  }
}

function verifies(digest: string, signature: string, keyB64: string): boolean {
  const pem = rawKeyPem(keyB64);
  if (!pem) return false;
  try {
    verifyDigestSignature(digest, signature, pem);
    return true;
  } catch {
    return false;
  }
}

/** Rollout images are signed (when the stack requires it), by a trusted key, and the signature verifies. */
export function checkSignature(r: StackResource, config: SignatureConfig): Violation[] {
  const out: Violation[] = [];
  const add = (message: string) => out.push({ urn: r.urn, message: `${describe(r)}: ${message}` });
  for (const i of imagesOf(r)) {
    if (!i.signable) continue;
    if (isUnknown(i.signature) || isUnknown(i.publicKey) || isUnknown(i.digest)) continue;
    const sig = str(i.signature);
    const key = str(i.publicKey);
    if (!sig) {
      if (config.requireSignature)
        add(
          `spec.image.signature is missing, and this stack requires signed images (requireSignature). ` +
            `Fix: set signature of ${i.fix} to the base64 Ed25519 signature over the raw digest.`,
        );
      continue;
    }
    if (!key && config.requirePublicKey)
      add(`spec.image.publicKey is missing, and this stack requires rollouts to name their signing key (requirePublicKey). Fix: set publicKey of ${i.fix}.`);
    const digest = str(i.digest) ?? "";
    const trusted = config.trustedPublicKeys;
    if (key && trusted.length && !trusted.includes(key))
      add(`spec.image.publicKey is not one of this stack's trustedPublicKeys. Fix: sign the image with a trusted key and set publicKey of ${i.fix} to it.`);
    const candidates = key ? [key] : trusted;
    if (candidates.length && !candidates.some((k) => verifies(digest, sig, k)))
      add(
        `spec.image.signature does not verify over spec.image.digest with ${key ? "spec.image.publicKey" : "any of trustedPublicKeys"}: ` +
          `nodes would refuse the image. Fix: sign the digest of this image again and set signature of ${i.fix}.`,
      );
  }
  return out;
}

/** Config of {@link checkHttps}. */
export interface HttpsConfig {
  /** Require `https://` for every image download. Default false (set it for production stacks). */
  requireHttps: boolean;
}

/** The defaults of {@link HttpsConfig}. */
export const HTTPS_DEFAULTS: HttpsConfig = { requireHttps: false };

/** Images are downloaded over HTTPS (when the stack requires it); never over other schemes or with credentials in the URL. */
export function checkHttps(r: StackResource, config: HttpsConfig): Violation[] {
  return imagesOf(r).flatMap((i): Violation[] => {
    if (i.url === undefined || isUnknown(i.url) || !i.urlField) return [];
    const url = str(i.url) ?? "";
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    const at = `${describe(r)}: ${i.urlField} ${JSON.stringify(url)}`;
    if (!parsed || (parsed.protocol !== "https:" && parsed.protocol !== "http:"))
      return [{ urn: r.urn, message: `${at} is not an http(s) URL. Fix: set url of ${i.fix} to the https:// URL of the image.` }];
    if (parsed.username || parsed.password)
      return [{ urn: r.urn, message: `${at} carries credentials, readable by anyone who can read the resource. Fix: serve the image without them.` }];
    if (parsed.protocol === "http:" && config.requireHttps)
      return [
        {
          urn: r.urn,
          message: `${at} is plain http://, and this stack requires HTTPS downloads (requireHttps). Fix: serve the image over https:// and set url of ${i.fix}.`,
        },
      ];
    return [];
  });
}

/** The image integrity policies. */
export const imagePolicies: ResourceValidationPolicy[] = [
  resourcePolicy<DigestConfig>(
    {
      name: "twinroot-image-digest",
      description: "Every OS image (rollout, Glance image, lab machine) carries its SHA-256 digest.",
      enforcementLevel: "mandatory",
      defaults: {},
      remediationSteps: "Set the OsImage digest to the 64 lower-case hex characters of sha256sum of the image.",
    },
    checkDigest,
  ),
  resourcePolicy<SignatureConfig>(
    {
      name: "twinroot-image-signature",
      description: "Rollout images are signed when the stack requires it (production), by a trusted key, and the signature verifies.",
      enforcementLevel: "mandatory",
      configSchema: {
        properties: {
          requireSignature: { type: "boolean", default: false, description: "Require spec.image.signature on every rollout." },
          requirePublicKey: { type: "boolean", default: false, description: "Require spec.image.publicKey on every rollout." },
          trustedPublicKeys: {
            type: "array",
            items: { type: "string" },
            default: [],
            description: "Base64 Ed25519 public keys allowed to sign images; empty allows any.",
          },
        },
      },
      defaults: SIGNATURE_DEFAULTS,
      remediationSteps: "Sign the image's raw SHA-256 with the release key (Ed25519) and set the OsImage signature (and publicKey).",
    },
    checkSignature,
  ),
  resourcePolicy<HttpsConfig>(
    {
      name: "twinroot-image-https",
      description: "OS images are downloaded over http(s) without credentials in the URL, and over HTTPS only when the stack requires it (production).",
      enforcementLevel: "mandatory",
      configSchema: { properties: { requireHttps: { type: "boolean", default: false, description: "Refuse http:// image URLs." } } },
      defaults: HTTPS_DEFAULTS,
      remediationSteps: "Serve the image over https:// and set the OsImage url to it.",
    },
    checkHttps,
  ),
];
