// OsImage: one OS release (version, URL, digest, size, optional signature) as the
// rollout resource and new machines consume it; optionally registered in OpenStack
// Glance so new instances boot it directly.

import * as pulumi from "@pulumi/pulumi";
import type { ImageSpec } from "../controller/api/types";
import { SPEC_VERSIONS, type SpecVersion } from "./ignition";
import { checkedInputs, type InputProblems } from "./inputs";

/** The component's type token. */
export const OS_IMAGE_TYPE = "twinroot:image:OsImage";

/** The part of `@pulumi/openstack` that registers images (`openstack.images.Image`), narrowed to what OsImage uses. */
export interface GlanceImagesApi {
  images: {
    Image: new (name: string, args: GlanceImageArgs, opts?: pulumi.CustomResourceOptions) => { readonly id: pulumi.Output<string> };
  };
}

/** The arguments of `openstack.images.Image` that OsImage sets. */
export interface GlanceImageArgs {
  name?: pulumi.Input<string>;
  containerFormat: pulumi.Input<string>;
  diskFormat: pulumi.Input<string>;
  imageSourceUrl?: pulumi.Input<string>;
  webDownload?: pulumi.Input<boolean>;
  visibility?: pulumi.Input<string>;
  minDiskGb?: pulumi.Input<number>;
  properties?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  tags?: pulumi.Input<pulumi.Input<string>[]>;
}

/** Registration of the image in OpenStack Glance, for new instances. */
export interface OsImageGlanceArgs {
  /**
   * The OpenStack SDK: pass `await import("@pulumi/openstack")` (or the module itself).
   * twinroot does not depend on `@pulumi/openstack`; only programs that register images do.
   */
  api: GlanceImagesApi;
  /** Glance image name. Default `twinroot-<version>`. */
  name?: pulumi.Input<string>;
  /** Disk format of the file at `url`. Default `raw` (what the node agent writes to a slot). */
  diskFormat?: pulumi.Input<"raw" | "qcow2">;
  /** Glance visibility. Default `private`. */
  visibility?: pulumi.Input<"private" | "shared" | "community" | "public">;
  /** Minimum disk of instances booting it, in GB. Default: Glance's (0). */
  minDiskGb?: pulumi.Input<number>;
}

/** Arguments of {@link OsImage}. */
export interface OsImageArgs {
  /**
   * The version the image carries, compared by the node agent with the booted slot's
   * version: semantic-version style such as `1.1.0` or `1.1.0-rc.1`. Bumping it (with
   * `url` and `digest`) is how a fleet is upgraded.
   */
  version: pulumi.Input<string>;
  /**
   * Where nodes download the image: `https://…`; `http://…` is accepted only together with
   * `digest` (it is then verified end to end). See DESIGN.md, "Slots and boot".
   */
  url: pulumi.Input<string>;
  /**
   * SHA-256 of the uncompressed image: 64 hex characters, optionally prefixed `sha256:`.
   * Required: the agent never marks a slot bootable before its content matches it.
   */
  digest: pulumi.Input<string>;
  /** Size of the uncompressed image in bytes; lets the agent refuse a slot too small before downloading. Default: unset. */
  sizeBytes?: pulumi.Input<number>;
  /** Base64 Ed25519 signature over the raw SHA-256 digest (64 bytes). Default: unsigned. */
  signature?: pulumi.Input<string>;
  /** Base64 Ed25519 public key (32 bytes) that must have made `signature`. Default: the key configured on the agent. */
  publicKey?: pulumi.Input<string>;
  /** Ignition spec version the image's Ignition reads (`3.3.0`, `3.4.0` or `3.5.0`). Default `3.4.0`. */
  ignitionSpec?: pulumi.Input<SpecVersion>;
  /** Register the image in Glance so new OpenStack instances boot it. Default: not registered. */
  glance?: OsImageGlanceArgs;
}

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;

/** The digest as the rollout resource stores it: lower-case hex, no `sha256:` prefix. */
export function normalizeDigest(digest: string): string {
  return digest
    .trim()
    .replace(/^sha256:/i, "")
    .toLowerCase();
}

function base64Bytes(text: string): number | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  return Buffer.from(text, "base64").length;
}

/** Records every problem of plain OsImage inputs. */
export function checkOsImage(a: pulumi.Unwrap<Omit<OsImageArgs, "glance">>, p: InputProblems): void {
  if (typeof a.version !== "string" || !SEMVER.test(a.version))
    p.add("version", `${JSON.stringify(a.version)} is not a version: write it like 1.1.0 (semantic versioning, at most 128 characters)`);
  else if (a.version.length > 128) p.add("version", "must be at most 128 characters");
  const digest = typeof a.digest === "string" ? normalizeDigest(a.digest) : "";
  const digestOk = /^[0-9a-f]{64}$/.test(digest);
  if (!digestOk) p.add("digest", `${JSON.stringify(a.digest)} is not a SHA-256: give the 64 hex characters of \`sha256sum <image>\``);
  let url: URL | undefined;
  try {
    url = new URL(String(a.url));
  } catch {
    p.add("url", `${JSON.stringify(a.url)} is not a URL: give https://host/path/to/image`);
  }
  if (url) {
    if (url.protocol !== "https:" && url.protocol !== "http:") p.add("url", `scheme ${url.protocol} is not supported: use https:// (or http:// with a digest)`);
    else if (url.protocol === "http:" && !digestOk) p.add("url", "an http:// URL needs a valid digest: fix digest or serve the image over https://");
    if (url.username || url.password) p.add("url", "must not carry credentials: they would be stored in the rollout resource for everyone to read");
    if (String(a.url).length > 2048) p.add("url", "must be at most 2048 characters");
  }
  if (a.sizeBytes !== undefined && !(Number.isSafeInteger(a.sizeBytes) && a.sizeBytes > 0))
    p.add("sizeBytes", `${a.sizeBytes} is not a size: give the image's size in bytes, a whole number above 0`);
  if (a.signature !== undefined && base64Bytes(a.signature) !== 64) p.add("signature", "must be the base64 of a 64-byte Ed25519 signature over the raw digest");
  if (a.publicKey !== undefined) {
    if (base64Bytes(a.publicKey) !== 32) p.add("publicKey", "must be the base64 of a 32-byte Ed25519 public key");
    if (a.signature === undefined) p.add("publicKey", "a publicKey needs a signature: set signature too, or drop publicKey");
  }
  if (a.ignitionSpec !== undefined && !SPEC_VERSIONS.includes(a.ignitionSpec))
    p.add("ignitionSpec", `${JSON.stringify(a.ignitionSpec)} is not supported: use one of ${SPEC_VERSIONS.join(", ")}`);
}

/** The rollout resource's `spec.image` for checked OsImage inputs. */
export function imageSpecOf(a: pulumi.Unwrap<Omit<OsImageArgs, "glance">>): ImageSpec {
  const spec: ImageSpec = { version: a.version, url: a.url, digest: normalizeDigest(a.digest) };
  if (a.sizeBytes !== undefined) spec.sizeBytes = a.sizeBytes;
  if (a.signature !== undefined) spec.signature = a.signature;
  if (a.publicKey !== undefined) spec.publicKey = a.publicKey;
  return spec;
}

/**
 * One OS release. It creates nothing in a cluster by itself: `UpgradeController` puts
 * its {@link imageSpec} into the rollout resource, and `NodePool` boots new machines
 * from it (from {@link glanceImageId} on OpenStack).
 */
export class OsImage extends pulumi.ComponentResource {
  /** The version, as given. */
  readonly version: pulumi.Output<string>;
  /** The download URL. */
  readonly url: pulumi.Output<string>;
  /** The SHA-256, lower-case hex without prefix. */
  readonly digest: pulumi.Output<string>;
  /** The Ignition spec version of the image. */
  readonly ignitionSpec: pulumi.Output<SpecVersion>;
  /** `spec.image` of the rollout resource. */
  readonly imageSpec: pulumi.Output<ImageSpec>;
  /** Whether the image is registered in Glance (`glance` was given). */
  readonly registersInGlance: boolean;
  /** The Glance image's ID when `glance` was given, else undefined. */
  readonly glanceImageId: pulumi.Output<string | undefined>;

  constructor(name: string, args: OsImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super(OS_IMAGE_TYPE, name, {}, opts);
    const { glance, ...rest } = args;
    const checked = checkedInputs(OS_IMAGE_TYPE, name, rest, checkOsImage);
    this.imageSpec = checked.apply(imageSpecOf);
    this.version = this.imageSpec.version;
    this.url = this.imageSpec.url;
    this.digest = this.imageSpec.apply((s) => s.digest ?? "");
    this.ignitionSpec = checked.apply((a) => a.ignitionSpec ?? "3.4.0");
    this.registersInGlance = glance !== undefined;
    if (glance) {
      const image = new glance.api.images.Image(
        `${name}-glance`,
        {
          name: glance.name ?? pulumi.interpolate`twinroot-${this.version}`,
          containerFormat: "bare",
          diskFormat: glance.diskFormat ?? "raw",
          imageSourceUrl: this.url,
          // Glance fetches the URL itself (web-download import) instead of through the provider.
          webDownload: true,
          visibility: glance.visibility ?? "private",
          minDiskGb: glance.minDiskGb,
          properties: { twinroot_version: this.version, twinroot_sha256: this.digest },
          tags: ["twinroot"],
        },
        // A new version is a new Glance image; the old one goes only after the new one exists.
        { parent: this },
      );
      this.glanceImageId = image.id;
    } else {
      this.glanceImageId = pulumi.output(undefined);
    }
    this.registerOutputs({ version: this.version, digest: this.digest, imageSpec: this.imageSpec, glanceImageId: this.glanceImageId });
  }
}
