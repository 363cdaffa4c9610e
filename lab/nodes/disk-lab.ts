// What a fleet of real-agent lab nodes shares: the OS images of the versions the lab
// offers (built by the image builder, small and without a kernel: lab machines boot
// them through firmware.ts, not QEMU), the lab disk every machine copies, an HTTPS image
// server with its own lab CA serving those images, and the agent bundled once.

import fs from "node:fs";
import path from "node:path";
import type { ImageSpec } from "../../controller/api/types";
import { buildDisk } from "../image-builder/disk-image";
import { buildOsImage, type OsImage, type OsVariant } from "../image-builder/os-image";
import { bundleAgent } from "./agent-process";
import { DiskMachine } from "./disk-machine";
import { type ImageServer, startImageServer } from "./image-server";

/**
 * The versions a lab offers by default: 1.0.0 (what new disks hold) and 1.1.0 are good,
 * 1.2.0 boots but fails the nodes' health check, 1.3.0 panics at boot.
 */
export const LAB_VERSIONS: Readonly<Record<string, OsVariant>> = { "1.0.0": "good", "1.1.0": "good", "1.2.0": "unhealthy", "1.3.0": "panic" };

/** Options of {@link startDiskLab}. */
export interface DiskLabOptions {
  /** Working directory (PKI, agent bundle, one directory per machine). */
  dir: string;
  /** Versions and how each behaves. Default {@link LAB_VERSIONS}. */
  versions?: Readonly<Record<string, OsVariant>>;
  /** The version committed in slot A of every new machine's disk; one of `versions`. Default `1.0.0`. */
  initial?: string;
  /** Size of each OS image. Default 4 MiB. */
  imageMiB?: number;
  /** Size of each root slot. Default 8 MiB. */
  slotMiB?: number;
  /** Boot tries the agents give an activated slot. Default: the agent's (3). */
  tries?: number;
  /** Loopback port of the image server. Default: any free one. */
  imagePort?: number;
}

/** Images, disk, image server and agent bundle of a real-agent lab. */
export interface DiskLab {
  readonly dir: string;
  /** The cached lab disk (the initial version committed in slot A); machines copy it. */
  readonly disk: string;
  /** The version new machines boot unless told otherwise. */
  readonly initial: string;
  /** The images by version. */
  readonly images: ReadonlyMap<string, OsImage>;
  readonly server: ImageServer;
  readonly agentBundle: string;
  /** The image spec of a version for a rollout: its URL on the image server, digest and size. */
  image(version: string): ImageSpec;
  /**
   * A new machine named `name`, in its own directory, with its own copy of a disk on a
   * loop device whose slot A holds `version` committed (default: `initial`).
   */
  machine(name: string, version?: string): DiskMachine;
  /** Stops the image server (machines are disposed of by their nodes). */
  stop(): Promise<void>;
}

/** Builds (or takes from the cache) the images and the disk, starts the image server and bundles the agent. */
export async function startDiskLab(o: DiskLabOptions): Promise<DiskLab> {
  const versions = o.versions ?? LAB_VERSIONS;
  const initial = o.initial ?? "1.0.0";
  if (!(initial in versions)) throw new Error(`disk lab: the initial version ${initial} is not one of ${Object.keys(versions).join(", ")}`);
  fs.mkdirSync(o.dir, { recursive: true });
  const images = new Map<string, OsImage>();
  for (const [version, variant] of Object.entries(versions)) images.set(version, buildOsImage(version, variant, o.imageMiB ?? 4, { kernel: false }));
  // One cached disk per version new machines start on, built when first asked for.
  const diskOf = (version: string): string => {
    const image = images.get(version);
    if (!image) throw new Error(`disk lab: no image of version ${version}`);
    return buildDisk({ slotA: image, slotMiB: o.slotMiB ?? 8 });
  };
  const disk = diskOf(initial);
  const agentBundle = await bundleAgent(o.dir);
  const server = await startImageServer(o.dir, undefined, o.imagePort === undefined ? {} : { port: o.imagePort });
  const urlPath = (version: string) => `/images/${version}.img`;
  for (const [version, image] of images) server.files.set(urlPath(version), image.path);
  return {
    dir: o.dir,
    disk,
    initial,
    images,
    server,
    agentBundle,
    image(version) {
      const img = images.get(version);
      if (!img) throw new Error(`disk lab: no image of version ${version}`);
      return { version, url: server.url(urlPath(version)), digest: img.digest, sizeBytes: img.size };
    },
    machine(name, version = initial) {
      return new DiskMachine({
        dir: path.join(o.dir, "machines", name),
        disk: diskOf(version),
        agentBundle,
        caFile: server.caFile,
        ...(o.tries ? { tries: o.tries } : {}),
      });
    },
    stop: () => server.close(),
  };
}
