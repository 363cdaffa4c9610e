// Command line of the image builder (root, for the loop devices):
//
//   node --import tsx lab/image-builder/main.ts os <version> [good|panic|unhealthy] [sizeMiB]
//   node --import tsx lab/image-builder/main.ts disk <version> <out.img>
//
// `os` prints the cached image's path, digest and size as JSON; `disk` writes a full
// A/B disk with <version> committed in slot A.

import path from "node:path";
import { buildDisk, copyDisk } from "./disk-image";
import { buildOsImage, type OsVariant } from "./os-image";

function main(argv: string[]): void {
  const [cmd, version, a, b] = argv;
  if (cmd === "os" && version) {
    console.log(JSON.stringify(buildOsImage(version, (a as OsVariant) ?? "good", b ? Number(b) : undefined), null, 2));
    return;
  }
  if (cmd === "disk" && version && a) {
    const cached = buildDisk({ slotA: buildOsImage(version) });
    console.log(copyDisk(cached, path.dirname(path.resolve(a)), path.basename(a)));
    return;
  }
  console.error("usage: main.ts os <version> [good|panic|unhealthy] [sizeMiB] | disk <version> <out.img>");
  process.exit(2);
}

main(process.argv.slice(2));
