// Where the frames of a zstd stream begin, found as its bytes go by without decompressing
// (RFC 8878: a frame header, then blocks whose headers give their lengths). Frames are
// independent: `zstd -d` started at a frame boundary produces exactly the output from that
// frame on. So an interrupted download of a multi-frame image (one frame per few MiB, as
// `pzstd`, the seekable format or compressing pieces one by one produce) can resume at a
// boundary: at that compressed offset, writing from that uncompressed offset. The output
// offset of a boundary is known from the frame headers' content sizes; after a frame that
// does not declare its size (zstd writing from a pipe), no more boundaries are known.

/** A frame boundary: compressed offset `source` in the stream, uncompressed offset `bytes` in the output. */
export interface FrameBoundary {
  source: number;
  bytes: number;
}

const FRAME_MAGIC = 0xfd2fb528;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

type State =
  | { at: "magic" }
  | { at: "frame-header"; need: number; descriptor: number }
  | { at: "block-header"; checksum: boolean }
  | { at: "skip"; left: number; next: "block-header" | "checksum" | "frame-end"; checksum: boolean }
  | { at: "skippable-size" }
  | { at: "lost" };

/** Follows a zstd stream; `boundaries` collects the frame starts after the first. */
export class ZstdFrames {
  /** Compressed bytes seen (from the start of the stream). */
  private offset: number;
  /** Output bytes before the current frame; undefined once a frame did not declare its size. */
  private produced: number | undefined;
  /** Content size of the current frame. */
  private frameSize = 0;
  private state: State = { at: "magic" };
  private head: number[] = [];
  /** Frame starts seen so far, in order (the caller may drop the ones it used). */
  boundaries: FrameBoundary[] = [];

  /** `from`: where in the stream and in the output the bytes fed start (a boundary when resuming). */
  constructor(from: FrameBoundary = { source: 0, bytes: 0 }) {
    this.offset = from.source;
    this.produced = from.bytes;
  }

  /** Whether the stream still looks like zstd frames. */
  get following(): boolean {
    return this.state.at !== "lost";
  }

  feed(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length && this.state.at !== "lost") {
      const s = this.state;
      if (s.at === "skip") {
        const n = Math.min(s.left, chunk.length - i);
        s.left -= n;
        i += n;
        this.offset += n;
        if (s.left === 0) this.afterSkip(s);
        continue;
      }
      this.head.push(chunk[i] as number);
      i++;
      this.offset++;
      this.parseHead();
    }
  }

  private afterSkip(s: Extract<State, { at: "skip" }>): void {
    if (s.next === "block-header") this.state = { at: "block-header", checksum: s.checksum };
    else if (s.next === "checksum") this.state = { at: "skip", left: 4, next: "frame-end", checksum: false };
    else this.frameEnd();
  }

  private frameEnd(): void {
    if (this.produced !== undefined) {
      this.produced += this.frameSize;
      this.boundaries.push({ source: this.offset, bytes: this.produced });
    }
    this.frameSize = 0;
    this.state = { at: "magic" };
  }

  /** Acts on the header bytes collected so far, once there are enough. */
  private parseHead(): void {
    const s = this.state;
    const h = this.head;
    if (s.at === "magic") {
      if (h.length < 4) return;
      const magic = Buffer.from(h).readUInt32LE(0);
      this.head = [];
      if (magic === FRAME_MAGIC) this.state = { at: "frame-header", need: 1, descriptor: -1 };
      else if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) this.state = { at: "skippable-size" };
      else this.state = { at: "lost" };
    } else if (s.at === "skippable-size") {
      if (h.length < 4) return;
      const size = Buffer.from(h).readUInt32LE(0);
      this.head = [];
      // A skippable frame produces no output: a boundary after it like after any frame.
      this.frameSize = 0;
      this.state = size === 0 ? { at: "magic" } : { at: "skip", left: size, next: "frame-end", checksum: false };
      if (size === 0) this.frameEnd();
    } else if (s.at === "frame-header") {
      if (s.descriptor < 0) {
        const d = h[0] as number;
        const fcsFlag = d >> 6;
        const single = (d >> 5) & 1;
        if ((d >> 3) & 1) {
          this.state = { at: "lost" };
          return;
        }
        const didBytes = [0, 1, 2, 4][d & 3] as number;
        const fcsBytes = [single ? 1 : 0, 2, 4, 8][fcsFlag] as number;
        this.state = { at: "frame-header", need: 1 + (single ? 0 : 1) + didBytes + fcsBytes, descriptor: d };
        if ((this.state as { need: number }).need > 1) return;
      }
      const st = this.state as Extract<State, { at: "frame-header" }>;
      if (h.length < st.need) return;
      const d = st.descriptor;
      const fcsFlag = d >> 6;
      const single = (d >> 5) & 1;
      const fcsBytes = [single ? 1 : 0, 2, 4, 8][fcsFlag] as number;
      const fcs = Buffer.from(h.slice(h.length - fcsBytes));
      if (fcsBytes === 0) this.produced = undefined;
      else if (fcsBytes === 1) this.frameSize = fcs.readUInt8(0);
      else if (fcsBytes === 2) this.frameSize = fcs.readUInt16LE(0) + 256;
      else if (fcsBytes === 4) this.frameSize = fcs.readUInt32LE(0);
      else this.frameSize = Number(fcs.readBigUInt64LE(0));
      this.head = [];
      this.state = { at: "block-header", checksum: ((d >> 2) & 1) === 1 };
    } else if (s.at === "block-header") {
      if (h.length < 3) return;
      const bh = (h[0] as number) | ((h[1] as number) << 8) | ((h[2] as number) << 16);
      this.head = [];
      const last = (bh & 1) === 1;
      const type = (bh >> 1) & 3;
      const size = bh >>> 3;
      if (type === 3) {
        this.state = { at: "lost" };
        return;
      }
      const body = type === 1 ? 1 : size;
      const next = !last ? "block-header" : s.checksum ? "checksum" : "frame-end";
      if (body > 0) this.state = { at: "skip", left: body, next, checksum: s.checksum };
      else this.afterSkip({ at: "skip", left: 0, next, checksum: s.checksum });
    }
  }
}
