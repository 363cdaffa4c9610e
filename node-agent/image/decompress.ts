// On-the-fly decompression of an image stream, as a sink in front of the slot writer.
// The format is taken from the first bytes (magic numbers), not from the URL, and the
// image goes through the format's program (`gzip -dc`, `zstd -dc`, `xz -dc`; image-based
// OSes ship all three, and Node 20 has neither zstd nor xz built in). The program runs on
// another core while the agent hashes and writes.
//
// No allocation per chunk either way (the garbage would pile up to tens of MiB before the
// GC runs): the compressed bytes are copied into a few reused buffers for the program's
// stdin, and its output comes over a Unix socket pair read into one reused buffer (a pipe
// from child_process would hand over a new Buffer per read). Backpressure both ways: a
// slow slot stops reading the program's output, a busy program pauses the download.

import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import net from "node:net";
import { AgentError } from "../errors";
import type { Compression } from "../rpc/protocol";
import { borrow, giveBack, type Sink, Staging } from "./flow";

/** The concrete formats. */
export type Format = Exclude<Compression, "auto">;

/** Detects the format from the first bytes (at least 6). */
export function sniffFormat(head: Buffer): Format {
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return "zstd";
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return "xz";
  return "none";
}

function failed(format: Format, err: unknown): AgentError {
  if (err instanceof AgentError) return err;
  return new AgentError("decompress-failed", `decompress ${format}: ${(err as Error).message}`, { cause: err });
}

/** A sink that decompresses into another sink. */
export interface Decompressor extends Sink {
  /** The input is complete: resolves once all output went into the downstream sink; rejects on bad input. */
  end(): Promise<void>;
  /** Stops at once (kills the program); a pending `end` rejects with `err`. */
  destroy(err: Error): void;
}

/** What the caller learns on the way. */
export interface Hooks {
  /** Called once the format is known, before the first byte goes downstream; may throw to refuse it. */
  onFormat?: (format: Format) => void;
  /** A failure outside of `write` and `end` (the program died): whoever feeds this sink must stop. */
  onError: (err: AgentError) => void;
}

/** Input buffers of a program: what the network delivers while the program works. */
const INPUT_BUFFERS = 4;
const INPUT_BUFFER_SIZE = 256 << 10;
const OUTPUT_BUFFER_SIZE = 256 << 10;

/** Raw images: straight through. */
class Passthrough implements Decompressor {
  onDrain: () => void = () => {};
  constructor(private readonly out: Sink) {
    out.onDrain = () => this.onDrain();
  }
  write(chunk: Buffer): boolean {
    return this.out.write(chunk);
  }
  end(): Promise<void> {
    return Promise.resolve();
  }
  destroy(): void {}
}

/**
 * A connected pair of Unix sockets (abstract namespace: nothing on disk); `ours` reads into
 * the `onread` buffer, `theirs` becomes the program's stdout.
 */
async function socketPair(onread: net.OnReadOpts): Promise<{ ours: net.Socket; theirs: net.Socket }> {
  const name = `\0twinroot-agent-${process.pid}-${randomBytes(8).toString("hex")}`;
  const server = net.createServer({ pauseOnConnect: true });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(name, resolve);
  });
  try {
    const accepted = new Promise<net.Socket>((resolve) => server.once("connection", resolve));
    const ours = net.connect({ path: name, onread });
    await new Promise<void>((resolve, reject) => {
      ours.once("connect", resolve);
      ours.once("error", reject);
    });
    return { ours, theirs: await accepted };
  } finally {
    server.close();
  }
}

/** `<format> -dc` between two sinks. */
class Program implements Decompressor {
  onDrain: () => void = () => {};
  private readonly input: Staging;
  private child!: ChildProcessWithoutNullStreams;
  private output!: net.Socket;
  private stderr = "";
  private error: AgentError | undefined;
  private finished = false;
  private outEnded = false;
  private exitCode: number | null | undefined;
  private settle!: { resolve: () => void; reject: (e: Error) => void };
  private readonly done: Promise<void>;
  private inputIdle: (() => void) | undefined;
  private readonly buffers: Buffer[];
  private writesPending = 0;
  private childClosed = false;

  private constructor(
    private readonly format: Exclude<Format, "none">,
    private readonly out: Sink,
    private readonly hooks: Hooks,
  ) {
    this.buffers = Array.from({ length: INPUT_BUFFERS }, () => borrow(INPUT_BUFFER_SIZE));
    this.input = new Staging([...this.buffers], (buf, len) => this.feed(buf, len));
    this.input.onDrain = () => this.onDrain();
    this.done = new Promise((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // Nobody may be waiting yet when a failure comes; end() hands it on.
    this.done.catch(() => {});
  }

  static async start(format: Exclude<Format, "none">, out: Sink, hooks: Hooks): Promise<Program> {
    const p = new Program(format, out, hooks);
    const readBuffer = borrow(OUTPUT_BUFFER_SIZE);
    let pair: { ours: net.Socket; theirs: net.Socket };
    try {
      pair = await socketPair({ buffer: readBuffer, callback: (n: number, buf: Uint8Array) => p.receive((buf as Buffer).subarray(0, n)) });
    } catch (err) {
      giveBack(readBuffer);
      p.giveBackInput();
      throw failed(format, err);
    }
    p.output = pair.ours;
    p.output.on("close", () => giveBack(readBuffer));
    try {
      p.child = spawn(format, ["-dc"], { stdio: ["pipe", pair.theirs, "pipe"] }) as unknown as ChildProcessWithoutNullStreams;
    } finally {
      // The program has its own copy of the socket now; ours must go, or the output never ends.
      pair.theirs.destroy();
    }
    p.wire();
    return p;
  }

  private wire(): void {
    const { child, output } = this;
    child.stderr.on("data", (d) => {
      if (this.stderr.length < 4096) this.stderr += d;
    });
    // The program may exit early on corrupt input; its stdin then breaks, which is not the error to report.
    child.stdin.on("error", () => {});
    child.on("error", (e) => this.fail(e));
    child.on("close", (code) => {
      this.exitCode = code;
      this.childClosed = true;
      this.check();
      this.giveBackInput();
    });
    output.on("error", (e) => this.fail(e));
    output.on("end", () => {
      this.outEnded = true;
      this.check();
    });
    this.out.onDrain = () => output.resume();
  }

  /** The program's output, a view of the read buffer. */
  private receive(chunk: Buffer): boolean {
    if (this.error) return false;
    try {
      return this.out.write(chunk);
    } catch (err) {
      this.fail(err);
      return false;
    }
  }

  /** A full input buffer goes to the program; the buffer comes back once it has been written. */
  private feed(buf: Buffer, len: number): void {
    this.writesPending++;
    this.child.stdin.write(buf.subarray(0, len), () => {
      this.writesPending--;
      try {
        this.input.release(buf);
      } catch (err) {
        this.fail(err);
      }
      if (!this.input.stashed) this.inputIdle?.();
      this.giveBackInput();
    });
  }

  /** Once the program is gone and no write refers to them, the input buffers serve the next download. */
  giveBackInput(): void {
    if ((this.child && !this.childClosed) || this.writesPending > 0) return;
    this.input.stop();
    for (const b of this.buffers.splice(0)) giveBack(b);
  }

  write(chunk: Buffer): boolean {
    if (this.error) throw this.error;
    if (this.childClosed) throw failed(this.format, new Error("the program ended before its input did"));
    return this.input.write(chunk);
  }

  private check(): void {
    if (!this.outEnded || this.exitCode === undefined || this.finished || this.error) return;
    if (this.exitCode === 0) {
      this.finished = true;
      this.settle.resolve();
    } else this.fail(new Error(`${this.format} exited with ${this.exitCode}: ${this.stderr.trim()}`));
  }

  private fail(err: unknown): void {
    if (this.error || this.finished) return;
    const e = failed(this.format, err);
    this.stop(e);
    this.hooks.onError(e);
  }

  private stop(err: AgentError): void {
    this.error = err;
    this.input.stop();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    this.output.destroy();
    this.settle.reject(err);
    this.inputIdle?.();
  }

  async end(): Promise<void> {
    if (!this.error && !this.finished) {
      // Bytes waiting for an input buffer go first; then the last, partly filled buffer.
      if (this.input.stashed) await new Promise<void>((r) => (this.inputIdle = r));
      if (!this.error) {
        this.input.flushTail();
        this.child.stdin.end();
      }
    }
    return this.done;
  }

  destroy(err: Error): void {
    if (this.error || this.finished) return;
    this.stop(err instanceof AgentError ? err : failed(this.format, err));
  }
}

/**
 * Takes the first bytes until the format is known (`auto`), then decompresses into `out`.
 * A stream shorter than a magic number is raw. Starting a program takes a moment: the
 * bytes so far are kept and the feeder paused meanwhile.
 */
class Sniffer implements Decompressor {
  onDrain: () => void = () => {};
  private head: Buffer[] = [];
  private headLen = 0;
  private inner: Decompressor | undefined;
  private starting: Promise<void> | undefined;
  private error: Error | undefined;

  constructor(
    private readonly compression: Compression,
    private readonly out: Sink,
    private readonly hooks: Hooks,
  ) {}

  /** Picks the decompressor; false while a program starts (the head is fed to it then). */
  private start(): boolean {
    const head = Buffer.concat(this.head);
    this.head = [];
    const format = this.compression === "auto" ? (head.length >= 6 ? sniffFormat(head) : "none") : this.compression;
    this.hooks.onFormat?.(format);
    if (format === "none") {
      const inner = new Passthrough(this.out);
      inner.onDrain = () => this.onDrain();
      this.inner = inner;
      return head.length ? inner.write(head) : true;
    }
    this.starting = Program.start(format, this.out, this.hooks).then(
      (inner) => {
        this.inner = inner;
        inner.onDrain = () => this.onDrain();
        if (this.error) {
          inner.destroy(this.error);
          return;
        }
        // With what came while it started, from a feeder that did not pause.
        const pending = Buffer.concat([head, ...this.head]);
        this.head = [];
        if (!pending.length || inner.write(pending)) this.onDrain();
      },
      (err: AgentError) => {
        this.error = err;
        this.hooks.onError(err);
      },
    );
    return false;
  }

  write(chunk: Buffer): boolean {
    if (this.error) throw this.error;
    if (this.inner) return this.inner.write(chunk);
    this.head.push(Buffer.from(chunk));
    this.headLen += chunk.length;
    if (this.starting || (this.compression === "auto" && this.headLen < 6)) return !this.starting;
    return this.start();
  }

  async end(): Promise<void> {
    if (!this.inner && !this.starting) this.start();
    await this.starting;
    if (this.error) throw this.error;
    await (this.inner as Decompressor).end();
  }

  destroy(err: Error): void {
    this.error ??= err;
    this.inner?.destroy(err);
  }
}

/**
 * A sink that decompresses what it is given (`compression`: `auto` detects the format
 * from the first bytes) into `out`. `hooks.onFormat` learns the format first.
 */
export function decompressor(compression: Compression, out: Sink, hooks: Hooks): Decompressor {
  return new Sniffer(compression, out, hooks);
}
