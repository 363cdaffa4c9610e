import assert from "node:assert/strict";
import { createHash, randomFillSync } from "node:crypto";
import { test } from "node:test";
import { Hasher } from "./hasher";

const sha = (...parts: Uint8Array[]) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
};

const updated = (h: Hasher, stream: number, buf: Uint8Array) =>
  new Promise<void>((resolve, reject) => h.update(stream, buf, (err) => (err ? reject(err) : resolve())));

test("hashes views of shared memory in the order given, one running SHA-256 per stream", async () => {
  const memory = new SharedArrayBuffer(1 << 20);
  const buf = Buffer.from(memory);
  randomFillSync(buf);
  const a = buf.subarray(0, 300_000);
  const b = buf.subarray(300_000, 700_000);
  const h = Hasher.acquire(memory, 2);
  try {
    await Promise.all([updated(h, 0, a), updated(h, 1, b), updated(h, 0, b)]);
    assert.equal(await h.digest(0), sha(a, b));
    assert.equal(await h.digest(1), sha(b));
    // A digest starts the stream again.
    assert.equal(await h.digest(0), sha());
  } finally {
    h.release();
  }
});

test("a stream continues from a copy of another; a reset one starts empty", async () => {
  const memory = new SharedArrayBuffer(64 << 10);
  const buf = Buffer.from(memory);
  randomFillSync(buf);
  const h = Hasher.acquire(memory, 2);
  try {
    await updated(h, 1, buf.subarray(0, 4096));
    h.copy(1, 0);
    await updated(h, 0, buf.subarray(4096));
    assert.equal(await h.digest(0), sha(buf));
    h.reset(1);
    assert.equal(await h.digest(1), sha());
  } finally {
    h.release();
  }
});

test("compares two views of the shared memory: -1 when equal, else the first byte that differs", async () => {
  const memory = new SharedArrayBuffer(2 << 20);
  const buf = Buffer.from(memory);
  randomFillSync(buf.subarray(0, 1 << 20));
  buf.copy(buf, 1 << 20, 0, 1 << 20);
  const a = buf.subarray(0, 1 << 20);
  const b = buf.subarray(1 << 20);
  const compared = () => new Promise<number>((resolve, reject) => h.compare(a, b, (err, diff) => (err ? reject(err) : resolve(diff))));
  const h = Hasher.acquire(memory, 1);
  try {
    assert.equal(await compared(), -1);
    b[777_777] = (b[777_777] as number) ^ 1;
    b[900_000] = (b[900_000] as number) ^ 1;
    assert.equal(await compared(), 777_777);
    assert.throws(() => h.compare(a, b.subarray(1), () => {}), /equal length/);
  } finally {
    h.release();
  }
});

test("memory outside the shared buffer is refused, and a released hasher fails what it is given", async () => {
  const memory = new SharedArrayBuffer(4096);
  const h = Hasher.acquire(memory, 1);
  assert.throws(() => h.update(0, Buffer.alloc(16), () => {}), /not in the shared memory/);
  h.release();
  await assert.rejects(h.digest(0), /released/);
  // The next hasher gets the kept worker, with its own memory and streams.
  const other = new SharedArrayBuffer(4096);
  const again = Hasher.acquire(other, 1);
  try {
    await updated(again, 0, new Uint8Array(other, 0, 100));
    assert.equal(await again.digest(0), sha(new Uint8Array(100)));
  } finally {
    again.release();
  }
});
