import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { ALIGN, SlotWriter, type WriterOptions } from "./writer";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-writer-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const CAPACITY = 8 << 20;
// Not a multiple of the block size: the tail takes the padded O_DIRECT path.
const image = randomBytes((5 << 20) + 1234);

/** A zero-filled "device" file of `CAPACITY` bytes. */
function device(name: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, Buffer.alloc(CAPACITY));
  return f;
}

/** Whether the test directory's filesystem takes O_DIRECT (tmpfs does not). */
const directWorks = (() => {
  try {
    fs.closeSync(fs.openSync(device("probe"), fs.constants.O_RDWR | fs.constants.O_DIRECT));
    return true;
  } catch {
    return false;
  }
})();

/** Opens a writer whose `onError` (a failure between calls) fails the next `writeAll`. */
async function open(opts: WriterOptions): Promise<SlotWriter & { failed: Promise<never> }> {
  let reject: (e: Error) => void = () => {};
  const failed = new Promise<never>((_, r) => {
    reject = r;
  });
  failed.catch(() => {});
  const w = await SlotWriter.open({ ...opts, onError: (e) => reject(e) });
  return Object.assign(w, { failed });
}

/** Pushes `data` in `size` chunks honouring pauses (as the download does). */
async function writeAll(w: SlotWriter & { failed: Promise<never> }, data: Buffer, size = 100_000): Promise<{ pauses: number }> {
  let off = 0;
  let pauses = 0;
  const pushed = new Promise<void>((resolve, reject) => {
    const pump = () => {
      try {
        while (off < data.length) {
          const c = data.subarray(off, off + size);
          off += c.length;
          if (!w.write(c)) {
            pauses++;
            return;
          }
        }
        resolve();
      } catch (err) {
        reject(err);
      }
    };
    w.onDrain = pump;
    pump();
  });
  await Promise.race([pushed, w.failed]);
  return { pauses };
}

const small = { bufferSize: 256 << 10, buffers: 3 } satisfies Partial<WriterOptions>;

for (const direct of [true, false]) {
  test(`writes, flushes and reads back an image (${direct ? "O_DIRECT" : "page cache"}), with checkpoints on block boundaries`, async () => {
    const dev = device(`dev-${direct}`);
    const checkpoints: number[] = [];
    const w = await open({ device: dev, capacity: CAPACITY, flushEvery: 1 << 20, onCheckpoint: (b) => checkpoints.push(b), direct, ...small });
    try {
      assert.equal(w.direct, direct && directWorks);
      const { pauses } = await writeAll(w, image);
      assert.ok(pauses > 0, "three small buffers fill up and pause the feeder");
      const r = await w.finish();
      assert.deepEqual({ bytes: r.bytes, digest: r.digest, readBack: r.readBack }, { bytes: image.length, digest: sha(image), readBack: sha(image) });
      // Writes go on while a flush runs, so a flush may cover more than flushEvery; never less.
      assert.ok(checkpoints.length >= 2, `checkpoints ${checkpoints}`);
      for (const [i, c] of checkpoints.entries()) {
        assert.ok(c % ALIGN === 0 && c <= image.length && c - (checkpoints[i - 1] ?? 0) >= 1 << 20, `checkpoints ${checkpoints}`);
      }
    } finally {
      await w.close();
    }
    const onDisk = fs.readFileSync(dev);
    assert.ok(onDisk.subarray(0, image.length).equals(image));
  });
}

test("resumes after bytes already on the device: both digests cover the whole image", async () => {
  const dev = device("resume");
  const cut = 3 << 20;
  fs.writeFileSync(dev, Buffer.concat([image.subarray(0, cut), Buffer.alloc(CAPACITY - cut)]));
  const w = await open({ device: dev, capacity: CAPACITY, startAt: cut, ...small });
  try {
    await writeAll(w, image.subarray(cut));
    const r = await w.finish();
    assert.equal(r.bytes, image.length);
    assert.equal(r.digest, sha(image));
    assert.equal(r.readBack, sha(image));
  } finally {
    await w.close();
  }
  await assert.rejects(SlotWriter.open({ device: dev, capacity: CAPACITY, startAt: 1000 }), { code: "internal" });
});

/** Changes one byte of the device file behind the writer's back. */
function tamper(dev: string, at: number): void {
  const fd = fs.openSync(dev, "r+");
  fs.writeSync(fd, Buffer.from([(image[at] as number) ^ 0xff]), 0, 1, at);
  fs.closeSync(fd);
}

test("with O_DIRECT each buffer is read back and compared as written: a byte the device changed fails the write and is named", {
  skip: !directWorks && "no O_DIRECT here",
}, async () => {
  const dev = device("tamper-direct");
  let tampered = false;
  const w = await open({
    device: dev,
    capacity: CAPACITY,
    ...small,
    onProgress: () => {
      // The first buffer's write has returned and its read-back has not started.
      if (!tampered) tamper(dev, 0);
      tampered = true;
    },
  });
  try {
    await assert.rejects(
      (async () => {
        await writeAll(w, image);
        await w.finish();
      })(),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, "verify-failed");
        const hex = (b: number) => `0x${b.toString(16).padStart(2, "0")}`;
        assert.match(err.message, new RegExp(`byte 0 is ${hex((image[0] as number) ^ 0xff)}, written ${hex(image[0] as number)}`));
        return true;
      },
    );
  } finally {
    await w.close();
  }
});

test("through the page cache the read-back digest is of what the device holds after the final flush, not of what was handed to it", async () => {
  const dev = device("tamper");
  let tampered = false;
  const w = await open({
    device: dev,
    capacity: CAPACITY,
    flushEvery: 1 << 20,
    direct: false,
    ...small,
    onCheckpoint: (bytes) => {
      if (!tampered) tamper(dev, bytes - 1);
      tampered = true;
    },
  });
  try {
    await writeAll(w, image);
    const r = await w.finish();
    assert.ok(tampered);
    assert.equal(r.digest, sha(image));
    assert.notEqual(r.readBack, r.digest);
  } finally {
    await w.close();
  }
});

test("an image larger than the slot is refused before the write that would pass its end", async () => {
  const dev = device("small");
  const capacity = 2 << 20;
  const w = await open({ device: dev, capacity, ...small });
  try {
    await assert.rejects(writeAll(w, image), { code: "slot-too-small" });
    await assert.rejects(w.finish(), { code: "slot-too-small" });
  } finally {
    await w.close();
  }
  assert.ok(
    fs
      .readFileSync(dev)
      .subarray(capacity)
      .equals(Buffer.alloc(CAPACITY - capacity)),
    "nothing written past the slot",
  );
});

test("a device that cannot be opened is a write error", async () => {
  await assert.rejects(SlotWriter.open({ device: path.join(dir, "missing", "dev"), capacity: CAPACITY }), { code: "write-failed" });
});
