// How bytes move through `stage`: pushed, with backpressure, and no promise or allocation
// per chunk. Awaiting each chunk of a download (16 KiB TLS records) costs more CPU than
// hashing it, and a new Buffer per chunk leaves garbage that the GC collects only after
// tens of MiB. Instead each stage pushes views of one reused buffer into the next, which
// copies what it keeps into a fixed set of buffers of its own.

/** A stage that bytes are pushed into (the slot writer, a decompressor). */
export interface Sink {
  /**
   * Takes `chunk`, which is only valid during the call (keep a copy, never the buffer).
   * Returns false to ask the caller to stop: it pushes nothing more until the sink calls
   * `onDrain`. A sink never calls `onDrain` from inside `write`.
   */
  write(chunk: Buffer): boolean;
  /** Set by whoever pushes into this sink. */
  onDrain: () => void;
}

/**
 * The copying half of a sink: fills a fixed set of buffers from the chunks it is given and
 * hands each full buffer to `flush`; its consumer gives the buffer back with `release`.
 * `write` answers false while no buffer is free. What arrives anyway (a chunk larger than
 * the free space) is copied aside and taken first once buffers come back.
 */
export class Staging implements Sink {
  onDrain: () => void = () => {};
  private cur: Buffer | undefined;
  private fill = 0;
  private stash: Buffer[] = [];
  private wantDrain = false;
  private stopped = false;

  constructor(
    private readonly free: Buffer[],
    /** Takes a full buffer (its first `len` bytes); may throw, which `write`/`release` pass on. */
    private readonly flush: (buf: Buffer, len: number) => void,
  ) {}

  write(chunk: Buffer): boolean {
    if (this.stash.length) {
      this.stash.push(Buffer.from(chunk));
      this.wantDrain = true;
      return false;
    }
    const off = this.take(chunk);
    if (off < chunk.length) this.stash.push(Buffer.from(chunk.subarray(off)));
    if (off < chunk.length || (!this.cur && this.free.length === 0)) {
      this.wantDrain = true;
      return false;
    }
    return true;
  }

  /** Copies from `chunk` until it is used up or no buffer is free; returns how far it got. */
  private take(chunk: Buffer): number {
    let off = 0;
    while (off < chunk.length) {
      if (!this.cur) {
        this.cur = this.free.pop();
        this.fill = 0;
        if (!this.cur) break;
      }
      const n = chunk.copy(this.cur, this.fill, off, Math.min(chunk.length, off + this.cur.length - this.fill));
      this.fill += n;
      off += n;
      if (this.fill === this.cur.length) {
        const buf = this.cur;
        this.cur = undefined;
        this.flush(buf, buf.length);
      }
    }
    return off;
  }

  /** A flushed buffer is free again (in any order). Takes stashed bytes first, then asks for more. May throw what `flush` throws. */
  release(buf: Buffer): void {
    this.free.push(buf);
    while (this.stash.length) {
      const c = this.stash[0] as Buffer;
      const off = this.take(c);
      if (off < c.length) {
        this.stash[0] = c.subarray(off);
        return;
      }
      this.stash.shift();
    }
    if (this.wantDrain && !this.stopped && (this.cur || this.free.length)) {
      this.wantDrain = false;
      this.onDrain();
    }
  }

  /** Whether bytes still wait for a free buffer. */
  get stashed(): boolean {
    return this.stash.length > 0;
  }

  /** At the end of the input (nothing stashed): flushes the partly filled buffer. Returns whether there was one. */
  flushTail(): boolean {
    const buf = this.cur;
    this.cur = undefined;
    if (!buf) return false;
    if (this.fill === 0) {
      this.free.push(buf);
      return false;
    }
    this.flush(buf, this.fill);
    return true;
  }

  /** No more `onDrain` calls (the consumer failed or closes). */
  stop(): void {
    this.stopped = true;
  }
}

// Buffers that outlive a download. One stage runs at a time; keeping its few large buffers
// for the next one is cheaper, and keeps memory flatter, than leaving them to a full GC.
const spares = new Map<number, Buffer[]>();

/** A buffer of `size` bytes: one given back earlier, or a new one. */
export function borrow(size: number): Buffer {
  return spares.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size);
}

/** Gives a buffer from {@link borrow} back, once nothing (no pending I/O) refers to it any more. */
export function giveBack(buf: Buffer): void {
  const list = spares.get(buf.length) ?? [];
  if (list.length < 8 && !list.includes(buf)) list.push(buf);
  spares.set(buf.length, list);
}
