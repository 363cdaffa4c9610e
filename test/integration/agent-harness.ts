// Helpers for the agent's L3/L4 tests: loop-backed lab disks, an HTTPS image server on
// 127.0.0.1 with Range/ETag support and fault injection, and the agent as a real
// process (so it can be SIGKILLed) serving on a socket in the test's directory. The lab
// nodes run the same agent process, disks and image server, so those live in lab/nodes/
// and are re-exported here for the tests; what only tests need stays in this file.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { cacheDir, type OsImage } from "../../lab/image-builder/os-image";

export { type AgentProcess, startAgent } from "../../lab/nodes/agent-process";
export { type Fault, type ImageServer, type SeenRequest, startImageServer } from "../../lab/nodes/image-server";
export { labLoopDisk, readDisk, releaseLoop } from "../../lab/nodes/lab-disk";

/** Compressed copies of an image, cached next to it. */
export function compressed(image: OsImage, format: "gzip" | "zstd" | "xz"): string {
  const out = path.join(cacheDir(), `${path.basename(image.path)}.${format === "gzip" ? "gz" : format === "zstd" ? "zst" : "xz"}`);
  if (fs.existsSync(out)) return out;
  const cmd = format === "gzip" ? ["gzip", "-1", "-c"] : format === "zstd" ? ["zstd", "-1", "-q", "-c"] : ["xz", "-1", "-T1", "-c"];
  const data = execFileSync(cmd[0] as string, [...cmd.slice(1), image.path], { maxBuffer: 256 << 20 });
  fs.writeFileSync(`${out}.tmp`, data);
  fs.renameSync(`${out}.tmp`, out);
  return out;
}

/** SHA-256 of the first `bytes` bytes of a device. */
export function hashDevice(device: string, bytes: number): string {
  const fd = fs.openSync(device, "r");
  try {
    const h = createHash("sha256");
    const buf = Buffer.alloc(4 << 20);
    for (let pos = 0; pos < bytes; ) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, bytes - pos), pos);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      pos += n;
    }
    return h.digest("hex");
  } finally {
    fs.closeSync(fd);
  }
}
