import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { type FrameBoundary, ZstdFrames } from "./zstdframes";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-zstdframes-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** `zstd -c` of a file: the frame header then carries the content size. */
function zstdFile(data: Buffer, level = "-3"): Buffer {
  const f = path.join(dir, `piece-${randomBytes(4).toString("hex")}`);
  fs.writeFileSync(f, data);
  return execFileSync("zstd", ["-q", level, "-c", f], { maxBuffer: 64 << 20 });
}

/** A skippable frame (output: nothing). */
function skippable(payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32LE(0x184d2a5e, 0);
  h.writeUInt32LE(payload.length, 4);
  return Buffer.concat([h, payload]);
}

function walk(stream: Buffer, sizes: number[], from?: FrameBoundary): ZstdFrames {
  const w = new ZstdFrames(from);
  let off = 0;
  for (let i = 0; off < stream.length; i++) {
    const n = sizes[i % sizes.length] as number;
    w.feed(stream.subarray(off, off + n));
    off += n;
  }
  return w;
}

// Random and repetitive pieces (raw, RLE and compressed blocks), of awkward sizes.
const pieces = [randomBytes(300_000), Buffer.alloc(1 << 20, 3), Buffer.concat([randomBytes(5000), Buffer.alloc(70_000, 1)]), randomBytes(17)];
const frames = pieces.map((p, i) => zstdFile(p, i % 2 ? "-19" : "-1"));
const data = Buffer.concat(pieces);

test("finds every frame boundary of a multi-frame stream, whatever the chunking, and zstd -d from a boundary gives the output from there", () => {
  const stream = Buffer.concat([frames[0], skippable(randomBytes(40)), frames[1], frames[2], frames[3]] as Buffer[]);
  const expected: FrameBoundary[] = [];
  let source = 0;
  let bytes = 0;
  for (const [i, f] of [frames[0], skippable(randomBytes(40)), frames[1], frames[2], frames[3]].entries()) {
    source += (f as Buffer).length;
    if (i !== 1) bytes += (pieces[i === 0 ? 0 : i - 1] as Buffer).length;
    expected.push({ source, bytes });
  }
  for (const sizes of [[1], [7, 3, 1000], [65_536], [stream.length]]) {
    const w = walk(stream, sizes);
    assert.ok(w.following);
    assert.deepEqual(w.boundaries, expected, `chunks of ${sizes}`);
  }
  for (const b of expected.slice(0, -1)) {
    const out = execFileSync("zstd", ["-dc"], { input: stream.subarray(b.source), maxBuffer: 64 << 20 });
    assert.ok(out.equals(data.subarray(b.bytes)), `from ${JSON.stringify(b)}`);
  }
});

test("continues from a boundary it is given (a resumed download)", () => {
  const stream = Buffer.concat(frames);
  const start = { source: (frames[0] as Buffer).length, bytes: (pieces[0] as Buffer).length };
  const w = walk(stream.subarray(start.source), [4096], start);
  assert.deepEqual(w.boundaries.at(0), { source: start.source + (frames[1] as Buffer).length, bytes: start.bytes + (pieces[1] as Buffer).length });
  assert.deepEqual(w.boundaries.at(-1), { source: stream.length, bytes: data.length });
});

test("after a frame without a content size (zstd from a pipe) no boundary is known; other data is not followed", () => {
  const piped = execFileSync("zstd", ["-q", "-c"], { input: pieces[0] });
  const w = walk(Buffer.concat([frames[1] as Buffer, piped, frames[2] as Buffer]), [1000]);
  assert.deepEqual(w.boundaries, [{ source: (frames[1] as Buffer).length, bytes: (pieces[1] as Buffer).length }]);
  assert.ok(w.following);
  const raw = walk(randomBytes(10_000), [100]);
  assert.equal(raw.following, false);
  assert.deepEqual(raw.boundaries, []);
  const gz = walk(execFileSync("gzip", ["-c"], { input: data }), [4096]);
  assert.equal(gz.following, false);
});
