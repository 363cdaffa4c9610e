// Builds the controller's and the proxy's container images as OCI image layouts, with no
// container engine: esbuild bundles each entry point into one file, and each image is two
// layers, the Node.js runtime (this node and the shared libraries it links) and the
// bundle at the path the UpgradeController's Deployment and DaemonSet run
// (components/controller-manifests.ts). The layers are reproducible tar files (sorted,
// mtime 0, owner 0), so a rebuild from the same sources and node gives the same digests.
//
//   npm run build:images [-- --out dist/images]     (node --import tsx controller/build-images.ts)
//
// Gives <out>/controller and <out>/proxy, each tagged with the package version; push them
// with any OCI tool, for example
//   skopeo copy oci:dist/images/controller:0.1.0 docker://registry.example/twinroot/controller:0.1.0

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { CONTROLLER_ENTRYPOINT, PROXY_ENTRYPOINT } from "../components/controller-manifests";
import { bundleEntry } from "./bundle";

const root = path.resolve(__dirname, "..");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { name: string; version: string; license?: string };

/** Unprivileged, as distroless images run (the same uid as their `nonroot`). */
const NONROOT = 65532;
const EPOCH = "1970-01-01T00:00:00Z";
const ARCH = ({ x64: "amd64", arm64: "arm64" } as Record<string, string>)[process.arch];
if (!ARCH) throw new Error(`build-images: no OCI architecture for ${process.arch}`);

/** The images: entry points as the manifests run them (`node <entry>`). */
export const IMAGES = [
  { name: "controller", source: "controller/main.ts", entry: CONTROLLER_ENTRYPOINT, title: "twinroot upgrade controller" },
  { name: "proxy", source: "controller/proxy/main.ts", entry: PROXY_ENTRYPOINT, title: "twinroot node proxy" },
] as const;
type Image = (typeof IMAGES)[number];
interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

const log = (msg: string) => process.stderr.write(`[build-images] ${msg}\n`);
const sha256 = (buf: Buffer) => createHash("sha256").update(buf).digest("hex");

/** The shared libraries `node` loads, and the dynamic loader, as `ldd` names them. */
function runtimeLibraries(binary: string): string[] {
  const text = execFileSync("ldd", [binary], { encoding: "utf8" });
  const libs: string[] = [];
  for (const line of text.split("\n")) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m?.[1]) libs.push(m[1]);
  }
  if (!libs.some((l) => l.includes("ld-linux"))) throw new Error(`build-images: ldd ${binary} names no dynamic loader:\n${text}`);
  return libs;
}

/** A reproducible, uncompressed tar of `dir`'s contents. */
function tarOf(dir: string): Buffer {
  const entries = fs.readdirSync(dir).sort();
  return execFileSync(
    "tar",
    ["--create", "--file=-", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "--format=gnu", "--directory", dir, ...entries],
    { maxBuffer: 1 << 30 },
  );
}

/** Writes a blob into the layout; returns its descriptor. */
function blob(layout: string, mediaType: string, data: Buffer): Descriptor {
  const digest = sha256(data);
  fs.writeFileSync(path.join(layout, "blobs", "sha256", digest), data);
  return { mediaType, digest: `sha256:${digest}`, size: data.length };
}

/** A layer from a staging directory: its descriptor and the digest of its uncompressed tar. */
function layer(layout: string, dir: string): { descriptor: Descriptor; diffId: string } {
  const tar = tarOf(dir);
  // Node's gzip header carries no name and mtime 0: the same tar gives the same blob.
  const gz = zlib.gzipSync(tar, { level: 6 });
  return { descriptor: blob(layout, "application/vnd.oci.image.layer.v1.tar+gzip", gz), diffId: `sha256:${sha256(tar)}` };
}

function stageRuntime(dir: string): void {
  const node = fs.realpathSync(process.execPath);
  fs.mkdirSync(path.join(dir, "usr", "local", "bin"), { recursive: true });
  fs.copyFileSync(node, path.join(dir, "usr", "local", "bin", "node"));
  fs.chmodSync(path.join(dir, "usr", "local", "bin", "node"), 0o755);
  for (const lib of runtimeLibraries(node)) {
    const to = path.join(dir, lib);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(fs.realpathSync(lib), to);
    fs.chmodSync(to, 0o755);
  }
  fs.mkdirSync(path.join(dir, "etc"));
  fs.writeFileSync(path.join(dir, "etc", "passwd"), `root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:${NONROOT}:${NONROOT}:nonroot:/tmp:/sbin/nologin\n`);
  fs.writeFileSync(path.join(dir, "etc", "group"), `root:x:0:\nnonroot:x:${NONROOT}:\n`);
  fs.writeFileSync(path.join(dir, "etc", "hosts"), "127.0.0.1 localhost\n::1 localhost\n");
  fs.mkdirSync(path.join(dir, "tmp"));
  fs.chmodSync(path.join(dir, "tmp"), 0o1777);
}

function stageApp(dir: string, image: Image, bundle: string): void {
  const to = path.join(dir, image.entry);
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(bundle, to);
  fs.chmodSync(to, 0o644);
  // The bundle is CommonJS whatever the package's type.
  fs.writeFileSync(path.join(dir, "app", "package.json"), `${JSON.stringify({ name: pkg.name, version: pkg.version, private: true }, null, 2)}\n`);
}

async function buildImage(out: string, image: Image, work: string): Promise<void> {
  const layout = path.join(out, image.name);
  fs.rmSync(layout, { recursive: true, force: true });
  fs.mkdirSync(path.join(layout, "blobs", "sha256"), { recursive: true });

  const bundle = await bundleEntry(path.join(root, image.source), path.join(work, `${image.name}.cjs`));
  const runtimeDir = path.join(work, `${image.name}-runtime`);
  const appDir = path.join(work, `${image.name}-app`);
  fs.mkdirSync(runtimeDir);
  fs.mkdirSync(appDir);
  stageRuntime(runtimeDir);
  stageApp(appDir, image, bundle);
  const layers = [layer(layout, runtimeDir), layer(layout, appDir)];

  const labels = {
    "org.opencontainers.image.title": image.title,
    "org.opencontainers.image.version": pkg.version,
    "org.opencontainers.image.licenses": pkg.license ?? "",
  };
  const config = {
    created: EPOCH,
    architecture: ARCH,
    os: "linux",
    config: {
      User: `${NONROOT}:${NONROOT}`,
      Env: ["PATH=/usr/local/bin:/usr/bin:/bin", "NODE_ENV=production"],
      Cmd: ["node", image.entry],
      WorkingDir: "/app",
      Labels: labels,
    },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history: [
      { created: EPOCH, created_by: `controller/build-images.ts: node ${process.version} and the libraries it links` },
      { created: EPOCH, created_by: `controller/build-images.ts: ${image.source} bundled to ${image.entry}` },
    ],
  };
  const configDesc = blob(layout, "application/vnd.oci.image.config.v1+json", Buffer.from(JSON.stringify(config)));
  const manifest = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: configDesc,
    layers: layers.map((l) => l.descriptor),
    annotations: labels,
  };
  const manifestDesc = blob(layout, "application/vnd.oci.image.manifest.v1+json", Buffer.from(JSON.stringify(manifest)));
  const index = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{ ...manifestDesc, platform: { architecture: ARCH, os: "linux" }, annotations: { "org.opencontainers.image.ref.name": pkg.version } }],
  };
  fs.writeFileSync(path.join(layout, "index.json"), JSON.stringify(index));
  fs.writeFileSync(path.join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const mib = (n: number) => (n / 2 ** 20).toFixed(1);
  log(`${path.relative(root, layout)}:${pkg.version}  ${manifestDesc.digest}  layers ${layers.map((l) => `${mib(l.descriptor.size)} MiB`).join(" + ")}`);
}

/** Builds every image into `out` (one OCI layout per image). */
export async function buildImages(out: string): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-images-"));
  try {
    for (const image of IMAGES) await buildImage(out, image, work);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const at = args.indexOf("--out");
  buildImages(path.resolve(root, at === -1 ? "dist/images" : (args[at + 1] ?? "dist/images"))).catch((err: Error) => {
    process.stderr.write(`build-images: ${err.message}\n`);
    process.exit(1);
  });
}
