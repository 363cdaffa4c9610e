import fs from "node:fs";
import path from "node:path";
import { failpoint } from "./failpoint";

/**
 * Replaces `file` with `data` so that after a crash at any moment the file holds either
 * the old or the new bytes: write a temporary file in the same directory, fsync it,
 * rename it over the old one, fsync the directory. `name` prefixes the failpoints.
 */
export function writeFileAtomic(file: string, data: Buffer | string, name: string, mode = 0o644): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.tmp`);
  const fd = fs.openSync(tmp, "w", mode);
  try {
    fs.writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  failpoint(`${name}:tmp-written`);
  fs.renameSync(tmp, file);
  failpoint(`${name}:renamed`);
  const dfd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(dfd);
  } finally {
    fs.closeSync(dfd);
  }
}
