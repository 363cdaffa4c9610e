import assert from "node:assert/strict";
import { test } from "node:test";
import zlib from "node:zlib";
import fc from "fast-check";
import { gzipLikeGo } from "./gzip";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

// Produced by Go 1.26's gzip.NewWriterLevel(w, gzip.BestCompression).
const goVectors: [string, string][] = [
  ["", "1f8b08000000000002ff010000ffff0000000000000000"],
  ["a", "1f8b08000000000002ff4a04040000ffff43beb7e801000000"],
  [
    "[Unit]\nDescription=twinroot\n[Unit]\nDescription=twinroot\n",
    "1f8b08000000000002ff8a0ecdcb2c89e572492d4e2eca2c28c9cccfb32d29cfcc2bcacf2fe1c22707080000fffff91992c538000000",
  ],
];

test("gzip output is byte for byte what Go's compress/gzip writes at BestCompression", () => {
  for (const [input, want] of goVectors) assert.equal(hex(gzipLikeGo(Buffer.from(input))), want, JSON.stringify(input));
});

test("gzip output decompresses to the input, for any bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 4000 }), (data) => {
      assert.deepEqual(new Uint8Array(zlib.gunzipSync(gzipLikeGo(data))), data);
    }),
    { numRuns: 150 },
  );
});

test("gzip output decompresses to the input for repetitive text longer than the 32 KiB window", () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom("unit", "[Service]\n", "ExecStart=/bin/true\n", "a", "\0"), { minLength: 5000, maxLength: 20000 }), (words) => {
      const data = Buffer.from(words.join(""));
      assert.deepEqual(zlib.gunzipSync(gzipLikeGo(data)), data);
    }),
    { numRuns: 5 },
  );
});

test("gzip header has no name, zero mtime, XFL 2 and OS 255 as Go writes it", () => {
  const out = gzipLikeGo(Buffer.from("hello"));
  assert.equal(hex(out.subarray(0, 10)), "1f8b08000000000002ff");
});
