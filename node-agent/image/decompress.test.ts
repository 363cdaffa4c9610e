import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import { test } from "node:test";
import { type Decompressor, decompressor, type Format, sniffFormat } from "./decompress";
import type { Sink } from "./flow";
import { DIGEST_RE, signDigest, verifyDigestSignature } from "./signature";

/** Collects what it is given; `slow` answers false to every chunk and asks for more a moment later. */
class Collect implements Sink {
  parts: Buffer[] = [];
  onDrain: () => void = () => {};
  pauses = 0;
  constructor(private readonly slow = false) {}
  write(chunk: Buffer): boolean {
    this.parts.push(Buffer.from(chunk));
    if (!this.slow) return true;
    this.pauses++;
    setImmediate(() => this.onDrain());
    return false;
  }
  get bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Pushes `data` in chunks of `size`, honouring pauses, then ends. */
async function feed(sink: Decompressor, data: Buffer, size = 1000): Promise<void> {
  let off = 0;
  await new Promise<void>((resolve, reject) => {
    const pump = () => {
      try {
        while (off < data.length) {
          const c = data.subarray(off, off + size);
          off += c.length;
          if (!sink.write(c)) return;
        }
        resolve();
      } catch (err) {
        reject(err);
      }
    };
    sink.onDrain = pump;
    pump();
  });
  await sink.end();
}

function run(compression: "auto" | Format, out: Sink): { dec: Decompressor; formats: Format[]; errors: Error[] } {
  const formats: Format[] = [];
  const errors: Error[] = [];
  const dec = decompressor(compression, out, { onFormat: (f) => formats.push(f), onError: (e) => errors.push(e) });
  return { dec, formats, errors };
}

// Half random, half repetitive: compressible, and any mix-up shows. Large enough that the
// programs' output fills the read buffer many times over.
const data = Buffer.concat([crypto.randomBytes(3 << 20), Buffer.alloc(3 << 20, 9)]);
const packed = {
  gzip: execFileSync("gzip", ["-1", "-c"], { input: data, maxBuffer: 64 << 20 }),
  zstd: execFileSync("zstd", ["-q", "-c"], { input: data, maxBuffer: 64 << 20 }),
  xz: execFileSync("xz", ["-c", "-0"], { input: data, maxBuffer: 64 << 20 }),
};

for (const format of ["gzip", "zstd", "xz"] as const) {
  test(`detects ${format} from its magic number and decompresses it, with and without backpressure`, async () => {
    assert.equal(sniffFormat(packed[format]), format);
    for (const slow of [false, true]) {
      const out = new Collect(slow);
      const r = run("auto", out);
      await feed(r.dec, packed[format], slow ? 50_000 : 16_384);
      assert.deepEqual(r.formats, [format]);
      assert.ok(out.bytes.equals(data), `slow=${slow}: output differs`);
      assert.equal(slow, out.pauses > 0);
      assert.deepEqual(r.errors, []);
    }
  });

  test(`corrupt ${format} is a decompress error`, async () => {
    const bad = Buffer.from(packed[format]);
    bad.fill(0x55, 40, 4000);
    const r = run("auto", new Collect());
    await assert.rejects(feed(r.dec, bad), { code: "decompress-failed" });
  });

  test(`${format} cut short is a decompress error`, async () => {
    const r = run(format, new Collect());
    await assert.rejects(feed(r.dec, packed[format].subarray(0, packed[format].length >> 1)), { code: "decompress-failed" });
  });
}

test("raw data passes through untouched, a stream shorter than a magic number is raw, and a declared format is not guessed", async () => {
  let out = new Collect();
  let r = run("auto", out);
  await feed(r.dec, data);
  assert.deepEqual(r.formats, ["none"]);
  assert.ok(out.bytes.equals(data));

  out = new Collect();
  r = run("auto", out);
  await feed(r.dec, Buffer.from([0x1f, 0x8b, 1]));
  assert.deepEqual(r.formats, ["none"]);
  assert.deepEqual([...out.bytes], [0x1f, 0x8b, 1]);

  r = run("zstd", new Collect());
  await assert.rejects(feed(r.dec, data), { code: "decompress-failed" });
  assert.deepEqual(r.formats, ["zstd"]);
});

test("onFormat can refuse a format before any byte goes downstream", async () => {
  const out = new Collect();
  const dec = decompressor("auto", out, {
    onFormat: (f) => {
      throw Object.assign(new Error(`no ${f}`), { code: "slot-too-small" });
    },
    onError: () => {},
  });
  await assert.rejects(feed(dec, data), /no none/);
  assert.equal(out.parts.length, 0);
});

test("an Ed25519 signature over the digest verifies only with the right key and digest", () => {
  const k = crypto.generateKeyPairSync("ed25519");
  const other = crypto.generateKeyPairSync("ed25519");
  const pub = k.publicKey.export({ type: "spki", format: "pem" });
  const digest = crypto.createHash("sha256").update(data).digest("hex");
  assert.match(digest, DIGEST_RE);
  const sig = signDigest(digest, k.privateKey.export({ type: "pkcs8", format: "pem" }));
  verifyDigestSignature(digest, sig, pub);
  assert.throws(
    () =>
      verifyDigestSignature(
        digest.replace(/^./, (c) => (c === "0" ? "1" : "0")),
        sig,
        pub,
      ),
    { code: "signature-invalid" },
  );
  assert.throws(() => verifyDigestSignature(digest, sig, other.publicKey.export({ type: "spki", format: "pem" })), { code: "signature-invalid" });
  assert.throws(() => verifyDigestSignature(digest, "AAAA", pub), { code: "signature-invalid" });
  const ec = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" }).publicKey.export({ type: "spki", format: "pem" });
  assert.throws(() => verifyDigestSignature(digest, sig, ec), { code: "config" });
});
