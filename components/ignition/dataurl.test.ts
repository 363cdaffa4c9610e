import assert from "node:assert/strict";
import { test } from "node:test";
import zlib from "node:zlib";
import fc from "fast-check";
import { decodeDataUrl, makeDataUrl, percentEscape } from "./dataurl";

function contentsOf(source: string, compression: string | undefined): Buffer {
  const d = decodeDataUrl(source);
  assert.ok("data" in d, `undecodable ${source}: ${"error" in d ? d.error : ""}`);
  return compression === "gzip" ? zlib.gunzipSync(d.data) : Buffer.from(d.data);
}

test("every encoded data URL decodes back to the contents", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 600 }),
        fc.string({ maxLength: 600 }).map((s) => new Uint8Array(Buffer.from(s))),
      ),
      (bytes) => {
        const enc = makeDataUrl(bytes, undefined);
        assert.deepEqual(contentsOf(enc.source, enc.compression), Buffer.from(bytes));
      },
    ),
  );
});

test("the chosen encoding is never longer than the other two candidates", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
      const enc = makeDataUrl(bytes, undefined);
      const escaped = `data:,${percentEscape(bytes)}`.length;
      const b64 = `data:;base64,${Buffer.from(bytes).toString("base64")}`.length;
      const cost = enc.source.length + (enc.compression === "gzip" ? 4 : 0);
      assert.ok(cost <= Math.min(escaped, b64), `${cost} > min(${escaped}, ${b64})`);
    }),
  );
});

test("short text is percent-escaped, binary is base64 and repetitive text is gzipped", () => {
  assert.deepEqual(makeDataUrl(Buffer.from("hello world"), undefined), { source: "data:,hello%20world", compression: "" });
  assert.equal(makeDataUrl(Buffer.from([0, 1, 2, 255, 254, 253]), undefined).source, "data:;base64,AAEC//79");
  assert.equal(makeDataUrl(Buffer.from("x".repeat(500)), undefined).compression, "gzip");
});

test("contents the user marked compressed are not compressed again and keep their compression", () => {
  const enc = makeDataUrl(Buffer.from("y".repeat(500)), "gzip");
  assert.equal(enc.compression, undefined);
  assert.ok(enc.source.startsWith("data:,yyy"));
});

test("automatic compression can be turned off", () => {
  assert.equal(makeDataUrl(Buffer.from("z".repeat(500)), undefined, false).compression, "");
});

test("data URLs Ignition would refuse are reported with the reason", () => {
  assert.deepEqual(decodeDataUrl("data:foo"), { error: "missing comma before data" });
  assert.deepEqual(decodeDataUrl("data:,a b"), { error: "invalid data character" });
  assert.ok("error" in decodeDataUrl("data:;base64,abc"));
  assert.ok("error" in decodeDataUrl("data:,%zz"));
  assert.ok("data" in decodeDataUrl("data:text/plain;charset=utf-8;base64,aGk="));
});
