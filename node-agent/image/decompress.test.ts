import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import { test } from "node:test";
import zlib from "node:zlib";
import { decompress, sniffFormat } from "./decompress";
import { DIGEST_RE, signDigest, verifyDigestSignature } from "./signature";

async function* chunked(b: Buffer, size = 1000): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(c);
  return Buffer.concat(out);
}

// Half random, half repetitive: compressible, and any mix-up shows.
const data = Buffer.concat([crypto.randomBytes(200_000), Buffer.alloc(300_000, 9)]);
const packed = {
  gzip: zlib.gzipSync(data),
  zstd: execFileSync("zstd", ["-q", "-c"], { input: data }),
  xz: execFileSync("xz", ["-c", "-0"], { input: data }),
};

for (const format of ["gzip", "zstd", "xz"] as const) {
  test(`detects and decompresses ${format} from its magic number`, async () => {
    assert.equal(sniffFormat(packed[format]), format);
    const r = await decompress(chunked(packed[format]));
    assert.equal(r.format, format);
    assert.ok((await collect(r.chunks)).equals(data));
  });

  test(`corrupt ${format} is a decompress error`, async () => {
    const bad = Buffer.from(packed[format]);
    bad.fill(0x55, 40, 400);
    const r = await decompress(chunked(bad));
    await assert.rejects(collect(r.chunks), { code: "decompress-failed" });
  });
}

test("raw data passes through untouched, and errors of the input stream keep their code", async () => {
  const r = await decompress(chunked(data));
  assert.equal(r.format, "none");
  assert.ok((await collect(r.chunks)).equals(data));
  async function* failing(): AsyncGenerator<Buffer> {
    yield packed.zstd.subarray(0, 5000);
    throw Object.assign(new Error("cut"), { code: "download-failed" });
  }
  const z = await decompress(failing());
  await assert.rejects(collect(z.chunks), /cut/);
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
