// Writes an image stream onto a slot's block device, hashing while writing, with one
// write in flight while the next buffer fills (memory stays at two buffers whatever the
// image size), periodic fdatasync checkpoints for resuming, a final fsync, and a
// read-back of what landed on the device.

import { spawnSync } from "node:child_process";
import { createHash, type Hash } from "node:crypto";
import fs from "node:fs";
import { promisify } from "node:util";
import { AgentError } from "../errors";
import { failpoint } from "../failpoint";

const write = promisify(fs.write);
const fdatasync = promisify(fs.fdatasync);
const fsync = promisify(fs.fsync);
const read = promisify(fs.read);

/** Default size of each of the two write buffers. */
export const WRITE_BUFFER = 4 << 20;

/** How to write. */
export interface WriteOptions {
  device: string;
  /** Bytes the device can hold; more is `slot-too-small`. */
  capacity: number;
  /** Continue after this many bytes already on the device (their hash is recomputed from it). */
  startAt?: number;
  /** Flush and call `onCheckpoint` every this many bytes (0: never). */
  checkpointEvery?: number;
  onCheckpoint?: (bytes: number) => void;
  /** Called with the bytes written so far after each buffer. */
  onProgress?: (bytes: number) => void;
  bufferSize?: number;
}

/** What was written. */
export interface WriteResult {
  bytes: number;
  /** SHA-256 of bytes 0..bytes of the device, lower-case hex. */
  digest: string;
}

function ioError(what: string, err: unknown): AgentError {
  const code = (err as NodeJS.ErrnoException).code;
  return new AgentError(code === "ENOSPC" ? "no-space" : "write-failed", `write: ${what}: ${(err as Error).message}`, { cause: err });
}

/** Hashes bytes 0..length of a device into `hash`, reading with large buffers. */
export async function hashDevice(fd: number, length: number, hash: Hash, bufferSize = WRITE_BUFFER): Promise<void> {
  const buf = Buffer.allocUnsafe(bufferSize);
  let pos = 0;
  while (pos < length) {
    const { bytesRead } = await read(fd, buf, 0, Math.min(bufferSize, length - pos), pos);
    if (bytesRead === 0) throw new Error(`device ended at byte ${pos} of ${length}`);
    hash.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
}

/** Writes `chunks` to the device. */
export async function writeImage(chunks: AsyncIterable<Buffer>, opts: WriteOptions): Promise<WriteResult> {
  const size = opts.bufferSize ?? WRITE_BUFFER;
  const hash = createHash("sha256");
  let fd: number;
  try {
    fd = fs.openSync(opts.device, "r+");
  } catch (err) {
    throw ioError(`open ${opts.device}`, err);
  }
  try {
    let pos = opts.startAt ?? 0;
    if (pos > 0) await hashDevice(fd, pos, hash, size);
    const buffers = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)];
    let cur = 0;
    let fill = 0;
    let inFlight: Promise<unknown> = Promise.resolve();
    let lastCheckpoint = pos;
    const every = opts.checkpointEvery ?? 0;

    const flush = async () => {
      if (fill === 0) return;
      const buf = buffers[cur] as Buffer;
      const len = fill;
      const at = pos;
      if (at + len > opts.capacity) throw new AgentError("slot-too-small", `write: the image is larger than the slot (${opts.capacity} bytes)`);
      await inFlight;
      inFlight = (async () => {
        let off = 0;
        while (off < len) {
          const { bytesWritten } = await write(fd, buf, off, len - off, at + off);
          off += bytesWritten;
        }
      })().catch((err) => {
        throw ioError(`${opts.device} at byte ${at}`, err);
      });
      // Keep the rejection observed until the next await of inFlight.
      inFlight.catch(() => {});
      pos += len;
      cur ^= 1;
      fill = 0;
      opts.onProgress?.(pos);
      if (every > 0 && pos - lastCheckpoint >= every) {
        await inFlight;
        await fdatasync(fd).catch((err) => {
          throw ioError(`fdatasync ${opts.device}`, err);
        });
        lastCheckpoint = pos;
        opts.onCheckpoint?.(pos);
        failpoint("stage:checkpoint");
      }
    };

    for await (const chunk of chunks) {
      hash.update(chunk);
      let off = 0;
      while (off < chunk.length) {
        const n = Math.min(size - fill, chunk.length - off);
        chunk.copy(buffers[cur] as Buffer, fill, off, off + n);
        fill += n;
        off += n;
        if (fill === size) await flush();
      }
    }
    await flush();
    await inFlight;
    failpoint("stage:written");
    await fsync(fd).catch((err) => {
      throw ioError(`fsync ${opts.device}`, err);
    });
    failpoint("stage:synced");
    return { bytes: pos, digest: hash.digest("hex") };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads bytes 0..length back from the device and returns their SHA-256. The device's
 * page cache is dropped first (BLKFLSBUF via `blockdev --flushbufs`), so the bytes come
 * from the device rather than from memory the writes left behind.
 */
export async function readBack(device: string, length: number): Promise<string> {
  spawnSync("blockdev", ["--flushbufs", device], { stdio: "ignore" });
  const hash = createHash("sha256");
  let fd: number;
  try {
    fd = fs.openSync(device, "r");
  } catch (err) {
    throw new AgentError("verify-failed", `verify: open ${device}: ${(err as Error).message}`, { cause: err });
  }
  try {
    await hashDevice(fd, length, hash);
  } catch (err) {
    throw new AgentError("verify-failed", `verify: read ${device}: ${(err as Error).message}`, { cause: err });
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest("hex");
}
