// A gzip writer that produces the same bytes as Go's `compress/gzip` at
// `BestCompression`, which is what `butane` uses to shrink file contents.
//
// Why not node's zlib: zlib and Go's `compress/flate` pick different matches and
// block layouts, so the bytes (and often the length) differ. Butane chooses between
// a percent-escaped, a base64 and a gzip+base64 data URL by length, so a different
// compressor changes both the chosen encoding and the URL itself. This file follows
// Go's level-9 path (lazy matching, 4096-long hash chains, `writeBlock` choosing
// stored/fixed/dynamic blocks, the closing empty stored block) step by step.
import zlib from "node:zlib";
import { BitWriter, lengthShift, matchType } from "./huffman";

const windowSize = 1 << 15;
const windowMask = windowSize - 1;
const minMatchLength = 4;
const maxMatchLength = 258;
const baseMatchLength = 3;
const baseMatchOffset = 1;
const maxFlateBlockTokens = 1 << 14;
const hashBits = 17;
const hashSize = 1 << hashBits;
const hashMask = hashSize - 1;
const maxHashOffset = 1 << 24;
const hashmul = 0x1e35a7bd;
// Level 9 of Go's table: good, lazy, nice, chain.
const good = 32;
const lazy = 258;
const nice = 258;
const chain = 4096;

/** Go's level-9 `compressor`: lazy matching over a 64 KiB sliding window. */
class Deflater {
  private readonly window = new Uint8Array(2 * windowSize);
  private readonly hashHead = new Uint32Array(hashSize);
  private readonly hashPrev = new Uint32Array(windowSize);
  private readonly tokens = new Uint32Array(maxFlateBlockTokens + 1);
  private ntokens = 0;
  private hashOffset = 1;
  private index = 0;
  private windowEnd = 0;
  private blockStart = 0;
  private byteAvailable = false;
  private sync = false;
  private length = minMatchLength - 1;
  private offset = 0;
  private maxInsertIndex = 0;
  private chainHead = -1;

  constructor(public w: BitWriter) {}

  /** Back to the state of a new compressor, reusing the big tables (Go's `reset`). */
  reset(w: BitWriter): void {
    this.w = w;
    this.hashHead.fill(0);
    this.hashPrev.fill(0);
    this.ntokens = 0;
    this.hashOffset = 1;
    this.index = 0;
    this.windowEnd = 0;
    this.blockStart = 0;
    this.byteAvailable = false;
    this.sync = false;
    this.length = minMatchLength - 1;
    this.offset = 0;
    this.maxInsertIndex = 0;
    this.chainHead = -1;
  }

  private hash4(i: number): number {
    const w = this.window;
    const v = ((w[i + 3] as number) | ((w[i + 2] as number) << 8) | ((w[i + 1] as number) << 16) | ((w[i] as number) << 24)) >>> 0;
    return Math.imul(v, hashmul) >>> (32 - hashBits);
  }

  private fill(b: Uint8Array, from: number): number {
    if (this.index >= 2 * windowSize - (minMatchLength + maxMatchLength)) {
      this.window.copyWithin(0, windowSize, 2 * windowSize);
      this.index -= windowSize;
      this.windowEnd -= windowSize;
      this.blockStart = this.blockStart >= windowSize ? this.blockStart - windowSize : 0x7fffffff;
      this.hashOffset += windowSize;
      if (this.hashOffset > maxHashOffset) {
        const delta = this.hashOffset - 1;
        this.hashOffset -= delta;
        this.chainHead -= delta;
        for (const arr of [this.hashPrev, this.hashHead]) {
          for (let i = 0; i < arr.length; i++) {
            const v = arr[i] as number;
            arr[i] = v > delta ? v - delta : 0;
          }
        }
      }
    }
    const n = Math.min(b.length - from, this.window.length - this.windowEnd);
    this.window.set(b.subarray(from, from + n), this.windowEnd);
    this.windowEnd += n;
    return n;
  }

  private writeBlock(index: number): void {
    if (index > 0) {
      const input = this.blockStart <= index ? this.window.subarray(this.blockStart, index) : null;
      this.blockStart = index;
      this.w.writeBlock(this.tokens, this.ntokens, false, input);
    }
    this.ntokens = 0;
  }

  private findMatch(pos: number, prevHead: number, prevLength: number, lookahead: number): [number, number, boolean] {
    const win = this.window;
    const minMatchLook = Math.min(maxMatchLength, lookahead);
    const niceLen = Math.min(minMatchLook, nice);
    let tries = chain;
    let length = prevLength;
    let offset = 0;
    let ok = false;
    if (length >= good) tries >>= 2;
    let wEnd = win[pos + length];
    const minIndex = pos - windowSize;
    for (let i = prevHead; tries > 0; tries--) {
      if (wEnd === win[i + length]) {
        let n = 0;
        while (n < minMatchLook && win[i + n] === win[pos + n]) n++;
        if (n > length && (n > minMatchLength || pos - i <= 4096)) {
          length = n;
          offset = pos - i;
          ok = true;
          if (n >= niceLen) break;
          wEnd = win[pos + n];
        }
      }
      if (i === minIndex) break;
      i = (this.hashPrev[i & windowMask] as number) - this.hashOffset;
      if (i < minIndex || i < 0) break;
    }
    return [length, offset, ok];
  }

  private insertHash(index: number): void {
    const h = this.hash4(index) & hashMask;
    this.hashPrev[index & windowMask] = this.hashHead[h] as number;
    this.hashHead[h] = index + this.hashOffset;
  }

  private step(): void {
    if (this.windowEnd - this.index < minMatchLength + maxMatchLength && !this.sync) return;
    this.maxInsertIndex = this.windowEnd - (minMatchLength - 1);
    for (;;) {
      const lookahead = this.windowEnd - this.index;
      if (lookahead < minMatchLength + maxMatchLength) {
        if (!this.sync) break;
        if (lookahead === 0) {
          if (this.byteAvailable) {
            this.tokens[this.ntokens++] = this.window[this.index - 1] as number;
            this.byteAvailable = false;
          }
          if (this.ntokens > 0) this.writeBlock(this.index);
          break;
        }
      }
      if (this.index < this.maxInsertIndex) {
        const h = this.hash4(this.index) & hashMask;
        this.chainHead = this.hashHead[h] as number;
        this.hashPrev[this.index & windowMask] = this.chainHead >>> 0;
        this.hashHead[h] = this.index + this.hashOffset;
      }
      const prevLength = this.length;
      const prevOffset = this.offset;
      this.length = minMatchLength - 1;
      this.offset = 0;
      const minIndex = Math.max(this.index - windowSize, 0);
      if (this.chainHead - this.hashOffset >= minIndex && lookahead > prevLength && prevLength < lazy) {
        const [l, o, ok] = this.findMatch(this.index, this.chainHead - this.hashOffset, minMatchLength - 1, lookahead);
        if (ok) {
          this.length = l;
          this.offset = o;
        }
      }
      if (prevLength >= minMatchLength && this.length <= prevLength) {
        this.tokens[this.ntokens++] = matchType + ((prevLength - baseMatchLength) << lengthShift) + (prevOffset - baseMatchOffset);
        const newIndex = this.index + prevLength - 1;
        let index = this.index + 1;
        for (; index < newIndex; index++) if (index < this.maxInsertIndex) this.insertHash(index);
        this.index = index;
        this.byteAvailable = false;
        this.length = minMatchLength - 1;
        if (this.ntokens === maxFlateBlockTokens) this.writeBlock(this.index);
      } else {
        if (this.byteAvailable) {
          const i = this.index - 1;
          this.tokens[this.ntokens++] = this.window[i] as number;
          if (this.ntokens === maxFlateBlockTokens) this.writeBlock(i + 1);
        }
        this.index++;
        this.byteAvailable = true;
      }
    }
  }

  write(b: Uint8Array): void {
    let from = 0;
    while (from < b.length) {
      this.step();
      from += this.fill(b, from);
    }
  }

  close(): void {
    this.sync = true;
    this.step();
    this.w.writeStoredHeader(0, true);
    this.w.flush();
  }
}

// One compressor, reset per call: its tables are 700 KiB, too much to allocate per file.
let shared: Deflater | undefined;

/** Raw DEFLATE of `data` exactly as Go's `flate.NewWriter(w, 9)` + `Write` + `Close`. */
export function deflateLikeGo(data: Uint8Array): Uint8Array {
  const w = new BitWriter();
  const d = shared ?? new Deflater(w);
  shared = undefined;
  d.reset(w);
  try {
    d.write(data);
    d.close();
  } finally {
    shared = d;
  }
  return w.out.slice(0, w.n);
}

/**
 * gzip of `data` byte for byte as Go's `gzip.NewWriterLevel(w, gzip.BestCompression)`
 * writes it (no name, zero mtime, XFL 2, OS 255).
 */
export function gzipLikeGo(data: Uint8Array): Uint8Array {
  const body = deflateLikeGo(data);
  const out = new Uint8Array(10 + body.length + 8);
  out.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255], 0);
  out.set(body, 10);
  const view = new DataView(out.buffer);
  view.setUint32(10 + body.length, zlib.crc32(data) >>> 0, true);
  view.setUint32(14 + body.length, data.length >>> 0, true);
  return out;
}
