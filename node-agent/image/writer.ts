// Writes an image onto a slot's block device and proves what landed there.
//
// - Bytes are copied into a fixed pool of large page-aligned buffers (memory stays at the
//   pool whatever the image size); a full buffer is hashed (SHA-256 of the image as
//   written) and written at its offset, with the next buffers filling meanwhile.
// - The device is opened with O_DIRECT when it takes it: writes go to the device without
//   passing through (and evicting the node's) page cache, and cost a fraction of the CPU.
// - With O_DIRECT, each buffer is read back from the device as soon as its write returns
//   (an O_DIRECT read is served by the device, not from memory) and compared byte for
//   byte with the buffer, which is still the bytes that were hashed; only then is the
//   buffer reused. Equal bytes have the digest that was checked, so this is the SHA-256
//   check of what the device holds, at the cost of a memcmp instead of a second SHA-256
//   pass (which was a fifth of the agent's CPU), and a mismatch names its byte.
// - Every `flushEvery` bytes the written part is flushed (fdatasync) without stopping the
//   writes that follow; the flushed part is then a checkpoint, for resuming. After the
//   last write: fsync. Nothing counts as staged before it returned.
// - SHA-256 and the comparison run in a worker thread (hasher.ts) over the pool, which is
//   shared memory: they are the largest CPU cost of a stage, and off the main thread they
//   run on another core while the main thread decrypts the download.
// - Bytes already on the device when a stage resumes are read back and hashed (one pass
//   serves both digests). A device that refuses O_DIRECT is written through the page
//   cache; a read right after a write would then come from memory, so it is read back and
//   hashed at the end instead, after BLKFLSBUF (`blockdev --flushbufs`) dropped its cached
//   pages.

import { spawn } from "node:child_process";
import fs from "node:fs";
import { AgentError } from "../errors";
import { failpoint } from "../failpoint";
import { type Sink, Staging } from "./flow";
import { Hasher } from "./hasher";

/** Size of each buffer of the pool. 2 MiB: larger ones cost memory and gain nothing measurable. */
export const BUFFER_SIZE = 2 << 20;
/** Buffers in the pool: one filling, the others being written, hashed and read back. */
export const BUFFERS = 4;
/**
 * Read-back buffers, as large as the others. With O_DIRECT each written buffer is read
 * back into one; two keep the reads going while the other is compared. Without it
 * (and for a resumed prefix) one is read while the other is hashed.
 */
const READ_BUFFERS = 2;
/** O_DIRECT offsets, lengths and memory are aligned to this (a multiple of every logical block size in use). */
export const ALIGN = 4096;

/** How to write. */
export interface WriterOptions {
  device: string;
  /** Bytes the device can hold; more is `slot-too-small`. */
  capacity: number;
  /** Continue after this many bytes already on the device and flushed (a multiple of {@link ALIGN}); they are read back and hashed first. */
  startAt?: number;
  /** Flush, checkpoint and read back every this many bytes (0: only at the end). */
  flushEvery?: number;
  /** Called after a flush made bytes 0..`bytes` durable. May throw (the write fails). */
  onCheckpoint?: (bytes: number) => void;
  /** Bytes written so far, after each buffer. */
  onProgress?: (bytes: number) => void;
  /** A failure that happened between calls (a write failed): whoever feeds the writer must stop. */
  onError?: (err: AgentError) => void;
  bufferSize?: number;
  buffers?: number;
  /** Try O_DIRECT (default true). */
  direct?: boolean;
}

/** What was written. */
export interface WriteResult {
  bytes: number;
  /** SHA-256 of the bytes as they were written, lower-case hex. */
  digest: string;
  /**
   * SHA-256 of bytes 0..bytes as read back from the device. With O_DIRECT, the bytes after
   * a resumed prefix were each found equal to the bytes hashed into `digest` (a difference
   * fails the write with `verify-failed`), so it is `digest`; without, a second pass.
   */
  readBack: string;
  /** Whether the device was written with O_DIRECT. */
  direct: boolean;
  /** Milliseconds the final fsync took. */
  syncMs: number;
  /** Milliseconds of reading back after the fsync (without O_DIRECT; 0 with it, where every buffer was read back as it was written). */
  verifyMs: number;
}

const roundUp = (n: number) => Math.ceil(n / ALIGN) * ALIGN;
/** The hasher's streams. */
const WRITTEN = 0;
const READ_BACK = 1;

/**
 * Page-aligned shared memory: page-aligned for O_DIRECT, shared so that the hash worker
 * reads it where it is. A Buffer's or a SharedArrayBuffer's memory comes from malloc (16-byte
 * alignment); the memory of a WebAssembly.Memory starts on a page boundary.
 */
export function alignedMemory(bytes: number): Buffer {
  const pages = Math.ceil(bytes / 65536);
  try {
    const wasm = (
      globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number; shared: boolean }) => { buffer: SharedArrayBuffer } } }
    ).WebAssembly;
    return Buffer.from(new wasm.Memory({ initial: pages, maximum: pages, shared: true }).buffer, 0, bytes);
  } catch {
    // No WebAssembly: O_DIRECT may then refuse the memory, and the writer falls back to the page cache.
    return Buffer.from(new SharedArrayBuffer(bytes));
  }
}

// One stage runs at a time: its pool is kept for the next one instead of waiting for the GC.
let spare: Buffer | undefined;
function takeMemory(bytes: number): Buffer {
  if (spare && spare.length === bytes) {
    const m = spare;
    spare = undefined;
    return m;
  }
  return alignedMemory(bytes);
}

function ioError(what: string, err: unknown): AgentError {
  if (err instanceof AgentError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  return new AgentError(code === "ENOSPC" ? "no-space" : "write-failed", `write: ${what}: ${(err as Error).message}`, { cause: err });
}

function verifyError(what: string, err: unknown): AgentError {
  return new AgentError("verify-failed", `verify: ${what}: ${(err as Error).message}`, { cause: err });
}

function hashError(err: unknown): AgentError {
  return new AgentError("internal", `write: SHA-256: ${(err as Error).message}`, { cause: err });
}

/** Drops the device's cached pages (BLKFLSBUF), so that reads come from the device. */
function flushBuffers(device: string): Promise<void> {
  return new Promise((resolve) => {
    const p = spawn("blockdev", ["--flushbufs", device], { stdio: "ignore" });
    p.on("error", () => resolve());
    p.on("close", () => resolve());
  });
}

/** The slot writer: a {@link Sink} for the image's bytes. */
export class SlotWriter implements Sink {
  onDrain: () => void = () => {};
  /** Whether the device took O_DIRECT. */
  direct = false;
  private fd = -1;
  private vfd = -1;
  private readonly staging: Staging;
  /** Read-back buffers not being read or hashed. */
  private readonly vfree: Buffer[] = [];
  /** Stream {@link WRITTEN}: SHA-256 of the bytes as written; {@link READ_BACK}: of the bytes read back. */
  private readonly hasher: Hasher;
  /** Bytes handed to writes. */
  private pos = 0;
  /** Bytes 0..writtenTo are written (every write below returned). */
  private writtenTo = 0;
  private readonly doneRanges = new Map<number, number>();
  private flushedTo = 0;
  /** Bytes 0..readTo are read back (and handed to the hasher). */
  private readTo = 0;
  /** Bytes 0..verifiedTo are read back and hashed. */
  private verifiedTo = 0;
  private verifyTarget = 0;
  /** O_DIRECT: written buffers waiting for a read-back buffer, in the order written. */
  private readonly toCompare: { buf: Buffer; at: number; len: number; bytes: number; done: () => void }[] = [];
  /** Read-backs under way (each holds a written buffer and a read-back buffer). */
  private comparing = 0;
  /** O_DIRECT: image bytes read back and found equal to the ones written (after the resumed prefix). */
  private comparedBytes = 0;
  /** Bytes that were on the device before this writer (a resumed stage). */
  private prefix = 0;
  private writes = 0;
  /** Hash updates under way (the worker still reads their memory). */
  private hashing = 0;
  private flushing = false;
  private reading = false;
  private closing = false;
  private closed = false;
  private error: AgentError | undefined;
  private notified = false;
  private waiters: { ready: () => boolean; resolve: () => void }[] = [];
  private readonly flushEvery: number;

  private constructor(
    private readonly opts: WriterOptions,
    private readonly memory: Buffer,
    size: number,
    count: number,
  ) {
    const buffers: Buffer[] = [];
    for (let i = 0; i < count; i++) buffers.push(memory.subarray(i * size, (i + 1) * size));
    this.staging = new Staging(buffers, (buf, len) => this.submit(buf, len));
    this.staging.onDrain = () => this.onDrain();
    for (let i = count; i < count + READ_BUFFERS; i++) this.vfree.push(memory.subarray(i * size, (i + 1) * size));
    this.flushEvery = opts.flushEvery ?? 0;
    this.hasher = Hasher.acquire(memory.buffer as SharedArrayBuffer, 2);
  }

  /** Opens the device; with `startAt`, reads back and hashes the bytes already there. */
  static async open(opts: WriterOptions): Promise<SlotWriter> {
    const size = opts.bufferSize ?? BUFFER_SIZE;
    const count = opts.buffers ?? BUFFERS;
    const startAt = opts.startAt ?? 0;
    if (size % ALIGN || count < 2 || startAt % ALIGN) throw new AgentError("internal", "write: buffer size and resume point must be multiples of 4096");
    const w = new SlotWriter(opts, takeMemory((count + READ_BUFFERS) * size), size, count);
    try {
      w.openDevice();
      await w.hashPrefix(startAt);
    } catch (err) {
      await w.close();
      throw err;
    }
    return w;
  }

  private openDevice(): void {
    const { device } = this.opts;
    if (this.opts.direct !== false) {
      try {
        this.fd = fs.openSync(device, fs.constants.O_RDWR | fs.constants.O_DIRECT);
        // An aligned read proves that both the device and this memory take O_DIRECT.
        fs.readSync(this.fd, this.vfree[0] as Buffer, 0, ALIGN, 0);
        this.vfd = fs.openSync(device, fs.constants.O_RDONLY | fs.constants.O_DIRECT);
        this.direct = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EINVAL") throw ioError(`open ${device}`, err);
        if (this.fd >= 0) fs.closeSync(this.fd);
        this.fd = -1;
      }
    }
    try {
      this.fd = fs.openSync(device, "r+");
      this.vfd = fs.openSync(device, "r");
    } catch (err) {
      throw ioError(`open ${device}`, err);
    }
  }

  private async hashPrefix(startAt: number): Promise<void> {
    if (startAt > 0) {
      // Flushed before the agent stopped; read from the device, so it counts as read back too.
      this.verifyTo(startAt);
      await this.until(() => this.verifiedTo >= startAt || !!this.error);
      this.throwIfFailed();
      // The bytes are the same for both digests: the write side continues from this state.
      this.hasher.copy(READ_BACK, WRITTEN);
      if (!this.direct) {
        // Through the page cache it was not a read from the device: read everything back at the end.
        this.hasher.reset(READ_BACK);
        this.verifiedTo = this.readTo = this.verifyTarget = 0;
      }
    }
    this.pos = this.writtenTo = this.flushedTo = this.prefix = startAt;
  }

  write(chunk: Buffer): boolean {
    this.throwIfFailed();
    return this.staging.write(chunk);
  }

  private submit(buf: Buffer, len: number): void {
    const at = this.pos;
    if (at + len > this.opts.capacity) {
      throw this.fail(new AgentError("slot-too-small", `write: the image is larger than the slot (${this.opts.capacity} bytes)`), false);
    }
    let wlen = len;
    if (this.direct && len % ALIGN) {
      // The tail of an image that is not a multiple of the block size: pad it with zeros
      // (within the slot; what follows the image there is not part of it). The hash reads
      // only the image's bytes, so padding while it runs is safe.
      wlen = Math.min(roundUp(len), this.opts.capacity - at);
      buf.fill(0, len, wlen);
    }
    this.pos = at + len;
    // The buffer is free again once it is both written and hashed, in whichever order.
    let uses = 2;
    const used = () => {
      if (--uses === 0) this.reuse(buf);
    };
    this.hashing++;
    this.hasher.update(WRITTEN, buf.subarray(0, len), (err) => {
      this.hashing--;
      if (err) this.fail(hashError(err), true);
      else used();
      this.settle();
    });
    this.writes++;
    let off = 0;
    const step = () =>
      fs.write(this.fd, buf, off, wlen - off, at + off, (err, n) => {
        if (!err && n > 0 && off + n < wlen) {
          off += n;
          step();
          return;
        }
        this.writes--;
        if (err || n === 0) this.fail(ioError(`${this.opts.device} at byte ${at + off}`, err ?? new Error("wrote nothing")), true);
        else {
          this.written(at, at + len);
          if (this.direct) this.compareBack(buf, at, wlen, len, used);
          else used();
        }
        this.settle();
      });
    step();
  }

  private written(from: number, to: number): void {
    this.doneRanges.set(from, to);
    for (let end = this.doneRanges.get(this.writtenTo); end !== undefined; end = this.doneRanges.get(this.writtenTo)) {
      this.doneRanges.delete(this.writtenTo);
      this.writtenTo = end;
    }
    this.opts.onProgress?.(this.writtenTo);
    this.maybeFlush();
  }

  /** A written and hashed buffer goes back to the staging. */
  private reuse(buf: Buffer): void {
    if (this.error) return;
    try {
      // Takes bytes that waited for a buffer (which may fill and submit buffers) and asks for more.
      this.staging.release(buf);
    } catch (err) {
      this.fail(err, true);
    }
  }

  private maybeFlush(): void {
    // On a block boundary (the tail of the image is flushed by finish()): a checkpoint is where a resumed write starts.
    const target = this.writtenTo - (this.writtenTo % ALIGN);
    if (this.flushing || this.error || this.closing || this.flushEvery <= 0 || target - this.flushedTo < this.flushEvery) return;
    this.flushing = true;
    fs.fdatasync(this.fd, (err) => {
      this.flushing = false;
      if (err) this.fail(ioError(`fdatasync ${this.opts.device}`, err), true);
      else if (!this.error) {
        this.flushedTo = target;
        try {
          this.opts.onCheckpoint?.(target);
          failpoint("stage:checkpoint");
          this.maybeFlush();
        } catch (e) {
          this.fail(e, true);
        }
      }
      this.settle();
    });
  }

  /** O_DIRECT: reads `len` bytes at `at` back from the device and compares them with `buf` (`bytes` of them image), which was written there; then `done`. */
  private compareBack(buf: Buffer, at: number, len: number, bytes: number, done: () => void): void {
    this.toCompare.push({ buf, at, len, bytes, done });
    this.nextCompare();
  }

  private nextCompare(): void {
    while (this.toCompare.length && this.vfree.length && !this.error && !this.closing) {
      const job = this.toCompare.shift() as (typeof this.toCompare)[number];
      const vbuf = this.vfree.pop() as Buffer;
      this.comparing++;
      this.readFully(vbuf, job.len, job.at, (err) => {
        if (err || this.error) {
          this.comparing--;
          if (err) this.fail(err, true);
          this.vfree.push(vbuf);
          this.settle();
          return;
        }
        this.hasher.compare(vbuf.subarray(0, job.len), job.buf.subarray(0, job.len), (herr, i) => {
          this.comparing--;
          if (herr) this.fail(hashError(herr), true);
          else if (i < 0) {
            this.comparedBytes += job.bytes;
            job.done();
          } else {
            const byte = (b: Buffer) => `0x${(b[i] as number).toString(16).padStart(2, "0")}`;
            this.fail(
              new AgentError("verify-failed", `verify: read back from ${this.opts.device}: byte ${job.at + i} is ${byte(vbuf)}, written ${byte(job.buf)}`),
              true,
            );
          }
          this.vfree.push(vbuf);
          this.nextCompare();
          this.settle();
        });
      });
    }
  }

  /** Reads `len` bytes at `at` into `vbuf`, in as many reads as the device takes. */
  private readFully(vbuf: Buffer, len: number, at: number, done: (err?: AgentError) => void): void {
    let off = 0;
    const step = () =>
      fs.read(this.vfd, vbuf, off, len - off, at + off, (err, n) => {
        if (err) return done(verifyError(`read ${this.opts.device} at byte ${at + off}`, err));
        if (n === 0) return done(verifyError(`read ${this.opts.device}`, new Error(`the device ended at byte ${at + off}`)));
        off += n;
        if (off < len) step();
        else done();
      });
    step();
  }

  /**
   * Reads back and hashes bytes up to `target` (flushed ones only), one read at a time
   * into a free read-back buffer; the next read goes on while the last one is hashed.
   */
  private verifyTo(target: number): void {
    this.verifyTarget = Math.max(this.verifyTarget, target);
    if (this.reading || this.error || this.closing || this.readTo >= this.verifyTarget) return;
    const vbuf = this.vfree.pop();
    if (!vbuf) return;
    const at = this.readTo;
    const want = Math.min(vbuf.length, this.verifyTarget - at);
    const len = this.direct ? Math.min(roundUp(want), this.opts.capacity - at) : want;
    this.reading = true;
    fs.read(this.vfd, vbuf, 0, len, at, (err, n) => {
      this.reading = false;
      if (err) this.fail(verifyError(`read ${this.opts.device} at byte ${at}`, err), true);
      else if (n === 0) this.fail(verifyError(`read ${this.opts.device}`, new Error(`the device ended at byte ${at}`)), true);
      else if (!this.error) {
        const end = at + Math.min(n, want);
        this.readTo = end;
        this.hashBack(vbuf, end - at, end);
        this.verifyTo(this.verifyTarget);
      }
      this.settle();
    });
  }

  /** Hashes `len` read-back bytes that end at byte `end`, then frees their buffer. */
  private hashBack(vbuf: Buffer, len: number, end: number): void {
    this.hashing++;
    this.hasher.update(READ_BACK, vbuf.subarray(0, len), (err) => {
      this.hashing--;
      if (err) this.fail(hashError(err), true);
      else {
        // The hasher works in order, so read-back buffers are done in order.
        this.verifiedTo = end;
        this.vfree.push(vbuf);
        this.verifyTo(this.verifyTarget);
      }
      this.settle();
    });
  }

  /**
   * The input is complete: writes what is left, waits for the writes (and with O_DIRECT
   * their read-back), fsyncs, without O_DIRECT reads everything back, and returns both digests.
   */
  async finish(): Promise<WriteResult> {
    await this.until(() => !this.staging.stashed || !!this.error);
    this.throwIfFailed();
    this.staging.flushTail();
    await this.until(() => (this.writes === 0 && !this.flushing && this.comparing === 0 && this.toCompare.length === 0) || !!this.error);
    this.throwIfFailed();
    failpoint("stage:written");
    const syncStarted = Date.now();
    await new Promise<void>((resolve, reject) => fs.fsync(this.fd, (err) => (err ? reject(ioError(`fsync ${this.opts.device}`, err)) : resolve())));
    failpoint("stage:synced");
    const started = Date.now();
    this.flushedTo = this.pos;
    if (!this.direct) {
      await flushBuffers(this.opts.device);
      this.verifyTo(this.pos);
      await this.until(() => (this.verifiedTo >= this.pos && !this.reading) || !!this.error);
      this.throwIfFailed();
    }
    // With O_DIRECT the READ_BACK stream held a resumed prefix only (copied into WRITTEN);
    // every later byte was compared, so the bytes read back are the bytes hashed.
    if (this.direct && this.comparedBytes !== this.pos - this.prefix)
      throw this.fail(new AgentError("verify-failed", `verify: ${this.comparedBytes} of ${this.pos - this.prefix} bytes written were read back`), false);
    // The hasher takes each digest after every update given to it.
    let digest: string;
    let readBack: string;
    try {
      digest = await this.hasher.digest(WRITTEN);
      readBack = this.direct ? digest : await this.hasher.digest(READ_BACK);
    } catch (err) {
      throw this.fail(hashError(err), false);
    }
    return { bytes: this.pos, digest, readBack, direct: this.direct, syncMs: started - syncStarted, verifyMs: Date.now() - started };
  }

  /** Waits for the I/O and hashing under way, closes the device and keeps the pool and the hash worker for the next writer. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    this.staging.stop();
    await this.until(() => this.writes === 0 && !this.flushing && !this.reading && this.comparing === 0 && this.hashing === 0);
    if (this.closed) return;
    this.closed = true;
    for (const fd of [this.fd, this.vfd]) if (fd >= 0) fs.closeSync(fd);
    this.fd = this.vfd = -1;
    this.hasher.release();
    spare = this.memory;
  }

  /** Records the first failure; `notify`: it happened between calls, so tell the feeder (`onError`). */
  private fail(err: unknown, notify: boolean): AgentError {
    this.error ??= err instanceof AgentError ? err : ioError(this.opts.device, err);
    this.staging.stop();
    if (notify && !this.notified) {
      this.notified = true;
      this.opts.onError?.(this.error);
    }
    this.settle();
    return this.error;
  }

  private throwIfFailed(): void {
    if (this.error) throw this.error;
  }

  private until(ready: () => boolean): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ ready, resolve }));
  }

  private settle(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) {
      if (w.ready()) w.resolve();
      else this.waiters.push(w);
    }
  }
}
